"""Masking: which facts of the sampled subgraph the stem shows (observed) and which it hides (the answer).

The anchor (e.g. a disease) is masked and ``k`` of its features (findings) are observed. Partial
information is chosen plausibly: each finding is drawn, without replacement, with probability
proportional to (frequency x specificity)^2 (edge ``frequency``, ``default_freq`` where the source gives
none; specificity ``log(2 + SPREAD / (1 + anchors holding it))``), so the findings that characterise the
disease, frequent in it and rare elsewhere, are in the stem, as in a board vignette. Two findings where one
is an is_a ancestor of the other are never both observed (the general one would add nothing), a
finding named like the anchor, or sharing a content word with its name (a disease 'Hypoglycemia' and its
finding 'Hypoglycemia'; 'Hypokalemic periodic paralysis' and 'Hypokalemia' shares none, but 'Metacarpal
4-5 fusion' and '4-5 metacarpal synostosis' does) is never observed, nor is a generic term ('Abnormality
of the eye', ``findings``), nor a finding known to be atypical (frequency below ``min_freq``: HPO
'Occasional' and 'Very rare'). The anchor's most characteristic hallmark (frequency unknown or >=
HALLMARK, the highest weight) is always observed: a reader recognises the disease, not only eliminates.

Departure from the paper: the paper masks "part of the subgraph" at random; here the choice is
frequency-weighted and hierarchy-aware, and what stays hidden is fixed by the question type.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from fleming.synth.evidence import HALLMARK
from fleming.synth.prims import KERNEL, hop_hi, hop_lo, named_after, rand01, related, shares_key

SPREAD = 1000.0      # specificity of a finding held by r anchors: log(2 + SPREAD / (1 + r))


@njit(**KERNEL)
def choose_observed(g, fh, a, k, default_freq, min_freq, st, wbuf, out, out_eid):
    """Draw up to ``k`` features of node ``a`` over hop ``fh`` into ``out`` (node) / ``out_eid`` (edge row).

    Returns how many were drawn (< k when ``a`` has too few unrelated features). ``wbuf`` is scratch of at
    least the node's degree.
    """
    lo, hi = hop_lo(g, fh, a), hop_hi(g, fh, a)
    n = hi - lo
    total = 0.0
    for j in range(n):
        f = g.freq[g.heid[lo + j]]
        w = default_freq if f != f else f          # NaN: frequency unknown
        w = (max(w, 1e-3) * np.log(2.0 + SPREAD / (1.0 + g.rdeg[g.hidx[lo + j]]))) ** 2
        wbuf[j] = w if not f < min_freq else 0.0
        total += wbuf[j]
    got = 0
    best, best_w = -1, 0.0                 # the anchor's most characteristic hallmark is always shown
    for j in range(n):
        f = g.hidx[lo + j]
        fr = g.freq[g.heid[lo + j]]
        if wbuf[j] > best_w and not fr < HALLMARK and not g.generic[f] \
                and not shares_key(g, f, a) and not named_after(g, f, a):
            best, best_w = j, wbuf[j]
    if best >= 0 and k > 0:
        out[0] = g.hidx[lo + best]
        out_eid[0] = g.heid[lo + best]
        total -= wbuf[best]
        wbuf[best] = 0.0
        got = 1
    while got < k and total > 1e-12:
        u = rand01(st) * total
        pick = -1
        acc = 0.0
        for j in range(n):
            if wbuf[j] > 0.0:
                acc += wbuf[j]
                pick = j
                if acc > u:
                    break
        if pick < 0:
            break
        total -= wbuf[pick]
        wbuf[pick] = 0.0
        f = g.hidx[lo + pick]
        ok = not shares_key(g, f, a) and not named_after(g, f, a) and not g.generic[f]   # gives it away
        for i in range(got):
            if ok and related(g, f, out[i]):
                ok = False
        if ok:
            out[got] = f
            out_eid[got] = g.heid[lo + pick]
            got += 1
    return got

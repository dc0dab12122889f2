"""Masking: which facts of the sampled subgraph the stem shows (observed) and which it hides (the answer).

The anchor (e.g. a disease) is masked and ``k`` of its features (findings) are observed. Partial
information is chosen plausibly: each finding is drawn, without replacement, with probability
proportional to its HPO frequency (edge ``frequency``; ``default_freq`` where the source gives none), so
frequent findings are more likely to be in the stem, as in a real presentation. Two findings where one
is an is_a ancestor of the other are never both observed (the general one would add nothing), and a
finding named like the anchor (a disease 'Hypoglycemia' and its finding 'Hypoglycemia') is never
observed, nor is a generic term ('Abnormality of the eye', ``findings``).

Departure from the paper: the paper masks "part of the subgraph" at random; here the choice is
frequency-weighted and hierarchy-aware, and what stays hidden is fixed by the question type.
"""

from __future__ import annotations

from numba import njit

from fleming.synth.prims import KERNEL, hop_hi, hop_lo, rand01, related, shares_key


@njit(**KERNEL)
def choose_observed(g, fh, a, k, default_freq, st, wbuf, out, out_eid):
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
        w = max(w, 1e-3)
        wbuf[j] = w
        total += w
    got = 0
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
        ok = not shares_key(g, f, a) and not g.generic[f]   # named like the anchor: gives it away
        for i in range(got):
            if ok and related(g, f, out[i]):
                ok = False
        if ok:
            out[got] = f
            out_eid[got] = g.heid[lo + pick]
            got += 1
    return got

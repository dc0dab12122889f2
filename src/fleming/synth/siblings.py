"""Siblings of an anchor: nodes of its type sharing at least ``m`` of its observed features, counted
through the features' reverse CSR (never a scan of all nodes), sampled and ranked by plausibility (shared
observed features / k + Jaccard of the full feature sets). ``distractors`` picks from them."""

from __future__ import annotations

import numpy as np
from numba import njit

from fleming.synth.prims import KERNEL, hop_hi, hop_lo, rand01, randint, rhop_hi, rhop_lo


@njit(**KERNEL)
def count_siblings(g, t, w, a, feats, nf):
    """Nodes of the anchor's type sharing >= t.m of ``feats`` with ``a`` (a masked anchor's siblings:
    >= min(m, k-1) and not all), a uniform sample of at most t.max_sibs of them into w.sib (scored by
    ``score_siblings``). Returns (sampled, seen, sharing all).

    The counting loop does the least per reverse-list entry: ``a`` itself (it holds all of ``feats``)
    and the count of nodes sharing all are settled afterwards, over the nodes that reached the
    threshold; the type test is skipped where every reverse entry of the hop has the anchor's type."""
    s = w.stc[1] + 1                          # w.cnt: int32 of (15-bit stamp << 16 | count)
    if s > 0x7FFF:
        w.cnt[:] = 0
        s = 1
    w.stc[1] = s
    seen = 0
    buf = len(w.sib)
    mm = min(t.m, nf - 1) if t.masked else t.m      # a masked sibling must miss one observed feature
    typed = t.rev_pure == 0
    for i in range(nf):
        f = feats[i]
        for j in range(rhop_lo(g, t.fh, f), rhop_hi(g, t.fh, f)):
            r = g.ridx[j]
            if typed and g.type_codes[r] != t.anchor_type:
                continue
            v = w.cnt[r]
            v = v + 1 if (v >> 16) == s else (s << 16) + 1      # stamp << 16 | count, one access
            w.cnt[r] = v
            if (v & 0xFFFF) == mm:
                if seen < buf:
                    w.sib[seen] = r
                else:                                       # past the buffer: a reservoir over it
                    k = randint(w.st, seen + 1)
                    if k < buf:
                        w.sib[k] = r
                seen += 1
    held, sampled = min(seen, buf), seen > buf
    ca = w.cnt[a]
    if (ca >> 16) == s and (ca & 0xFFFF) >= mm:
        seen -= 1                                 # the anchor is no sibling of itself
    nsib, n_all = 0, 0
    for i in range(held):
        r = w.sib[i]
        c = w.cnt[r] & 0xFFFF
        if r == a:
            continue
        n_all += c == nf
        if t.masked == 0 or c < nf:           # sharing every observed feature: consistent, no distractor
            w.sib[nsib] = r
            nsib += 1
    if sampled:                               # the buffer held a sample: count the rest exactly
        n_all = _count_all(g, t, w, a, feats, nf, s)
    cap = min(t.max_sibs, nsib)
    for i in range(cap):                      # a uniform sample of cap of them (partial Fisher-Yates)
        k = i + randint(w.st, nsib - i)
        w.sib[i], w.sib[k] = w.sib[k], w.sib[i]
    return cap, seen, n_all


@njit(**KERNEL)
def _count_all(g, t, w, a, feats, nf, s):
    """Nodes other than ``a`` holding all of ``feats`` (counted with stamp s): each is met nf times."""
    hits = 0
    for i in range(nf):
        f = feats[i]
        for j in range(rhop_lo(g, t.fh, f), rhop_hi(g, t.fh, f)):
            r = g.ridx[j]
            v = w.cnt[r]
            if r != a and (v >> 16) == s and (v & 0xFFFF) == nf and g.type_codes[r] == t.anchor_type:
                hits += 1
    return hits // nf


@njit(**KERNEL)
def score_siblings(g, t, w, a, nsib, nf):
    """Score the sampled siblings: shared observed features / k + Jaccard of the full feature sets.
    F(a) is set in a bitmap over all nodes (w.bits: n/8 bytes, cache-resident, unlike a stamp array)
    and cleared again afterwards."""
    bits = w.bits
    alo, ahi = hop_lo(g, t.fh, a), hop_hi(g, t.fh, a)
    for j in range(alo, ahi):
        x = g.hidx[j]
        bits[x >> 6] |= np.uint64(1) << np.uint64(x & 63)
    for i in range(nsib):
        r = w.sib[i]
        w.sibcnt[i] = w.cnt[r] & 0xFFFF
        lo, hi = hop_lo(g, t.fh, r), hop_hi(g, t.fh, r)
        inter = 0
        for j in range(lo, hi):
            y = g.hidx[j]
            inter += np.int64((bits[y >> 6] >> np.uint64(y & 63)) & np.uint64(1))
        union = (ahi - alo) + (hi - lo) - inter
        w.sibjac[i] = inter / union if union > 0 else 0.0
        w.sibsc[i] = w.sibcnt[i] / nf + w.sibjac[i] + 1e-6 * rand01(w.st)
    for j in range(alo, ahi):
        bits[g.hidx[j] >> 6] = 0

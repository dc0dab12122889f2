"""Numba primitives over CSR arrays: seeded random numbers, sorted-set tests, the is_a closure checks.

Everything here is ``@njit`` and allocation-free; callers pass scratch "stamp" arrays (one int32 per
node) so that marking a set costs its size, never the graph's. ``G`` is the graph namedtuple built by
``sampler.build_graph_arrays``:

- ``aptr/aidx``: proper is_a ancestors of every node (sorted), ``dptr/didx``: proper descendants;
- ``kptr/kidx``: normalized name/synonym keys of every node (sorted codes; two options sharing one are
  synonyms);
- ``hptr/hidx/heid/hoff`` and ``rptr/ridx/roff``: forward and reverse CSR of every hop (a relation or a
  union of relations), stacked: hop ``h`` of node ``i`` is ``hidx[hoff[h] + hptr[h, i] : ...]``;
- ``cslot/cptr/cidx``: for each feature hop ``h`` (``cslot[h] >= 0``), every node's features together with
  their is_a ancestors (sorted), for one-search "has f or a descendant of f" checks.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# The per-item kernels allocate nothing, so they run without numba's reference counting (NRT): with it,
# the atomic increfs/decrefs of the graph and scratch arrays passed between calls took half the time.
KERNEL = {"cache": True, "_nrt": False}

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@njit(**KERNEL, inline="always")
def mix64(z):
    """splitmix64 finalizer (uint64 -> uint64)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(**KERNEL)
def seed_for(seed, slot, attempt):
    """The seed of one attempt at one item slot: independent of batching and worker count."""
    z = mix64(np.uint64(seed) + _GOLDEN * np.uint64(slot + 1))
    return mix64(z + _GOLDEN * np.uint64(attempt + 1))


@njit(**KERNEL, inline="always")
def next_u64(st):
    st[0] = st[0] + _GOLDEN
    return mix64(st[0])


@njit(**KERNEL, inline="always")
def rand01(st):
    return (next_u64(st) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(**KERNEL, inline="always")
def randint(st, n):
    return min(int(rand01(st) * n), n - 1)


@njit(**KERNEL, inline="always")
def contains(arr, lo, hi, x):
    """Binary search for ``x`` in the sorted slice ``arr[lo:hi]``."""
    while lo < hi:
        mid = (lo + hi) >> 1
        v = arr[mid]
        if v == x:
            return True
        if v < x:
            lo = mid + 1
        else:
            hi = mid
    return False


@njit(**KERNEL)
def sample_cum(cum, u):
    """Index i with cum[i-1] <= u < cum[i] (cum: cumulative weights)."""
    return min(np.searchsorted(cum, u, side="right"), len(cum) - 1)


@njit(**KERNEL, inline="always")
def related(g, x, y):
    """True when x == y or one is an is_a ancestor of the other."""
    if x == y:
        return True
    return contains(g.aidx, g.aptr[x], g.aptr[x + 1], y) or contains(g.aidx, g.aptr[y], g.aptr[y + 1], x)


@njit(**KERNEL, inline="always")
def meet(ptr, idx, x, y):
    """True when the sorted key lists of rows x and y of the CSR (ptr, idx) intersect."""
    i, ie, j, je = ptr[x], ptr[x + 1], ptr[y], ptr[y + 1]
    while i < ie and j < je:
        a, b = idx[i], idx[j]
        if a == b:
            return True
        if a < b:
            i += 1
        else:
            j += 1
    return False


@njit(**KERNEL, inline="always")
def shares_key(g, x, y):
    """True when x and y share a normalized name or synonym (``names.name_keys``)."""
    return meet(g.kptr, g.kidx, x, y)


@njit(**KERNEL)
def shares_word(g, x, y):
    """True when the names of x and y share a content word (``names.word_keys``)."""
    return meet(g.wptr, g.widx, x, y)


@njit(**KERNEL)
def shares_root(g, x, y):
    """True when the names of x and y share a word root (``names.root_keys``)."""
    return meet(g.sptr, g.sidx, x, y)


@njit(**KERNEL)
def named_after(g, f, x):
    """Option x is named after finding f (or a synonym): they share a content word or a word root."""
    return shares_word(g, f, x) or shares_root(g, f, x)


@njit(**KERNEL, inline="always")
def hop_lo(g, h, i):
    return g.hoff[h] + g.hptr[h, i]


@njit(**KERNEL, inline="always")
def hop_hi(g, h, i):
    return g.hoff[h] + g.hptr[h, i + 1]


@njit(**KERNEL, inline="always")
def rhop_lo(g, h, i):
    return g.roff[h] + g.rptr[h, i]


@njit(**KERNEL, inline="always")
def rhop_hi(g, h, i):
    return g.roff[h] + g.rptr[h, i + 1]


@njit(**KERNEL)
def copy_into(dst, d0, src, s0, n):
    """dst[d0:d0+n] = src[s0:s0+n] as a plain loop (numba's slice assignment may allocate)."""
    for i in range(n):
        dst[d0 + i] = src[s0 + i]


@njit(**KERNEL, inline="always")
def new_stamp(st):
    """A fresh marker value for a stamp array (st[0] is the counter)."""
    st[0] += 1
    return st[0]


@njit(**KERNEL, inline="always")
def has_closed(g, fh, r, f):
    """r has f or an is_a descendant of f over feature hop fh (binary search in r's closed set)."""
    c = g.cslot[fh]
    return contains(g.cidx, g.cptr[c, r], g.cptr[c, r + 1], f)


@njit(**KERNEL)
def _meets_desc(g, lo, hi, f):
    """Whether one of f's is_a descendants is in the sorted slice hidx[lo:hi] (merge or binary search)."""
    dlo, dhi = g.dptr[f], g.dptr[f + 1]
    if (dhi - dlo) * 8 < hi - lo:
        for q in range(dlo, dhi):  # noqa: SIM110 - numba compiles no generator expressions
            if contains(g.hidx, lo, hi, g.didx[q]):
                return True
        return False
    i, j = lo, dlo
    while i < hi and j < dhi:
        x, y = g.hidx[i], g.didx[j]
        if x == y:
            return True
        if x < y:
            i += 1
        else:
            j += 1
    return False


@njit(**KERNEL)
def first_missing(g, fh, r, obs, n_obs):
    """Index in ``obs`` of the first observed feature that node r lacks, or -1 when it has them all.

    "Has f" is closed over is_a: r has f when one of r's features is f or a descendant of f (an
    annotation 'Focal seizure' satisfies an observed 'Seizure'). One sequential pass over r's features,
    then a descendant check only for what is not there directly.
    """
    lo, hi = hop_lo(g, fh, r), hop_hi(g, fh, r)
    found = 0
    for j in range(lo, hi):
        y = g.hidx[j]
        for i in range(n_obs):
            if y == obs[i]:
                found |= 1 << i
    for i in range(n_obs):
        if not (found >> i) & 1 and not _meets_desc(g, lo, hi, obs[i]):
            return i
    return -1


@njit(**KERNEL)
def ex_reset(w):
    """Start an empty exclusion set (a fresh stamp: nothing to clear)."""
    w.exs[0] = new_stamp(w.stc)


@njit(**KERNEL)
def _key_slot(w, k, s):
    """Slot of key k in the exclusion key table (open addressing, stamped), or of the empty slot where it
    would go; -1 when the table is full."""
    n = len(w.ekey)
    h = (k ^ (k >> 29)) & (n - 1)
    for _ in range(n):
        if w.ekst[h] != s or w.ekey[h] == k:
            return h
        h = (h + 1) & (n - 1)
    return -1


@njit(**KERNEL)
def ex_add(g, w, x):
    """Add x, its is_a ancestors and its name keys to the item's exclusion sets; False when the key table
    is full (the exclusion is then partial: ``verify`` still rejects the item)."""
    s = w.exs[0]
    w.exm[x] = s
    for q in range(g.aptr[x], g.aptr[x + 1]):
        w.exa[g.aidx[q]] = s
    for q in range(g.kptr[x], g.kptr[x + 1]):
        h = _key_slot(w, g.kidx[q], s)
        if h < 0:
            return False
        w.ekey[h] = g.kidx[q]
        w.ekst[h] = s
    return True


@njit(**KERNEL)
def ex_hit(g, w, x):
    """True when x is in the exclusion sets, is an is_a ancestor or descendant of a member, or shares
    a name key with one (the stem's entities and the options chosen so far)."""
    s = w.exs[0]
    if w.exm[x] == s or w.exa[x] == s:
        return True
    for q in range(g.aptr[x], g.aptr[x + 1]):
        if w.exm[g.aidx[q]] == s:
            return True
    for q in range(g.kptr[x], g.kptr[x + 1]):
        h = _key_slot(w, g.kidx[q], s)
        if h < 0 or w.ekst[h] == s:
            return True
    return False


@njit(**KERNEL)
def expand_desc(g, w, front, n, s):
    """Add the is_a descendants of front[:n] to front (deduplicated by stamp s); -1 when it overflows."""
    m = n
    for i in range(n):
        w.vis[front[i]] = s
    for i in range(n):
        y = front[i]
        for q in range(g.dptr[y], g.dptr[y + 1]):
            z = g.didx[q]
            if w.vis[z] != s:
                if m >= len(front):
                    return -1
                w.vis[z] = s
                front[m] = z
                m += 1
    return m


@njit(**KERNEL)
def walk(g, t, w, n, mark, reverse, closure, strict, first, levels):
    """Walk w.front[:n] level by level along the question's chain (backwards when ``reverse``), steps
    ``first`` to ``first + levels`` of it, each level deduplicated in ``mark`` with a fresh stamp; the
    last level ends in w.front. With ``closure`` a hop into findings also reaches the is_a ancestors of
    what it reaches (forwards), or starts from the descendants of where it stands (backwards): an
    anchor with 'Focal seizure' has 'Seizure'. Returns (size, stamp of the last level); size -1 past
    t.max_visit nodes when ``strict``, else the level is truncated."""
    front, nxt = w.front, w.nxt
    s = 0
    L = len(t.chain)
    for step in range(first, first + levels):
        lev = L - 1 - step if reverse else step
        h = t.chain[lev]
        if reverse and closure and g.closed[h]:
            n = expand_desc(g, w, front, n, new_stamp(w.stc))
            if n < 0:
                return -1, 0
        up = closure and not reverse and g.closed[h]
        s = new_stamp(w.stc)
        m = 0
        for i in range(n):
            y = front[i]
            lo = rhop_lo(g, h, y) if reverse else hop_lo(g, h, y)
            hi = rhop_hi(g, h, y) if reverse else hop_hi(g, h, y)
            for j in range(lo, hi):
                z = g.ridx[j] if reverse else g.hidx[j]
                nz = g.aptr[z + 1] - g.aptr[z] if up else 0
                for q in range(-1, nz):
                    x = z if q < 0 else g.aidx[g.aptr[z] + q]
                    if mark[x] == s:
                        continue
                    if m >= t.max_visit or m >= len(nxt):
                        if strict:
                            return -1, 0
                        continue
                    mark[x] = s
                    nxt[m] = x
                    m += 1
        front, nxt = nxt, front
        n = m
    if levels % 2 == 1:                           # the last level must end in w.front
        copy_into(w.front, 0, front, 0, n)
    return n, s


@njit(**KERNEL)
def argsort_desc(vals, n, out):
    """out[:n] = the indices of vals[:n] by decreasing value (insertion sort: n is a few dozen)."""
    for i in range(n):
        v = vals[i]
        j = i
        while j > 0 and vals[out[j - 1]] < v:
            out[j] = out[j - 1]
            j -= 1
        out[j] = i

"""The final check on every item: the answer is the ONLY option consistent with every observed fact.

Written apart from the search in ``distractors``, so a bug in one shows up as a disagreement, counted
as a drop reason:

- an option is *consistent* when some anchor of the question's type that satisfies every observed
  fact reaches it along the question's path (masked anchor: has every observed feature, closed over
  is_a; named anchor: is that anchor). A diagnosis option is checked feature by feature with one
  binary search each in its closed feature set (its features and all their is_a ancestors, built
  once per run; the search instead scans direct features and merges descendant lists); a one-hop
  path's options are looked up in each consistent anchor's list, a longer path's options walked
  *backwards* to the anchors that reach them (the search marked what the consistent anchors reach
  *forwards*); the masked anchor is re-checked feature by feature;
- the answer must be consistent, every distractor inconsistent, and no two options (nor an option
  and an entity of the stem) may be equal, is_a-related or share a name key (sets rebuilt here).

``tests/synth/test_synth_recheck.py`` checks the written items a third way, from the Parquet files.
"""

from __future__ import annotations

from numba import njit

from fleming.synth.prims import (
    KERNEL,
    contains,
    ex_add,
    ex_hit,
    ex_reset,
    has_closed,
    hop_hi,
    hop_lo,
    walk,
)

OK, INCONSISTENT_ANSWER, CONSISTENT_DISTRACTOR, NOT_DISTINCT, UNVERIFIABLE = 0, 1, 2, 3, 4


@njit(**KERNEL)
def has_feature(g, fh, r, f):
    """r has f directly, or has a feature whose is_a ancestors include f: one binary search in r's
    closed feature set (``sampler.closed_feature_sets``)."""
    return has_closed(g, fh, r, f)


@njit(**KERNEL)
def anchor_consistent(g, t, r, a, obs, n_obs):
    if g.type_codes[r] != t.anchor_type:
        return False
    if t.masked == 0:
        return r == a
    for i in range(n_obs):  # noqa: SIM110 - numba compiles no generator expressions
        if not has_feature(g, t.fh, r, obs[i]):
            return False
    return True


@njit(**KERNEL)
def reach_consistent(g, t, w, x, a, cstamp):
    """Walk the path backwards from x (``prims.walk``, is_a-closed): 1 when a consistent anchor (the
    named anchor ``a``, or one marked w.inc == cstamp) reaches x, 0 when none does, 2 past
    t.max_visit (unverifiable)."""
    w.front[0] = x
    n, _ = walk(g, t, w, 1, w.vis, True, True, True)
    if n < 0:
        return 2
    for i in range(n):
        r = w.front[i]
        if (r == a) if t.masked == 0 else (w.inc[r] == cstamp):
            return 1
    return 0


@njit(**KERNEL)
def _one_hop_reached(g, t, x, cons, n_cons):
    """1 when a consistent anchor has x over the single chain hop (closed: x or a descendant), else 0."""
    h = t.chain[0]
    for i in range(n_cons):
        c = cons[i]
        lo, hi = hop_lo(g, h, c), hop_hi(g, h, c)
        if contains(g.hidx, lo, hi, x):
            return 1
        if g.closed[h]:
            for q in range(g.dptr[x], g.dptr[x + 1]):
                if contains(g.hidx, lo, hi, g.didx[q]):
                    return 1
    return 0


@njit(**KERNEL)
def verify_item(g, t, w, a, obs, n_obs, cstamp, cons, n_cons, opts, n_opt, ans_pos):
    """OK or the first failing check (codes above). ``cons[:n_cons]``: the consistent anchors, also
    marked w.inc == cstamp. A one-hop path is checked from each consistent anchor's side (binary
    searches), a longer one by walking back from each option (whichever is cheaper in general)."""
    ex_reset(w)                                 # rebuilt from scratch: stem entities, then each option
    if t.masked == 0:
        ex_add(g, w, a)
    for j in range(n_obs):
        ex_add(g, w, obs[j])
    for i in range(n_opt):
        if ex_hit(g, w, opts[i]) or not ex_add(g, w, opts[i]):
            return NOT_DISTINCT
    if len(t.chain) == 0:
        for i in range(n_opt):
            ok = anchor_consistent(g, t, opts[i], a, obs, n_obs)
            if ok != (i == ans_pos):
                return INCONSISTENT_ANSWER if i == ans_pos else CONSISTENT_DISTRACTOR
        return OK
    if not anchor_consistent(g, t, a, a, obs, n_obs):
        return INCONSISTENT_ANSWER
    for i in range(n_opt):
        if len(t.chain) == 1:
            r = _one_hop_reached(g, t, opts[i], cons, n_cons)
        else:
            r = reach_consistent(g, t, w, opts[i], a, cstamp)
        if r == 2:
            return UNVERIFIABLE
        if (r == 1) != (i == ans_pos):
            return INCONSISTENT_ANSWER if i == ans_pos else CONSISTENT_DISTRACTOR
    return OK

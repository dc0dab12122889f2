"""The final check on every item: the answer is the ONLY option consistent with every observed fact.

Written apart from the search in ``distractors``, so a bug in one shows up as a disagreement, counted
as a drop reason:

- an option is *consistent* when some anchor of the question's type that satisfies every observed
  fact reaches it along the question's path (masked anchor: has every observed feature, closed over
  is_a; named anchor: is that anchor). A diagnosis option is checked feature by feature with one
  binary search each in its closed feature set (its features and all their is_a ancestors, built
  once per run; the search instead scans direct features and merges descendant lists); a path's
  options are walked *backwards* to the level after the anchors and then looked up in each
  consistent anchor's first-hop list, or walked back to the anchors themselves when that reads less
  (the search marked what the consistent anchors reach *forwards*); the masked anchor is re-checked
  feature by feature;
- the answer must be consistent, every distractor inconsistent, and no two options (nor an option
  and an entity of the stem, pertinent negatives included) may be equal, is_a-related or share a name
  key (sets rebuilt here); no two options, nor an option and an observed finding, may share a content
  word of their names (one disease twice, near-duplicate findings: 'Low-set ears' / 'Posteriorly rotated
  ears', an option named after the stem);
- open world (``evidence``): the key has nothing related to a stated negative; every distractor has
  evidence that survives an incomplete KG, recomputed from the final stem: a diagnosis option itself,
  every anchor reaching a path option (at most MAX_SOURCES), the key and consistent anchors lacking an
  additional finding, a named anchor's curated negative; an allelic answer is ruled out as the
  patient's own disease.

``tests/synth/test_synth_recheck.py`` checks the written items a third way, from the Parquet files.
"""

from __future__ import annotations

from numba import njit

from fleming.synth.evidence import MAX_SOURCES, evidence, finding_absent, foreign, touches
from fleming.synth.prims import (
    KERNEL,
    contains,
    ex_add,
    ex_hit,
    ex_reset,
    has_closed,
    hop_hi,
    hop_lo,
    named_after,
    rhop_hi,
    rhop_lo,
    shares_word,
    walk,
)

OK, INCONSISTENT_ANSWER, CONSISTENT_DISTRACTOR, NOT_DISTINCT, UNVERIFIABLE, NOT_RULED_OUT = 0, 1, 2, 3, 4, 6


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
def reach_consistent(g, t, w, x, a, cstamp, cons, n_cons):
    """1 when a consistent anchor (the named anchor ``a``, or ``cons[:n_cons]``, also marked w.inc ==
    cstamp) reaches x along the path, 0 when none does, 2 past t.max_visit (unverifiable). The path is
    walked backwards from x (``prims.walk``, is_a-closed) to the level after the anchors, B; its first
    hop is then checked from whichever side costs less: each consistent anchor's list searched for
    each node of B (``_one_hop_reached``), or B walked back one more level to the marked anchors."""
    L = len(t.chain)
    w.front[0] = x
    n = 1
    if L > 1:
        n, _ = walk(g, t, w, 1, w.vis, True, True, True, 0, L - 1)
        if n < 0:
            return 2
    h, back = t.chain[0], 0
    for i in range(n):                             # entries the last backward step would read
        back += rhop_hi(g, h, w.front[i]) - rhop_lo(g, h, w.front[i])
    if n * n_cons * 8 <= back or L == 1:
        for i in range(n):
            if _one_hop_reached(g, t, w.front[i], cons, n_cons):
                return 1
        return 0
    n, _ = walk(g, t, w, n, w.vis, True, True, True, L - 1, 1)
    if n < 0:
        return 2
    for i in range(n):
        r = w.front[i]
        if (r == a) if t.masked == 0 else (w.inc[r] == cstamp):
            return 1
    return 0


@njit(**KERNEL)
def _one_hop_reached(g, t, x, cons, n_cons):
    """1 when a consistent anchor has x over the chain's first hop (closed: x or a descendant), else 0."""
    h = t.chain[0]
    for i in range(n_cons):
        c = cons[i]
        if g.closed[h] and g.cslot[h] >= 0:        # a feature hop: one search in c's closed set
            if has_closed(g, h, c, x):
                return 1
            continue
        lo, hi = hop_lo(g, h, c), hop_hi(g, h, c)
        if contains(g.hidx, lo, hi, x):
            return 1
        if g.closed[h]:
            for q in range(g.dptr[x], g.dptr[x + 1]):
                if contains(g.hidx, lo, hi, g.didx[q]):
                    return 1
    return 0


@njit(**KERNEL)
def _ruled_out(g, t, w, a, obs, n_obs, x):
    """x has open-world evidence against it given the final stem (w.negs), per the type's mode."""
    negs, nn = w.negs, w.nneg[0]
    if t.mode == 0:
        return evidence(g, t.fh, x, obs, w.obs_eid, n_obs, negs, nn) > 0
    if t.mode == 3:
        return t.neg >= 0 and contains(g.hidx, hop_lo(g, t.neg, a), hop_hi(g, t.neg, a), x)
    if t.mode == 2:
        return foreign(g, x, obs, n_obs) and finding_absent(g, t.fh, a, x) > 0
    w.front[0] = x                                  # mode 1: every anchor reaching x
    n, _ = walk(g, t, w, 1, w.vis, True, True, True, 0, len(t.chain))
    if n < 0:
        return False
    m = 0
    for i in range(n):
        d = w.front[i]
        if g.type_codes[d] != t.anchor_type:
            continue
        m += 1
        if d == a or m > MAX_SOURCES or shares_word(g, d, a) or \
                evidence(g, t.fh, d, obs, w.obs_eid, n_obs, negs, nn) == 0:
            return False
    return True


@njit(**KERNEL)
def verify_item(g, t, w, a, obs, n_obs, cstamp, cons, n_cons, opts, n_opt, ans_pos):
    """OK or the first failing check (codes above). ``cons[:n_cons]``: the consistent anchors, also
    marked w.inc == cstamp. Options of a path type are checked by ``reach_consistent``."""
    ex_reset(w)                                 # rebuilt from scratch: stem entities, then each option
    if t.masked == 0:
        ex_add(g, w, a)
    for j in range(n_obs):
        ex_add(g, w, obs[j])
    for j in range(w.nneg[0]):
        if touches(g, t.fh, a, w.negs[j]):
            return INCONSISTENT_ANSWER
        ex_add(g, w, w.negs[j])
    for i in range(n_opt):
        if ex_hit(g, w, opts[i]) or not ex_add(g, w, opts[i]):
            return NOT_DISTINCT
        for j in range(i):                      # 'Krabbe disease' beside 'Krabbe disease, atypical'
            if shares_word(g, opts[i], opts[j]):
                return NOT_DISTINCT
        for j in range(n_obs):                  # an option named after a stem finding
            if named_after(g, obs[j], opts[i]):
                return NOT_DISTINCT
    if len(t.chain) == 0:
        for i in range(n_opt):
            ok = anchor_consistent(g, t, opts[i], a, obs, n_obs)
            if ok != (i == ans_pos):
                return INCONSISTENT_ANSWER if i == ans_pos else CONSISTENT_DISTRACTOR
            if i != ans_pos and not _ruled_out(g, t, w, a, obs, n_obs, opts[i]):
                return NOT_RULED_OUT
        return OK
    if not anchor_consistent(g, t, a, a, obs, n_obs):
        return INCONSISTENT_ANSWER
    for i in range(n_opt):
        r = reach_consistent(g, t, w, opts[i], a, cstamp, cons, n_cons)
        if r == 2:
            return UNVERIFIABLE
        if (r == 1) != (i == ans_pos):
            return INCONSISTENT_ANSWER if i == ans_pos else CONSISTENT_DISTRACTOR
        if i == ans_pos:
            if t.mode == 1 and t.answer_type == t.anchor_type and \
                    evidence(g, t.fh, opts[i], obs, w.obs_eid, n_obs, w.negs, w.nneg[0]) == 0:
                return NOT_RULED_OUT
        elif not _ruled_out(g, t, w, a, obs, n_obs, opts[i]):
            return NOT_RULED_OUT
        elif t.mode == 2:
            for j in range(n_cons):
                if cons[j] != a and finding_absent(g, t.fh, cons[j], opts[i]) == 0:
                    return NOT_RULED_OUT
    return OK

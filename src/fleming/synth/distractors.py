"""Distractors by relation-preserving perturbation, found through the CSR neighbourhood of the answer.

Siblings of the anchor are nodes of its type sharing at least ``m`` of its observed features: they come
from the observed features' reverse neighbours (the anchor's neighbours' neighbours), never from a scan
of all nodes. A diagnosis item's distractors are siblings that lack at least one observed feature
(closed over is_a). A longer path's distractors are what the siblings reach along the same path (the
drug for a similar disease), kept only when NO anchor consistent with every observed fact reaches them:
the consistent anchors C are counted through the observed features' reverse CSR (and their is_a
descendants'), and everything C reaches along the path is marked once (``mark_answers``), so each
candidate costs one look-up. ``verify`` re-checks the chosen options the other way round.

Plausibility: shared observed features / k + Jaccard of the full feature sets of the sibling; a
physician-curated negative (``not_indicated_for``) comes first. Candidates that are synonyms of, or
is_a-related to, the answer, another option or an entity in the stem are skipped, and so are generic
terms (``findings``).

Open world (``evidence``): a candidate the KG merely does not connect to the stem is not wrong yet. It
is kept only with evidence that survives an incomplete KG, whose kind is recorded per option: a
diagnosis sibling must be ruled out itself; a path option (a gene, an allelic disorder) only when
every anchor reaching it (at most ``MAX_SOURCES``) is ruled out and neither it nor an is_a relative is
reached by a consistent anchor; an additional finding only when the key (and every other consistent
anchor) is known to lack it; a named anchor's options only from curated negatives.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from fleming.synth.evidence import ASSERTED, MAX_SOURCES, finding_absent, foreign, rule_out
from fleming.synth.prims import (
    KERNEL,
    copy_into,
    ex_add,
    ex_hit,
    first_missing,
    hop_hi,
    hop_lo,
    named_after,
    new_stamp,
    randint,
    rhop_hi,
    rhop_lo,
    shares_word,
    walk,
)


@njit(**KERNEL)
def _closure_holders(g, t, f):
    """How many entries the reverse CSR of f and of its is_a descendants hold (a bound on |holders|)."""
    n = rhop_hi(g, t.fh, f) - rhop_lo(g, t.fh, f)
    for q in range(g.dptr[f], g.dptr[f + 1]):
        d = g.didx[q]
        n += rhop_hi(g, t.fh, d) - rhop_lo(g, t.fh, d)
    return n


@njit(**KERNEL)
def consistent_set(g, t, w, obs, n_obs):
    """Anchors having every observed feature (closed over is_a) into w.cons, marked w.inc == stamp.

    Candidates are the anchor-type holders of the observed feature held least (through its reverse CSR
    and its is_a descendants'); each other feature then marks itself and its descendants once, and a
    candidate stays when one of its direct features is marked. Returns (size, stamp); size -1 when more
    than t.max_visit nodes are visited, -2 when C outgrows t.max_consistent."""
    best, best_n = 0, -1
    for i in range(n_obs):
        n = _closure_holders(g, t, obs[i])
        if best_n < 0 or n < best_n:
            best, best_n = i, n
    s = new_stamp(w.stc)
    nc, visits = 0, 0
    f = obs[best]
    for q in range(g.dptr[f] - 1, g.dptr[f + 1]):
        y = f if q < g.dptr[f] else g.didx[q]
        for j in range(rhop_lo(g, t.fh, y), rhop_hi(g, t.fh, y)):
            r = g.ridx[j]
            if w.vis[r] == s:
                continue
            w.vis[r] = s
            visits += 1
            if visits > t.max_visit:
                return -1, 0
            if g.type_codes[r] == t.anchor_type:
                w.cons[nc] = r
                nc += 1
    for i in range(n_obs):
        if i == best or nc == 0:
            continue
        f = obs[i]
        sm = new_stamp(w.stc)
        w.vis2[f] = sm
        for q in range(g.dptr[f], g.dptr[f + 1]):
            w.vis2[g.didx[q]] = sm
        visits += g.dptr[f + 1] - g.dptr[f] + 1
        if visits > t.max_visit:
            return -1, 0
        k = 0
        for ci in range(nc):
            r = w.cons[ci]
            for j in range(hop_lo(g, t.fh, r), hop_hi(g, t.fh, r)):
                if w.vis2[g.hidx[j]] == sm:
                    w.cons[k] = r
                    k += 1
                    break
        nc = k
    if nc > t.max_consistent:
        return -2, 0
    for ci in range(nc):
        w.inc[w.cons[ci]] = s
    return nc, s


@njit(**KERNEL)
def mark_answers(g, t, w, cons, n_cons):
    """Mark (w.vis2 == returned stamp) every node the consistent anchors ``cons`` reach along the path,
    walking forwards, is_a-closed (``prims.walk``). Returns -1 past t.max_visit marked nodes."""
    n = min(n_cons, len(w.front))
    copy_into(w.front, 0, cons, 0, n)
    n, s = walk(g, t, w, n, w.vis2, False, True, True, 0, len(t.chain))
    return s if n >= 0 else -1


@njit(**KERNEL)
def forward(g, t, w, x):
    """Nodes x reaches along the path (direct edges) into w.front; returns how many (truncated)."""
    w.front[0] = x
    return walk(g, t, w, 1, w.vis, False, False, False, 0, len(t.chain))[0]


@njit(**KERNEL)
def _distinct(g, w, c, ans):
    """Same type as the answer; not in the stem, not an option, no is_a relative or synonym of one; not
    generic, not sex-specific."""
    return (g.type_codes[c] == g.type_codes[ans] and not g.generic[c] and not g.sexed[c]
            and not ex_hit(g, w, c))


@njit(**KERNEL)
def _word_clash(g, w, c, ans, npick, obs, n_obs):
    """c shares a content word with the answer, an option picked so far or an observed finding (an option
    named after the stem, 'Absent eyebrows and eyelashes with mental retardation' beside absent eyebrows,
    is a near competitor by its name; ``verify`` rejects all three)."""
    if shares_word(g, c, ans):
        return True
    for i in range(n_obs):
        if named_after(g, obs[i], c):
            return True
    for i in range(npick):  # noqa: SIM110 - numba compiles no generator expressions
        if shares_word(g, c, w.pick[i]):
            return True
    return False


@njit(**KERNEL)
def _via_clash(g, w, via, npick):
    """A path option reached through the disease (or a namesake: 'Perrault syndrome 3' / '... 5') of an
    option picked before: two genes of one disease read as one answer, and one negative removes both."""
    for i in range(npick):  # noqa: SIM110 - numba compiles no generator expressions
        if w.pvia[i] == via or shares_word(g, w.pvia[i], via):
            return True
    return False


@njit(**KERNEL)
def _take(g, w, npick, c, via, neg, lack, shared, jac, kind):
    ex_add(g, w, c)                  # on overflow the exclusion is partial; verify_item still checks
    w.pick[npick], w.pvia[npick], w.pneg[npick], w.plack[npick] = c, via, neg, lack
    w.pshared[npick], w.pjac[npick], w.pkind[npick] = shared, jac, kind
    return npick + 1


@njit(**KERNEL)
def _reached_related(g, w, c, astamp):
    """c or one of its is_a ancestors or descendants is marked reached by a consistent anchor."""
    if w.vis2[c] == astamp:
        return True
    for q in range(g.aptr[c], g.aptr[c + 1]):
        if w.vis2[g.aidx[q]] == astamp:
            return True
    for q in range(g.dptr[c], g.dptr[c + 1]):  # noqa: SIM110 - numba compiles no generator expressions
        if w.vis2[g.didx[q]] == astamp:
            return True
    return False


@njit(**KERNEL)
def sources_out(g, t, w, c, a, obs, n_obs):
    """Every anchor reaching c along the path (walked backwards) ruled out (``evidence.rule_out``, which
    may state a pertinent negative): the weakest kind, or 0 (negatives stated meanwhile withdrawn) when
    one cannot be, the key reaches c, an anchor named like the key does ('Corneal dystrophy, Fuchs
    endothelial, 3' for a Fuchs patient: one disease family), or more than MAX_SOURCES anchors do."""
    w.front[0] = c
    n, _ = walk(g, t, w, 1, w.vis, True, True, True, 0, len(t.chain))
    if n < 0:
        return 0
    k, m = 0, 0
    for i in range(n):
        m += g.type_codes[w.front[i]] == t.anchor_type
    if m > MAX_SOURCES:
        return 0
    nneg = w.nneg[0]
    for i in range(n):
        d = w.front[i]
        if g.type_codes[d] != t.anchor_type:
            continue
        r = 0 if d == a or shares_word(g, d, a) else rule_out(g, t.fh, w, d, a, obs, w.obs_eid, n_obs)
        if r == 0:
            w.nneg[0] = nneg
            return 0
        k = max(k, r)
    return k


@njit(**KERNEL)
def finding_out(g, t, w, c, a, n_cons, obs, n_obs):
    """An additional-finding candidate c outside the stem's organ systems (``evidence.foreign``): the key
    and every other consistent anchor known to lack it."""
    if not foreign(g, c, obs, n_obs):
        return 0
    k = finding_absent(g, t.fh, a, c)
    for i in range(n_cons):
        if k == 0:
            return 0
        if w.cons[i] != a:
            r = finding_absent(g, t.fh, w.cons[i], c)
            k = 0 if r == 0 else max(k, r)
    return k


@njit(**KERNEL)
def pick_siblings(g, t, w, a, obs, n_obs, nsib, order):
    """Diagnosis: the best-ranked siblings that lack an observed feature. Returns (picked, consistent)."""
    npick, n_cons = 0, 0
    for oi in range(nsib):
        si = order[oi]
        c = w.sib[si]
        if not _distinct(g, w, c, a) or _word_clash(g, w, c, a, npick, obs, n_obs):
            continue
        lack = first_missing(g, t.fh, c, obs, n_obs)
        if lack < 0:
            n_cons += 1
            continue
        kind = rule_out(g, t.fh, w, c, a, obs, w.obs_eid, n_obs)
        if kind == 0:
            continue
        npick = _take(g, w, npick, c, c, False, lack, w.sibcnt[si], w.sibjac[si], kind)
        if npick == t.n_distr:
            break
    return npick, n_cons


@njit(**KERNEL)
def pick_along_path(g, t, w, a, ans, obs, n_obs, nsib, order, astamp, n_cons_anchors):
    """Longer paths: curated negatives of ``a`` first, then (unless the type takes curated negatives
    only) what the best-ranked siblings reach (each sibling's reach in a random rotation, copied to
    w.cand), skipping anything the consistent anchors reach (marked w.vis2 == astamp) and anything
    without open-world evidence (module docstring). Returns (picked, candidates seen, consistent
    skipped)."""
    npick, seen, n_cons = 0, 0, 0
    s = new_stamp(w.stc)
    last = min(nsib, t.max_sibs) if t.mode != 3 else 0
    for src in range(-1, last):
        if src < 0:
            if t.neg < 0:
                continue
            lo, hi = hop_lo(g, t.neg, a), hop_hi(g, t.neg, a)
            n = min(hi - lo, len(w.cand))
            copy_into(w.cand, 0, g.hidx, lo, n)
            via, lack = a, -1
        else:
            sib = w.sib[order[src]]
            n = forward(g, t, w, sib)
            copy_into(w.cand, 0, w.front, 0, n)
            via = sib
            lack = first_missing(g, t.fh, sib, obs, n_obs) if t.masked else -1
        start = randint(w.st, n) if n > 0 else 0
        for q in range(n):
            c = w.cand[(start + q) % n]
            if w.cmark[c] == s:
                continue
            w.cmark[c] = s
            seen += 1
            if w.vis2[c] == astamp or (t.mode == 1 and _reached_related(g, w, c, astamp)):
                n_cons += 1
                continue
            if not _distinct(g, w, c, ans) or _word_clash(g, w, c, ans, npick, obs, n_obs):
                continue
            if src < 0:
                npick = _take(g, w, npick, c, via, True, lack, -1, np.nan, ASSERTED)
            else:
                if t.mode == 1:
                    if _via_clash(g, w, via, npick):
                        continue
                    kind = sources_out(g, t, w, c, a, obs, n_obs)
                elif t.mode == 2:
                    kind = finding_out(g, t, w, c, a, n_cons_anchors, obs, n_obs)
                else:
                    kind = 0
                if kind == 0:
                    continue
                npick = _take(g, w, npick, c, via, False, lack, w.sibcnt[order[src]], w.sibjac[order[src]],
                              kind)
            if npick == t.n_distr:
                return npick, seen, n_cons
    return npick, seen, n_cons

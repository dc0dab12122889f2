"""The numba skeleton kernel: one call synthesizes a batch of item skeletons of one question type.

A skeleton is everything but the words: anchor, observed features (with their edge rows), the path to
the answer, the distractors with their evidence, and the shuffled option order. Per attempt:

1. pick an anchor ∝ long-tail weight (binary search over cumulative weights);
2. observe k features (``masking.choose_observed``) or name the anchor;
3. walk the chain to an answer not already in the stem;
4. count siblings through the observed features' reverse CSR (too few for a one-hop type: stop),
   score them, gather candidates, select distractors (``distractors``);
5. shuffle the options with the attempt's seed and run the final check (``verify.verify_item``).

Distractors need open-world evidence (``evidence``): each records its kind, and the pertinent negatives
the stem must state ("There is no ...") come out with the skeleton. An allelic-disorder answer (a
disease reached through the key's gene) must itself be ruled out as the patient's disease.

An attempt that fails says why (``REASONS``); a slot tries ``max_attempts`` seeds
``seed_for(seed, slot, attempt)``, so results depend on the slot, never on batching or worker count.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from fleming.synth.distractors import (
    consistent_set,
    mark_answers,
    pick_along_path,
    pick_siblings,
)
from fleming.synth.evidence import HALLMARK, MAX_NEG, SPECIFIC, rule_out
from fleming.synth.masking import choose_observed
from fleming.synth.prims import (
    KERNEL,
    argsort_desc,
    copy_into,
    ex_add,
    ex_hit,
    ex_reset,
    hop_hi,
    hop_lo,
    named_after,
    rand01,
    randint,
    sample_cum,
    seed_for,
    shares_word,
)
from fleming.synth.sampler import SynthIndex
from fleming.synth.siblings import count_siblings, score_siblings
from fleming.synth.verify import verify_item

REASONS = (
    "anchor has too few unrelated features to observe",
    "no answer along the path outside the stem",
    "too few distractors pass the checks",
    "check failed: answer not consistent with the observed facts",
    "check failed: a distractor is consistent with every observed fact",
    "check failed: options not distinct",
    "consistency walk over max_visit nodes (unverifiable)",
    "stem consistent with more than max_consistent anchors",
    "check failed: an option is not ruled out by open-world evidence",
    "answer disease not ruled out as the patient's own",
    "stem not specific (two findings held by at most evidence.SPECIFIC anchors, one typical of the key)",
    "answer restates a stem finding (shares a content word with it)",
    "gene question on a disease linked to more than max_genes genes",
    "diagnosis named after its own hallmark (asked with it: a cue; without it: unrecognisable)",
)
MAX_OBS, MAX_HOPS = 8, 3

Work = namedtuple("Work", "st stc cnt inc vis vis2 cmark cons front nxt sib sibsc sibcnt sibjac "
                          "wbuf obs obs_eid pick pvia pneg plack pshared pjac "
                          "path path_eid opts exs exm exa ekey ekst order perm sopts bits "
                          "negs nneg pkind cand")
Out = namedtuple("Out", "status attempts reasons seed anchor nobs obs obs_eid path path_eid nopt opts "
                        "ans_pos "
                        "via neg lack shared jac nsib nall ncand ncons negs nneg kind")


def make_work(n_nodes: int, max_deg: int, n_options: int, max_visit: int) -> Work:
    i32 = lambda k: np.zeros(k, np.int32)  # noqa: E731
    buf = max(max_visit + 2, 4096)
    return Work(np.zeros(1, np.uint64), np.zeros(2, np.int64), i32(n_nodes), i32(n_nodes), i32(n_nodes),
                i32(n_nodes), i32(n_nodes), i32(buf), i32(buf), i32(buf),
                i32(4096), np.zeros(4096), i32(4096), np.zeros(4096),
                np.zeros(max(max_deg, 1)), i32(MAX_OBS), np.zeros(MAX_OBS, np.int64),
                i32(n_options), i32(n_options), np.zeros(n_options, np.bool_), i32(n_options),
                i32(n_options), np.zeros(n_options), i32(MAX_HOPS + 1), np.zeros(MAX_HOPS, np.int64),
                i32(n_options), np.zeros(1, np.int64), i32(n_nodes), i32(n_nodes), np.zeros(256, np.int64),
                i32(256), np.zeros(4096, np.int64), np.zeros(n_options, np.int64), i32(n_options),
                np.zeros(n_nodes // 64 + 1, np.uint64),
                i32(MAX_NEG), np.zeros(1, np.int64), np.zeros(n_options, np.int8), i32(buf))


def make_out(n: int, n_options: int) -> Out:
    z = lambda *s, dt=np.int32: np.zeros(s, dt)  # noqa: E731
    return Out(np.full(n, -1, np.int8), z(n), z(n, len(REASONS)), z(n, dt=np.uint64), z(n), z(n, dt=np.int8),
               np.full((n, MAX_OBS), -1, np.int32), np.full((n, MAX_OBS), -1, np.int64),
               np.full((n, MAX_HOPS + 1), -1, np.int32), z(n, MAX_HOPS, dt=np.int64), z(n, dt=np.int8),
               np.full((n, n_options), -1, np.int32), z(n, dt=np.int8), z(n, n_options),
               z(n, n_options, dt=np.bool_), z(n, n_options), z(n, n_options), z(n, n_options, dt=np.float32),
               z(n), z(n), z(n), z(n),
               np.full((n, MAX_NEG), -1, np.int32), z(n, dt=np.int8), z(n, n_options, dt=np.int8))


@njit(**KERNEL)
def _walk(g, t, w, a):
    """A random path from a along the chain into w.path; the last hop takes the first target, from a
    random rotation, of the answer type outside the stem, not sex-specific, and for an additional
    finding a hallmark of the disease (frequency >= HALLMARK: 'also expected' must be typical). Returns
    the answer or -1."""
    x = a
    last = len(t.chain) - 1
    for lev in range(last + 1):
        h = t.chain[lev]
        lo, hi = hop_lo(g, h, x), hop_hi(g, h, x)
        if hi <= lo:
            return -1
        j = lo + randint(w.st, hi - lo)
        if lev == last:
            for q in range(hi - lo):
                jj = lo + (j - lo + q) % (hi - lo)
                y = g.hidx[jj]
                if ((t.answer_type < 0 or g.type_codes[y] == t.answer_type) and not g.generic[y]
                        and not g.sexed[y] and not ex_hit(g, w, y)
                        and (t.mode != 2 or g.freq[g.heid[jj]] >= HALLMARK)):
                    break
            else:
                return -1
            j = jj
        x = g.hidx[j]
        w.path[lev + 1] = x
        w.path_eid[lev] = g.heid[j]
    return x


@njit(**KERNEL)
def _specific(g, t, obs, eid, n_obs):
    """Two observed findings are held by at most SPECIFIC anchors each, one of them typical of the
    anchor (frequency unknown or >= HALLMARK): the key can be recognised, not only reached by
    elimination, and the stem is no list of findings shared by hundreds of disorders."""
    n_spec, typical = 0, False
    for j in range(n_obs):
        if g.rdeg[obs[j]] <= SPECIFIC:
            n_spec += 1
            typical = typical or not g.freq[eid[j]] < HALLMARK
    return n_spec >= 2 and typical


@njit(**KERNEL)
def _named_after_hallmark(g, t, a):
    """A shares a content word with one of its own hallmarks ('Retinitis pigmentosa, deafness, ... and
    hypogonadism'; 'Sideroblastic anemia'): a stem showing the hallmark cues the key, one hiding it
    describes a disease no clinician would recognise."""
    for j in range(hop_lo(g, t.fh, a), hop_hi(g, t.fh, a)):  # noqa: SIM110 - no generators in numba
        if g.freq[g.heid[j]] >= HALLMARK and shares_word(g, g.hidx[j], a):
            return True
    return False


@njit(**KERNEL)
def _heterogeneous(g, t, a, ans):
    """A gene question (first hop disease -> gene) whose patient's disease, or whose allelic answer, is
    linked to more than t.max_genes genes: genetic heterogeneity the KG lists only in part (other genes of
    that disease would be right too), or an over-broad mapping ('type 1' linked to the genes of types 1-3)."""
    if t.mode != 1:
        return False
    if g.type_codes[a] == g.type_codes[ans] and \
            hop_hi(g, t.chain[0], ans) - hop_lo(g, t.chain[0], ans) > t.max_genes:   # allelic answer
        return True
    return hop_hi(g, t.chain[0], a) - hop_lo(g, t.chain[0], a) > t.max_genes


@njit(**KERNEL)
def attempt(g, t, w, o, i):
    """One attempt with the seed already in w.st; 0 and row i of ``o`` filled, or a REASONS code (1-based)."""
    a = t.anchors[sample_cum(t.cum, rand01(w.st) * t.cum[-1])]
    n_obs = 0
    w.nneg[0] = 0
    if t.masked:
        k = t.kmin + randint(w.st, t.kmax - t.kmin + 1)
        n_obs = choose_observed(g, t.fh, a, k, t.default_freq, t.min_obs_freq, w.st, w.wbuf, w.obs,
                                w.obs_eid)
        if n_obs < k:
            return 1
        if not _specific(g, t, w.obs, w.obs_eid, n_obs):
            return 11
        if t.mode == 0 and _named_after_hallmark(g, t, a):
            return 14
    w.path[:] = -1
    w.path_eid[:] = -1
    w.path[0] = a
    ex_reset(w)                                 # the stem's entities: never an option
    ex_add(g, w, a)
    for j in range(n_obs):
        ex_add(g, w, w.obs[j])
    ans = a
    if len(t.chain) > 0:
        for _ in range(4):
            ans = _walk(g, t, w, a)
            if ans >= 0:
                break
        if ans < 0:
            return 2
        for j in range(n_obs):
            if named_after(g, w.obs[j], ans):
                return 12
        if _heterogeneous(g, t, a, ans):
            return 13
        ex_add(g, w, ans)
    ncs, cstamp = 1, 0                          # the consistent anchors: the named one, or computed
    w.cons[0] = a
    if t.masked and len(t.chain) > 0:
        ncs, cstamp = consistent_set(g, t, w, w.obs, n_obs)
        if ncs < 0:
            return 7 if ncs == -1 else 8
    if t.mode == 1 and t.answer_type == t.anchor_type and (
            shares_word(g, ans, a) or rule_out(g, t.fh, w, ans, a, w.obs, w.obs_eid, n_obs) == 0):
        return 10                               # e.g. an allelic disorder the patient may have
    if t.masked:
        nf = n_obs
        nsib, seen, nall = count_siblings(g, t, w, a, w.obs, nf)
    else:
        lo, hi = hop_lo(g, t.fh, a), hop_hi(g, t.fh, a)
        nf = hi - lo
        nsib, seen, nall = count_siblings(g, t, w, a, g.hidx[lo:hi], nf)
    if len(t.chain) == 0 and nsib < t.min_distr:
        return 3                                # distractors come from siblings only: too few
    score_siblings(g, t, w, a, nsib, nf)
    order = w.order
    argsort_desc(w.sibsc, nsib, order)
    if len(t.chain) == 0:
        npick, ncons = pick_siblings(g, t, w, a, w.obs, n_obs, nsib, order)
        nc = nsib
    else:
        astamp = mark_answers(g, t, w, w.cons, ncs)
        if astamp < 0:
            return 7
        npick, nc, ncons = pick_along_path(g, t, w, a, ans, w.obs, n_obs, nsib, order, astamp, ncs)
    if npick < t.min_distr:
        return 3
    nopt = npick + 1
    w.opts[0] = ans
    copy_into(w.opts, 1, w.pick, 0, npick)
    perm = w.perm
    for j in range(nopt):
        perm[j] = j
    for j in range(nopt - 1, 0, -1):          # Fisher-Yates with the attempt's seed
        r = randint(w.st, j + 1)
        perm[j], perm[r] = perm[r], perm[j]
    opts, ans_pos = w.sopts, 0
    for j in range(nopt):
        opts[j] = w.opts[perm[j]]
        if perm[j] == 0:
            ans_pos = j                         # where index 0 (the answer) went
    v = verify_item(g, t, w, a, w.obs, n_obs, cstamp, w.cons, ncs, opts, nopt, ans_pos)
    if v != 0:
        return 3 + v
    o.anchor[i], o.nobs[i], o.nopt[i], o.ans_pos[i] = a, n_obs, nopt, ans_pos
    copy_into(o.obs[i], 0, w.obs, 0, n_obs)
    copy_into(o.obs_eid[i], 0, w.obs_eid, 0, n_obs)
    copy_into(o.path[i], 0, w.path, 0, len(w.path))
    copy_into(o.path_eid[i], 0, w.path_eid, 0, len(w.path_eid))
    copy_into(o.opts[i], 0, opts, 0, nopt)
    for j in range(nopt):
        src = perm[j] - 1                      # -1: the answer
        if src >= 0:
            o.via[i, j], o.neg[i, j], o.lack[i, j] = w.pvia[src], w.pneg[src], w.plack[src]
            o.shared[i, j], o.jac[i, j], o.kind[i, j] = w.pshared[src], w.pjac[src], w.pkind[src]
        else:
            o.via[i, j], o.lack[i, j], o.shared[i, j], o.jac[i, j] = -1, -1, -1, np.nan
            o.kind[i, j] = 0
    o.nneg[i] = w.nneg[0]
    copy_into(o.negs[i], 0, w.negs, 0, w.nneg[0])
    o.nsib[i], o.ncand[i], o.ncons[i] = seen, nc, ncons
    o.nall[i] = nall if len(t.chain) == 0 or not t.masked else ncs - 1
    return 0


@njit(**KERNEL)
def run_batch(g, t, w, o, slots, seed):
    """Fill ``o`` for each slot: status 0 with the accepted attempt, or -1 after max_attempts."""
    for i in range(len(slots)):
        if w.stc[0] > (1 << 30):                # stamps in int32 arrays: start over long before overflow
            w.stc[0] = w.stc[1] = 0
            for arr in (w.vis, w.vis2, w.exm, w.exa, w.ekst):
                arr[:] = 0
            for arr in (w.cnt, w.inc, w.cmark):
                arr[:] = 0
        for att in range(t.max_attempts):
            s = seed_for(seed, slots[i], att)
            w.st[0] = s
            o.attempts[i] = att + 1
            r = attempt(g, t, w, o, i)
            if r == 0:
                o.status[i] = 0
                o.seed[i] = s
                break
            o.reasons[i, r - 1] += 1


class Kernel:
    """Runs batches over a ``SynthIndex``; holds the scratch arrays (one set per process)."""

    def __init__(self, index: SynthIndex):
        cfg = index.cfg
        self.index = index
        self.work = make_work(index.kg.n_nodes, index.max_feature_degree, cfg.n_options, cfg.max_visit)

    def run(self, type_name: str, slots: np.ndarray, seed: int) -> Out:
        out = make_out(len(slots), self.index.cfg.n_options)
        plan = self.index.plans[type_name]
        run_batch(self.index.graph, plan.arrays, self.work, out, slots.astype(np.int64),
                  np.uint64(seed % (1 << 64)))
        return out


@njit(cache=True)  # allocates: keeps NRT
def slot_uniforms(seed, slots):
    """One uniform draw per slot (picks the slot's question type), independent of the attempt seeds."""
    out = np.empty(len(slots))
    for i in range(len(slots)):
        out[i] = (seed_for(seed, slots[i], 1 << 30) >> np.uint64(11)) * (1.0 / 9007199254740992.0)
    return out

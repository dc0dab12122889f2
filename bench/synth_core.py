"""The issue's reference step, run with the synthesizer's own kernel functions (for bench_synth.py).

Pick a disease weighted to the long tail, observe k findings (frequency-weighted), find distractors that
share >= m of them and lack >= 1 (is_a-closed, synonym-free, ranked by plausibility, each ruled out by
open-world evidence, ``synth.evidence``): ``kernel.attempt``
up to the choice of distractors, without the final verification, option shuffle and output rows that a
full attempt adds. Used to put a like-for-like figure beside the issue's reference table.
"""

from __future__ import annotations

from numba import njit

from fleming.synth.distractors import pick_siblings
from fleming.synth.masking import choose_observed
from fleming.synth.prims import argsort_desc, ex_add, ex_reset, rand01, randint, sample_cum
from fleming.synth.siblings import count_siblings, score_siblings


@njit(cache=True, _nrt=False)
def core_skeletons(g, t, w, seeds):
    """Attempts with the given seeds of a one-hop masked type; returns how many found enough distractors."""
    made = 0
    for s in seeds:
        w.st[0] = s
        w.nneg[0] = 0                    # no pertinent negatives stated yet
        a = t.anchors[sample_cum(t.cum, rand01(w.st) * t.cum[-1])]
        k = t.kmin + randint(w.st, t.kmax - t.kmin + 1)
        n_obs = choose_observed(g, t.fh, a, k, t.default_freq, t.min_obs_freq, w.st, w.wbuf, w.obs,
                                w.obs_eid)
        if n_obs < k:
            continue
        ex_reset(w)
        ex_add(g, w, a)
        for j in range(n_obs):
            ex_add(g, w, w.obs[j])
        nsib, _, _ = count_siblings(g, t, w, a, w.obs, n_obs)
        if nsib < t.min_distr:
            continue
        score_siblings(g, t, w, a, nsib, n_obs)
        argsort_desc(w.sibsc, nsib, w.order)
        npick, _ = pick_siblings(g, t, w, a, w.obs, n_obs, nsib, w.order)
        made += npick >= t.min_distr
    return made

"""Metrics against independently computed values: brute-force enumeration, scipy, normal theory."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import binomtest

from fleming.eval.metrics import (
    bootstrap_ci,
    bootstrap_means,
    ks_for,
    majority_vote,
    mcnemar_exact,
    paired_bootstrap_ci,
    pass_at_k,
    rng_for,
)


def brute_pass_at_k(n: int, c: int, k: int) -> float:
    """Fraction of all k-subsets of n samples (the first c correct) holding at least one correct."""
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(i < c for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", range(1, 9))
def test_pass_at_k_equals_enumeration(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_pass_at_k(n, c, k), abs=1e-12), (n, c, k)


def test_pass_at_1_is_the_fraction_correct_and_bad_input_is_refused():
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 5)


def test_ks_for():
    assert ks_for(1) == [1]
    assert ks_for(5) == [1, 2, 4, 5]
    assert ks_for(8) == [1, 2, 4, 8]


def test_majority_vote_ties_go_to_the_earliest_answer_and_unparsed_votes_do_not_count():
    assert majority_vote([["B"], ["A"]]) == ["B"]
    assert majority_vote([["B"], ["A"], ["A"]]) == ["A"]
    assert majority_vote([None, None, ["C"]]) == ["C"]
    assert majority_vote([None, None]) is None
    assert majority_vote([]) is None
    # Letter order inside a multi-letter answer does not split the vote.
    assert majority_vote([["A"], ["C", "B"], ["B", "C"]]) == ["B", "C"]


def brute_majority(answers):
    keys = [tuple(sorted(a)) for a in answers if a is not None]
    if not keys:
        return None
    best = max(keys.count(k) for k in keys)
    return list(next(k for k in keys if keys.count(k) == best))


def test_majority_vote_matches_a_brute_force_over_all_small_vote_lists():
    alphabet = [None, ["A"], ["B"], ["C"]]
    for votes in itertools.product(alphabet, repeat=4):
        assert majority_vote(list(votes)) == brute_majority(votes), votes


@pytest.mark.parametrize("b,c", [(0, 0), (0, 1), (0, 6), (3, 3), (1, 9), (7, 2), (40, 61), (250, 180)])
def test_mcnemar_exact_equals_scipy_binomtest(b, c):
    expected = 1.0 if b + c == 0 else binomtest(b, b + c, 0.5).pvalue
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-9)


def test_mcnemar_is_symmetric():
    assert mcnemar_exact(5, 17) == mcnemar_exact(17, 5)


def _binary(n: int, p: float, seed: int = 0) -> np.ndarray:
    x = np.zeros(n)
    x[: round(n * p)] = 1
    np.random.default_rng(seed).shuffle(x)
    return x


def test_bootstrap_ci_contains_the_estimate_and_shrinks_like_one_over_root_n():
    small, large = _binary(100, 0.6), _binary(10_000, 0.6)
    lo_s, hi_s = bootstrap_ci(small, seed=3)
    lo_l, hi_l = bootstrap_ci(large, seed=3)
    assert lo_s < small.mean() < hi_s
    assert lo_l < large.mean() < hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s)
    # Normal theory: width = 2 * 1.96 * sqrt(p (1 - p) / n).
    for x, (lo, hi) in ((small, (lo_s, hi_s)), (large, (lo_l, hi_l))):
        width = 2 * 1.96 * math.sqrt(0.6 * 0.4 / x.size)
        assert hi - lo == pytest.approx(width, rel=0.12)


def test_bootstrap_is_seeded_and_handles_edge_cases():
    x = _binary(300, 0.3)
    assert bootstrap_ci(x, seed=5) == bootstrap_ci(x, seed=5)
    assert bootstrap_ci(x, seed=5) != bootstrap_ci(x, seed=6)
    assert bootstrap_ci(np.ones(20)) == (1.0, 1.0)
    assert all(math.isnan(v) for v in bootstrap_ci([]))
    # Chunked resampling gives the requested number of replicates.
    assert bootstrap_means(_binary(5000, 0.5), n_boot=1234).shape == (1234,)


def test_rng_for_depends_on_every_key():
    draw = lambda *k: rng_for(0, *k).integers(0, 1 << 30)  # noqa: E731
    assert draw("medqa") == draw("medqa")
    assert draw("medqa") != draw("pubmedqa")
    assert draw("medqa", "step") != draw("medqa")


def test_paired_bootstrap_ci_of_a_known_difference():
    a = _binary(2000, 0.5, seed=1)
    b = a.copy()
    flip = np.flatnonzero(a == 0)[:200]  # B right on 200 items A got wrong: +10 points exactly
    b[flip] = 1
    lo, hi = paired_bootstrap_ci(a, b, seed=0)
    assert lo < 0.10 < hi
    assert lo > 0  # every discordant pair favours B

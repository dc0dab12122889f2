"""Metrics: seeded bootstrap CIs, unbiased pass@k, majority vote, and paired tests.

All functions are pure (numbers in, numbers out) so they can be checked against brute force.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

N_BOOT = 2000
_CHUNK_CELLS = 2_000_000  # resample at most this many item draws at once (bounded memory)


def rng_for(seed: int, *keys: str) -> np.random.Generator:
    """A generator seeded by ``seed`` and names, so one benchmark's CI does not depend on the others."""
    words = [int.from_bytes(hashlib.sha256(k.encode()).digest()[:4], "little") for k in keys]
    return np.random.default_rng([seed, *words])


def bootstrap_means(scores: Sequence[float] | np.ndarray, n_boot: int = N_BOOT,
                    rng: np.random.Generator | None = None) -> np.ndarray:
    """``n_boot`` means of ``scores`` resampled with replacement (items are the resampling unit)."""
    x = np.asarray(scores, dtype=float)
    if x.size == 0:
        return np.full(n_boot, np.nan)
    rng = rng or np.random.default_rng(0)
    out = np.empty(n_boot)
    step = max(1, _CHUNK_CELLS // x.size)
    for start in range(0, n_boot, step):
        stop = min(n_boot, start + step)
        idx = rng.integers(0, x.size, size=(stop - start, x.size))
        out[start:stop] = x[idx].mean(axis=1)
    return out


def percentile_ci(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of bootstrap replicates."""
    if replicates.size == 0 or np.isnan(replicates).all():
        return (math.nan, math.nan)
    lo, hi = np.percentile(replicates, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def bootstrap_ci(scores: Sequence[float] | np.ndarray, n_boot: int = N_BOOT, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of per-item scores.

    >>> lo, hi = bootstrap_ci([1, 0, 1, 1, 0, 1, 1, 0], seed=1)
    >>> lo < 5 / 8 < hi
    True
    """
    return percentile_ci(bootstrap_means(scores, n_boot, np.random.default_rng(seed)), level)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one item with ``n`` samples of which ``c`` are correct (Chen et al., 2021):
    ``1 - C(n-c, k) / C(n, k)``, the chance that k samples drawn without replacement include a correct one.

    >>> pass_at_k(4, 1, 2)
    0.5
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def ks_for(n: int) -> list[int]:
    """The k reported for ``n`` samples: 1, 2, 4, ... below n, and n itself."""
    ks, k = [], 1
    while k < n:
        ks.append(k)
        k *= 2
    return [*ks, n]


def majority_vote(answers: Sequence[Sequence[str] | None]) -> list[str] | None:
    """The most frequent extracted answer; unparsed (None) votes do not count.

    Tie rule: among answers with the top count, the one that appeared first (lowest sample index)
    wins, so the vote is deterministic and, at k=1, equals the single sample. All unparsed -> None.

    >>> majority_vote([["B"], None, ["A"], ["A"], ["B"]])
    ['B']
    """
    counts: Counter[tuple[str, ...]] = Counter()
    first: dict[tuple[str, ...], int] = {}
    for i, a in enumerate(answers):
        if a is None:
            continue
        key = tuple(sorted(a))
        counts[key] += 1
        first.setdefault(key, i)
    if not counts:
        return None
    best = max(counts.values())
    winner = min((k for k, v in counts.items() if v == best), key=first.__getitem__)
    return list(winner)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts ``b`` (only A right) and ``c``
    (only B right): a binomial test of b against Binomial(b + c, 1/2), computed in exact arithmetic.

    >>> mcnemar_exact(0, 6)
    0.03125
    """
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return float(min(Fraction(1), Fraction(2 * tail, 2**n)))


def paired_bootstrap_ci(a: Sequence[float], b: Sequence[float], n_boot: int = N_BOOT, seed: int = 0,
                        level: float = 0.95) -> tuple[float, float]:
    """CI of mean(b - a) over paired items, resampling items (pairs stay together)."""
    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    return bootstrap_ci(d, n_boot, seed, level)

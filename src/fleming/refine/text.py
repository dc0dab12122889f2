"""Text keys shared by dedup and decontamination: normalisation, tokens, n-gram hashes, MinHash.

Everything is vectorised over a batch of records: tokens are hashed once (64-bit, cached per distinct
token), n-gram hashes are rolled over the flat token array with numpy, and MinHash signatures use
datasketch's own ``affine32`` permutations (MurmurHash3 finalizer, then ``a*h + b mod 2^32``), so a
signature computed here equals ``datasketch.MinHash(seed=..., hashfunc=...).update_batch(shingles)``
(tests check it) and can be indexed in ``datasketch.MinHashLSH`` as a ``LeanMinHash``.

>>> tokens("Hb 7.2 g/dL; 患者")
['hb', '7', '2', 'g', 'dl', '患', '者']
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence

import numpy as np

from fleming.records import MCQ

# CJK ideographs are one token each (Chinese has no spaces); other runs of letters/digits are words.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_ROLL = np.uint64(0x100000001B3)  # FNV-64 prime: odd, so the rolling hash mixes every position


def normalize(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(normalize(text))


def stem_text(r: MCQ) -> str:
    """What the question asks: the context (PubMedQA abstract) and the question."""
    return f"{r.context}\n{r.question}" if r.context else r.question


def full_text(r: MCQ, sort_options: bool = False) -> str:
    """Stem plus options (sorted when the key must not depend on option order)."""
    opts = sorted(r.options.values(), key=str.casefold) if sort_options else list(r.options.values())
    return stem_text(r) + "\n" + "\n".join(opts)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """A fixed avalanching bijection on uint64 (wrapping arithmetic is intended)."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * np.uint64(0xBF58476D1CE4E5B9)
        x = x ^ (x >> np.uint64(27))
        x = x * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


class TokenHasher:
    """Stable 64-bit token hashes (blake2b), computed once per distinct token."""

    def __init__(self) -> None:
        self._cache: dict[str, int] = {}

    def _hash(self, tok: str) -> int:
        h = int.from_bytes(hashlib.blake2b(tok.encode("utf-8"), digest_size=8).digest(), "little")
        self._cache[tok] = h
        return h

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(flat uint64 token hashes, lengths per text)."""
        cache, miss = self._cache, self._hash
        flat: list[int] = []
        lengths = np.empty(len(texts), dtype=np.int64)
        for i, t in enumerate(texts):
            toks = _TOKEN.findall(t.lower() if t.isascii() else unicodedata.normalize("NFKC", t).casefold())
            lengths[i] = len(toks)
            flat.extend([cache[x] if x in cache else miss(x) for x in toks])
        return np.array(flat, dtype=np.uint64), lengths


def ngram_hashes(flat: np.ndarray, lengths: np.ndarray, n: int,
                 short: str = "skip") -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of every token n-gram inside each text: (flat hashes, count per text).

    ``short``: what a text with fewer than ``n`` tokens gives: ``"skip"`` (no n-gram) or ``"whole"``
    (one hash of all its tokens, so short texts still have a key).
    """
    n_texts = len(lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    owner = np.repeat(np.arange(n_texts), lengths)
    out_h: list[np.ndarray] = []
    out_owner: list[np.ndarray] = []
    if len(flat) >= n:
        w = len(flat) - n + 1
        h = np.zeros(w, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for j in range(n):
                h = h * _ROLL + flat[j:j + w]
        valid = owner[:w] == owner[n - 1:]
        out_h.append(splitmix64(h[valid]))
        out_owner.append(owner[:w][valid])
    if short == "whole":
        for i in np.flatnonzero((lengths > 0) & (lengths < n)):
            h = np.uint64(0)
            with np.errstate(over="ignore"):
                for t in flat[starts[i]:starts[i] + lengths[i]]:
                    h = h * _ROLL + t
            out_h.append(splitmix64(np.array([h], dtype=np.uint64)))
            out_owner.append(np.array([i]))
    if not out_h:
        return np.empty(0, dtype=np.uint64), np.zeros(n_texts, dtype=np.int64)
    hashes, owners = np.concatenate(out_h), np.concatenate(out_owner)
    order = np.argsort(owners, kind="stable")
    return hashes[order], np.bincount(owners, minlength=n_texts).astype(np.int64)


def concat_ragged(a: np.ndarray, la: np.ndarray, b: np.ndarray, lb: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per item, ``a``'s run followed by ``b``'s run (both flat arrays with lengths per item)."""
    n = len(la)
    keys = np.concatenate([np.repeat(np.arange(n) * 2, la), np.repeat(np.arange(n) * 2 + 1, lb)])
    order = np.argsort(keys, kind="stable")
    return np.concatenate([a, b])[order], la + lb


def expand_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Indices ``starts[i] .. starts[i] + lengths[i] - 1`` for every i, concatenated.

    >>> expand_ranges(np.array([5, 0]), np.array([2, 3])).tolist()
    [5, 6, 0, 1, 2]
    """
    total = int(lengths.sum())
    offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(total, dtype=np.int64) + offsets


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n, bands) uint64 keys: each band's ``rows`` signature values hashed together (LSH banding)."""
    x = sig[:, : bands * rows].astype(np.uint64).reshape(len(sig), bands, rows)
    h = np.zeros((len(sig), bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(rows):
            h = splitmix64(h * _ROLL + x[:, :, j])
    return h


class MinHasher:
    """MinHash signatures (uint32, datasketch ``affine32`` scheme) for many shingle sets at once."""

    def __init__(self, num_perm: int = 128, seed: int = 1):
        from datasketch import MinHash

        self.num_perm, self.seed = num_perm, seed
        a, b = MinHash(num_perm=num_perm, seed=seed).permutations
        self._a, self._b = a.astype(np.uint32), b.astype(np.uint32)

    def signatures(self, shingles: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """``shingles``: flat hashes (their low 32 bits are used), ``counts``: shingles per set.

        Empty sets get all-max signatures (as an empty datasketch MinHash).
        """
        hv = (shingles & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return _minhash_kernel()(hv, offsets, self._a, self._b)

    def lean(self, row: np.ndarray):
        from datasketch import LeanMinHash

        return LeanMinHash(seed=self.seed, hashvalues=row, scheme="affine32")


_KERNEL = None


def _minhash_kernel():
    """A numba kernel (compiled once, cached on disk): per set, min over shingles of a*fmix32(h)+b."""
    global _KERNEL
    if _KERNEL is None:
        import numba

        @numba.njit(cache=True, nogil=True)
        def kernel(hv, offsets, a, b):  # pragma: no cover - compiled
            n, k = len(offsets) - 1, len(a)
            sig = np.full((n, k), np.uint32(0xFFFFFFFF), dtype=np.uint32)
            m32 = np.uint64(0xFFFFFFFF)
            for i in range(n):
                row = sig[i]
                for s in range(offsets[i], offsets[i + 1]):
                    h = np.uint64(hv[s])  # 32-bit arithmetic done in uint64 and masked
                    h ^= h >> np.uint64(16)
                    h = (h * np.uint64(0x85EBCA6B)) & m32
                    h ^= h >> np.uint64(13)
                    h = (h * np.uint64(0xC2B2AE35)) & m32
                    h ^= h >> np.uint64(16)
                    for j in range(k):
                        v = np.uint32((np.uint64(a[j]) * h + np.uint64(b[j])) & m32)
                        if v < row[j]:
                            row[j] = v
            return sig

        _KERNEL = kernel
    return _KERNEL

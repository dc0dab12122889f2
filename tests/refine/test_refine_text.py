"""Text keys: MinHash equal to datasketch's, n-grams that never cross texts, tokens, banding."""

from __future__ import annotations

import numpy as np
import pytest
from datasketch import MinHash

from fleming.refine import text as tx

TEXTS = ["A 45-year-old man presents with chest pain radiating to the left arm.", "", "two words",
         "患者男性，45岁，胸痛2小时。", "Which of the following is the most likely diagnosis?"]


@pytest.mark.parametrize("num_perm,seed", [(128, 1), (64, 7)])
def test_signatures_equal_datasketch_minhash(num_perm, seed):
    flat, lengths = tx.TokenHasher().encode(TEXTS)
    shingles, counts = tx.ngram_hashes(flat, lengths, 3, short="whole")
    sig = tx.MinHasher(num_perm, seed).signatures(shingles, counts)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    for i in range(len(TEXTS)):
        m = MinHash(num_perm=num_perm, seed=seed, hashfunc=lambda x: int(x) & 0xFFFFFFFF)
        m.update_batch(list(shingles[offsets[i]:offsets[i + 1]]))
        assert np.array_equal(m.hashvalues, sig[i]), TEXTS[i]


def test_ngrams_never_cross_texts():
    hasher = tx.TokenHasher()
    together = tx.ngram_hashes(*hasher.encode(TEXTS), 3)
    apart = [tx.ngram_hashes(*hasher.encode([t]), 3) for t in TEXTS]
    assert together[1].tolist() == [int(c[0]) for _, c in apart]
    assert together[0].tolist() == [h for hs, _ in apart for h in hs.tolist()]


def test_short_texts_get_one_whole_key_only_when_asked():
    flat, lengths = tx.TokenHasher().encode(["two words", "one"])
    assert tx.ngram_hashes(flat, lengths, 3)[1].tolist() == [0, 0]
    hashes, counts = tx.ngram_hashes(flat, lengths, 3, short="whole")
    assert counts.tolist() == [1, 1] and hashes[0] != hashes[1]


def test_token_hashes_are_stable_across_instances_and_case():
    a, _ = tx.TokenHasher().encode(["Insulin LOWERS glucose"])
    b, _ = tx.TokenHasher().encode(["insulin lowers glucose"])
    assert a.tolist() == b.tolist()


def test_tokens_split_cjk_characters_and_words():
    assert tx.tokens("HbA1c 7.5%; 糖尿病") == ["hba1c", "7", "5", "糖", "尿", "病"]


def test_concat_ragged_and_expand_ranges():
    a, la, b, lb = np.array([1, 2, 3]), np.array([2, 1]), np.array([9, 8]), np.array([1, 1])
    flat, lengths = tx.concat_ragged(a, la, b, lb)
    assert flat.tolist() == [1, 2, 9, 3, 8] and lengths.tolist() == [3, 2]
    assert tx.expand_ranges(np.array([3, 0]), np.array([0, 2])).tolist() == [0, 1]


def test_band_keys_agree_only_where_the_band_agrees():
    sig = np.arange(24, dtype=np.uint32).reshape(2, 12)
    sig[1, :4] = sig[0, :4]
    keys = tx.band_keys(sig, 3, 4)
    assert keys[0, 0] == keys[1, 0]
    assert (keys[0, 1:] != keys[1, 1:]).all()

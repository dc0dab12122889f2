"""The numba line writer's pieces against Python's own formatting: round + repr, JSON string escaping
(``json.encoder.encode_basestring``), integers. The whole writer is checked through the synthesized
items (valid JSON, re-checked against the KG) in the other synth tests."""

from __future__ import annotations

import random
from json.encoder import encode_basestring

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from fleming.synth.jsonl import arrow_strings, put_dec, put_int, put_str, put_u64, py_round


def _text(put, *args) -> str:
    o = np.zeros(4096, np.uint8)
    n = put(o, 0, *args)
    assert n >= 0
    return o[:n].tobytes().decode()


def test_rounded_floats_print_as_python_repr_of_round():
    rng = random.Random(3)
    values = [0.00015, 0.00025, 0.5, 1.0, 0.0, 99.995, 12.345, 0.1 + 0.2]
    for _ in range(20000):       # means of 4-decimal values hit exact and near ties
        ks = [rng.randint(0, 10000) for _ in range(rng.randint(1, 4))]
        values += [sum(k / 10000 for k in ks) / len(ks), float(np.float32(rng.random())), rng.random() * 100]
    for x in values:
        for digits in (2, 4):
            assert _text(put_dec, py_round(x, float(10 ** digits)), digits) == repr(round(x, digits)), x


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(), st.none()), min_size=1, max_size=8))
def test_strings_are_escaped_like_encode_basestring(texts):
    table = arrow_strings(pa.array(texts, pa.string()))
    for row, t in enumerate(texts):
        assert _text(put_str, table, row) == ("null" if t is None else encode_basestring(t))


def test_dictionary_columns_and_control_characters():
    texts = ['a"b\\c', "tab\there\n", "\x01\x1f", "Sjögren – 5%", 'a"b\\c']
    table = arrow_strings(pa.array(texts).dictionary_encode())
    assert [_text(put_str, table, i) for i in range(len(texts))] == [encode_basestring(t) for t in texts]


@settings(deadline=None)                 # the first example compiles a numba kernel
@given(st.integers(-(2**63) + 1, 2**63 - 1), st.integers(0, 2**64 - 1))
def test_integers(i, u):
    assert _text(put_int, i) == str(i)
    assert _text(put_u64, np.uint64(u)) == str(u)


def test_a_full_buffer_is_reported_not_overrun():
    table = arrow_strings(pa.array(["x" * 100]))
    o = np.zeros(50, np.uint8)
    assert put_str(o, 0, table, 0) == -1 and put_int(o, 45, 10**12) == -1

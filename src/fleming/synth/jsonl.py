"""Item JSON lines written by a numba kernel, byte for byte what ``json.dumps``-style Python would write.

Python renders the words of an item (question, patient) and checks it; everything else in the line
(options, provenance, path, triples, rarity, distractors, difficulty features) is copied here from the
KG's Arrow string buffers (ids, names, rare flags, edge sources and records: zero-copy views, escaped
as ``json.encoder.encode_basestring`` does) and from the kernel's output. Floats are printed as
Python's ``repr(round(x, n))`` prints them: ``py_round`` reproduces ``round`` exactly (the product
x * 10**n is split into a double and its exact error, so ties and near-ties go the same way).

The writer allocates nothing: it returns -1 when the output buffer is too small and the caller
retries with a larger one.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from fleming.synth.prims import KERNEL

Strs = namedtuple("Strs", "idx off data valid")      # a string column: row -> idx -> data[off[i]:off[i+1]]
Tables = namedtuple("Tables", "ids names flags source record types rels rel_starts rel_codes "
                              "src dst freq type_codes rare")


def arrow_strings(arr) -> Strs:
    """Zero-copy numpy views of an Arrow string (or dictionary-of-string) array."""
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    valid = (np.ones(len(arr), np.bool_) if arr.null_count == 0
             else ~arr.is_null().to_numpy(zero_copy_only=False))
    if pa.types.is_dictionary(arr.type):
        idx = arr.indices.fill_null(0).to_numpy().astype(np.int32)
        arr = arr.dictionary
    else:
        idx = np.arange(len(arr), dtype=np.int32)
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        raise TypeError(f"expected a string column, got {arr.type}")
    wide = pa.types.is_large_string(arr.type)
    bufs = arr.buffers()
    off = np.frombuffer(bufs[1], dtype=np.int64 if wide else np.int32, count=len(arr) + 1,
                        offset=arr.offset * (8 if wide else 4))
    data = (np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None and len(bufs[2])
            else np.zeros(1, np.uint8))
    return Strs(idx, off, data, valid)


def const_strings(items: list[str]) -> Strs:
    """A small table of Python strings (entity types, relation names, constant pieces)."""
    import pyarrow as pa

    return arrow_strings(pa.array(items, pa.string()))


@njit(**KERNEL)
def _split(a):
    c = 134217729.0 * a
    hi = c - (c - a)
    return hi, a - hi


@njit(**KERNEL)
def py_round(x, scale):
    """The integer k with ``round(x, n) == k / 10**n`` in Python (scale = 10**n; correctly rounded,
    ties to even), from the exact product x * scale = p + e (Dekker's two-product)."""
    p = x * scale
    ah, al = _split(x)
    bh, bl = _split(scale)
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    k = np.floor(p)
    d = p - k
    if d >= 0.25:
        s = (d - 0.5) + e
        if s > 0 or (s == 0 and k % 2 == 1):
            k += 1
    return np.int64(k)


@njit(**KERNEL)
def _room(o, pos, n):
    return pos >= 0 and pos + n <= len(o)


@njit(**KERNEL)
def put_const(o, pos, t, i):
    """Row i of a const table, raw."""
    if pos < 0:
        return -1
    lo, hi = t.off[t.idx[i]], t.off[t.idx[i] + 1]
    if not _room(o, pos, hi - lo):
        return -1
    for q in range(lo, hi):
        o[pos] = t.data[q]
        pos += 1
    return pos


@njit(**KERNEL)
def put_raw(o, pos, src, lo, hi):
    if pos < 0 or not _room(o, pos, hi - lo):
        return -1
    for q in range(lo, hi):
        o[pos] = src[q]
        pos += 1
    return pos


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_SHORT = np.zeros(32, np.uint8)                 # control characters with a two-character escape
for _c, _e in ((8, "b"), (9, "t"), (10, "n"), (12, "f"), (13, "r")):
    _SHORT[_c] = ord(_e)


@njit(**KERNEL)
def put_str(o, pos, t, row):
    """Row ``row`` of a string column as a JSON string (``null`` when the row is null)."""
    if pos < 0:
        return -1
    if not t.valid[row]:
        return put_ascii4(o, pos, 110, 117, 108, 108)
    i = t.idx[row]
    lo, hi = t.off[i], t.off[i + 1]
    if not _room(o, pos, 2 + 6 * (hi - lo)):
        return -1
    o[pos] = 34
    pos += 1
    for q in range(lo, hi):
        b = t.data[q]
        if b == 34 or b == 92:
            o[pos], o[pos + 1] = 92, b
            pos += 2
        elif b < 32:
            if _SHORT[b]:
                o[pos], o[pos + 1] = 92, _SHORT[b]
                pos += 2
            else:                                   # \u00XX
                o[pos], o[pos + 1], o[pos + 2], o[pos + 3] = 92, 117, 48, 48
                o[pos + 4], o[pos + 5] = _HEX[b >> 4], _HEX[b & 15]
                pos += 6
        else:
            o[pos] = b
            pos += 1
    o[pos] = 34
    return pos + 1


@njit(**KERNEL)
def put_ascii4(o, pos, a, b, c, d):
    if pos < 0 or not _room(o, pos, 4):
        return -1
    o[pos], o[pos + 1], o[pos + 2], o[pos + 3] = a, b, c, d
    return pos + 4


@njit(**KERNEL)
def put_int(o, pos, x):
    """A decimal signed integer."""
    if pos < 0 or not _room(o, pos, 21):
        return -1
    if x < 0:
        o[pos] = 45
        pos += 1
        x = -x
    n = 1
    y = x
    while y >= 10:
        y //= 10
        n += 1
    for q in range(n - 1, -1, -1):
        o[pos + q] = 48 + x % 10
        x //= 10
    return pos + n


@njit(**KERNEL)
def put_u64(o, pos, x):
    """A decimal uint64 (numba would turn uint64 % int64 into float64)."""
    if pos < 0 or not _room(o, pos, 20):
        return -1
    ten = np.uint64(10)
    n = 1
    y = x
    while y >= ten:
        y //= ten
        n += 1
    for q in range(n - 1, -1, -1):
        o[pos + q] = np.uint8(48 + np.int64(x % ten))
        x //= ten
    return pos + n


@njit(**KERNEL)
def put_dec(o, pos, k, digits):
    """``repr(k / 10**digits)`` for k >= 0: '0.0984', '1.0', '12.5' (no float-to-string needed)."""
    scale = 1
    for _ in range(digits):
        scale *= 10
    pos = put_int(o, pos, k // scale)
    if pos < 0 or not _room(o, pos, digits + 1):
        return -1
    o[pos] = 46
    pos += 1
    frac, n = k % scale, digits
    while n > 1 and frac % 10 == 0:
        frac //= 10
        n -= 1
    for q in range(n - 1, -1, -1):
        o[pos + q] = 48 + frac % 10
        frac //= 10
    return pos + n


@njit(**KERNEL)
def put_bool(o, pos, x):
    if x:
        return put_ascii4(o, pos, 116, 114, 117, 101)
    pos = put_ascii4(o, pos, 102, 97, 108, 115)
    if pos < 0 or not _room(o, pos, 1):
        return -1
    o[pos] = 101
    return pos + 1


@njit(**KERNEL)
def put_null(o, pos):
    return put_ascii4(o, pos, 110, 117, 108, 108)


def _lit(s: str) -> np.ndarray:
    return np.frombuffer(s.encode(), dtype=np.uint8).copy()


# constant pieces of every line (numba freezes these module globals into the compiled code)
_OPTIONS, _ANSWER, _SLOT, _ATTEMPT, _SEED = (_lit(s) for s in (
    ',"options":{', '},"answer":["', ',"slot":', ',"attempt":', ',"item_seed":'))
_EXTRA, _ANS, _OBS, _PATIENT, _PATH = (_lit(s) for s in (
    '},"extra":{"anchor":', ',"answer":', ',"observed":[', '],"patient":', ',"path":['))
_FROM_LIST, _REL, _TO, _FROM, _TRIPLES = (_lit(s) for s in (
    '{"from":[', '],"relation":"', '","to":', '{"from":', ',"triples":['))
_ID, _NAME, _TYPE, _EDGE, _SOURCE, _RECORD, _FREQ = (_lit(s) for s in (
    '{"id":', ',"name":', ',"type":"', ',{"edge":', ',"source":', ',"record":', ',"frequency":'))
_RARITY, _PCT, _DECILE, _RARE, _FLAGS, _DISTR = (_lit(s) for s in (
    '],"rarity":{"degree":', ',"percentile":', ',"decile":', ',"rare":', ',"rare_flags":',
    '},"distractors":['))
_LETTER, _SHARED, _JAC, _VIA, _LACKS, _NEG = (_lit(s) for s in (
    ',"letter":"', '","shared":', ',"jaccard":', ',"via":', ',"lacks":', ',"curated_negative":'))
_FEAT = tuple(_lit(s) for s in (
    '],"difficulty_features":{"hops":', ',"k_observed":', ',"n_siblings":', ',"n_candidates":',
    ',"n_consistent_anchors":', ',"mean_jaccard":', ',"max_jaccard":', ',"min_shared":', ',"anchor_degree":',
    ',"answer_degree":', ',"observed_mean_frequency":', ',"observed_named_in_answer":', ',"relation":"'))
(_F_HOPS, _F_K, _F_SIB, _F_CAND, _F_CONS, _F_MEAN, _F_MAX, _F_MIN, _F_ADEG, _F_BDEG, _F_FREQ, _F_NAMED,
 _REL_OPEN) = _FEAT


@njit(**KERNEL)
def put_lit(o, pos, lit):
    return put_raw(o, pos, lit, 0, len(lit))


@njit(**KERNEL)
def put_byte(o, pos, b):
    if pos < 0 or not _room(o, pos, 1):
        return -1
    o[pos] = b
    return pos + 1


@njit(**KERNEL)
def put_node(o, pos, tb, x):
    """{"id":..,"name":..,"type":".." without the closing brace."""
    pos = put_lit(o, pos, _ID)
    pos = put_str(o, pos, tb.ids, x)
    pos = put_lit(o, pos, _NAME)
    pos = put_str(o, pos, tb.names, x)
    pos = put_lit(o, pos, _TYPE)
    pos = put_const(o, pos, tb.types, tb.type_codes[x])
    return put_byte(o, pos, 34)


@njit(**KERNEL)
def put_triple(o, pos, tb, e, with_records):
    """[src, "relation", dst, {"edge", "source", "record"?, "frequency"?}]"""
    pos = put_byte(o, pos, 91)
    pos = put_str(o, pos, tb.ids, tb.src[e])
    pos = put_byte(o, pos, 44)
    pos = put_byte(o, pos, 34)
    r = np.searchsorted(tb.rel_starts, e, side="right") - 1
    pos = put_const(o, pos, tb.rels, tb.rel_codes[r])
    pos = put_byte(o, pos, 34)
    pos = put_byte(o, pos, 44)
    pos = put_str(o, pos, tb.ids, tb.dst[e])
    pos = put_lit(o, pos, _EDGE)
    pos = put_int(o, pos, e)
    pos = put_lit(o, pos, _SOURCE)
    pos = put_str(o, pos, tb.source, e)
    if with_records and tb.record.valid[e]:
        pos = put_lit(o, pos, _RECORD)
        pos = put_str(o, pos, tb.record, e)
    f = np.float64(tb.freq[e])
    if f == f:
        pos = put_lit(o, pos, _FREQ)
        pos = put_dec(o, pos, py_round(f, 1e4), 4)
    pos = put_byte(o, pos, 125)
    return put_byte(o, pos, 93)


@njit(**KERNEL)
def _piece(o, pos, pbuf, poff, q):
    return put_raw(o, pos, pbuf, poff[q], poff[q + 1])


@njit(**KERNEL)
def _path(o, pos, tb, tc, out, i, masked):
    """The reasoning hops: [observed] -> anchor (masked), then anchor -> ... -> answer."""
    pos = put_lit(o, pos, _PATH)
    if masked:
        pos = put_lit(o, pos, _FROM_LIST)
        for q in range(out.nobs[i]):
            if q:
                pos = put_byte(o, pos, 44)
            pos = put_str(o, pos, tb.ids, out.obs[i, q])
        pos = put_lit(o, pos, _REL)
        pos = put_const(o, pos, tc, 3)
        pos = put_lit(o, pos, _TO)
        pos = put_str(o, pos, tb.ids, out.anchor[i])
        pos = put_byte(o, pos, 125)
    for h in range(out.path.shape[1] - 1):
        if out.path[i, h + 1] < 0:
            break
        if masked or h:
            pos = put_byte(o, pos, 44)
        pos = put_lit(o, pos, _FROM)
        pos = put_str(o, pos, tb.ids, out.path[i, h])
        pos = put_lit(o, pos, _REL_OPEN)
        pos = put_const(o, pos, tc, 5 + h)
        pos = put_lit(o, pos, _TO)
        pos = put_str(o, pos, tb.ids, out.path[i, h + 1])
        pos = put_byte(o, pos, 125)
    return put_byte(o, pos, 93)


@njit(**KERNEL)
def _distractors(o, pos, tb, out, i):
    pos = put_lit(o, pos, _DISTR)
    first = True
    for k in range(out.nopt[i]):
        if k == out.ans_pos[i]:
            continue
        if not first:
            pos = put_byte(o, pos, 44)
        first = False
        pos = put_node(o, pos, tb, out.opts[i, k])
        pos = put_lit(o, pos, _LETTER)
        pos = put_byte(o, pos, 65 + k)
        pos = put_lit(o, pos, _SHARED)
        pos = put_int(o, pos, out.shared[i, k])
        pos = put_lit(o, pos, _JAC)
        j = np.float64(out.jac[i, k])
        pos = put_dec(o, pos, np.int64(np.rint(j * 1e4)), 4) if j == j else put_null(o, pos)
        pos = put_lit(o, pos, _VIA)
        pos = put_str(o, pos, tb.ids, out.via[i, k])
        pos = put_lit(o, pos, _LACKS)
        lack = out.lack[i, k]
        pos = put_str(o, pos, tb.ids, out.obs[i, lack]) if lack >= 0 else put_null(o, pos)
        pos = put_lit(o, pos, _NEG)
        pos = put_bool(o, pos, out.neg[i, k])
        pos = put_byte(o, pos, 125)
    return pos


@njit(**KERNEL)
def _features(o, pos, tb, out, i, hops, degree, ans_degree, named):
    pos = put_lit(o, pos, _F_HOPS)
    pos = put_int(o, pos, hops)
    pos = put_lit(o, pos, _F_K)
    pos = put_int(o, pos, out.nobs[i])
    pos = put_lit(o, pos, _F_SIB)
    pos = put_int(o, pos, out.nsib[i])
    pos = put_lit(o, pos, _F_CAND)
    pos = put_int(o, pos, out.ncand[i])
    pos = put_lit(o, pos, _F_CONS)
    pos = put_int(o, pos, out.nall[i])
    total, n, kmax, smin = 0.0, 0, -1, -1
    for k in range(out.nopt[i]):
        if k == out.ans_pos[i]:
            continue
        j = np.float64(out.jac[i, k])
        if j == j:                                   # the rounded values, as the distractors show them
            kk = np.int64(np.rint(j * 1e4))
            total += kk / 1e4
            n += 1
            kmax = max(kmax, kk)
        if out.shared[i, k] >= 0:
            smin = out.shared[i, k] if smin < 0 else min(smin, out.shared[i, k])
    pos = put_lit(o, pos, _F_MEAN)
    pos = put_dec(o, pos, py_round(total / n, 1e4), 4) if n else put_null(o, pos)
    pos = put_lit(o, pos, _F_MAX)
    pos = put_dec(o, pos, kmax, 4) if n else put_null(o, pos)
    pos = put_lit(o, pos, _F_MIN)
    pos = put_int(o, pos, smin) if smin >= 0 else put_null(o, pos)
    pos = put_lit(o, pos, _F_ADEG)
    pos = put_int(o, pos, degree)
    pos = put_lit(o, pos, _F_BDEG)
    pos = put_int(o, pos, ans_degree)
    total, n = 0.0, 0
    for q in range(out.nobs[i]):
        f = np.float64(tb.freq[out.obs_eid[i, q]])
        if f == f:
            total += py_round(f, 1e4) / 1e4
            n += 1
    pos = put_lit(o, pos, _F_FREQ)
    pos = put_dec(o, pos, py_round(total / n, 1e4), 4) if n else put_null(o, pos)
    pos = put_lit(o, pos, _F_NAMED)
    pos = put_int(o, pos, named)
    return put_byte(o, pos, 125)


@njit(**KERNEL)
def write_lines(o, ends, tb, tc, out, rows, slots, pbuf, poff, named, degree, pct, decile, ans_degree,
                hops, masked, with_records):
    """One JSON line per row into ``o`` (``ends[j]``: where line j ends). Returns the bytes written,
    or -1 when ``o`` is too small. ``tc``: the question type's pieces (see ``type_pieces``); ``pbuf``:
    per row the question, stem-template and patient pieces rendered in Python."""
    pos = 0
    for j in range(len(rows)):
        i = rows[j]
        pos = put_const(o, pos, tc, 0)
        pos = put_int(o, pos, slots[j])
        pos = put_const(o, pos, tc, 1)
        pos = _piece(o, pos, pbuf, poff, 3 * j)
        pos = put_lit(o, pos, _OPTIONS)
        for k in range(out.nopt[i]):
            if k:
                pos = put_byte(o, pos, 44)
            pos = put_byte(o, pos, 34)
            pos = put_byte(o, pos, 65 + k)
            pos = put_byte(o, pos, 34)
            pos = put_byte(o, pos, 58)
            pos = put_str(o, pos, tb.names, out.opts[i, k])
        pos = put_lit(o, pos, _ANSWER)
        pos = put_byte(o, pos, 65 + out.ans_pos[i])
        pos = put_const(o, pos, tc, 2)
        pos = _piece(o, pos, pbuf, poff, 3 * j + 1)
        pos = put_lit(o, pos, _SLOT)
        pos = put_int(o, pos, slots[j])
        pos = put_lit(o, pos, _ATTEMPT)
        pos = put_int(o, pos, out.attempts[i] - 1)
        pos = put_lit(o, pos, _SEED)
        pos = put_u64(o, pos, out.seed[i])
        pos = put_lit(o, pos, _EXTRA)
        a, ans = out.anchor[i], out.opts[i, out.ans_pos[i]]
        pos = put_node(o, pos, tb, a)
        pos = put_const(o, pos, tc, 4)
        pos = put_lit(o, pos, _ANS)
        pos = put_node(o, pos, tb, ans)
        pos = put_byte(o, pos, 125)
        pos = put_lit(o, pos, _OBS)
        for q in range(out.nobs[i]):
            if q:
                pos = put_byte(o, pos, 44)
            pos = put_node(o, pos, tb, out.obs[i, q])
            pos = put_byte(o, pos, 125)
        pos = put_lit(o, pos, _PATIENT)
        pos = _piece(o, pos, pbuf, poff, 3 * j + 2)
        pos = _path(o, pos, tb, tc, out, i, masked)
        pos = put_const(o, pos, tc, 8)
        pos = put_lit(o, pos, _TRIPLES)
        first = True
        for q in range(out.nobs[i] + out.path.shape[1] - 1):
            e = out.obs_eid[i, q] if q < out.nobs[i] else out.path_eid[i, q - out.nobs[i]]
            if e < 0:
                break
            if not first:
                pos = put_byte(o, pos, 44)
            first = False
            pos = put_triple(o, pos, tb, e, with_records)
        pos = put_lit(o, pos, _RARITY)
        pos = put_int(o, pos, degree[j])
        pos = put_lit(o, pos, _PCT)
        pos = put_dec(o, pos, py_round(pct[j], 100.0), 2)
        pos = put_lit(o, pos, _DECILE)
        pos = put_int(o, pos, decile[j])
        pos = put_lit(o, pos, _RARE)
        pos = put_bool(o, pos, tb.rare[a])
        pos = put_lit(o, pos, _FLAGS)
        pos = put_str(o, pos, tb.flags, a)
        pos = _distractors(o, pos, tb, out, i)
        pos = _features(o, pos, tb, out, i, hops, degree[j], ans_degree[j], named[j])
        for _ in range(3):
            pos = put_byte(o, pos, 125)
        pos = put_byte(o, pos, 10)
        if pos < 0:
            return -1
        ends[j] = pos
    return pos

"""Name keys: two options sharing a key are duplicates or synonyms and never appear together.

Each node gets 62-bit hashes of its normalized name and synonyms (``schema.norm_name`` rules,
vectorized with pyarrow), of their word sets (stop words dropped, plural 's' stripped, order ignored:
'Dyskinesia, familial, with facial myokymia' == 'Familial dyskinesia and facial myokymia') and, for
numbered subtypes, of their series ('Meckel syndrome, type 7' -> 'meckel syndrome', exact and as a word
set; 'Hypogonadotropic hypogonadism 8 with or without anosmia' -> 'hypogonadotropic hypogonadism';
'Severe X' -> 'x'), so two subtypes of one series, or a subtype and the series' own entry, are not
options together;
'X due to GENE' / 'X caused by ...' / 'GENE-related X' forms get the key of X the same way. One disease
under two unmerged ids (an Orphanet and an OMIM entry) shares a key too (``same_disease_keys``).
Strings are processed in slices and hashed (FNV-1a, numba) from the Arrow buffers, so memory stays
bounded on million-node graphs.
"""

from __future__ import annotations

import numpy as np
from numba import njit

SERIES = (r"\s+(type\s+)?[0-9]{1,3}[a-z]?$|\s+type\s+[a-z0-9]{1,4}$"
          r"|\s+(due to|caused by|associated with)\s.+$|^[a-z0-9]+ related\s+"
          r"|\s+(juvenile|infantile|adult|neonatal|childhood|late|early|congenital)( onset)?"
          r"( form| type| variant)?$|\s+[0-9]{1,3}[a-z]?\s+(with|without|and)\s.*$"
          r"|^(severe|mild|classic|atypical|attenuated|partial)\s+")
STOP_WORDS = ["with", "and", "of", "the", "a", "an", "in", "to", "for", "due", "type", "agent", "drug",
              "form"]
# words too common in disease names to tie two of them together (``word_keys``)
GENERIC_WORDS = STOP_WORDS + [
    "syndrome", "disease", "disorder", "deficiency", "familial", "congenital", "autosomal", "dominant",
    "recessive", "linked", "hereditary", "primary", "secondary", "without", "juvenile", "infantile",
    "adult", "onset", "early", "late", "childhood", "neonatal", "susceptibility", "isolated", "partial",
    "complete", "severe", "mild", "progressive", "chronic", "acute", "rare", "atypical", "classic",
    "variant", "related", "associated", "group", "complex", "spectrum", "multiple", "abnormality",
    "anomaly", "anomalies", "malformation", "malformations", "developmental", "development", "impaired",
    "intellectual", "delay", "other", "combined", "deficit", "defect", "defects", "human", "generalized"]
ROOT = 5                # letters of a word root (``root_keys``)
ROOT_PREFIXES = "hyper|hypo|dys|poly|oligo|micro|macro|mega|pseudo|hemi|para"
# roots of qualifiers, positions and measures: they name no disease
ROOT_STOP = ["decre", "incre", "eleva", "reduc", "absen", "abnor", "lower", "upper", "bilat", "unila",
             "dista", "proxi", "poste", "anter", "later", "media", "inter", "total", "perip", "centr",
             "serum", "plasm", "level", "conce", "activ", "funct", "struc", "morph", "prese", "episo",
             "recur", "persi", "trans", "prolo", "small", "large", "short", "narro", "broad",
             "promi", "sever", "gener", "local", "focal", "diffu", "condi", "disor", "speci", "state",
             "chang", "cells", "count"]
SAME_JACCARD = 0.1    # an ORPHA and an OMIM entry with one gene set and this finding overlap: one disease
_MASK62 = np.uint64((1 << 62) - 1)
_WORDSET = np.uint64(1 << 62)
SLICE = 1 << 16


@njit(cache=True)
def _fnv(offsets, data, start, n, out):
    for i in range(n):
        h = np.uint64(0xCBF29CE484222325)
        for j in range(offsets[start + i], offsets[start + i + 1]):
            h = (h ^ np.uint64(data[j])) * np.uint64(0x100000001B3)
        out[i] = h


def _hash(z: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer over a uint64 array (wrapping)."""
    z = z.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def string_hashes(arr) -> np.ndarray:
    """uint64 hash of every string of a pyarrow StringArray (nulls hash like '')."""
    out = np.zeros(len(arr), dtype=np.uint64)
    if len(arr):
        _, offs, data = arr.buffers()
        offsets = np.frombuffer(offs, dtype=np.int32)
        raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
        _fnv(offsets, raw, arr.offset, len(arr), out)
    return out


def normalize(text):
    """pyarrow version of ``schema.norm_name``: NFKD, ASCII, lower case, non-word runs to one space."""
    import pyarrow.compute as pc

    text = pc.replace_substring_regex(pc.utf8_lower(pc.utf8_normalize(text, "NFKD")), r"[^\x00-\x7f]", "")
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(text, r"[^a-z0-9_]+", " "))


def _keys_of(text, owner: np.ndarray, series: bool) -> tuple[np.ndarray, np.ndarray]:
    """(owner, key) pairs for one slice of names."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = normalize(text)
    owners, keys = [owner], [_hash(string_hashes(text)) & _MASK62]
    if series:                              # a series stem gets the exact and the word-set key too, so
        stem = pc.replace_substring_regex(text, SERIES, "")     # 'Atrial fibrillation, familial, 3' and
        changed = pc.not_equal(stem, text).to_numpy(zero_copy_only=False)   # 'Familial atrial
        stem = stem.filter(pa.array(changed))                   # fibrillation' are never options together
        owners.append(owner[changed])
        keys.append(_hash(string_hashes(stem)) & _MASK62)
        text, owner = pa.concat_arrays([text, stem]), np.concatenate([owner, owner[changed]])
    words = pc.utf8_split_whitespace(text)
    parent = pc.list_parent_indices(words).to_numpy()
    flat = pc.replace_substring_regex(pc.list_flatten(words), r"^([a-z]{3,}[^s])s$", r"\1")
    keep = ~pc.is_in(flat, value_set=pa.array(STOP_WORDS)).to_numpy(zero_copy_only=False)
    parent = parent[keep]
    if len(parent):
        h = _hash(string_hashes(flat.filter(pa.array(keep))))
        starts = np.flatnonzero(np.r_[True, parent[1:] != parent[:-1]])
        with np.errstate(over="ignore"):
            sums = np.add.reduceat(h, starts)
        owners.append(owner[parent[starts]])
        keys.append((_hash(sums) & _MASK62) | _WORDSET)
    return np.concatenate(owners).astype(np.int64), np.concatenate(keys).astype(np.int64)


def name_keys(n_nodes: int, names, synonyms, series: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(kptr, kidx): CSR of sorted int64 keys per node from a pyarrow names array and a list array of
    synonyms (see the module docstring)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    syn_owner = pc.list_parent_indices(synonyms).to_numpy().astype(np.int64)
    flat = pc.list_flatten(synonyms).cast(pa.string())
    names = names.cast(pa.string())
    owners, keys = [], []
    for arr, own in ((names, np.arange(n_nodes, dtype=np.int64)), (flat, syn_owner)):
        for lo in range(0, len(arr), SLICE):
            o, k = _keys_of(arr.slice(lo, SLICE), own[lo:lo + SLICE], series)
            owners.append(o)
            keys.append(k)
    own = np.concatenate(owners) if owners else np.zeros(0, np.int64)
    key = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    order = np.lexsort((key, own))
    own, key = own[order], key[order]
    keep = np.r_[True, (own[1:] != own[:-1]) | (key[1:] != key[:-1])] if len(own) else np.zeros(0, bool)
    own, key = own[keep], key[keep]
    kptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(own, minlength=n_nodes), out=kptr[1:])
    return kptr, key


def same_disease_keys(kg, kptr: np.ndarray, kidx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(kptr, kidx) plus a shared key for each Orphanet / OMIM pair that is one disease under two ids
    where no source cross-references them (the HPO-only KG): the same gene set (one or two genes) and
    a Jaccard overlap of their direct findings >= SAME_JACCARD. Measured on HPO 2025-01-16: such pairs
    with unrelated names ('Familial cold urticaria' / 'Familial cold inflammatory syndrome 1') sit at
    0.1-0.6, pairs of distinct allelic disorders near 0."""
    from collections import defaultdict

    genes, feats = kg.csr("associated_with"), kg.csr("has_symptom")
    ids = kg.ids.to_numpy(zero_copy_only=False)
    ns = np.array([x[:5] for x in ids]) if len(ids) else np.zeros(0, "<U5")
    by_genes: dict[tuple, list[int]] = defaultdict(list)
    for d in np.flatnonzero((ns == "ORPHA") | (ns == "OMIM:")).tolist():
        g = genes.indices[genes.indptr[d]:genes.indptr[d + 1]]
        if 1 <= len(g) <= 2:
            by_genes[tuple(sorted(g.tolist()))].append(d)
    owners, keys = [], []
    for ds in by_genes.values():
        orpha = [d for d in ds if ns[d] == "ORPHA"]
        omim = [d for d in ds if ns[d] == "OMIM:"]
        for a in orpha:
            fa = set(feats.indices[feats.indptr[a]:feats.indptr[a + 1]].tolist())
            for b in omim:
                fb = set(feats.indices[feats.indptr[b]:feats.indptr[b + 1]].tolist())
                if fa and fb and len(fa & fb) >= SAME_JACCARD * len(fa | fb):
                    k = (hash((a, b)) & int(_MASK62)) | (1 << 61)
                    owners += [a, b]
                    keys += [k, k]
    if not owners:
        return kptr, kidx
    own = np.concatenate([np.repeat(np.arange(len(kptr) - 1), np.diff(kptr)), owners]).astype(np.int64)
    key = np.concatenate([kidx, np.array(keys, np.int64)])
    order = np.lexsort((key, own))
    own, key = own[order], key[order]
    new = np.zeros_like(kptr)
    np.cumsum(np.bincount(own, minlength=len(kptr) - 1), out=new[1:])
    return new, key


def _content_words(names, family: bool):
    """(parent, words): the content words of each name (4+ letters, plural 's' stripped, none of
    GENERIC_WORDS), with a gene symbol's family as one more word when ``family``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = names.cast(pa.string())
    if family:  # 'NDUFB10', 'NDUFA1' -> fam_nduf; 'RPL15' -> fam_rpl
        text = pc.replace_substring_regex(text, r"^([A-Z]{2,4})([A-Z]*[0-9][A-Z0-9]*)$", r"\1\2 fam_\1")
    words = pc.utf8_split_whitespace(normalize(text))
    parent = pc.list_parent_indices(words).to_numpy().astype(np.int64)
    flat = pc.replace_substring_regex(pc.list_flatten(words), r"^([a-z]{3,}[^s])s$", r"\1")
    keep = pc.and_(pc.greater_equal(pc.utf8_length(flat), 4),
                   pc.invert(pc.is_in(flat, value_set=pa.array(GENERIC_WORDS))))
    keep = np.asarray(keep.to_numpy(zero_copy_only=False), dtype=bool)
    return parent[keep], flat.filter(pa.array(keep))


def _csr(n_nodes: int, own: np.ndarray, words) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique word hashes per node as (ptr, idx)."""
    key = (_hash(string_hashes(words)) & _MASK62).astype(np.int64)
    order = np.lexsort((key, own))
    own, key = own[order], key[order]
    uniq = np.r_[True, (own[1:] != own[:-1]) | (key[1:] != key[:-1])] if len(own) else np.zeros(0, bool)
    own, key = own[uniq], key[uniq]
    ptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(own, minlength=n_nodes), out=ptr[1:])
    return ptr, key


def word_keys(n_nodes: int, names) -> tuple[np.ndarray, np.ndarray]:
    """(wptr, widx): per node, sorted hashes of the content words of its name (``_content_words``; a gene
    symbol's family too: four complex I subunits read as one answer); an allelic disorder sharing one
    with the patient's disease ('Glucocorticoid deficiency 4' / 'Familial glucocorticoid deficiency') may
    be that disease."""
    return _csr(n_nodes, *_content_words(names, family=True))


def root_keys(n_nodes: int, names) -> tuple[np.ndarray, np.ndarray]:
    """(sptr, sidx): per node, the roots of its content words: the first ROOT letters after one medical
    prefix ('hypersulfaturia' -> 'sulfa', as 'sulfate'; 'Mucopolysacchariduria' / 'Mucopolysaccharidosis';
    'immotile cilia' / 'Ciliary dyskinesia'), qualifiers ('decreased', 'peripheral') left out. An option
    sharing a root with a stem finding is named after it (round 4 of the audit: 4 of 100 items), so the
    two never meet; options among themselves may share roots ('Retinitis ...' beside 'Retinal ...' are fair
    distractors)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    own, words = _content_words(names, family=False)
    stem = pc.replace_substring_regex(words, f"^(?:{ROOT_PREFIXES})([a-z]{{{ROOT},}})$", r"\1")
    root = pc.utf8_slice_codeunits(stem, 0, ROOT)
    keep = pc.and_(pc.greater_equal(pc.utf8_length(stem), ROOT),
                   pc.invert(pc.is_in(root, value_set=pa.array(ROOT_STOP))))
    keep = np.asarray(keep.to_numpy(zero_copy_only=False), dtype=bool)
    return _csr(n_nodes, own[keep], root.filter(pa.array(keep)))

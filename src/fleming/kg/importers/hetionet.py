"""Hetionet v1.0: every node of the full node table, and the clinical edges of the shipped subsets.

Nodes (hetionet-v1.0-nodes.tsv.gz, 47k) map by kind: Compound -> drug (DrugBank), Disease -> disease
(DOID), Gene -> gene (Entrez), Symptom -> phenotype (MeSH), Side Effect -> phenotype (UMLS),
Anatomy -> anatomy (UBERON), Pharmacologic Class -> drug_class (NDF-RT), Biological Process /
Molecular Function / Cellular Component / Pathway -> process. Edges come from the clinical subgraph and
the 5k-per-metaedge sample (the full edge table is not shipped); metaedges outside the schema
(gene-gene, anatomy-gene expression, compound-gene regulation) are counted and skipped.

Sampled edges (every edge of the 5k file, and the CcSE, CbG, DaG, CrC edges of the clinical subgraph,
which are 5,000-edge samples too) get ``field`` ending in ``#sample`` and are listed in the stats under
``sampled``: a sample is never complete, so the synthesizer never reads a missing sampled edge as a
fact (``fleming.synth.sampler``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from fleming.kg.builder import GraphBuilder
from fleming.kg.importers.common import file_revision, read_tsv

SOURCE = "hetionet"
KINDS = {
    "Compound": ("drug", "DrugBank"),
    "Disease": ("disease", None),
    "Gene": ("gene", "NCBIGene"),
    "Symptom": ("phenotype", "MESH"),
    "Side Effect": ("phenotype", "UMLS"),
    "Anatomy": ("anatomy", None),
    "Pharmacologic Class": ("drug_class", "NDFRT"),
    "Biological Process": ("process", None),
    "Molecular Function": ("process", None),
    "Cellular Component": ("process", None),
    "Pathway": ("process", "PATHWAY"),
}
# metaedge -> (relation, reversed?)
METAEDGES = {
    "CtD": ("treats", False),
    "CpD": ("palliates", False),
    "DpS": ("has_symptom", False),
    "DlA": ("located_in", False),
    "DrD": ("resembles", False),
    "CrC": ("resembles", False),
    "PCiC": ("in_class", True),
    "CcSE": ("causes", False),
    "CbG": ("targets", False),
    "DaG": ("associated_with", False),
    "GpBP": ("participates_in", False),
    "GpMF": ("participates_in", False),
    "GpCC": ("participates_in", False),
    "GpPW": ("participates_in", False),
}
NODE_FILES = ("hetionet-v1.0-nodes.tsv.gz", "hetionet-clinical-subgraph.nodes.tsv.gz")
EDGE_FILES = ("hetionet-clinical-subgraph.edges.tsv.gz", "integrate-edges-5k.sif.gz")
SAMPLE_FILE = "integrate-edges-5k.sif.gz"
SAMPLED_METAEDGES = frozenset({"CcSE", "CbG", "DaG", "CrC"})   # 5k samples inside the clinical subgraph
SAMPLE_MARK = "#sample"


def node_key(hetio_id: str) -> str:
    """'Compound::DB00001' -> 'DrugBank:DB00001'; 'Disease::DOID:9352' -> 'DOID:9352'."""
    kind, _, local = hetio_id.partition("::")
    prefix = KINDS.get(kind, (None, None))[1]
    return f"{prefix}:{local}" if prefix else local


def load(b: GraphBuilder, path: str | Path) -> dict:
    d = Path(path)
    rev = file_revision(d)
    kinds: Counter = Counter()
    for name in [n for n in NODE_FILES if (d / n).is_file()][:1]:  # the full table when present
        for lineno, row in read_tsv(d / name, ("id", "name", "kind")):
            etype = KINDS.get(row["kind"], (None,))[0]
            if etype is None:
                from fleming.errors import InputError

                raise InputError(d / name, lineno, "kind", f"unknown Hetionet kind {row['kind']!r}")
            b.add_entity(node_key(row["id"]), etype, row["name"], SOURCE)
            kinds[row["kind"]] += 1
    rels: Counter = Counter()
    sampled: Counter = Counter()
    for name in EDGE_FILES:
        if not (d / name).is_file():
            continue
        for _, row in read_tsv(d / name, ("source", "metaedge", "target")):
            m = METAEDGES.get(row["metaedge"])
            if m is None:
                rels[f"skipped {row['metaedge']}"] += 1
                continue
            s, t = node_key(row["source"]), node_key(row["target"])
            if m[1]:
                s, t = t, s
            sample = name == SAMPLE_FILE or row["metaedge"] in SAMPLED_METAEDGES
            sampled[m[0]] += sample
            b.add_edge(
                s,
                m[0],
                t,
                SOURCE,
                f"{row['source']} {row['metaedge']} {row['target']}",
                rev,
                f"{name}/{row['metaedge']}{SAMPLE_MARK if sample else ''}",
                0.9,
            )
            rels[m[0]] += 1
    return {"nodes": dict(kinds), "edges": dict(rels), "sampled": {k: v for k, v in sampled.items() if v}}

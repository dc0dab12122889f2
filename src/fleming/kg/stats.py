"""`fleming kg stats DIR`: counts per type and relation, degree distribution (PNG), long tail, provenance.

Long tail, defined: rank connected entities by total degree (in + out, all relations); the *head* is the
smallest set of top-ranked entities that together hold half of all edge endpoints; every other connected
entity is in the *long tail*. ``long_tail.share`` = tail / connected entities (per type as well), so a
share near 1 means a few hubs hold half the graph. Isolated entities (degree 0) are reported apart.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from fleming.kg.schema import ENTITY_TYPES
from fleming.kg.store import EDGES, KG, META, NODES


def long_tail(degree: np.ndarray, type_codes: np.ndarray, head_mass: float = 0.5) -> dict[str, Any]:
    connected = np.flatnonzero(degree > 0)
    order = connected[np.argsort(-degree[connected], kind="stable")]
    cum = np.cumsum(degree[order])
    n_head = int(np.searchsorted(cum, head_mass * cum[-1]) + 1) if len(cum) else 0
    tail = np.zeros(len(degree), dtype=bool)
    tail[order[n_head:]] = True
    per_type = {}
    for code, t in enumerate(ENTITY_TYPES):
        conn = int(((type_codes == code) & (degree > 0)).sum())
        if conn:
            per_type[t] = round(float((tail & (type_codes == code)).sum()) / conn, 4)
    return {
        "definition": f"connected entities outside the top-degree head holding {head_mass:.0%} of "
        "edge endpoints",
        "head_entities": n_head,
        "tail_entities": int(tail.sum()),
        "connected": int(len(connected)),
        "isolated": int((degree == 0).sum()),
        "share": round(float(tail.sum()) / max(1, len(connected)), 4),
        "head_min_degree": int(degree[order[n_head - 1]]) if n_head else 0,
        "share_by_type": per_type,
    }


def plot_degrees(degree: np.ndarray, type_codes: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for code, t in enumerate(ENTITY_TYPES):
        d = degree[(type_codes == code) & (degree > 0)]
        if len(d) < 20:
            continue
        values, counts = np.unique(d, return_counts=True)
        ax.loglog(values, counts, ".", ms=3, label=f"{t} ({len(d):,})")
    ax.set_xlabel("degree (in + out)")
    ax.set_ylabel("entities")
    ax.set_title("KG degree distribution")
    ax.legend(fontsize=7, markerscale=3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def compute(path: str | Path, png: str | Path | None = None) -> dict[str, Any]:
    """The stats dict (see module docstring); writes the degree PNG to ``png`` (default DIR/degree.png)."""
    import pyarrow.parquet as pq

    path = Path(path)
    kg = KG.load(path)
    degree = kg.degree()
    nt = pq.read_table(path / NODES, columns=["type", "sources", "rare"])
    et = pq.read_table(path / EDGES, columns=["relation", "source", "sources"])
    by_type = Counter(nt.column("type").to_pylist())
    by_rel = Counter(et.column("relation").to_pylist())
    edge_sources = Counter()
    for s, n in Counter(et.column("sources").to_pylist()).items():
        for part in s.split("|"):
            edge_sources[part] += n
    node_sources = Counter(s for row in nt.column("sources").to_pylist() for s in row)
    png = Path(png) if png else path / "degree.png"
    plot_degrees(degree, kg.type_codes, png)
    meta = json.loads((path / META).read_text()) if (path / META).is_file() else {}
    disease = kg.type_codes == ENTITY_TYPES.index("disease")
    return {
        "entities": kg.n_nodes,
        "relations": kg.n_edges,
        "entities_by_type": dict(by_type.most_common()),
        "relations_by_type": dict(by_rel.most_common()),
        "rare_diseases": int((kg.rare & disease).sum()),
        "degree": {
            "mean": round(float(degree.mean()), 3) if len(degree) else 0.0,
            "median": float(np.median(degree)) if len(degree) else 0.0,
            "max": int(degree.max()) if len(degree) else 0,
            "png": str(png),
        },
        "long_tail": long_tail(degree, kg.type_codes),
        "provenance": {
            "edges_by_best_source": dict(Counter(et.column("source").to_pylist()).most_common()),
            "edges_by_any_source": dict(edge_sources.most_common()),
            "entities_by_source": dict(node_sources.most_common()),
        },
        "merges_cross_source": meta.get("merges_cross_source", {}),
        "build_timings_s": meta.get("timings_s", {}),
    }


def format_text(s: dict[str, Any]) -> str:
    lines = [f"entities  {s['entities']:,}", f"relations {s['relations']:,}", "", "entities by type:"]
    lines += [f"  {k:<14} {v:>9,}" for k, v in s["entities_by_type"].items()]
    lines += ["relations by type:"] + [f"  {k:<18} {v:>9,}" for k, v in s["relations_by_type"].items()]
    lt = s["long_tail"]
    lines += [
        "",
        f"long tail: {lt['share']:.1%} of {lt['connected']:,} connected entities "
        f"({lt['head_entities']:,} head entities of degree >= {lt['head_min_degree']} hold half the "
        f"edge endpoints); {lt['isolated']:,} isolated",
        f"rare diseases: {s['rare_diseases']:,}",
        f"degree: mean {s['degree']['mean']}, median {s['degree']['median']}, max {s['degree']['max']}"
        f"  (plot: {s['degree']['png']})",
        "",
        "edges by source (any assertion):",
    ]
    lines += [f"  {k:<18} {v:>9,}" for k, v in s["provenance"]["edges_by_any_source"].items()]
    lines += ["entities by source:"] + [
        f"  {k:<18} {v:>9,}" for k, v in s["provenance"]["entities_by_source"].items()
    ]
    if s["merges_cross_source"]:
        lines += ["cross-source merges:"] + [
            f"  {k:<18} {v:>9,}" for k, v in s["merges_cross_source"].items()
        ]
    return "\n".join(lines)

"""Wikipedia facts into the graph: an infobox's page entity, its link-target entities and its edges.

The page is a normal entity (it merges by its infobox ids: OMIM, MeSH, DrugBank, ... and by name);
link targets are "weak" entities whose type is a guess from the field: they join an existing entity of
one of the field's types by name or synonym (``schema`` merge rule 4), else stay new with the guessed
type. Provenance: source 'wikipedia', record = page id or title, revision = revision id, field = the
infobox field (with its qualifier, e.g. 'symptoms (Baby)').

Also the importer for a directory (or one file) of ``.wiki`` page texts (``wikipedia_pages`` in configs).
"""

from __future__ import annotations

from pathlib import Path

from fleming.errors import InputError
from fleming.kg.builder import GraphBuilder
from fleming.kg.wikipedia.infobox import Infobox, normalize_title, parse_infobox

SOURCE = "wikipedia"
LINK_CONFIDENCE, TEXT_CONFIDENCE = 0.8, 0.6


def page_key(title: str) -> str:
    return f"wiki:{normalize_title(title)}"


def add_infobox(
    b: GraphBuilder,
    box: Infobox,
    title: str,
    record: str = "",
    revision: str = "",
    redirects: dict[str, str] | None = None,
) -> int:
    """Add one page's infobox; returns the number of edges added. ``redirects`` map link targets."""
    redirects = redirects or {}
    title = normalize_title(title or box.name)
    etype = "drug" if box.kind == "drug" else "disease"
    attrs = {k: v for k, v in box.attrs.items()}
    key = page_key(title)
    b.add_entity(
        key,
        etype,
        box.name or title,
        SOURCE,
        xrefs=box.xrefs,
        synonyms=[s for s in (*box.synonyms, title) if s],
        attrs=attrs,
    )
    for f in box.facts:
        target = redirects.get(f.target, f.target) if f.linked else f.target
        tkey = page_key(target) if f.linked else f"wikitext:{f.target_type}:{f.target.lower()}"
        syn = [f.display] if f.display and f.display != f.target else []
        b.add_entity(tkey, f.target_type, target, SOURCE, synonyms=syn, weak_types=f.types)
        src, dst = (key, tkey) if f.direction == "out" else (tkey, key)
        fld = f"{box.template}/{f.field}" + (f" ({f.qualifier})" if f.qualifier else "")
        b.add_edge(
            src,
            f.relation,
            dst,
            SOURCE,
            record or title,
            revision,
            fld,
            LINK_CONFIDENCE if f.linked else TEXT_CONFIDENCE,
            evidence=f.evidence,
        )
    return len(box.facts)


def read_page_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise InputError(path, None, None, f"not UTF-8 text ({e.reason})") from None


def title_from_filename(path: Path) -> str:
    """'pirtobrutinib_infobox_drug_inline.wiki' -> 'Pirtobrutinib'; 'Autism.wiki' -> 'Autism'."""
    return normalize_title(path.stem.split("_infobox")[0].replace("_", " "))


def load(b: GraphBuilder, path: str | Path) -> dict:
    """Import every ``*.wiki`` file under ``path`` (or the one file); the title is the infobox name."""
    p = Path(path)
    files = sorted(p.glob("*.wiki")) if p.is_dir() else [p]
    if not files:
        raise InputError(p, None, None, "no .wiki files found")
    pages, edges = 0, 0
    for f in files:
        box = parse_infobox(read_page_file(f), title="")
        if box is None:
            continue
        pages += 1
        edges += add_infobox(b, box, box.name or title_from_filename(f), record=f.name, revision="file")
    return {"files": len(files), "infoboxes": pages, "facts": edges}

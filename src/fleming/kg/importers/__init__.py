"""Open-source importers. Each ``load(builder, path, ...) -> dict`` adds one source's entities and edges
to a ``GraphBuilder`` with provenance and returns counts. See ``IMPORTERS`` for the registry."""

from __future__ import annotations

IMPORTERS = {
    "hpo": "fleming.kg.importers.hpo",
    "disease_ontology": "fleming.kg.importers.disease_ontology",
    "hetionet": "fleming.kg.importers.hetionet",
    "pharmacotherapydb": "fleming.kg.importers.pharmacotherapydb",
    "drugcentral": "fleming.kg.importers.drugcentral",
    "names": "fleming.kg.importers.names",
    "wikipedia_dump": "fleming.kg.wikipedia.dump",
    "wikipedia_pages": "fleming.kg.wikipedia.pages",
}

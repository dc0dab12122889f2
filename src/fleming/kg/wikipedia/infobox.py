"""Wikipedia infobox parser (mwparserfromhell): medical-condition and drug infoboxes -> typed relations.

Templates: ``Infobox medical condition (new)`` and its aliases ``Infobox medical condition``,
``Infobox disease``; ``Infobox drug`` and its alias ``Drugbox``. Field values are cleaned before they
are read: ``<ref>`` tags and comments are dropped; ``<br>`` tags and list templates (ubl, plainlist,
hlist, unbulleted list, flatlist) become segment breaks; other nested templates (cite, ICD10, drugs.com)
are dropped; positional parameters are ignored; one-line infoboxes parse like multi-line ones.

A segment is split into items at commas, semicolons and bullets (never inside a link). An item with
wikilinks yields one fact per link, its target (the article title, through redirects) being the entity;
an item without links yields a plain-text fact (lower confidence) in fields that list findings, when it
is short. A bold lead-in such as ``'''Baby''':`` becomes the fact's qualifier.

    >>> box = parse_infobox("{{Infobox medical condition (new) | name = X | differential = [[Y]], [[z|Z]]}}")
    >>> [(f.relation, f.target) for f in box.facts]
    [('differential_of', 'Y'), ('differential_of', 'Z')]
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import mwparserfromhell
from mwparserfromhell.nodes import Comment, Tag, Template, Text, Wikilink

from fleming.kg.schema import guess_finding_type

CONDITION_TEMPLATES = frozenset(
    {"infobox medical condition (new)", "infobox medical condition", "infobox disease"}
)
DRUG_TEMPLATES = frozenset({"infobox drug", "drugbox"})
LIST_TEMPLATES = frozenset(
    {
        "ubl",
        "unbulleted list",
        "plainlist",
        "plain list",
        "hlist",
        "flatlist",
        "bulleted list",
        "ublist",
        "nowrap",
        "nobr",
    }
)
# field -> (relation, direction of the fact relative to the page, allowed target types, plain text allowed)
# "out": page -relation-> target; "in": target -relation-> page.
CONDITION_FIELDS = {
    "symptoms": ("has_symptom", "out", ("phenotype", "lab", "imaging"), True),
    "complications": ("complication_of", "in", ("disease", "phenotype"), True),
    "causes": ("causes", "in", ("disease", "organism", "drug", "gene", "process", "phenotype"), False),
    "risks": ("risk_factor_for", "in", ("disease", "phenotype", "drug", "process", "procedure"), True),
    "diagnosis": ("diagnosed_by", "out", ("procedure", "lab", "imaging"), False),
    "differential": ("differential_of", "out", ("disease", "phenotype"), True),
    "prevention": ("prevents", "in", ("procedure", "drug", "drug_class"), False),
    "treatment": ("treats", "in", ("procedure", "drug", "drug_class"), False),
    "medication": ("treats", "in", ("drug", "drug_class"), False),
}
DRUG_FIELDS = {
    "class": ("in_class", "out", ("drug_class",), True),
    "drug_class": ("in_class", "out", ("drug_class",), True),
    "mechanism_of_action": ("has_mechanism", "out", ("drug_class",), False),
}
CONDITION_ATTRS = ("specialty", "field", "onset", "duration", "prognosis", "frequency", "deaths", "types")
DRUG_ATTRS = ("routes_of_administration", "tradename", "legal_us", "pregnancy_category")
LINKED_ATTRS = ("routes_of_administration",)  # read as link targets, like the linked fields
# infobox id fields -> xref prefix
ID_FIELDS = {
    "omim": "OMIM",
    "meshid": "MESH",
    "mesh": "MESH",
    "orphanet": "ORPHA",
    "drugbank": "DrugBank",
    "medlineplus": "MEDLINEPLUS",
    "chebi": "CHEBI",
    "cas_number": "CAS",
    "umls": "UMLS",
}
_SPLIT = re.compile(r"[,;•·]|\s\*\s|\n\*|\n")
_STOP = frozenset(
    {
        "none",
        "unknown",
        "n a",
        "na",
        "varies",
        "variable",
        "rare",
        "common",
        "uncommon",
        "others",
        "other",
        "and",
        "or",
        "etc",
        "various",
        "see below",
        "depends on cause",
    }
)
_CLASS_WORDS = re.compile(
    r"(ics|ants|agents?|inhibitors?|blockers?|antagonists?|agonists?|drugs|"
    r"medications|ines|oids|ids)$",
    re.I,
)


@dataclass
class Fact:
    field: str
    relation: str
    direction: str  # "out": page -> target; "in": target -> page
    target: str  # link target title (or the plain text)
    display: str  # the text shown on the page
    target_type: str  # best guess; the builder may merge it into an existing entity of `types`
    types: tuple[str, ...]
    linked: bool
    qualifier: str = ""
    evidence: str = ""  # the cleaned field segment the fact was read from


@dataclass
class Infobox:
    template: str
    kind: str  # "condition" or "drug"
    name: str
    xrefs: list[str] = field(default_factory=list)
    synonyms: list[str] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)
    fields: dict[str, list[str]] = field(default_factory=dict)  # field -> cleaned segments
    facts: list[Fact] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def template_name(t: Template) -> str:
    name = str(t.name).strip().replace("_", " ")
    name = re.sub(r"^template:", "", name, flags=re.I)
    return re.sub(r"\s+", " ", name).lower()


def find_infobox(code) -> Template | None:
    for t in code.filter_templates(recursive=False):
        if template_name(t) in CONDITION_TEMPLATES | DRUG_TEMPLATES:
            return t
    return None


def _clean(value) -> list[list]:
    """A field value -> segments (lists of nodes), refs/comments dropped, <br> and list templates split."""
    segments: list[list] = [[]]
    for node in value.nodes:
        if isinstance(node, Comment) or (isinstance(node, Tag) and str(node.tag).lower() == "ref"):
            continue
        if isinstance(node, Tag) and str(node.tag).lower() == "br":
            segments.append([])
        elif isinstance(node, Template):
            if template_name(node) in LIST_TEMPLATES:
                for p in node.params:
                    if not p.showkey:
                        segments.append([*_flatten(_clean(p.value))])
                segments.append([])
        elif (
            isinstance(node, Tag) and node.contents is not None and str(node.tag).lower() in ("small", "span")
        ):
            segments[-1].extend(_flatten(_clean(node.contents)))
        else:
            segments[-1].append(node)
    return [s for s in segments if mwparserfromhell.utils.parse_anything(s).strip_code().strip()]


def _flatten(segments: list[list]) -> list:
    out: list = []
    for i, s in enumerate(segments):
        if i:
            out.append(Text(", "))
        out.extend(s)
    return out


_QUALIFIER = re.compile(r"^\s*(?:'''|<b>)?([A-Za-z][^:'<>\[\]{}|]{0,30}?)(?:'''|</b>)?\s*:\s*(?!//)")


def _qualifier(nodes: list) -> tuple[str, list]:
    """A leading ``'''Baby''':`` or ``Mother:`` -> ('Baby', the rest of the segment)."""
    text = str(mwparserfromhell.utils.parse_anything(nodes))
    m = _QUALIFIER.match(text)
    if not m:
        return "", nodes
    return m.group(1).strip(), mwparserfromhell.parse(text[m.end() :]).nodes


def _items(nodes: list) -> list[list]:
    """Split a segment's nodes into items at separators found in plain text (never inside links)."""
    items: list[list] = [[]]
    for node in nodes:
        if isinstance(node, Text):
            parts = _SPLIT.split(str(node))
            for k, part in enumerate(parts):
                if k:
                    items.append([])
                if part:
                    items[-1].append(Text(part))
        else:
            items[-1].append(node)
    return [i for i in items if i]


def guess_type(name: str, types: tuple[str, ...]) -> str:
    """The field's first type, refined by the name: findings -> lab / imaging, plural drugs -> class."""
    if types[0] in ("phenotype", "lab", "imaging"):
        return guess_finding_type(name)
    if "drug_class" in types and _CLASS_WORDS.search(name.strip()):
        return "drug_class"
    if types[0] == "procedure" and "lab" in types:
        return guess_finding_type(name, default="procedure")
    return types[0]


def _facts(fname: str, spec: tuple, segments: list[list], redirects: dict[str, str]) -> list[Fact]:
    rel, direction, types, plain_ok = spec
    facts = []
    for seg in segments:
        qual, seg = _qualifier(seg)
        evidence = mwparserfromhell.utils.parse_anything(seg).strip_code().strip()
        for item in _items(seg):
            links = [n for n in item if isinstance(n, Wikilink)]
            for link in links:
                title = normalize_title(str(link.title).split("#")[0])
                if not is_article(title) or title.startswith(":"):
                    continue
                title = redirects.get(title, title)
                display = (link.text.strip_code() if link.text else str(link.title)).strip()
                facts.append(
                    Fact(
                        fname,
                        rel,
                        direction,
                        title,
                        display,
                        guess_type(title, types),
                        types,
                        True,
                        qual,
                        evidence,
                    )
                )
            if links or not plain_ok:
                continue
            text = re.sub(r"\([^)]*\)", "", mwparserfromhell.utils.parse_anything(item).strip_code()).strip(
                " .'\""
            )
            words = text.split()
            if 0 < len(words) <= 4 and text.lower() not in _STOP and not re.search(r"\d", text):
                facts.append(
                    Fact(
                        fname,
                        rel,
                        direction,
                        text,
                        text,
                        guess_type(text, types),
                        types,
                        False,
                        qual,
                        evidence,
                    )
                )
    return facts


NON_ARTICLE = frozenset(
    {
        "file",
        "image",
        "category",
        "wikipedia",
        "wp",
        "template",
        "help",
        "portal",
        "special",
        "talk",
        "user",
        "media",
        "wikt",
        "wiktionary",
        "commons",
        "s",
        "d",
        "w",
        "mw",
        "draft",
        "module",
        "mediawiki",
        "book",
        "education program",
        "timedtext",
        "q",
        "n",
        "v",
        "b",
    }
)


def is_article(title: str) -> bool:
    """Not a File:, Category:, interwiki or other non-article link."""
    return bool(title) and not (":" in title and title.split(":")[0].strip().lower() in NON_ARTICLE)


def normalize_title(title: str) -> str:
    """MediaWiki title form: underscores to spaces, single spaces, first letter upper-case."""
    t = re.sub(r"\s+", " ", title.replace("_", " ")).strip()
    return t[:1].upper() + t[1:] if t else t


def _ids(fields: dict[str, str], params: dict[str, object]) -> list[str]:
    xrefs = [f"{p}:{fields[k]}" for k, p in ID_FIELDS.items() if fields.get(k)]
    if fields.get("atc_prefix") and fields.get("atc_suffix"):
        xrefs.append(f"ATC:{fields['atc_prefix']}{fields['atc_suffix']}")
    icd = params.get("icd10")
    if icd is not None:
        for t in icd.filter_templates():
            if template_name(t) == "icd10" and len(t.params) >= 2:
                code = "".join(str(p.value).strip() for p in t.params[:2])
                sub = str(t.params[2].value).strip() if len(t.params) > 2 else ""
                xrefs.append(f"ICD10:{code}{'.' + sub if sub else ''}")
    return xrefs


def parse_infobox(wikitext: str, title: str = "", redirects: dict[str, str] | None = None) -> Infobox | None:
    """The first medical infobox on a page as facts; None when the page has none."""
    code = mwparserfromhell.parse(wikitext)
    box = find_infobox(code)
    if box is None:
        return None
    tname = template_name(box)
    kind = "drug" if tname in DRUG_TEMPLATES else "condition"
    params = {str(p.name).strip().lower(): p.value for p in box.params if p.showkey}
    flat = {k: _plain(v) for k, v in params.items()}
    out = Infobox(tname, kind, _box_name(kind, flat) or title, xrefs=_ids(flat, params))
    for alt in (flat.get("inn") if kind == "drug" else None, title):
        if alt and alt != out.name and alt not in out.synonyms:
            out.synonyms.append(alt)
    for syn_field in ("synonym", "synonyms", "other_names"):
        if flat.get(syn_field):
            out.synonyms += [s.strip() for s in re.split(r"[,;\n]", flat[syn_field]) if s.strip()]
    specs = DRUG_FIELDS if kind == "drug" else CONDITION_FIELDS
    for k, v in params.items():
        if k in specs:
            segs = _clean(v)
            out.fields[k] = [mwparserfromhell.utils.parse_anything(s).strip_code().strip() for s in segs]
            out.facts += _facts(k, specs[k], segs, redirects or {})
        elif k in LINKED_ATTRS and kind == "drug" and (targets := _link_targets(v, redirects or {})):
            out.attrs[k] = ", ".join(targets)
        elif k in (DRUG_ATTRS if kind == "drug" else CONDITION_ATTRS) and flat.get(k):
            out.attrs[k] = flat[k]
    return out


def _box_name(kind: str, flat: dict[str, str]) -> str:
    """The entity's name: ``drug_name`` (else ``INN``) in a drug infobox, ``name`` otherwise."""
    keys = ("drug_name", "inn", "name") if kind == "drug" else ("name",)
    return next((flat[k] for k in keys if flat.get(k)), "")


def _link_targets(value, redirects: dict[str, str]) -> list[str]:
    """An attribute's items as link targets, like the linked fields: ``[[Oral administration|By mouth]]``
    -> "Oral administration"; an item without a link keeps its text."""
    out: list[str] = []
    for seg in _clean(value):
        for item in _items(seg):
            links = [n for n in item if isinstance(n, Wikilink)]
            names = [redirects.get(t, t) for t in (normalize_title(str(n.title).split("#")[0]) for n in links)
                     if is_article(t)]
            if not links:
                text = mwparserfromhell.utils.parse_anything(item).strip_code().strip(" .")
                names = [text] if text else []
            out += [n for n in names if n not in out]
    return out


def _plain(value) -> str:
    segs = _clean(value)
    return "\n".join(mwparserfromhell.utils.parse_anything(s).strip_code().strip() for s in segs).strip()

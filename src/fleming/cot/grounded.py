"""The KG-grounded teacher: a synthetic item's stored reasoning path, put into words.

The paper's cold start has a teacher LLM write the chain from question + gold answer (§3.2). A synthetic
item already carries its verified path in ``metadata.extra`` (observed findings, the masked anchor, the
hops to the answer, and per distractor the sibling it came through and the observed finding that sibling
lacks), so it can be verbalised deterministically, with no LLM: one claim sentence per fact in the shared
surface form of ``fleming.cot.claims`` (so the claim checker and pre-training read the same sentences),
each distractor ruled out by its discriminative fact, then a conclusion. The text can also be handed to
an LLM teacher as grounding (``teacher.grounding``).

Three orders (``cot.teacher.order``): ``path`` (above); ``options``: the same path to the key, then one
claim per option in letter order relating it to the item, the option written exactly as the option
text: a disease option and the finding it lacks (diagnosis), the key and a finding option, the key and a
gene option, a disease option and the key's gene (allelic disorder). A negative there ("Stickler
syndrome type 2 is not caused by MAF.") is true in a closed-world slice (synthesis ruled the option out by
absence); on an open KG the claim checker reads it as uncheckable. Beyond the paper: a research order for
small models, which copy from the context more easily than they recall (docs/ablation.md).
``letters``: as ``options``, each option line led by its letter as the prompt writes it ("B. Alpha
syndrome has Seizure."; the claim checker reads the sentence after "B."), and the conclusion names the
letter ("So the answer is B."): a tiny model that reached the right option text still picked the letter
at chance, so the letter is put where the verdict is.

Items without a stored path (public QA) get no grounded chain (``None``).
"""

from __future__ import annotations

from collections.abc import Callable

from fleming.cot.claims import sentence
from fleming.records import MCQ

Names = Callable[[str], str | None]  # KG id -> node name


def item_names(record: MCQ) -> dict[str, str]:
    """Names the item itself stores (observed, anchor, answer, distractors), keyed by KG id."""
    extra = record.metadata.extra
    out = {}
    for node in [
        *extra.get("observed", []),
        extra.get("anchor") or {},
        extra.get("answer") or {},
        *extra.get("distractors", []),
    ]:
        if node.get("id") and node.get("name"):
            out[node["id"]] = node["name"]
    return out


def _hop_sentence(relation: str, src: str, dst: str) -> str:
    """One hop of the path as a claim sentence (or a plain sentence for relations without a form)."""
    if relation in ("has_symptom|has_finding", "has_symptom", "has_finding"):
        return sentence("has_phenotype", src, dst)
    if relation == "associated_with":
        return sentence("caused_by", src, dst)
    if relation == "gene_associated_with":
        return sentence("caused_by", dst, src)
    if relation == "treats":
        return sentence("treats", src, dst)
    if relation == "treated_by":
        return sentence("treats", dst, src)
    if relation == "is_a":
        return sentence("is_a", src, dst)
    return f"{src} -[{relation}]-> {dst}."


def grounded_chain(record: MCQ, names: Names | None = None, order: str = "path") -> str | None:
    """The reasoning path of a synthetic item, one sentence per line; None without a stored path.

    ``names`` maps KG ids the item does not name itself (the siblings distractors came through) to node
    names; without it such a distractor is ruled out by the item's own facts only.
    """
    extra = record.metadata.extra
    path = extra.get("path") or []
    if not path or not extra.get("answer"):
        return None
    known = item_names(record)

    def name(node_id: str | None) -> str | None:
        if not node_id:
            return None
        return known.get(node_id) or (names(node_id) if names else None)

    lines: list[str] = []
    observed = [o["name"] for o in extra.get("observed", []) if o.get("name")]
    if observed:
        lines.append(f"The findings are {'; '.join(observed)}.")
    gene = None
    for hop in path:
        dst = name(hop.get("to"))
        if dst is None:
            return None
        srcs = hop["from"] if isinstance(hop.get("from"), list) else [hop.get("from")]
        for s in srcs:
            src = name(s)
            if src is None:
                return None
            # a masked first hop reads features -> anchor: the anchor has each feature
            if isinstance(hop.get("from"), list):
                lines.append(_hop_sentence(hop["relation"], dst, src))
            else:
                lines.append(_hop_sentence(hop["relation"], src, dst))
        if isinstance(hop.get("from"), list) and len(path) > 1:
            lines.append(f"So the patient most likely has {dst}.")
        if hop["relation"] == "associated_with":
            gene = dst
    answer, last = extra["answer"], f"So the answer is {record.answer_text}."
    if order in ("options", "letters"):  # every option gets its line, even one the path already stated
        opts = _option_lines(record, name, gene, order == "letters")
        if order == "letters":
            last = f"So the answer is {', '.join(record.answer)}."
        return "\n".join([*dict.fromkeys(lines), *opts, last])
    for d in extra.get("distractors", []):
        lines += _rule_out(d, name, answer.get("type"), gene, len(path) > 1)
    lines.append(last)
    return "\n".join(dict.fromkeys(lines))  # a fact stated once, in first-seen order


def _rule_out(
    d: dict,
    name: Callable[[str | None], str | None],
    answer_type: str | None,
    gene: str | None,
    multi_hop: bool,
) -> list[str]:
    """The discriminative facts of one distractor: what it (or the sibling it came through) lacks."""
    dname, lacks, via = d.get("name"), name(d.get("lacks")), d.get("via")
    if not dname:
        return []
    if answer_type == "disease" and multi_hop and gene:  # allelic disorder: not this gene's disease
        return [sentence("caused_by", dname, gene, negated=True)]
    if not lacks:
        return []
    if not via or via == d.get("id"):
        return [sentence("has_phenotype", dname, lacks, negated=True)]
    vname = name(via)
    if vname is None:
        return []
    link = {"gene": sentence("caused_by", vname, dname)}.get(answer_type or "")
    if answer_type in ("phenotype", "lab", "imaging"):
        link = sentence("has_phenotype", vname, dname)
    return [*([link] if link else []), sentence("has_phenotype", vname, lacks, negated=True)]


def _option_lines(record: MCQ, name: Callable[[str | None], str | None], gene: str | None,
                  letters: bool = False) -> list[str]:
    """One claim per option, in letter order, relating the option text to the key (module docstring);
    ``letters``: each line starts with its option's letter as the prompt writes it ("B. ")."""
    extra = record.metadata.extra
    key = name(extra["anchor"]["id"])
    gold = set(record.answer)
    lacks = {d["letter"]: name(d.get("lacks")) for d in extra.get("distractors", [])}
    first = extra["observed"][0]["name"] if extra.get("observed") else None
    atype, hops = extra["answer"].get("type"), len(extra.get("path") or [])
    lines = []
    for letter, text in record.options.items():
        right, at = letter in gold, len(lines)
        if atype == "disease" and hops > 1 and gene:             # allelic disorder
            lines.append(sentence("caused_by", text, gene, negated=not right))
        elif atype == "disease":                                  # diagnosis: the option itself
            finding = first if right else lacks.get(letter)
            if finding:
                lines.append(sentence("has_phenotype", text, finding, negated=not right))
        elif atype == "gene" and key:
            lines.append(sentence("caused_by", key, text, negated=not right))
        elif key:                                                 # a finding option
            lines.append(sentence("has_phenotype", key, text, negated=not right))
        if letters and len(lines) > at:
            lines[-1] = f"{letter}. {lines[-1]}"
    return lines


def grounded_reasoning(record: MCQ, names: Names | None = None, brief: bool = False) -> str:
    """A chain for SFT: the grounded chain, or a one-line fallback for items without a stored path.
    ``brief`` names the conclusion only (the demo's tiny validator has a 64-token budget).

    >>> r = MCQ(id="x", source="synthetic", split="train", question="q?", options={"A": "Flu", "B": "Cold"},
    ...         answer=["A"])
    >>> grounded_reasoning(r)
    'The best-supported option is Flu.'
    """
    if brief:
        observed = record.metadata.extra.get("observed")
        return (
            f"The findings fit {record.answer_text}."
            if observed
            else f"The best-supported option is {record.answer_text}."
        )
    return grounded_chain(record, names) or f"The best-supported option is {record.answer_text}."


def kg_names(kg) -> Names:
    """``names`` from a loaded KG (``fleming.kg.store.KG``)."""

    def look(node_id: str) -> str | None:
        try:
            return kg.name(kg.index(node_id))
        except KeyError:
            return None

    return look

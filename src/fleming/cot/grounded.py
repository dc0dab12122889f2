"""KG-grounded reasoning for synthetic items: the hops ``fleming synth`` stored, written as a short chain.

The paper's cold start has a teacher write the chain of thought from question + gold answer (§3.2).
A synthetic item already carries its verified reasoning path (observed facts, the answer they fit, and
for each distractor the observed fact it lacks), so it can be verbalised without a teacher. The demo uses
this to teach a tiny validator the answer format; teacher CoT is the path for real models.
"""

from __future__ import annotations

from fleming.records import MCQ


def grounded_reasoning(record: MCQ, max_distractors: int = 2, brief: bool = False) -> str:
    """A short chain from ``metadata.extra`` of a synthetic item; a plain fallback for other items.
    ``brief`` names the conclusion only (the demo's tiny validator has a 64-token budget).

    >>> r = MCQ(id="x", source="synthetic", split="train", question="q?", options={"A": "Flu", "B": "Cold"},
    ...         answer=["A"])
    >>> grounded_reasoning(r)
    'The best-supported option is Flu.'
    """
    extra = record.metadata.extra
    observed = [o.get("name", "") for o in extra.get("observed", []) if o.get("name")]
    answer = record.answer_text
    if brief:  # a tiny model with a short token budget: name the conclusion only
        return f"The findings fit {answer}." if observed else f"The best-supported option is {answer}."
    if not observed:
        return f"The best-supported option is {answer}."
    names = {o.get("id"): o.get("name") for o in extra.get("observed", [])}
    parts = [f"Findings: {'; '.join(observed)}.", f"{answer} has all of them."]
    for d in extra.get("distractors", [])[:max_distractors]:
        lacks = names.get(d.get("lacks"))
        if lacks and d.get("name"):
            parts.append(f"{d['name']} lacks {lacks}.")
    return " ".join(parts)

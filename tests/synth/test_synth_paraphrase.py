"""The optional LLM paraphrase: the entity-survival check, a real backend (the tiny served model, whose
rewrites are rejected and counted), and the accept path with a rule-based backend."""

from __future__ import annotations

import json

from fleming.llm import Completion
from fleming.synth.paraphrase import check, paraphrase_lines, required_terms
from fleming.synth.run import synthesize
from fleming.synth.templates import ParaphraseConfig, parse_config

TOY_CFG = {"n_options": 3, "min_options": 3, "question_types": {
    "diagnosis": {"anchor": "disease"},
    "diagnosis_gene": {"anchor": "disease", "chain": ["associated_with"]}}}


def _items(small_kg, tmp_path, n=12, **extra):
    cfg = parse_config({**TOY_CFG, **extra})
    stats = synthesize(small_kg, n, cfg, seed=3, out_dir=tmp_path)
    return [json.loads(x) for x in (tmp_path / "items.jsonl").read_text().splitlines()], stats


class Rewriter:
    """A rule-based stand-in for an LLM that implements the Backend protocol: it prefixes a sentence,
    and for every third conversation drops the first required term (so the check must reject it)."""

    model_name = "rule-rewriter"

    def generate(self, conversations, params, progress=True):
        out = []
        for i, conv in enumerate(conversations):
            q = conv[-1]["content"].split("Question:\n", 1)[1].split("\n\nKeep these terms", 1)[0]
            terms = [t[2:] for t in conv[-1]["content"].split("verbatim:\n", 1)[1].splitlines()]
            text = "Consider this case. " + q
            if i % 3 == 2:
                text = text.replace(terms[0], "something")
            out.append([Completion(text=text)])
        return out

    def close(self):
        pass


def test_check_accepts_faithful_rewrites_only(small_kg, tmp_path):
    items, _ = _items(small_kg, tmp_path)
    it = items[0]
    terms = required_terms(it)
    assert terms and all(t.lower() in it["question"].lower() for t in terms)
    assert check(it, "Consider: " + it["question"]) is None
    assert check(it, "") == "empty paraphrase"
    assert check(it, it["question"].replace(terms[0], "x")) == "an entity name did not survive"
    wrong = next(v for k, v in it["options"].items() if k not in it["answer"])
    assert check(it, f"{it['question']} Perhaps {wrong}?") == "the paraphrase names an option"
    assert check(it, it["question"].rstrip("?") + ".") == "the paraphrase does not end in a question"


def test_accepted_rewrites_replace_the_text_and_keep_it_in_provenance(small_kg, tmp_path):
    items, _ = _items(small_kg, tmp_path)
    lines = [json.dumps(i) for i in items]
    new, counts = paraphrase_lines(lines, ParaphraseConfig(model="rule"), backend=Rewriter())
    new = [json.loads(x) for x in new]
    assert counts["chosen"] == len(items)
    lost = counts.get("kept template: an entity name did not survive", 0)
    assert counts["paraphrased"] + lost == len(items) and lost == len(items) // 3
    for old, cur in zip(items, new, strict=True):
        p = cur["metadata"]["provenance"].get("paraphrase")
        if p:
            assert cur["question"].startswith("Consider this case.") and p["template_text"] == old["question"]
        else:
            assert cur["question"] == old["question"]
    half, c2 = paraphrase_lines(lines, ParaphraseConfig(model="rule", fraction=0.5), backend=Rewriter())
    assert 0 < c2["chosen"] < len(items)


def test_real_backend_rewrites_are_checked_and_counted(small_kg, tmp_path, served_tiny):
    para = {"backend": "openai", "model": served_tiny["model_id"], "base_url": served_tiny["url"],
            "max_tokens": 16, "temperature": 0.0}
    items, stats = _items(small_kg, tmp_path, n=6, paraphrase=para)
    counts = stats["paraphrase"]
    assert counts["chosen"] == len(items) == 6
    kept = sum(v for k, v in counts.items() if k.startswith("kept template"))
    assert kept + counts.get("paraphrased", 0) == 6
    for it in items:                 # whatever the tiny model wrote, each item is either checked or unchanged
        p = it["metadata"]["provenance"].get("paraphrase")
        assert p is None or check({**it, "question": p["template_text"]}, it["question"]) is None

"""Optional LLM paraphrase of the rendered stems, through ``fleming.llm`` (make_backend + generate).

Each selected item's question is sent with the entity names it must keep verbatim (the observed
findings, or the named entity). The rewrite is accepted only when it is non-empty, keeps every one of
those names (case-insensitive), does not name the answer or any option that the template text did not
already name, and still ends in a question; otherwise the template text stays and the reason is
counted (``stats.json`` ``paraphrase``). Items are chosen by their seed (``fraction``); requests carry a
fixed sampling seed, so a cached backend gives the same output on a re-run.
"""

from __future__ import annotations

import json
from collections import Counter

from fleming.synth.render import Mix, finding_text
from fleming.synth.templates import ParaphraseConfig

SYSTEM = ("You rewrite multiple-choice medical exam questions. Rewrite the user's question in natural exam "
          "style. Keep every listed term exactly as written. Do not add findings, do not name a diagnosis, "
          "keep the final question sentence's meaning. Answer with the rewritten question only.")


def required_terms(item: dict) -> list[str]:
    """Entity names the paraphrase must keep, as the template wrote them."""
    extra = item["metadata"]["extra"]
    if extra["anchor"]["masked"]:
        return [finding_text(o["name"]) for o in extra["observed"]]
    return [extra["anchor"]["name"]]


def check(item: dict, text: str) -> str | None:
    """None when ``text`` is an acceptable paraphrase of ``item``'s question, else the reason."""
    t = text.strip()
    if not t:
        return "empty paraphrase"
    low = t.lower()
    if any(term.lower() not in low for term in required_terms(item)):
        return "an entity name did not survive"
    before = item["question"].lower()
    if any(o.lower() in low and o.lower() not in before for o in item["options"].values()):
        return "the paraphrase names an option"
    if not t.rstrip().endswith("?"):
        return "the paraphrase does not end in a question"
    return None


def _messages(item: dict) -> list[dict[str, str]]:
    terms = "\n".join(f"- {x}" for x in required_terms(item))
    return [{"role": "system", "content": SYSTEM},
            {"role": "user",
             "content": f"Question:\n{item['question']}\n\nKeep these terms verbatim:\n{terms}"}]


def paraphrase_lines(lines: list[str], cfg: ParaphraseConfig, backend=None) -> tuple[list[str], dict]:
    """Paraphrase the chosen items among JSONL ``lines``; returns (new lines, counts)."""
    from fleming.llm import SamplingParams, make_backend

    items = [json.loads(x) for x in lines]
    chosen = [i for i, it in enumerate(items)
              if Mix(it["metadata"]["provenance"]["item_seed"] ^ 0xFA7A).unit() < cfg.fraction]
    counts: Counter = Counter(chosen=len(chosen))
    if not chosen:
        return lines, dict(counts)
    own = backend is None
    backend = backend or make_backend(cfg.backend, cfg.model, base_url=cfg.base_url,
                                      cache_path=cfg.cache_path,
                                      **cfg.options)
    try:
        params = SamplingParams(temperature=cfg.temperature, max_tokens=cfg.max_tokens, seed=0)
        completions = [c[0] for c in backend.generate([_messages(items[i]) for i in chosen], params,
                                                      progress=False)]
    finally:
        if own:
            backend.close()
    for i, comp in zip(chosen, completions, strict=True):
        reason = f"request failed: {comp.error}" if comp.error else check(items[i], comp.text)
        if reason:
            counts[f"kept template: {reason}"] += 1
            continue
        items[i]["metadata"]["provenance"]["paraphrase"] = {"model": backend.model_name,
                                                            "template_text": items[i]["question"]}
        items[i]["question"] = comp.text.strip()
        counts["paraphrased"] += 1
    return [json.dumps(it, ensure_ascii=False) for it in items], dict(counts)


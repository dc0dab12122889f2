"""Verification rejects a candidate that reaches another answer, leaks the answer, makes a false KG claim,
drifts off the item or misses the path; the answer-blind check rejects reasoning that supports another
option (through a real OpenAI-compatible endpoint)."""

from __future__ import annotations

import pytest
from cot_helpers import diagnosis_item

from fleming.config import build
from fleming.cot.claims import ClaimChecker
from fleming.cot.config import ChecksConfig, CotConfig
from fleming.cot.distill import Attempt, Distiller
from fleming.cot.grounded import grounded_chain
from fleming.cot.verify import Verifier, strip_conclusion
from fleming.kg.store import KG
from fleming.llm import make_backend
from fleming.llm.loadtest import StubServer

GOOD = (
    "<think>\nThe findings are Seizure; Fever; Cough.\nAlpha syndrome has Seizure.\nAlpha syndrome has Fever."
    "\nAlpha syndrome has Cough.\nGamma disease lacks Seizure.\n</think>\n<answer>B</answer>"
)


@pytest.fixture()
def verifier(toy_kg):
    return Verifier(ChecksConfig(rich_findings=3), ClaimChecker(KG.load(toy_kg), rich_findings=3))


def test_a_grounded_chain_passes_every_check(verifier):
    r = diagnosis_item()
    v = verifier.verify(r, f"<think>\n{grounded_chain(r)}\n</think>\n<answer>B</answer>")
    assert v.ok, v.failed
    assert v.claims["false"] == 0 and v.claims["true"] == 5


def test_rejects_reasoning_that_reaches_another_answer(verifier):
    text = GOOD.replace("Gamma disease lacks Seizure.", "So the answer is C, Gamma disease.")
    v = verifier.verify(diagnosis_item(), text)
    assert "reasoning_disagrees" in v.failed and "C" in v.failed["reasoning_disagrees"]
    v = verifier.verify(diagnosis_item(), GOOD.replace("<answer>B</answer>", "<answer>C</answer>"))
    assert "wrong_answer" in v.failed


@pytest.mark.parametrize(
    "leak",
    [
        "We are told the answer is B.",
        "As stated, the answer is Alpha syndrome.",
        "The given answer is Alpha syndrome.",
        "Since the answer is B, it fits.",
    ],
)
def test_rejects_a_leak(verifier, leak):
    v = verifier.verify(diagnosis_item(), GOOD.replace("</think>", f"{leak}\n</think>"))
    assert list(v.failed) == ["leak"]


def test_rejects_a_false_kg_claim(verifier):
    v = verifier.verify(
        diagnosis_item(), GOOD.replace("Gamma disease lacks Seizure.", "Gamma disease has Seizure.")
    )
    assert list(v.failed) == ["false_claim"]
    assert "Gamma disease has Seizure." in v.failed["false_claim"] and v.claims["false"] == 1


def test_rejects_bad_format_length_locality_and_a_missing_path(verifier):
    r = diagnosis_item()
    assert "format" in verifier.verify(r, GOOD.replace("</think>", "")).failed
    assert "length" in verifier.verify(r, "<think>Alpha syndrome.</think><answer>B</answer>").failed
    assert (
        "locality" in verifier.verify(r, GOOD.replace("</think>", "Option F is unrelated.\n</think>")).failed
    )
    looping = GOOD.replace("</think>", "Alpha syndrome has Fever.\n" * 3 + "</think>")
    assert "locality" in verifier.verify(r, looping).failed
    unnamed = (
        "<think>\nThe findings are Seizure; Fever; Cough.\nOption B has all three of them.\n"
        "Gamma disease lacks Seizure.\n</think>\n<answer>B</answer>"
    )
    assert list(verifier.verify(r, unnamed).failed) == ["path"]  # never names Alpha syndrome


def test_strip_conclusion_removes_the_answer_statements():
    text = (
        "Alpha syndrome has Seizure.\nSo the answer is Alpha syndrome.\nTherefore B. The correct option is B."
    )
    assert strip_conclusion(text) == "Alpha syndrome has Seizure."


def test_answer_blind_check_rejects_reasoning_that_supports_another_option(toy_kg):
    def validator(request, index):  # reads the reasoning and answers what it supports
        text = request["messages"][-1]["content"]
        return "<answer>C</answer>" if "Gamma disease fits" in text else "<answer>B</answer>"

    cfg = build(
        CotConfig, {"teacher": {"kind": "llm", "model": "stub"}, "validator": {"enabled": True}}, "", "t"
    )
    r, r2 = diagnosis_item(0), diagnosis_item(1)
    with StubServer(reply=validator) as url, make_backend("openai", "stub", base_url=url) as be:
        d = Distiller(
            cfg,
            Verifier(ChecksConfig(rich_findings=3), ClaimChecker(KG.load(toy_kg), 3)),
            teacher=be,
            validator=be,
        )
        fine = Attempt(0, "pass@k", 0, GOOD, d.verifier.verify(r, GOOD))
        drift = GOOD.replace("Gamma disease lacks Seizure.", "Gamma disease fits the fever.")
        bad = Attempt(0, "pass@k", 0, drift, d.verifier.verify(r2, drift))
        assert fine.ok and bad.ok
        d._answer_blind([(r, fine), (r2, bad)])
    assert fine.ok and fine.blind_ok is True
    assert list(bad.verdict.failed) == ["answer_blind"] and "answered C" in bad.verdict.failed["answer_blind"]

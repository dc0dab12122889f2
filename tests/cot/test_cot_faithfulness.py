"""Faithfulness of a model's chain in the ablation table (``fleming.pipeline.evaluate._claims``): the share
of the gold chain's (subject, object) pairs that the chain states too, and the verdicts right on those."""

from __future__ import annotations

from cot_helpers import diagnosis_item

from fleming.pipeline.evaluate import _claims

GOLD = ["Alpha syndrome has Seizure.", "Alpha syndrome has Fever.", "Alpha syndrome has Cough.",
        "Beta syndrome lacks Cough.", "Gamma disease lacks Seizure.", "Delta disease lacks Seizure."]


def row(i: int, chain: list[str]) -> dict:
    text = "<think>\n" + "\n".join(chain) + "\n</think>\n<answer>B</answer>"
    return {"id": f"item-{i}", "responses": [text]}


def test_copied_pairs_and_verdicts_on_them(toy_kg):
    items = [diagnosis_item(0), diagnosis_item(1)]
    rows = [row(0, GOLD),                                                  # every pair, every verdict
            row(1, ["Alpha syndrome has Seizure.", "Beta syndrome has Cough.",   # 2 pairs, 1 verdict right
                    "Gamma disease has Rash."])]                              # not a gold pair
    got = _claims(rows, toy_kg, items)
    assert got["gold_pairs"] == 12
    assert got["copied_pairs"] == 8 / 12
    assert got["verdicts_on_copied"] == 7 / 8


def test_a_chain_about_other_entities_copies_nothing(toy_kg):
    got = _claims([row(0, ["Gamma disease has Rash.", "Delta disease has Cough."])], toy_kg,
                  [diagnosis_item(0)])
    assert got["copied_pairs"] == 0.0 and got["verdicts_on_copied"] is None


def test_faithfulness_reads_the_gold_chain_in_the_order_the_cot_stage_wrote(toy_kg):
    item = diagnosis_item(0)
    x = item.metadata.extra
    x["path"] = [*x["path"], {"from": "OMIM:1", "relation": "associated_with", "to": "G:1"}]
    x["answer"] = {"id": "G:1", "name": "GENE1", "type": "gene"}
    item = item.model_copy(update={"options": {"A": "GENE2", "B": "GENE1", "C": "GENE3", "D": "GENE4"}})
    said = [row(0, ["A. Alpha syndrome is not caused by GENE2."])]
    # the letters chain checks the key against every gene option; the path chain never pairs them
    assert _claims(said, toy_kg, [item], "letters")["verdicts_on_copied"] == 1.0
    assert _claims(said, toy_kg, [item], "path")["copied_pairs"] == 0.0

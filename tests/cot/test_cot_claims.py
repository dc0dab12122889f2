"""The shared claim sentences (/work/briefs/claims.md) and the KG claim checker on a hand-made KG."""

from __future__ import annotations

import pytest
from cot_helpers import diagnosis_item

from fleming.cot.claims import ClaimChecker, parse_claims, sentence
from fleming.cot.grounded import grounded_chain
from fleming.kg.store import KG


def test_sentences_are_the_contract_forms():
    # the table of the shared contract, written out by hand
    assert sentence("has_phenotype", "D", "P") == "D has P."
    assert sentence("has_phenotype", "D", "P", negated=True) == "D lacks P."
    assert sentence("caused_by", "D", "G") == "D is caused by G."
    assert sentence("caused_by", "D", "G", negated=True) == "D is not caused by G."
    assert sentence("treats", "X", "D") == "X treats D."
    assert sentence("treats", "X", "D", negated=True) == "X does not treat D."
    assert sentence("is_a", "C", "P") == "C is a P."
    assert sentence("is_a", "C", "P", negated=True) == "C is not a P."


def test_parse_finds_claims_between_entity_names_only():
    names = {"alpha syndrome", "seizure", "gene1", "has x"}
    claims = parse_claims(
        "Alpha syndrome has Seizure. The patient has a fever.\nalpha syndrome is not caused "
        "by GENE1.\nHas x has Seizure.",
        lambda s: s.casefold() in names,
    )
    assert [(c.relation, c.subject, c.obj, c.negated) for c in claims] == [
        ("has_phenotype", "Alpha syndrome", "Seizure", False),
        ("caused_by", "alpha syndrome", "GENE1", True),
        ("has_phenotype", "Has x", "Seizure", False),
    ]


@pytest.mark.parametrize(
    ("text", "rich", "verdict"),
    [
        ("Alpha syndrome has Seizure.", 15, "true"),
        ("Beta syndrome has Seizure.", 15, "true"),  # Focal seizure is_a Seizure
        ("Gamma disease has Seizure.", 15, "false"),
        ("Alpha syndrome lacks Fever.", 15, "false"),
        ("Gamma disease lacks Seizure.", 15, "uncheckable"),  # 3 findings: a sparse profile under 15
        ("Gamma disease lacks Seizure.", 3, "true"),
        ("Alpha syndrome is caused by GENE1.", 15, "true"),
        ("Gamma disease is caused by GENE1.", 15, "false"),
        ("Gamma disease is not caused by GENE1.", 15, "true"),
        ("Delta disease is not caused by GENE1.", 15, "uncheckable"),  # no gene annotated at all
        ("Drugamine treats Alpha syndrome.", 15, "true"),
        ("Drugamine treats Gamma disease.", 15, "false"),
        ("Drugamine does not treat Beta syndrome.", 15, "true"),  # a curated non-indication
        ("Drugamine does not treat Gamma disease.", 15, "uncheckable"),
        ("Focal seizure is a Seizure.", 15, "true"),
        ("Focal seizure is not a Seizure.", 15, "false"),
    ],
)
def test_checker_verdicts(toy_kg, text, rich, verdict):
    checker = ClaimChecker(KG.load(toy_kg), rich_findings=rich)
    [(claim, got)] = checker.check_text(text)
    assert got == verdict, claim


def test_grounded_chain_states_the_path_and_rules_out_each_distractor(toy_kg):
    checker = ClaimChecker(KG.load(toy_kg), rich_findings=3)
    chain = grounded_chain(diagnosis_item())
    lines = chain.splitlines()
    assert lines[1:4] == [
        "Alpha syndrome has Seizure.",
        "Alpha syndrome has Fever.",
        "Alpha syndrome has Cough.",
    ]
    assert {
        "Beta syndrome lacks Cough.",
        "Gamma disease lacks Seizure.",
        "Delta disease lacks Seizure.",
    } <= set(lines)
    assert lines[-1] == "So the answer is Alpha syndrome."
    verdicts = [v for _, v in checker.check_text(chain)]
    assert verdicts.count("false") == 0 and verdicts.count("true") == 5


def test_a_closed_world_slice_makes_absence_checkable(toy_kg, tmp_path):
    import shutil

    for f in ("nodes.parquet", "edges.parquet"):
        shutil.copy(toy_kg / f, tmp_path / f)
    (tmp_path / "meta.json").write_text('{"closed_world": "absent pairs are false"}')
    opened, closed = ClaimChecker(KG.load(toy_kg)), ClaimChecker(KG.load(tmp_path))
    for text in ("Delta disease is not caused by GENE1.", "Drugamine does not treat Gamma disease."):
        [(_, was)], [(_, now)] = opened.check_text(text), closed.check_text(text)
        assert (was, now) == ("uncheckable", "true")
    [(_, v)] = closed.check_text("Drugamine does not treat Alpha syndrome.")
    assert v == "false"                                   # it does treat it: false in any world


def test_the_options_order_checks_each_option_in_letter_order(toy_kg):
    chain = grounded_chain(diagnosis_item(), order="options").splitlines()
    # the path to the key as before, then A..D, each option text copied, then the conclusion
    assert chain[1:4] == ["Alpha syndrome has Seizure.", "Alpha syndrome has Fever.",
                          "Alpha syndrome has Cough."]
    assert chain[4:] == ["Beta syndrome lacks Cough.", "Alpha syndrome has Seizure.",
                         "Gamma disease lacks Seizure.", "Delta disease lacks Seizure.",
                         "So the answer is Alpha syndrome."]
    checker = ClaimChecker(KG.load(toy_kg), rich_findings=3)
    verdicts = [v for _, v in checker.check_text("\n".join(chain))]
    assert len(verdicts) == 7 and "false" not in verdicts


def test_the_options_order_for_a_gene_question():
    item = diagnosis_item()
    x = item.metadata.extra
    x["path"] = [*x["path"], {"from": "OMIM:1", "relation": "associated_with", "to": "G:1"}]
    x["answer"] = {"id": "G:1", "name": "GENE1", "type": "gene"}
    item = item.model_copy(update={"options": {"A": "GENE2", "B": "GENE1", "C": "GENE3", "D": "GENE4"}})
    lines = grounded_chain(item, order="options").splitlines()
    assert lines[-5:] == ["Alpha syndrome is not caused by GENE2.", "Alpha syndrome is caused by GENE1.",
                          "Alpha syndrome is not caused by GENE3.", "Alpha syndrome is not caused by GENE4.",
                          "So the answer is GENE1."]


def test_the_letters_order_leads_each_option_line_with_its_letter(toy_kg):
    chain = grounded_chain(diagnosis_item(), order="letters").splitlines()
    assert chain[4:] == ["A. Beta syndrome lacks Cough.", "B. Alpha syndrome has Seizure.",
                         "C. Gamma disease lacks Seizure.", "D. Delta disease lacks Seizure.",
                         "So the answer is B."]
    claims = ClaimChecker(KG.load(toy_kg), rich_findings=3).claims("\n".join(chain))
    assert [c.subject for c in claims[3:]] == ["Beta syndrome", "Alpha syndrome", "Gamma disease",
                                               "Delta disease"]                 # the letter is no name

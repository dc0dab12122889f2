"""Anonymization: targets on generated vignettes with injected PHI, typed placeholders, medical names
left alone (HPO names, eponyms, a KG's names), and the step on real benchmark text."""

from __future__ import annotations

import pytest
from refine_helpers import mcq

from fleming.refine.anonymize import Anonymize, kg_names, protected_names
from fleming.refine.phi import PHIDetector, replace_spans
from fleming.refine.phi_gen import VignetteGenerator, evaluate


@pytest.fixture(scope="module")
def detector() -> PHIDetector:
    return PHIDetector.with_faker_lists(protected_names())


def clean(detector, text: str, names: bool = True) -> str:
    return replace_spans(text, detector.detect(text, names=names))


def test_targets_on_generated_vignettes(detector):
    gen = VignetteGenerator(seed=3)
    result = evaluate(detector, [gen.vignette() for _ in range(300)])
    assert result["gold_spans"] > 3000
    assert result["recall"] >= 0.95, result
    assert result["precision"] >= 0.90, result
    assert result["medical_spans_touched"] == 0, result
    assert set(result["recall_by_type"]) == {"NAME", "DATE", "AGE>89", "PHONE", "FAX", "EMAIL", "ADDRESS",
                                             "MRN", "ACCOUNT", "ID", "URL", "IP"}


def test_generated_gold_spans_point_at_their_values():
    v = VignetteGenerator(seed=1).vignette()
    for s in v.phi:
        value = v.text[s.start:s.end]
        assert value.strip() == value and value, s
    assert all(v.text[a:b].strip() for a, b in v.medical)


@pytest.mark.parametrize("text,expected", [
    ("Mr. Wilson, who has Wilson disease, saw Dr. Ana Ruiz on 03/14/2021.",
     "Mr. [NAME], who has Wilson disease, saw Dr. [NAME] on [DATE]."),
    ("A 93-year-old woman and her 45-year-old son.", "A [AGE>89]-year-old woman and her 45-year-old son."),
    ("Call (555)123-4567 or fax 555.987.6543; email j.doe@example.org.",
     "Call [PHONE] or fax [FAX]; email [EMAIL]."),
    ("MRN: 48213977, account # 5521-883, SSN 123-45-6789, insurance ID AB1234567.",
     "MRN: [MRN], account # [ACCOUNT], SSN [ID], insurance ID [ID]."),
    ("Lives at 42 Oak Street, Springfield, IL 62704.", "Lives at [ADDRESS]."),
    ("Portal https://portal.example.com/x?id=3 from 10.0.0.12.", "Portal [URL] from [IP]."),
    ("Patient: Okafor, Chidi\nSeen May 3, 2019.", "Patient: [NAME]\nSeen [DATE]."),
    ("She has Tanner stage 2 breasts and a Bell palsy; pouch of Douglas is clear.",
     "She has Tanner stage 2 breasts and a Bell palsy; pouch of Douglas is clear."),
    ("Blood pressure 120/80 mm Hg, HbA1c 7.5%, at 10:30 pm.",
     "Blood pressure 120/80 mm Hg, HbA1c 7.5%, at 10:30 pm."),
])
def test_examples(detector, text, expected):
    assert clean(detector, text) == expected


def test_options_keep_names_but_lose_identifiers(detector):
    assert clean(detector, "Claude Bernard", names=False) == "Claude Bernard"
    assert clean(detector, "Call 555-123-4567", names=False) == "Call [PHONE]"


def test_kg_names_protect_terms_without_an_eponym_head(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": ["d1"], "name": ["Austin Flint murmur"],
                             "synonyms": [["Flint murmur"]]}), tmp_path / "nodes.parquet")
    assert kg_names(tmp_path) == ["Austin Flint murmur", "Flint murmur"]
    text = "Auscultation revealed an Austin Flint murmur."
    assert clean(PHIDetector.with_faker_lists(), text) != text  # without the KG: a name pair
    assert clean(PHIDetector.with_faker_lists(kg_names(tmp_path)), text) == text


def test_step_counts_and_keeps_every_item(detector):
    items = [mcq("a", "Mr. Jones, a 94-year-old man, reports cough.", ["Dr. Lee", "None"]),
             mcq("b", "Which enzyme is deficient in phenylketonuria?", ["PAH", "HGD"])]
    step = Anonymize(detector)
    out = list(step.run(items))
    assert step.stats.n_in == step.stats.n_kept == 2
    assert out[0].question == "Mr. [NAME], a [AGE>89]-year-old man, reports cough."
    assert out[0].options["A"] == "Dr. Lee"  # options: identifiers only
    assert out[0].metadata.extra["anonymized"] == {"NAME": 1, "AGE>89": 1}
    assert out[1] == items[1]
    assert step.stats.extra == {"records_changed": 1, "replaced:NAME": 1, "replaced:AGE>89": 1}


def test_real_medqa_test_only_loses_ages_over_89(records, detector):
    step = Anonymize(detector)
    out = list(step.run(records("medqa")))
    assert len(out) == 1273
    assert {k for k in step.stats.extra if k.startswith("replaced:")} == {"replaced:AGE>89"}


def test_anon_eval_command_prints_the_figures(capsys):
    import json

    from fleming.cli import main

    with pytest.raises(SystemExit) as e:
        main(["refine", "anon-eval", "--n", "100", "--seed", "5", "--json"])
    assert (e.value.code or 0) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["vignettes"] == 100 and result["recall"] >= 0.95 and result["precision"] >= 0.90

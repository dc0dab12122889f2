"""Config parsing: defaults, the shipped YAML, and errors that name the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fleming.errors import ConfigError
from fleming.synth.templates import DEFAULT_TYPES, QuestionType, SynthConfig, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_config_equals_the_code_defaults():
    cfg = load_config(ROOT / "configs" / "synth-default.yaml")
    assert cfg == SynthConfig()
    assert [q.name for q in cfg.question_types] == [q.name for q in DEFAULT_TYPES]


def test_hops_and_paths_of_the_default_types():
    by = {q.name: q for q in DEFAULT_TYPES}
    assert by["diagnosis"].hops == 1 and by["diagnosis"].path == "features -> disease"
    assert by["treatment_class"].hops == 3
    assert by["drug_class"].hops == 1 and not by["drug_class"].masked
    assert {q.hops for q in DEFAULT_TYPES} == {1, 2, 3}
    assert "treatment_target_process" not in by          # a meaningless chain: dropped (issue 10)


def test_chain_given_as_strings_or_lists():
    cfg = parse_config({"question_types": {
        "x": {"anchor": "disease", "chain": ["treated_by", ["in_class", "has_mechanism"]]}}})
    assert cfg.question_types[0].chain == (("treated_by",), ("in_class", "has_mechanism"))
    cfg = parse_config({"question_types": {"y": {"anchor": "disease", "chain": ["has_symptom|has_finding"],
                                                 "observe": 4}}})
    assert cfg.question_types[0].chain == (("has_symptom", "has_finding"),)
    assert cfg.question_types[0].observe == (4, 4)


@pytest.mark.parametrize(("raw", "field", "expected"), [
    ({"question_types": {"x": {"anchor": "illness"}}}, "question_types.x.anchor", "entity type"),
    ({"question_types": {"x": {"anchor": "disease", "chain": ["cures"]}}}, "question_types.x.chain[0]",
     "unknown relation 'cures'"),
    ({"question_types": {"x": {"anchor": "drug", "masked": False}}}, "question_types.x.chain",
     "at least one hop"),
    ({"question_types": {"x": {"anchor": "disease", "observe": [3, 1]}}}, "question_types.x.observe", "kmin"),
    ({"question_types": {"x": {"anchor": "disease", "colour": 1}}}, "question_types.x.colour", "unknown key"),
    ({"n_options": 3, "min_options": 4}, "n_options", "min_options <= n_options"),
    ({"question_types": {"x": {"anchor": "disease", "chain": ["treated_by", "in_class"],
                               "negatives": ["not_indicated_drug"]}}},
     "question_types.x.negatives", "one-hop"),
    ({"speed": 3}, "speed", "unknown key"),
])
def test_config_errors_name_the_field(raw, field, expected, tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}: field '{field}':") and expected in msg, msg


def test_unreadable_and_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")
    p = tmp_path / "broken.yaml"
    p.write_text("question_types: [\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(p)


def test_question_type_defaults():
    q = QuestionType("t", "disease")
    assert q.masked and q.observe == (3, 3) and q.min_shared == 2
    assert q.features == ("has_symptom", "has_finding")

"""PubMedQA as the paper counts it (issue 11): the 1,000-item PQA-L entry beside the 500-item test set."""

from __future__ import annotations

from collections import Counter

import pytest

from fleming.errors import ConfigError
from fleming.eval.benchmarks import PAPER_TABLE3, get, overlap_warnings, parse_list, table3
from fleming.eval.runner import EvalSettings, load_benchmarks


def test_the_table_keeps_the_500_in_the_average_and_adds_the_1000_beside_it():
    assert get("pubmedqa").expected_n == 500 and get("pubmedqa") in table3()
    pqal = get("pubmedqa_pqal")
    assert pqal.expected_n == 1000 and pqal not in table3() and pqal.n_options == 3
    assert [b.name for b in parse_list("all")] == [b.name for b in table3()]  # not added to "all"
    assert all("pubmedqa_pqal" not in s for s in PAPER_TABLE3.values())  # the paper's rows stay Table 3


def test_overlap_is_flagged_only_for_a_training_source_inside_the_benchmark():
    benches = parse_list("pubmedqa,pubmedqa_pqal")
    assert overlap_warnings(benches, ["medqa_dev"]) == []
    (line,) = overlap_warnings(benches, ["pubmedqa_train", "medqa_dev"])
    assert line.startswith("pubmedqa_pqal ") and "'pubmedqa_train'" in line


def test_the_1000_items_and_their_labels(shared):
    settings = EvalSettings(model="m", train_sources=("pubmedqa_train",))
    notes: list[str] = []
    records = load_benchmarks(parse_list("pubmedqa,pubmedqa_pqal"), None, settings, warn=notes.append)
    pqal, test = records["pubmedqa_pqal"], records["pubmedqa"]
    assert len(pqal) == 1000 and len(test) == 500
    assert Counter(r.answer[0] for r in pqal) == {"A": 552, "B": 338, "C": 110}  # INVENTORY: yes/no/maybe
    pmids = {r.metadata.extra["pmid"] for r in pqal}
    assert len(pmids) == 1000 and {r.metadata.extra["pmid"] for r in test} <= pmids
    assert notes == ["pubmedqa_pqal contains the items of the training source 'pubmedqa_train': "
                     "its score is not held out"]


def test_an_unknown_training_source_is_a_config_error(shared):
    with pytest.raises(ConfigError, match="nope"):
        load_benchmarks(parse_list("pubmedqa"), None, EvalSettings(model="m", train_sources=("nope",)))

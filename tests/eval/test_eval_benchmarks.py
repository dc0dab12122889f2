"""The benchmark table against the paper's Table 3 text, and the real benchmark files."""

from __future__ import annotations

import pytest

from fleming.errors import ConfigError
from fleming.eval.benchmarks import (
    BENCHMARKS,
    DEFAULT_PROMPT_ID,
    PAPER_AVERAGES,
    PAPER_TABLE3,
    Benchmark,
    category_value,
    parse_list,
    table3,
)
from fleming.records import Metadata


def paper_table3(shared) -> tuple[list[str], dict[str, list[float]]]:
    """Column names (two header lines merged) and the score rows of Table 3 in the paper text."""
    lines = (shared / "paper" / "fleming-r1.txt").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Table 3:"))
    head_i = next(i for i in range(start, len(lines)) if lines[i].startswith("Model\t"))
    head, sub = lines[head_i].split("\t"), lines[head_i + 1].split("\t")
    cols, group = [], ""
    for i in range(1, len(head)):
        group = head[i] or group
        extra = sub[i] if i < len(sub) else ""
        cols.append(f"{group} {extra}".strip())
    rows = {}
    for line in lines[head_i + 2:]:
        if line.startswith("Table 4") or line.startswith("4.1.3"):
            break
        cells = line.split("\t")
        if len(cells) == len(head) and cells[1].replace(".", "").isdigit():
            rows[cells[0]] = [float(c) for c in cells[1:]]
    return cols, rows


def test_table3_order_and_names_match_the_paper(shared):
    cols, _ = paper_table3(shared)
    assert cols[-1] == "Avg."
    assert [b.display for b in table3()] == cols[:-1]
    assert len(table3()) == 9 and "cmexam" in BENCHMARKS and not BENCHMARKS["cmexam"].table3


def test_reference_scores_are_the_papers(shared):
    _, rows = paper_table3(shared)
    for ref, scores in PAPER_TABLE3.items():
        paper = rows[ref.removesuffix(" (paper)")]
        assert [scores[b.name] for b in table3()] == paper[:-1]
        assert PAPER_AVERAGES[ref] == paper[-1]


def test_every_entry_has_the_required_fields():
    for b in BENCHMARKS.values():
        assert b.loader and b.prompt_id and b.version and b.display
        assert 2 <= b.n_options <= 21
        assert b.language in {"en", "zh"}
    assert [c.field for c in BENCHMARKS["medxpertqa"].categories] == ["body_system", "question_type"]
    assert [c.field for c in BENCHMARKS["medqa"].categories] == ["exam"]
    assert BENCHMARKS["careqa"].categories


def test_parse_list():
    assert [b.name for b in parse_list(None)] == [b.name for b in table3()]
    assert [b.name for b in parse_list("all")] == [b.name for b in table3()]
    assert [b.name for b in parse_list("pubmedqa, medqa,medqa")] == ["medqa", "pubmedqa"]
    assert [b.name for b in parse_list("all,cmexam")][-1] == "cmexam"
    with pytest.raises(ConfigError, match="unknown benchmark 'medqa5'"):
        parse_list("medqa5")
    with pytest.raises(ConfigError):
        parse_list(" , ")


def test_check_options():
    fixed = Benchmark("x", "X", "x", 4)
    variable = Benchmark("y", "Y", "y", 10, variable_options=True)
    assert fixed.check_options(4) is None
    assert "expected 4 options, got 5" in fixed.check_options(5)
    assert variable.check_options(3) is None
    assert "at most 10" in variable.check_options(11)


def test_category_value_reads_fields_and_extra():
    meta = Metadata(exam="step1", extra={"category": "nursing", "year": 2021})
    assert category_value(meta, "exam") == "step1"
    assert category_value(meta, "extra.category") == "nursing"
    assert category_value(meta, "extra.year") == "2021"
    assert category_value(meta, "body_system") is None


def test_check_count():
    b = Benchmark("x", "X", "x", 4, expected_n=10)
    assert b.check_count(10) is None
    assert "9 items, where the ../shared snapshot has 10" in b.check_count(9)


def test_prompt_ids_and_loaders_exist():
    from fleming.prompts import DEFAULT_PROMPT, PROMPTS
    from fleming.sources.registry import loader_names

    assert DEFAULT_PROMPT_ID == DEFAULT_PROMPT
    for b in BENCHMARKS.values():
        assert b.prompt_id in PROMPTS and b.loader in loader_names()
        assert PROMPTS[b.prompt_id].language == b.language


def test_every_benchmark_loads_from_the_real_files_and_fits_its_entry(benchmarks_dir):
    """Counts, option counts, language and the breakdown fields, on the files in ../shared."""
    from fleming.eval.runner import EvalSettings, load_benchmarks

    notes: list[str] = []
    loaded = load_benchmarks(list(BENCHMARKS.values()), benchmarks_dir, EvalSettings(model="m"), notes.append)
    assert notes == []  # every count equals the entry's expected_n
    for name, records in loaded.items():
        b = BENCHMARKS[name]
        assert len(records) == b.expected_n
        assert {r.language for r in records} == {b.language}
        assert max(len(r.options) for r in records) == b.n_options
        for c in b.categories:
            values = {category_value(r.metadata, c.field) for r in records}
            assert None not in values, (name, c.name)
    values = lambda name, field: {category_value(r.metadata, field) for r in loaded[name]}  # noqa: E731
    assert values("medxpertqa", "question_type") == {"Reasoning", "Understanding"}
    assert values("medqa", "exam") == {"step1", "step2&3"}
    assert len(values("careqa", "subject")) == 6
    assert len(values("medxpertqa", "body_system")) > 5

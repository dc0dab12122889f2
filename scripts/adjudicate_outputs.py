"""Write tests/data/grading_adjudications.jsonl: the truth for every real-output row where the
official extractor, fleming before (REV) and fleming now do not all agree, and for every row fleming
leaves null (with the reason).

    python scripts/adjudicate_outputs.py [--before REV] [--check]

Two kinds of entry:
- ``HAND``: rows read one by one (every disagreement on the MMLU-Pro and Llama-3 MedQA files, every
  null fleming leaves there, the Mixtral rows the classes below do not cover);
- classes checked row by row against the raw response by a criterion independent of the extractor
  (the JSON field parsed with ``json.loads`` and its text compared with the option; the response's
  first characters). A row that fits no class and has no HAND entry is printed and left out, so the
  bench reports it as unadjudicated.
``--check`` prints what would be written without writing.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "src")]

from fleming.grading import extract_answer  # noqa: E402
from grading_outputs import ADJUDICATIONS, grader_at, load_rows  # noqa: E402

N = None
MIX = "mixtral_medqa_afrimed"
# (set, id) -> (truth, why); read by hand from the response.
HAND: dict[tuple[str, str], tuple[list[str] | None, str]] = {
    # Gemini-1.5-Pro, MMLU-Pro (docs/extraction-disagreements.md)
    ("gemini_mmlu_pro", "6320"): (N, "no option chosen: 'The answer is ( ).'"),
    ("gemini_mmlu_pro", "3353"): (N, "no option chosen: 'None of the provided options are correct'"),
    ("gemini_mmlu_pro", "2965"): (["G"], "echoed answer lines: the last statement decides (G)"),
    ("gemini_mmlu_pro", "3122"): (["H"], "echoed answer lines: the last statement decides (H)"),
    # Llama-3.1-70B, MMLU-Pro
    ("llama31_70b_mmlu_pro", "6320"): (["B", "C", "E", "F", "G"], "several letters stated"),
    ("llama31_70b_mmlu_pro", "6537"): (["B", "C", "F", "G", "H"], "several letters stated"),
    ("llama31_70b_mmlu_pro", "3155"): (N, "hedge: '(B), (D), or (G)'"),
    # Phi-3-mini, MMLU-Pro
    ("phi3mini_mmlu_pro", "3158"): (N, "no option chosen: 'The answer is not listed, but ... (E) as none"
                                    " of the options ...' (E is not an option text that says so)"),
    ("phi3mini_mmlu_pro", "3234"): (["G"], "concluding sentence: 'The closest answer choice is (G).'"),
    ("phi3mini_mmlu_pro", "3277"): (["C"], "concluding sentence: 'The correct sequence is (C).'"),
    ("phi3mini_mmlu_pro", "3298"): (N, "answers a different question: '(a) 0.217, (b) 0.356'"),
    ("phi3mini_mmlu_pro", "3434"): (["A"], "'Therefore, (A) is the correct answer.'"),
    ("phi3mini_mmlu_pro", "6036"): (["J"], "concluding sentence: 'The most likely diagnosis is (J).'"),
    ("phi3mini_mmlu_pro", "6037"): (["J"], "concluding sentence: 'The most likely diagnosis is (J).'"),
    ("phi3mini_mmlu_pro", "6087"): (["B", "F"], "several letters stated: '(B, F)'"),
    ("phi3mini_mmlu_pro", "6101"): (N, "truncated mid-sentence after a conditional ('If we strictly ...')"),
    ("phi3mini_mmlu_pro", "6197"): (N, "looping answer lines naming different letters, then an"
                                    " explanation of a different question"),
    ("phi3mini_mmlu_pro", "6223"): (["G", "H"], "several letters stated: '(H) and (G)'"),
    ("phi3mini_mmlu_pro", "6298"): (["D"], "'not in the options, but the closest option is (D) 1 in 10'"),
    ("phi3mini_mmlu_pro", "6628"): (["B", "C"], "several letters stated: '(B, C)'"),
    ("phi3mini_mmlu_pro", "6677"): (["D"], "concluding sentence: 'The most likely diagnosis is (D).'"),
    ("phi3mini_mmlu_pro", "6684"): (["D"], "concluding sentence: '... explanation ... is (D).'"),
    ("phi3mini_mmlu_pro", "6701"): (["I", "J"], "several letters stated: '(I) and (J)'"),
    ("phi3mini_mmlu_pro", "6702"): (["I", "J"], "several letters stated: '(I) and (J)'"),
    ("phi3mini_mmlu_pro", "6711"): (["C"], "concluding sentence: '... is (C) Mustard seeds, lamb.'"),
    ("phi3mini_mmlu_pro", "6751"): (["E"], "concluding sentence: 'The most likely diagnosis is (E).'"),
    ("phi3mini_mmlu_pro", "6752"): (["E"], "concluding sentence: 'The most likely diagnosis is (E).'"),
    ("phi3mini_mmlu_pro", "6789"): (["E"], "concluding sentence: 'The correct statement is (E).'"),
    # Llama-3-70B, MedQA CoT: every response opens "Selected answer: X"
    ("llama3_70b_medqa_cot", "39"): (["E"], "changes its answer at the end: 'I would select E (2.67)'"),
    ("llama3_70b_medqa_cot", "818"): (["C", "E"], "several letters stated: 'C and E'"),
    ("llama3_70b_medqa_cot", "1108"): (N, "no option chosen: 'Selected answer: None of the above'"),
    # Mixtral-8x7B, AfriMed-QA MedQA: the first line is an option's text (no letter); read against
    # the options. The official column has no letter for these.
    (MIX, "e58813e0-08b4-47be-8202-f3ef4528e3dd"): (["B"], "first line '16.' is option B"),
    (MIX, "77116dbe-7591-45ba-ba13-ad727ad6ed59"): (["D"], "first line '21.' is option D"),
    (MIX, "7421e5ce-07dd-4fc6-b198-4d24a52adec6"): (["B"], "first line '25%.' is option B"),
    (MIX, "9af4e24e-2a6a-4d3b-b152-7b844f5e0a40"): (["B"], "first line is option B"),
    (MIX, "bf68aea5-db9d-4c11-833b-3d84ae8e863e"): (["A"], "first line '3,000 units.' is"
                                                                         " option A"),
    (MIX, "5961aa0a-198c-4a72-ac38-b0d79a44b365"): (["B"], "first line '15%.' is option B"),
    (MIX, "262f0c28-44df-4bd6-ba18-e3f493cfb4ad"): (["B"], "first line '23XX.' is option B"),
    (MIX, "cd6f66fb-5f2c-4f9a-a066-07cecdbb579b"): (["D"], "first line '50%.' is option D"),
    (MIX, "e100b2e3-b1a0-4805-9188-abecad82ab22"): (["B"], "first line '1/10.' is option B"),
    (MIX, "fa3a0f96-d14e-4a28-834e-42096123356e"): (["D"], "first line '2.67 (D).'"),
    (MIX, "aef08a9a-49b3-4027-8e24-c4a3be1ebce4"): (["B"], "first line '16 (B).'"),
    (MIX, "167891ca-6b8f-4728-ace8-e227d83f5cf7"): (["A"], "first line '... (A).'"),
    (MIX, "0e735c35-6c84-45a4-87e7-4e890517187f"): (["A"], "first line '150 milligrams (A).'"),
    (MIX, "2dce0c46-efdd-4fd2-bccc-7e52c0a603ab"): (N, "opens '1. The slide shows ...': prose,"
                                                                         " cut off, no option"),
    (MIX, "f202e7b9-0b29-4dad-94d2-588c47758223"): (N, "prose naming no option, cut off"),
    ("phi3mini_mmlu_pro", "2905"): (N, "no option chosen: ends on a description, no answer"),
    ("phi3mini_mmlu_pro", "3350"): (N, "no option chosen: ends on a calculation, no answer"),
    ("gpt4_mirage_medqa", "0709"): (N, "no option chosen: 'Unable to determine without the graph'"),
    ("gpt4_mirage_medqa", "0935"): (N, "no option chosen: 'Insufficient information'"),
    ("gpt4_mirage_medqa", "1026"): (N, "no response: connection error"),
}
_FILTER = "The response was filtered due to the prompt triggering Azure OpenAI's content management policy"
_NO_OPTION = re.compile(r"(?i)not (?:listed|in the options|among the (?:given )?options|available)"
                        r"|none of the|cannot be determined|no exception|mistake in the (?:question|options)")


def by_class(row, official, after) -> tuple[list[str] | None, str] | None:
    """The truth by a criterion read off the raw response, or None when no class fits."""
    raw = row.response
    if row.set.startswith("gpt4_mirage"):
        if raw.startswith(_FILTER):
            return N, "no response: content filter"
        if raw.strip() == "'content'":
            return N, "no response: API error ('content')"
        try:
            value = json.loads(raw[raw.index("{"):raw.rindex("}") + 1]).get("answer_choice", "")
        except ValueError:
            return None
        if value.startswith("None of"):
            return N, "no option chosen: answer_choice 'None of the above'"
        if re.fullmatch(r"[A-Z]", value):
            return ([value], "JSON answer_choice: a bare letter") if value in row.options else (
                N, "letter outside the item's options")
        m = re.fullmatch(r"([A-Z])\. (.+)", value)
        if m and m[1] not in row.options:
            return N, "letter outside the item's options"
        if m and re.search(r"\band [A-Z]\. ", m[2]):
            return N, "two options in answer_choice on a single-answer item"
        if m and m[2].strip(' \n"') == row.options[m[1]].strip(' \n"'):  # options carry stray quotes
            return [m[1]], "JSON answer_choice: the letter with its option's exact text"
        return None
    if row.set == "deepseek_cmb_zh":
        try:
            letters = sorted(json.loads(raw[raw.index("{"):raw.rindex("}") + 1])["answer"])
        except (ValueError, KeyError):
            return None
        return (letters, "JSON answer field") if all(x in row.options for x in letters) else None
    if row.set == "llama3_70b_medqa_cot":
        m = re.match(r"Selected answer: ([A-E])\b", raw)
        if m and official == [m[1]]:
            return [m[1]], "opens 'Selected answer: X', then reasons for X"
        return None
    if row.set == "mixtral_medqa_afrimed":
        m = re.match(r"\s*([A-D])[.)]", raw)
        if m and official == [m[1]]:
            return [m[1]], "opens with the letter the prompt asked for, then explains"
        return None
    if after is None and (official is None or row.set.endswith("mmlu_pro")):
        body = raw.rstrip()
        if not re.search(r"[.!?)\]]$", body):
            return N, "truncated or looping: ends mid-sentence without a final answer"
        if _NO_OPTION.search(body[-400:]):
            return N, "no option chosen: says none of the options fits"
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--before", default="9f91b05")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    before = grader_at(args.before)
    out, missing = [], []
    for rows in load_rows(args.shared).values():
        for r in rows:
            b, a = before(r.response, r.options), extract_answer(r.response, r.options)
            if b == a == r.official and a is not None:
                continue
            got = HAND.get((r.set, r.id)) or by_class(r, r.official, a)
            if got is None:
                missing.append((r.set, r.id, r.official, b, a, r.response[-300:].replace("\n", " ")))
                continue
            out.append({"set": r.set, "id": r.id, "truth": got[0], "why": got[1]})
    for m in missing:
        print("UNADJUDICATED", m)
    print(f"{len(out)} adjudications, {len(missing)} rows left unadjudicated")
    if not args.check:
        with open(ADJUDICATIONS, "w", encoding="utf-8") as f:
            for a in out:
                f.write(json.dumps(a, ensure_ascii=False) + "\n")
        print(f"written to {ADJUDICATIONS}")


if __name__ == "__main__":
    main()

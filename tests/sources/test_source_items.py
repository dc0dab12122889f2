"""Known items, read by hand from the files in ../shared, and agreement between forms of the same items."""

from __future__ import annotations

from collections import Counter


def test_medqa_known_items(by_id):
    recs = by_id("medqa")
    r = recs["medqa-test-0"]
    assert r.answer == ["B"]
    assert r.answer_text == "Tell the attending that he cannot fail to disclose this mistake"
    assert r.options["A"] == "Disclose the error to the patient and put it in the operative report"
    assert r.metadata.exam == "step1" and r.metadata.provenance["line"] == 1
    r = recs["medqa-test-100"]
    assert r.question.startswith("A 2-day-old male newborn is brought to the physician because of yellowing")
    assert r.answer == ["D"] and r.options["D"] == "Anti-B antibodies" and r.metadata.exam == "step2&3"
    assert Counter(x.metadata.exam for x in recs.values()) == {"step1": 679, "step2&3": 594}


def test_medqa_5opt_keeps_the_fifth_distractor(by_id):
    r = by_id("medqa_5opt")["medqa_5opt-test-100"]
    assert r.options == {"A": "RBC enzyme deficiency", "B": "RBC sickling", "C": "Anti-D antibodies",
                         "D": "Biliary duct malformation", "E": "Anti-B antibodies"}
    assert r.answer == ["E"]


def test_medqa_three_formats_agree(loaded):
    base = loaded("medqa").records
    for name in ("medqa_inline", "medqa_citrus"):
        other = loaded(name).records
        assert [(r.id, r.question, r.options, r.answer) for r in other] == \
               [(r.id, r.question, r.options, r.answer) for r in base], name


def test_medmcqa_inline_options_match_the_structured_copy(loaded):
    inline, structured = loaded("medmcqa").records, loaded("medmcqa_structured").records
    assert [(r.id, r.question, r.options, r.answer) for r in inline] == \
           [(r.id, r.question, r.options, r.answer) for r in structured]
    r = inline[0]
    assert r.question == "Which of the following is not true for myelinated nerve fibers:"
    assert r.options["D"].startswith("Local anesthesia is effective only when the nerve is not covered")
    assert r.answer == ["A"] and r.metadata.subject == "Physiology"
    assert r.metadata.extra["source_id"] == "45258d3d-b974-44dd-a161-c3fccbdadd88"
    # An option that mentions other letters stays whole.
    assert any(o == "Both (A) & (C)" for x in inline for o in x.options.values())
    assert sum("explanation" in x.metadata.extra for x in inline) == 2206


def test_pubmedqa_labels_context_and_parts(loaded):
    test = {r.metadata.extra["pmid"]: r for r in loaded("pubmedqa").records}
    train = {r.metadata.extra["pmid"]: r for r in loaded("pubmedqa_train").records}
    assert not set(test) & set(train) and len(test) + len(train) == 1000
    r = test["12377809"]
    assert r.question == "Is anorectal endosonography valuable in dyschesia?" and r.answer == ["A"]
    assert r.options == {"A": "yes", "B": "no", "C": "maybe"} and r.context.count("\n") == 2
    assert r.context.startswith("Dyschesia can be provoked by inappropriate defecation movements.")
    assert r.id == "pubmedqa-test-534"  # its position in ori_pqal.json
    assert test["24577079"].answer == ["B"]  # "no"
    assert train["10808977"].answer == ["A"] and train["17113061"].answer == ["B"]
    labels = Counter(r.answer[0] for r in [*test.values(), *train.values()])
    assert labels == {"A": 552, "B": 338, "C": 110}


def test_medxpertqa_metadata_and_stripped_choices(by_id, loaded):
    recs = by_id("medxpertqa")
    r = recs["medxpertqa-test-0"]
    assert r.answer == ["E"] and len(r.options) == 10
    assert r.question.endswith("eccentric anterior glenoid reaming during shoulder surgery?")
    assert (r.metadata.body_system, r.metadata.question_type) == ("Skeletal", "Reasoning")
    assert r.metadata.extra["medical_task"] == "Basic Science"
    odd = recs["medxpertqa-test-2270"]  # inlined choices list Naproxen at H; the options field has Enalapril
    assert odd.options["H"] == "Enalapril" and odd.metadata.extra["inline_choices_differ"] is True
    assert loaded("medxpertqa").stats.extra == {"inline_choices_differ": 2}
    types = Counter(x.metadata.question_type for x in recs.values())
    assert types == {"Reasoning": 1861, "Understanding": 589}


def test_mmlu_pro_item_with_three_options(loaded):
    r = next(x for x in loaded("mmlu_pro_biology").records if x.metadata.extra["source_id"] == 3325)
    assert r.options == {"A": "Environmental change plays a role in evolution.",
                         "B": "The smallest entity that can evolve is an individual organism.",
                         "C": "Inherited variation in a population is a necessary precondition for natural "
                              "selection to operate."}
    assert r.answer == ["B"] and r.metadata.subject == "biology"
    h = loaded("mmlu_pro_health").records[1]
    assert h.metadata.extra["source_id"] == 6002 and len(h.options) == 4
    assert h.answer_text == "No disease at all"


def test_careqa_letters_year_and_category(by_id):
    recs = by_id("careqa")
    r = recs["careqa-test-0"]
    assert r.answer == ["B"] and r.metadata.exam == "2024" and r.metadata.subject == "Medicine"
    assert r.options["B"].startswith("The increase in serum iron or inflammation stimulates")
    r = recs["careqa-test-1003"]  # line 1004, right after the two NaN lines
    assert r.answer == ["C"] and r.answer_text == "Stable." and r.metadata.provenance["line"] == 1004
    assert "careqa-test-1001" not in recs and "careqa-test-1002" not in recs
    assert Counter(x.metadata.exam for x in recs.values()) == {"2023": 1188, "2022": 1182, "2024": 1177,
                                                               "2021": 1037, "2020": 1037}


def test_medbullets_dedup_and_forms(loaded):
    csv5, json5 = loaded("medbullets").records, loaded("medbullets_json").records
    strip = lambda rs: [(r.id, r.question, r.options, r.answer) for r in rs]  # noqa: E731
    assert strip(csv5) == strip(json5)
    assert strip(loaded("medbullets_op4").records) == strip(loaded("medbullets_op4_json").records)
    assert len({" ".join(r.question.split()) for r in csv5}) == 298
    r = csv5[0]
    assert r.question.startswith("A 64-year-old man presents to the emergency room with a headache")
    assert r.answer == ["A"] and r.answer_text == "Acetazolamide"
    assert r.metadata.extra["link"] == "https://step2.medbullets.com/testview?qid=108992"
    # Row 13 of op5 is the first copy of a question repeated at row 262: kept once, with the first id.
    ids = {x.id for x in csv5}
    assert "medbullets-test-13" in ids and "medbullets-test-262" not in ids


def test_jmed_answers_and_reordered_options(loaded):
    recs = loaded("jmed").records
    assert all(r.language == "zh" for r in recs)
    assert Counter(r.answer[0] for r in recs) == {"A": 930, "B": 114, "C": 28, "D": 17, "E": 5}
    d = next(r for r in recs if r.metadata.provenance["row"] == 143)
    assert d.answer == ["D"] and d.answer_text == "食物蛋白诱导性小肠结肠炎综合征"
    assert d.metadata.extra["source_id"] == "22210876734448"
    odd = next(r for r in recs if r.metadata.provenance["row"] == 179)  # keys listed B, C, D, E, A
    assert list(odd.options) == ["A", "B", "C", "D", "E"]
    assert odd.options["A"] == "急性上呼吸道感染"
    assert odd.answer == ["B"] and odd.answer_text == "急性支气管炎"
    assert sum(r.metadata.extra["qwen_score"] == 1 for r in recs) == 874


def test_cmexam_multi_answer_relettered_and_literal_separator(loaded):
    recs = loaded("cmexam").records
    by_row = {r.metadata.provenance["row"]: r for r in recs}
    m = by_row[2225]
    assert m.question == "地面水中硫酸盐含量骤然增加时，表明其受"
    assert m.answer == ["A", "B", "C"] and m.metadata.extra["multi_answer"] is True
    assert m.options == {"A": "生活污水污染", "B": "农田径流污染", "C": "工业废水污染", "D": "人、畜粪便污染",
                         "E": "含氮有机物污染"}
    assert sum(r.is_multi_answer for r in recs) == 210
    assert not any("\\n" in o for r in recs for o in r.options.values())
    g = by_row[5591]  # options B..E in the file; answer C (盐酸异丙肾上腺素)
    assert g.options["A"] == "盐酸多巴酚丁胺" and g.answer == ["B"] and g.answer_text == "盐酸异丙肾上腺素"
    assert g.metadata.extra["relettered_from"] == {"A": "B", "B": "C", "C": "D", "D": "E"}
    assert 5358 not in by_row  # the row whose Answer is "nan"


def test_mmlu_medical_csv_and_inline_agree(loaded):
    csv_recs, inline = loaded("mmlu_medical").records, loaded("mmlu_medical_inline").records
    assert [(r.id, r.question, r.options, r.answer, r.metadata.subject) for r in csv_recs] == \
           [(r.id, r.question, r.options, r.answer, r.metadata.subject) for r in inline]
    assert Counter(r.metadata.subject for r in csv_recs)["professional_medicine"] == 272

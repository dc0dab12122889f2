"""Template packs and rendering: onsets to ages, sex, name casing, every type has questions."""

from __future__ import annotations

import re

import pytest
import yaml

from fleming.errors import ConfigError
from fleming.synth.render import (
    ONSET_AGES,
    PACK_DIR,
    Mix,
    finding_text,
    load_pack,
    patient,
    patient_sex,
    render,
)
from fleming.synth.templates import DEFAULT_TYPES


@pytest.mark.parametrize("language", ["en", "zh"])
def test_bundled_packs_cover_every_default_type(language):
    pack = load_pack(language)
    assert pack.language == language
    assert {q.name for q in DEFAULT_TYPES} <= set(pack.questions)
    for qs in pack.questions.values():
        assert qs and all(isinstance(q, str) and q.strip() for q in qs)


def test_age_follows_the_onset_and_sex_the_inheritance():
    pack = load_pack("en")
    for seed in range(200):
        who = patient(pack, ["Infantile onset"], [], Mix(seed))
        n = int(re.search(r"(\d+)", who.text).group(1))
        months = n if "month" in who.text else 12 * n
        assert who.onset == "Infantile onset" and "affected since infancy" in who.text, who.text
        assert 2 <= months <= 12 * 5, who.text                       # onset 2-11 months, seen up to 4 y later
        adult = patient(pack, ["Late onset"], ["X-linked recessive inheritance"], Mix(seed))
        n = int(re.search(r"(\d+)-year-old", adult.text).group(1))
        assert 61 <= n <= 88 and adult.sex == "male" and " man," in adult.text
        assert adult.sex_from == "inheritance"
    sexes = {patient(pack, ["Adult onset"], [], Mix(s)).sex for s in range(50)}
    assert sexes == {"male", "female"}
    assert patient(pack, ["Progressive"], [], Mix(1)).onset is None      # not an onset: no age
    assert set(ONSET_AGES) >= {"Congenital onset", "Neonatal onset", "Childhood onset", "Adult onset"}


def test_sex_follows_sex_specific_findings():
    pack = load_pack("en")
    for seed in range(30):
        f = patient(pack, ["Adult onset"], [], Mix(seed), ["Female infertility", "Irregular menstruation"])
        m = patient(pack, ["Adult onset"], ["X-linked dominant inheritance"], Mix(seed), ["Azoospermia"])
        both = patient(pack, ["Adult onset"], [], Mix(seed), ["Male infertility", "Amenorrhea"])
        assert (f.sex, f.sex_from, m.sex) == ("female", "findings", "male")
        assert both.sex is None and both.age is None and both.text.startswith(("A patient", "An individual"))
    assert patient_sex(["Seizure"], [], Mix(1))[1] == "random"


def test_finding_names_as_running_text():
    assert finding_text("Global developmental delay") == "global developmental delay"
    assert finding_text("EEG abnormality") == "EEG abnormality"
    assert finding_text("T2 hyperintensity") == "T2 hyperintensity"
    assert finding_text("Aplasia/Hypoplasia of the ulna") == "aplasia/hypoplasia of the ulna"
    assert finding_text("Vision, Low") == "low vision"
    assert finding_text("Body Weight") == "body weight"
    assert finding_text("Rubinstein-Taybi Syndrome") == "Rubinstein-Taybi syndrome"


def test_render_keeps_every_name_and_differs_by_seed():
    pack = load_pack("en")
    who = patient(pack, ["Childhood onset"], [], Mix(3))
    texts = set()
    for seed in range(30):
        r = render(pack, "diagnosis", ["Seizure", "Fever"], ["Elevated serum creatinine"], None, who,
                   Mix(seed))
        assert "seizure and fever" in r.question and "elevated serum creatinine" in r.question
        assert r.question.endswith("?") and r.stem_id in {s for s, _ in pack.stems}
        texts.add(r.question)
    assert len(texts) > 5
    named = render(pack, "drug_class", [], [], "Ethionamide", None, Mix(1))
    assert "Ethionamide" in named.question and named.stem_id == "named"
    only_tests = render(pack, "diagnosis", [], ["Hypoglycemia"], None, who, Mix(2))
    assert only_tests.stem_id == "tests_only" and "hypoglycemia" in only_tests.question


def test_extra_pack_files_and_their_errors(tmp_path):
    en = yaml.safe_load((PACK_DIR / "en.yaml").read_text())
    en["language"] = "xx"
    en["questions"]["diagnosis"] = ["Quelle est la cause ?"]
    p = tmp_path / "xx.yaml"
    p.write_text(yaml.safe_dump(en))
    pack = load_pack("xx", (str(p),))
    assert pack.questions["diagnosis"] == ["Quelle est la cause ?"]
    del en["onset"]["infancy"]
    p.write_text(yaml.safe_dump(en))
    with pytest.raises(ConfigError, match=r"field 'onset.infancy': missing"):
        load_pack.__wrapped__("xx", (str(p),))
    with pytest.raises(ConfigError, match="no template pack for language 'qq'"):
        load_pack("qq")
    with pytest.raises(ConfigError, match="questions.nope"):
        render(pack, "nope", ["A"], [], None, patient(pack, [], [], Mix(0)), Mix(0))


def test_microscopy_findings_are_a_biopsy_result_not_a_complaint():
    import numpy as np
    import pyarrow as pa

    from fleming.kg.schema import TYPE_CODE
    from fleming.synth.findings import finding_masks

    # audit round 6: 'presents with hyperparakeratosis, edema, and epidermal acanthosis'
    names = ["Hyperparakeratosis", "Epidermal acanthosis", "Ragged-red muscle fibers", "Hyaline membranes",
             "Intracellular accumulation of autofluorescent lipopigment storage material",
             "Acanthosis nigricans", "Muscle weakness", "Myofibrillar myopathy"]
    types = np.full(len(names), TYPE_CODE["phenotype"])
    histo = finding_masks(pa.array(names), types, np.full(len(names), 3), np.zeros(len(names), int),
                          [TYPE_CODE["phenotype"]], TYPE_CODE["drug_class"])[3]
    assert histo.tolist() == [True] * 5 + [False] * 3
    pack = load_pack("en")
    who = patient(pack, ["Childhood onset"], [], Mix(3))
    for seed in range(20):
        q = render(pack, "diagnosis", ["Edema"], [], None, who, Mix(seed), ["Cellulitis"],
                   ["Hyperparakeratosis", "Epidermal acanthosis"]).question
        m = re.search(r"(A biopsy shows|Biopsy findings include) hyperparakeratosis and epidermal "
                      r"acanthosis\.", q)
        assert m, q
        complaint = q[:m.start()]
        assert "edema" in complaint and not re.search("acanthosis|hyperparakeratosis", complaint)
        assert m.end() < q.index("no cellulitis")
    alone = render(pack, "diagnosis", [], [], None, who, Mix(1), [], ["Ragged-red muscle fibers"])
    assert alone.stem_id == "tests_only" and "ragged-red muscle fibers" in alone.question
    zh = render(load_pack("zh"), "diagnosis", ["Edema"], [], None, patient(load_pack("zh"), [], [], Mix(1)),
                Mix(1), [], ["Acantholysis"])
    assert "活检显示" in zh.question

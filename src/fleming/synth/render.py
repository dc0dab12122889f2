"""Rendering: clinical vignettes and questions from template packs (YAML, one per language).

A pack (``packs/en.yaml`` is the default) gives the patient phrases per age group, sex words, several
stems, sentences for lab/imaging findings and several questions per question type. Age and sex appear
only where the KG gives an onset (HPO aspect-C terms in the disease's ``onset`` attribute): the age is
drawn inside the onset's range, the sex at random, or male for X-/Y-linked recessive inheritance.
Entity names are inserted as the KG spells them (a finding's first letter is lower-cased unless it
starts an acronym), so names stay checkable after paraphrase. Choices come from the item's seed.

Departure from the paper: the paper renders with an LLM; templates come first here (fast, checkable),
and the LLM paraphrase (``paraphrase.py``) is an optional second pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from fleming.errors import ConfigError
from fleming.synth.findings import FEMALE as _FEMALE
from fleming.synth.findings import MALE as _MALE

PACK_DIR = Path(__file__).parent / "packs"
# HPO onset term -> (onset class, onset age range in years). The patient presents at the onset age
# plus up to PRESENT_AFTER years (the KG gives when a disease starts, not when it is seen).
_D, _M = 1 / 365, 1 / 12
ONSET_AGES: dict[str, tuple[str, float, float]] = {
    "Antenatal onset": ("prenatal", 0, 0), "Embryonal onset": ("prenatal", 0, 0),
    "Fetal onset": ("prenatal", 0, 0),
    "Second trimester onset": ("prenatal", 0, 0), "Third trimester onset": ("prenatal", 0, 0),
    "Late first trimester onset": ("prenatal", 0, 0), "Congenital onset": ("birth", 0, 0),
    "Neonatal onset": ("neonatal", 2 * _D, 28 * _D), "Infantile onset": ("infancy", 2 * _M, 11 * _M),
    "Childhood onset": ("childhood", 1, 5), "Pediatric onset": ("childhood", 1, 12),
    "Juvenile onset": ("adolescence", 6, 15), "Early young adult onset": ("young_adulthood", 16, 19),
    "Intermediate young adult onset": ("young_adulthood", 19, 25),
    "Late young adult onset": ("young_adulthood", 25, 40), "Young adult onset": ("young_adulthood", 16, 40),
    "Adult onset": ("adulthood", 18, 60), "Middle age onset": ("middle_age", 40, 60),
    "Late onset": ("late_adulthood", 61, 80),
}
PRESENT_AFTER = {"prenatal": 3.0, "birth": 3.0, "neonatal": 3.0, "infancy": 4.0, "childhood": 6.0,
                 "adolescence": 6.0, "young_adulthood": 8.0, "adulthood": 10.0, "middle_age": 10.0,
                 "late_adulthood": 8.0}
MALE_INHERITANCE = ("X-linked recessive inheritance", "Y-linked inheritance")
_REQUIRED = ("language", "list", "patient", "sex", "onset", "stems", "tests_sentence", "tests_only",
             "negatives", "questions")


class Mix:
    """A tiny seeded generator (splitmix64), cheap to create per item; mirrors ``prims.mix64``.

    >>> Mix(7).below(10) == Mix(7).below(10)
    True
    """

    M = (1 << 64) - 1
    __slots__ = ("state",)

    def __init__(self, seed: int):
        self.state = seed & self.M

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & self.M
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.M
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.M
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        return self.next() % n

    def pick(self, seq):
        return seq[self.next() % len(seq)]

    def unit(self) -> float:
        return (self.next() >> 11) / float(1 << 53)


DRAWS = 8          # draws an item's rendering takes at most (patient 5, question and stem 3)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def mix_draws(seeds: np.ndarray, k: int = DRAWS) -> np.ndarray:
    """The first k outputs of ``Mix(seed)`` for every seed of a uint64 array, vectorized: (n, k)."""
    z = seeds.astype(np.uint64)[:, None] + _GOLDEN * np.arange(1, k + 1, dtype=np.uint64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


class Drawn(Mix):
    """``Mix(seed)`` whose first draws were computed in bulk (``mix_draws``); later ones as usual.

    >>> d, m = Drawn(7, mix_draws(np.array([7], np.uint64), 2)[0].tolist()), Mix(7)
    >>> draw = lambda r: [r.below(1000), r.next(), r.unit(), r.pick("abcdefg")]
    >>> draw(d) == draw(m)
    True
    """

    __slots__ = ("draws", "k")

    def __init__(self, seed: int, draws: list[int]):
        self.state, self.draws, self.k = seed & self.M, draws, 0

    def next(self) -> int:
        k = self.k
        if k < len(self.draws):
            self.k = k + 1
            return self.draws[k]
        if k:                          # past the bulk draws: go on from the state after them
            self.state = (self.state + k * 0x9E3779B97F4A7C15) & self.M
            self.draws, self.k = (), 0
        return Mix.next(self)


@dataclass(frozen=True)
class Pack:
    language: str
    sep: str
    last: str
    pair: str
    patient: dict[str, list[str]]
    sex: dict[str, dict[str, str]]
    onset: dict[str, str]
    stems: list[tuple[str, str]]
    tests_sentence: list[str]
    tests_only: list[str]
    questions: dict[str, list[str]]
    negatives: dict[str, Any]             # sentences, pair, last: "There is no X or Y."
    space: str = " "                     # between sentences ('' for Chinese)
    biopsy_sentence: tuple[str, ...] = ("A biopsy shows {tests}.",)    # microscopy findings

    def join(self, items: list[str]) -> str:
        if len(items) <= 1:
            return "".join(items)
        if len(items) == 2:
            return items[0] + self.pair + items[1]
        return self.sep.join(items[:-1]) + self.last + items[-1]


def _parse_pack(raw: Any, path: Path) -> Pack:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping (a template pack)")
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise ConfigError(f"{path}: field '{missing[0]}': missing; a pack needs {', '.join(_REQUIRED)}")
    for field, need in (("patient", {"none", "newborn", "infant", "child", "adolescent", "adult"}),
                        ("onset", {c for c, _, _ in ONSET_AGES.values()})):
        lacking = sorted(need - set(raw[field]))
        if lacking:
            raise ConfigError(f"{path}: field '{field}.{lacking[0]}': missing (needs {sorted(need)})")
    stems = [(s["id"], s["text"]) for s in raw["stems"]]
    if not stems:
        raise ConfigError(f"{path}: field 'stems': expected at least one stem")
    lst = raw["list"]
    return Pack(str(raw["language"]), lst["sep"], lst["last"], lst["pair"], raw["patient"], raw["sex"],
                raw["onset"], stems,
                list(raw["tests_sentence"]), list(raw["tests_only"]),
                {k: list(v) for k, v in raw["questions"].items()}, dict(raw["negatives"]),
                str(raw.get("space", " ")), tuple(raw.get("biopsy_sentence") or Pack.biopsy_sentence))


@lru_cache(maxsize=16)
def load_pack(language: str = "en", extra: tuple[str, ...] = ()) -> Pack:
    """The pack for ``language``: one of the ``extra`` files whose ``language`` matches, else the bundled
    ``packs/<language>.yaml``."""
    import yaml

    for f in extra:
        p = Path(f)
        try:
            raw = yaml.safe_load(p.read_text(encoding="utf-8"))
        except OSError as e:
            raise ConfigError(f"{p}: cannot read template pack ({e.strerror})") from None
        if isinstance(raw, dict) and raw.get("language") == language:
            return _parse_pack(raw, p)
    p = PACK_DIR / f"{language}.yaml"
    if not p.is_file():
        have = sorted(x.stem for x in PACK_DIR.glob("*.yaml"))
        raise ConfigError(f"no template pack for language {language!r}: bundled {have}; "
                          "add one under 'packs'")
    return _parse_pack(yaml.safe_load(p.read_text(encoding="utf-8")), p)


_INVERTED = re.compile(r"^([^,]+), ([^,]+)$")
_SLASH_CAP = re.compile(r"/([A-Z])(?=[a-z])")
_PAREN = re.compile(r"\s*\([^)]*\)")


@lru_cache(maxsize=1 << 16)
def finding_text(name: str) -> str:
    """A finding's name as running text: 'Global developmental delay' -> 'global developmental delay';
    MeSH forms are un-inverted and de-capitalized ('Vision, Low' -> 'low vision', 'Body Weight' ->
    'body weight'); acronyms and hyphenated eponyms keep their capitals ('EEG abnormality')."""
    name = _PAREN.sub("", name) or name                             # '(within the age range of ...)'
    name = _SLASH_CAP.sub(lambda m: "/" + m.group(1).lower(), name)     # 'Aplasia/Hypoplasia of'
    m = _INVERTED.match(name)
    if m and len(m.group(2).split()) <= 2:
        name = f"{m.group(2)} {_lower_first(m.group(1))}"
    words = name.split(" ")
    if len(words) > 1 and all(w[:1].isupper() for w in words):
        return " ".join(w if ("-" in w or w.isupper()) else w.lower() for w in words)
    return _lower_first(name)


def _lower_first(name: str) -> str:
    if len(name) > 1 and name[0].isupper() and not (name[1].isupper() or name[1].isdigit()):
        return name[0].lower() + name[1:]
    return name


@dataclass(slots=True)
class Patient:
    text: str
    onset: str | None = None
    age: str | None = None      # at presentation, e.g. '7 months'
    sex: str | None = None
    sex_from: str | None = None  # findings | inheritance | random


@lru_cache(maxsize=1 << 16)
def _sex_words(name: str) -> tuple[bool, bool]:
    """Whether one name (a finding or the anchor) matches _MALE and _FEMALE."""
    return bool(_MALE.search(name)), bool(_FEMALE.search(name))


def patient_sex(names: list[str], inheritance: list[str], rng: Mix) -> tuple[str | None, str]:
    """Male or female when sex-specific findings (or the anchor's name) say so, male for X-/Y-linked
    recessive inheritance, else at random; None when the findings point both ways. Each name is
    matched on its own (cached), so no match spans two names."""
    flags = [_sex_words(x) for x in names]
    male, female = any(f[0] for f in flags), any(f[1] for f in flags)
    if male != female:
        return ("male" if male else "female"), "findings"
    if male:
        return None, "findings"
    if any(i in MALE_INHERITANCE for i in inheritance):
        return "male", "inheritance"
    return ("male" if rng.below(2) == 0 else "female"), "random"


def patient(pack: Pack, onsets: list[str], inheritance: list[str], rng: Mix,
            names: list[str] = (), min_years: float = 0.0) -> Patient:
    """The person in the stem: age (at presentation, after the onset) and sex only when the KG gives an
    onset; ``names`` (observed findings, anchor) make the sex consistent with sex-specific findings;
    the age is at least ``min_years`` (``findings.min_age``: no 'absent speech' at 4 months)."""
    known = [o for o in onsets if o in ONSET_AGES]
    if not known:
        return Patient(rng.pick(pack.patient["none"]))
    onset = rng.pick(known)
    cls, lo, hi = ONSET_AGES[onset]
    years = lo + (hi - lo) * rng.unit() + PRESENT_AFTER[cls] * rng.unit()
    if years < min_years:                      # seen later than the onset, once the finding can show
        years = min_years + 3 * (years - lo) / max(hi - lo + PRESENT_AFTER[cls], 1e-9)
    sex, sex_from = patient_sex(list(names), inheritance, rng)
    if years < 28 / 365:
        group, n, unit = "newborn", max(2, int(years * 365)), "days"
    elif years < 1:
        group, n, unit = "infant", max(2, int(years * 12)), "months"
    else:
        n, unit = int(years), "years" if int(years) > 1 else "year"
        group = "child" if n < 13 else "adolescent" if n < 18 else "adult"
    if sex is None:                  # findings of both sexes: no age or sex words, only the onset
        return Patient(rng.pick(pack.patient["none"]) + pack.onset[cls], onset, None, None, sex_from)
    text = rng.pick(pack.patient[group]).format(child=pack.sex["child"][sex], adult=pack.sex["adult"][sex],
                                                n=n)
    if (n in (8, 11, 18) or 80 <= n < 90) and text.startswith(f"A {n}-"):
        text = "An" + text[1:]                     # 'An 8-year-old', 'An 11-year-old'
    text += pack.onset[cls]
    return Patient(text, onset, f"{n} {unit}", sex, sex_from)


@dataclass(slots=True)
class Rendered:
    question: str
    stem_id: str
    question_index: int
    patient: Patient | None


def negatives_sentence(pack: Pack, negatives: list[str], rng: Mix) -> str:
    """'There is no hearing impairment or cataract.' (empty without negatives)."""
    if not negatives:
        return ""
    neg = pack.negatives
    items = [finding_text(n) for n in negatives]
    joined = items[0] if len(items) == 1 else (
        items[0] + neg["pair"] + items[1] if len(items) == 2
        else pack.sep.join(items[:-1]) + neg["last"] + items[-1])
    return rng.pick(neg["sentences"]).format(list=joined)


def render(pack: Pack, qtype: str, symptoms: list[str], tests: list[str], anchor: str | None,
           who: Patient | None, rng: Mix, negatives: list[str] = (), histology: list[str] = ()) -> Rendered:
    """The question text: vignette (masked anchors, with the pertinent negatives) + the type's
    question sentence. Microscopy findings (``histology``) are a biopsy result, never a complaint; a
    stem with nothing else reads as one with investigations only."""
    questions = pack.questions.get(qtype)
    if not questions:
        raise ConfigError(f"template pack {pack.language!r}: field 'questions.{qtype}': missing")
    qi = rng.below(len(questions))
    question = questions[qi].format(anchor=anchor or "")
    if who is None:
        return Rendered(question, "named", qi, None)
    if histology and not symptoms and not tests:
        tests, histology = list(histology), ()
    sym = pack.join([finding_text(s) for s in symptoms])
    tst = pack.join([finding_text(s) for s in tests])
    if sym:
        stem_id, text = pack.stems[rng.below(len(pack.stems))]
        stem = text.format(patient=who.text, findings=sym)
        if tst:
            stem += pack.space + rng.pick(pack.tests_sentence).format(tests=tst)
    else:
        stem_id, stem = "tests_only", rng.pick(pack.tests_only).format(patient=who.text, tests=tst)
    if histology:
        stem += pack.space + rng.pick(pack.biopsy_sentence).format(
            tests=pack.join([finding_text(s) for s in histology]))
    if negatives:
        stem += pack.space + negatives_sentence(pack, list(negatives), rng)
    return Rendered(f"{stem}{pack.space}{question}", stem_id, qi, who)


def samples_markdown(lines: list[str], k: int, seed: int) -> str:
    """``k`` items drawn at random (seeded) from JSONL ``lines``, as Markdown with answer and path."""
    import json

    rng = Mix(seed ^ 0x5A4D)
    pool = list(range(len(lines)))
    picks = [pool.pop(rng.below(len(pool))) for _ in range(min(k, len(pool)))]
    out = [f"# {len(picks)} synthesized items (random sample, seed {seed})", ""]
    for n, i in enumerate(picks, 1):
        it = json.loads(lines[i])
        m, x = it["metadata"], it["metadata"]["extra"]
        hops = f"{x['hops']} hop{'s' if x['hops'] != 1 else ''}"
        out += [f"## {n}. {m['question_type']} ({hops}, rarity decile {x['rarity']['decile']})", "",
                it["question"], ""]
        out += [f"- {'**' if L in it['answer'] else ''}{L}. {t}{' (answer)**' if L in it['answer'] else ''}"
                for L, t in it["options"].items()]
        path = " ; ".join(f"{h['relation']} -> {h['to']}" for h in x["path"])
        lacks = ", ".join(f"{d['letter']} lacks {d['lacks']}" for d in x["distractors"] if d["lacks"])
        kinds = ", ".join(f"{k}: {v}" for k, v in sorted(x.get("discriminators", {}).items()))
        out += ["", f"Path: {path}. Anchor: {x['anchor']['name']} ({x['anchor']['id']})."
                + (f" Distractors: {lacks}." if lacks else "")
                + (f" Ruled out by: {kinds}." if kinds else ""), ""]
    return "\n".join(out)

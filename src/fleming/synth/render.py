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

from fleming.errors import ConfigError

PACK_DIR = Path(__file__).parent / "packs"
# HPO onset term -> (age group, low, high) in the group's unit (days, months or years).
ONSET_AGES: dict[str, tuple[str, int, int]] = {
    "Antenatal onset": ("newborn", 1, 3), "Embryonal onset": ("newborn", 1, 3),
    "Fetal onset": ("newborn", 1, 3),
    "Second trimester onset": ("newborn", 1, 3), "Third trimester onset": ("newborn", 1, 3),
    "Late first trimester onset": ("newborn", 1, 3), "Congenital onset": ("newborn", 1, 7),
    "Neonatal onset": ("newborn", 2, 28), "Infantile onset": ("infant", 2, 11),
    "Childhood onset": ("child", 1, 5),
    "Pediatric onset": ("child", 2, 12), "Juvenile onset": ("child", 6, 15),
    "Early young adult onset": ("adult", 16, 19), "Intermediate young adult onset": ("adult", 19, 25),
    "Late young adult onset": ("adult", 25, 40), "Young adult onset": ("adult", 16, 40),
    "Adult onset": ("adult", 18, 60), "Middle age onset": ("adult", 40, 60), "Late onset": ("adult", 61, 85),
}
MALE_INHERITANCE = ("X-linked recessive inheritance", "Y-linked inheritance")
_REQUIRED = ("language", "list", "patient", "sex", "stems", "tests_sentence", "tests_only", "questions")


class Mix:
    """A tiny seeded generator (splitmix64), cheap to create per item; mirrors ``prims.mix64``.

    >>> Mix(7).below(10) == Mix(7).below(10)
    True
    """

    M = (1 << 64) - 1

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


@dataclass(frozen=True)
class Pack:
    language: str
    sep: str
    last: str
    pair: str
    patient: dict[str, list[str]]
    sex: dict[str, dict[str, str]]
    stems: list[tuple[str, str]]
    tests_sentence: list[str]
    tests_only: list[str]
    questions: dict[str, list[str]]

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
    groups = {"none"} | {g for g, _, _ in ONSET_AGES.values()}
    lacking = sorted(groups - set(raw["patient"]))
    if lacking:
        raise ConfigError(f"{path}: field 'patient.{lacking[0]}': missing (needs {sorted(groups)})")
    stems = [(s["id"], s["text"]) for s in raw["stems"]]
    if not stems:
        raise ConfigError(f"{path}: field 'stems': expected at least one stem")
    lst = raw["list"]
    return Pack(str(raw["language"]), lst["sep"], lst["last"], lst["pair"], raw["patient"], raw["sex"], stems,
                list(raw["tests_sentence"]), list(raw["tests_only"]),
                {k: list(v) for k, v in raw["questions"].items()})


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


@lru_cache(maxsize=1 << 16)
def finding_text(name: str) -> str:
    """A finding's name as running text: 'Global developmental delay' -> 'global developmental delay';
    MeSH forms are un-inverted and de-capitalized ('Vision, Low' -> 'low vision', 'Body Weight' ->
    'body weight'); acronyms and hyphenated eponyms keep their capitals ('EEG abnormality')."""
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


@dataclass
class Patient:
    text: str
    onset: str | None = None
    age: str | None = None      # e.g. '7 months'
    sex: str | None = None


def patient(pack: Pack, onsets: list[str], inheritance: list[str], rng: Mix) -> Patient:
    """The person in the stem: age and sex only when the KG gives an onset."""
    known = [o for o in onsets if o in ONSET_AGES]
    if not known:
        return Patient(rng.pick(pack.patient["none"]))
    onset = rng.pick(known)
    group, lo, hi = ONSET_AGES[onset]
    n = lo + rng.below(hi - lo + 1)
    if group == "child" and n >= 13:
        group = "adolescent"
    male = any(i in MALE_INHERITANCE for i in inheritance) or rng.below(2) == 0
    sex = "male" if male else "female"
    words = {"child": pack.sex["child"][sex], "adult": pack.sex["adult"][sex], "n": n}
    unit = {"newborn": "days", "infant": "months"}.get(group, "years")
    return Patient(rng.pick(pack.patient[group]).format(**words), onset, f"{n} {unit}", sex)


@dataclass
class Rendered:
    question: str
    stem_id: str
    question_index: int
    patient: Patient | None


def render(pack: Pack, qtype: str, symptoms: list[str], tests: list[str], anchor: str | None,
           who: Patient | None, rng: Mix) -> Rendered:
    """The question text: vignette (masked anchors) + the type's question sentence."""
    questions = pack.questions.get(qtype)
    if not questions:
        raise ConfigError(f"template pack {pack.language!r}: field 'questions.{qtype}': missing")
    qi = rng.below(len(questions))
    question = questions[qi].format(anchor=anchor or "")
    if who is None:
        return Rendered(question, "named", qi, None)
    sym = pack.join([finding_text(s) for s in symptoms])
    tst = pack.join([finding_text(s) for s in tests])
    if sym:
        stem_id, text = pack.stems[rng.below(len(pack.stems))]
        stem = text.format(patient=who.text, findings=sym)
        if tst:
            stem += " " + rng.pick(pack.tests_sentence).format(tests=tst)
    else:
        stem_id, stem = "tests_only", rng.pick(pack.tests_only).format(patient=who.text, tests=tst)
    return Rendered(f"{stem} {question}", stem_id, qi, who)


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
        out += [f"## {n}. {m['question_type']} ({x['hops']} hops, rarity decile {x['rarity']['decile']})", "",
                it["question"], ""]
        out += [f"- {'**' if L in it['answer'] else ''}{L}. {t}{' (answer)**' if L in it['answer'] else ''}"
                for L, t in it["options"].items()]
        path = " ; ".join(f"{h['relation']} -> {h['to']}" for h in x["path"])
        lacks = ", ".join(f"{d['letter']} lacks {d['lacks']}" for d in x["distractors"] if d["lacks"])
        out += ["", f"Path: {path}. Anchor: {x['anchor']['name']} ({x['anchor']['id']})."
                + (f" Distractors: {lacks}." if lacks else ""), ""]
    return "\n".join(out)

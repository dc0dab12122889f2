"""Rule-based PHI detection: patterns for structured identifiers, Faker's name lists for names.

Each detector claims character spans in a fixed order (email, URL, IP, phone/fax, ID numbers, dates,
addresses, ages over 89, names); a later detector never takes a span an earlier one claimed. Names are
found from titles ("Dr. Okafor"), labels ("Patient: ..."), appositions ("Ana Ruiz, a 45-year-old"),
first-name + surname pairs from Faker's en_US lists, and every later mention of a name already found.
A candidate name is left alone when it is part of a protected medical term (KG or HPO names, e.g.
"Wilson disease", "Graves disease") or an eponym ("Turner syndrome", "Bell's palsy").

Presidio is not installed; its pattern recognizers cover the same identifier types.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

PLACEHOLDER_TYPES = ("NAME", "DATE", "AGE>89", "PHONE", "FAX", "EMAIL", "ADDRESS", "MRN", "ACCOUNT", "ID",
                     "URL", "IP")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str  # one of PLACEHOLDER_TYPES


_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
          r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)")
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_NUM_ID = r"(?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{3,19}\b"
_IPV4_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"

def _words(*chunks: str) -> frozenset[str]:
    return frozenset(" ".join(chunks).split())


def _compile(specs: list[tuple[str, str, int]]) -> list[tuple[str, re.Pattern, int]]:
    return [(k, re.compile(p), g) for k, p, g in specs]


# (kind, pattern, group holding the PHI (0 = whole match)); order matters. Addresses come in between.
_IDENTIFIERS = _compile([
    ("EMAIL", r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b", 0),
    ("URL", r"\b(?:https?://|www\.)[^\s<>\"]+[^\s<>\".,;:!?)]", 0),
    ("URL", r"\b[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.(?:com|org|net|biz|info|edu|gov|io)\b"
            r"(?:/[^\s]*[^\s.,;])?", 0),
    ("IP", rf"\b(?:{_IPV4_OCTET}\.){{3}}{_IPV4_OCTET}\b", 0),
    ("IP", r"\b(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}\b|"
           r"\b(?:[0-9a-fA-F]{1,4}:){1,6}:(?:[0-9a-fA-F]{1,4})?\b", 0),
    ("PHONE", r"(?<![\w/.-])(?:\+1[-.\s]?|001[-.\s]?)?(?:\(\d{3}\)\s?|\d{3}[-.\s])\d{3}[-.\s]\d{4}"
              r"(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?![\w/-])", 0),
    ("PHONE", r"(?<![\w/.-])\d{10}(?:x\d{1,5})?(?![\w/-]|\.\d)", 0),
    ("ID", r"\b\d{3}-\d{2}-\d{4}\b", 0),
])
_KEYWORD_IDS = _compile([
    ("MRN", rf"(?i:\b(?:MRN|MR\s?#|medical record(?:\s(?:number|no\.?|#))?|record\s(?:number|no\.?)|"
            rf"chart\s(?:number|no\.?))\s*[:#]?\s*)({_NUM_ID})", 1),
    ("ACCOUNT", rf"(?i:\b(?:account|acct\.?|billing)(?:\s(?:number|no\.?|#))?\s*[:#]?\s*)({_NUM_ID})", 1),
    ("ID", rf"(?i:\b(?:SSN|social security(?:\snumber)?|ID|identifier|licen[cs]e|passport|member\sID|"
           rf"policy|insurance(?:\sID)?|beneficiary|serial|certificate|DEA|NPI|plate|VIN|device)"
           rf"(?:\s(?:number|no\.?|#))?\s*[:#]?\s*)({_NUM_ID})", 1),
])
_DATES_AGES = _compile([
    ("DATE", r"\b(?:\d{4}-(?:0?[1-9]|1[0-2])-(?:0?[1-9]|[12]\d|3[01])|"
             r"(?:0?[1-9]|1[0-2])[/-](?:0?[1-9]|[12]\d|3[01])[/-](?:\d{4}|\d{2})|"
             r"(?:0?[1-9]|[12]\d|3[01])\.(?:0?[1-9]|1[0-2])\.\d{4})\b", 0),
    ("DATE", rf"\b{_MONTH}\.?\s+{_DAY}(?:,?\s+\d{{4}})?\b", 0),
    ("DATE", rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}\.?(?:,?\s+\d{{4}})?\b", 0),
    ("DATE", rf"\b{_MONTH}\.?,?\s+\d{{4}}\b", 0),
    ("AGE>89", r"\b(9\d|1[01]\d)(?=\s?-?\s?(?:years?|yrs?|y/?o\b|y\.o\.|-year|-yo\b))", 1),
    ("AGE>89", r"(?i:\b(?:aged?|age:)\s*)(9\d|1[01]\d)\b", 1),
    ("AGE>89", r"(?i:\bin\s(?:his|her|their)\s)((?:9|1[01])0s)\b", 1),
])


def _address_pattern(street_suffixes: Iterable[str]) -> re.Pattern:
    suffix = "|".join(sorted({re.escape(s) for s in street_suffixes}, key=len, reverse=True))
    street = (rf"\b\d{{1,6}}\s+(?:[A-Z][a-z]+\.?\s+){{1,4}}(?:{suffix})\b\.?"
              r"(?:,?\s*(?:(?:Apt|Apartment|Suite|Ste|Unit)\b\.?|#)\s*[\w-]+)?")
    city = r"[A-Z][a-z]+(?:\s[A-Z][a-z]+){0,3},\s*[A-Z]{2}\s+\d{5}(?:-\d{4})?\b"
    bare_street = rf"(?!(?:19|20)\d\d\s){street}"  # without a city, "1996 World Food Summit" is no address
    zip_code = r"(?i:\bzip(?:\s?code)?\s*:?\s*)\d{5}\b"
    return re.compile(rf"{street},?\s*\n?\s*{city}|{bare_street}|{city}|{zip_code}")


_NAME_TOK = r"(?:[A-Z]['’])?[A-Z][a-zà-ÿ]+(?:[A-Z][a-zà-ÿ]+)?(?:-[A-Z][a-zà-ÿ]+)?(?![\w-]*\d)"
_NAME_SEQ = rf"{_NAME_TOK}(?:[ \t]+(?:[A-Z]\.[ \t]+)?{_NAME_TOK}){{0,3}}"
_TITLE = re.compile(rf"\b(?:Dr|Mr|Mrs|Ms|Miss|Mx|Prof|Professor|Nurse|Sister|Rev)\.?\s+({_NAME_SEQ})")
_LABEL = re.compile(rf"(?i:\b(?:patient(?:'s)?\s+name|name|patient|signed\s+by|attending|referred\s+by|"
                    rf"referring\s+physician|provider|emergency\s+contact|next\s+of\s+kin|contact|guardian|"
                    rf"spouse|mother|father|daughter|son|wife|husband)\s*:\s*)({_NAME_TOK},\s+{_NAME_TOK}|{_NAME_SEQ})")
_APPOSITION = re.compile(rf"(?:^|(?<=[.!?]\s)|(?<=\n))({_NAME_SEQ}),\s+(?:an?\s+)?(?:\d+|\[AGE>89\])[-\s]"
                         r"(?:year|month|week|day)s?[-\s]old")
_CALLED = re.compile(rf"\b(?:named|called|name\s+is|patient\s+is)\s+({_NAME_SEQ})")
_PAIR = re.compile(rf"\b({_NAME_TOK})([ \t]+(?:[A-Z]\.[ \t]+)?)({_NAME_TOK})\b")
_LAST_FIRST = re.compile(rf"\b({_NAME_TOK}),\s+({_NAME_TOK})\b")
_TOKEN = re.compile(_NAME_TOK)
_MONTHS = _words(
    "January February March April May June July August September October November December",
)
_FAX_BEFORE = re.compile(r"(?i)\bfax\b[^\n\d]{0,15}$")
EPONYM_HEADS = _words(
    "disease syndrome sign signs test palsy reflex phenomenon maneuver manoeuvre triad tumor",
    "tumour lymphoma sarcoma ulcer node nodes classification criteria score scale law disorder",
    "anomaly dystrophy fracture cell cells body bodies duct gland glands angina ataxia chorea",
    "dementia encephalopathy neuroma hernia cyst contracture operation procedure incision repair",
    "solution stain agar method equation formula effect index line lines space pouch canal area",
    "ligament membrane nodules spots granules pearls thyroiditis arteritis nephropathy neuropathy",
    "myopathy anemia anaemia stage stages staging cycle pathway shunt principle hypothesis theory",
    "model position technique flap circle loop ring curve fluid medium sheath layer zone nucleus",
    "ganglion artery vein nerve muscle tract bundle fibers fibres corpuscles crypts valve rule",
    "rules grade grading rating forceps catheter tube needle splint cast apparatus mask lens",
    "plexus class knot protocol questionnaire wort i ii iii iv v",
)
_HEADS_OF = "|".join(sorted(EPONYM_HEADS))
_SAINT_OR_OF = re.compile(rf"\b(?:St\.?|Saint|San|Santa|(?:{_HEADS_OF})\s+of)\s+({_NAME_TOK})")
_NOT_NAMES = _words(
    "The A An This That These Those He She His Her They Their It Its We Our You Your In On At Of",
    "For From By With And Or But If When While After Before During Since Until Patient Patients",
    "Doctor Hospital Clinic Emergency Department Medical Center Physical Examination History",
    "Follow Contact Phone Fax Email Address Account Record Which What Who Whom Why How Admitted",
    "Discharged Seen Born Date Name Today Yesterday Monday Tuesday Wednesday Thursday Friday",
    "Saturday Sunday January February March April May June July August September October November",
    "December Street Avenue Road Room Ward Unit Suite Apt",
)

# First names that are also ordinary words ("Frank blood", "Grace period"): never names on their own.
_WORDLIKE_NAMES = _words(
    "frank mark will bill grace faith hope joy rose summer holly amber crystal april may june august dawn "
    "angel autumn heather ivy jade ruby pearl iris lily daisy violet art guy sue page chance sage brook "
    "river "
    "don ray rich max jack sandy penny robin miles wade lance chase drew bob pat glen dale carol eve star "
    "rusty hunter baker tucker cash destiny harmony melody precious king prince major judge brandy ginger "
    "candy misty cherry sky rocky sunny lucky dusty woody victor hardy gene norman long young rich "
    # places that are also first names
    "virginia georgia carolina florence austin houston jackson madison charlotte lincoln washington chelsea "
    "sydney victoria paris phoenix orlando dallas denver eugene savannah dakota india jordan israel",
)


class PHIDetector:
    """Find PHI spans in a text. ``protected``: medical names (lower case) never to be replaced."""

    def __init__(self, first_names: Iterable[str], last_names: Iterable[str], street_suffixes: Iterable[str],
                 protected: Iterable[str] = (), max_protected_words: int = 8):
        self.first = frozenset(first_names)
        self.last = frozenset(last_names)
        self.patterns = [*_IDENTIFIERS, ("ADDRESS", _address_pattern(street_suffixes), 0), *_KEYWORD_IDS,
                         *_DATES_AGES]
        self.protected = frozenset(p.lower() for p in protected if len(p) >= 4)
        self.max_words = max_protected_words

    @classmethod
    def with_faker_lists(cls, protected: Iterable[str] = ()) -> PHIDetector:
        """Faker's en_US first names, last names and street suffixes as the dictionaries."""
        from faker.providers.address.en_US import Provider as Address
        from faker.providers.person.en_US import Provider as Person

        return cls(Person.first_names, Person.last_names, Address.street_suffixes, protected)

    # ---- medical terms that must survive
    def protected_spans(self, text: str) -> list[tuple[int, int]]:
        """Spans of protected names (longest match at each word) and of eponyms ("Graves' disease")."""
        words = [(m.start(), m.end(), m.group().lower()) for m in re.finditer(r"[\w'’-]+", text)]
        spans = []
        i = 0
        while i < len(words):
            for n in range(min(self.max_words, len(words) - i), 0, -1):
                phrase = text[words[i][0]:words[i + n - 1][1]].lower()
                if phrase in self.protected:
                    spans.append((words[i][0], words[i + n - 1][1]))
                    i += n - 1
                    break
            i += 1
        # St. Louis, pouch of Douglas
        spans.extend((m.start(1), m.end(1)) for m in _SAINT_OR_OF.finditer(text))
        for k in range(len(words) - 1):  # a capitalised word with a medical head word up to 3 words on
            if text[words[k][0]].isupper():
                for j in range(k + 1, min(k + 4, len(words))):
                    if words[j][2] in EPONYM_HEADS:
                        spans.append((words[k][0], words[j][1]))
                        break
        return spans

    # ---- detection
    def detect(self, text: str, names: bool = True) -> list[Span]:
        """PHI spans, sorted; ``names=False`` finds identifiers only (used for answer options, where a
        name is usually the subject of the question: "Claude Bernard")."""
        taken: list[Span] = []

        def claim(start: int, end: int, kind: str) -> bool:
            if start >= end or any(s.start < end and start < s.end for s in taken):
                return False
            taken.append(Span(start, end, kind))
            return True

        for kind, pat, group in self.patterns:
            for m in pat.finditer(text):
                if kind == "PHONE" and _FAX_BEFORE.search(text, max(0, m.start() - 20), m.start()):
                    kind_here = "FAX"
                else:
                    kind_here = kind
                claim(m.start(group), m.end(group), kind_here)
        if names:
            for start, end in self.name_spans(text):
                claim(start, end, "NAME")
        return sorted(taken, key=lambda s: s.start)

    def name_spans(self, text: str) -> list[tuple[int, int]]:
        guarded = self.protected_spans(text)

        def ok(start: int, end: int) -> bool:
            return not any(a < end and start < b for a, b in guarded)

        found: list[tuple[int, int]] = []
        for pat in (_TITLE, _LABEL, _APPOSITION, _CALLED):
            for m in pat.finditer(text):
                found.extend(self._clean_seq(text, m.start(1), m.end(1), ok))
        for m in _PAIR.finditer(text):
            first, last = m.group(1), m.group(3)
            if first in self.first and not {first, last} & _NOT_NAMES and ok(m.start(), m.end()):
                found.append((m.start(1), m.end(3)))
        for m in _TOKEN.finditer(text):  # a dictionary first name on its own
            t = m.group()
            if (t in self.first and t not in _NOT_NAMES and t.lower() not in _WORDLIKE_NAMES
                    and ok(m.start(), m.end())):
                found.append((m.start(), m.end()))
        for m in _LAST_FIRST.finditer(text):
            if m.group(1) in self.last and m.group(2) in self.first and ok(m.start(), m.end()):
                found.append((m.start(1), m.end(2)))
        # later mentions of a name already found (a first name or surname on its own)
        tokens = {t for a, b in found for t in _TOKEN.findall(text[a:b])
                  if len(t) > 2 and t not in _NOT_NAMES}
        if tokens:
            alt = "|".join(sorted(map(re.escape, tokens), key=len, reverse=True))
            for m in re.finditer(rf"\b(?:{alt})\b", text):
                if ok(m.start(), m.end()):
                    found.append((m.start(), m.end()))
        return found

    def _clean_seq(self, text: str, start: int, end: int, ok) -> list[tuple[int, int]]:
        """The name tokens of a matched sequence, stopping at a non-name word or a medical term."""
        out = []
        for m in _TOKEN.finditer(text, start, end):
            if (m.group() in _NOT_NAMES and m.group() not in _MONTHS) or not ok(m.start(), m.end()):
                break
            out.append((m.start(), m.end()))
        return [(out[0][0], out[-1][1])] if out else []


def replace_spans(text: str, spans: list[Span]) -> str:
    """Each span becomes its typed placeholder, e.g. "[NAME]".

    >>> replace_spans("Dr. Lee, 92 years", [Span(4, 7, "NAME"), Span(9, 11, "AGE>89")])
    'Dr. [NAME], [AGE>89] years'
    """
    out, pos = [], 0
    for s in sorted(spans, key=lambda s: s.start):
        out.append(text[pos:s.start])
        out.append(f"[{s.kind}]")
        pos = s.end
    out.append(text[pos:])
    return "".join(out)

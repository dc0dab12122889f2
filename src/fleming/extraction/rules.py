"""The answer forms beyond tags and cue statements, each read where a response commits.

Every rule reads a fixed place: a JSON answer field, the concluding sentence, the last line, or the
opening line. None reads a letter out of the middle of the reasoning, and each checks a quoted option
text against its letter (a letter that contradicts its own text commits to nothing). Examples name
their source: real responses from ../shared/benchmarks/_outputs (model, file, row id), the forms the
issue quotes from outputs not kept here, or hand-written (said so). See docs/extraction-rules.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from fleming.extraction.slots import (
    NO_SLOT,
    Parsed,
    consistent,
    fuzzy_option,
    letter_with_text,
    match_option_text,
    normalize,
    parse_slot,
)

Found = tuple[int, int, list[str] | None]  # (start, end, letters) of a statement in the text

# ---------------------------------------------------------------- a JSON answer field
_JSON_KEY = re.compile(r'"(?:final_?answer|answer_?choice|answer_?letter|answer|答案)"\s*:\s*'
                       r'("(?:[^"\\]|\\.)*"|\[[^\]\[]*\])', re.I)


def from_json(segment: str, options: Mapping[str, str]) -> Parsed:
    """The last ``"answer"``-like field of a JSON object: letters, "letter. text", or an option's text.

    GPT-4 (MIRAGE, MedQA): ``{"step_by_step_thinking": "...", "answer_choice": "A. Disclose the
    error to the patient and put it in the operative report"}`` -> A.
    DeepSeek (CMB): ``{"analysis": "...故C和E最可能。", "answer": "CE"}`` -> C, E.
    """
    hits = list(_JSON_KEY.finditer(segment))
    if not hits:
        return NO_SLOT
    try:
        value = json.loads(hits[-1].group(1))
    except json.JSONDecodeError:
        return None
    if isinstance(value, list):
        letters = sorted({str(x).strip().upper() for x in value})
        return letters if letters and all(x in options for x in letters) else None
    if not isinstance(value, str) or not value.strip():
        return None
    parsed = letter_with_text(value, options)
    if parsed is NO_SLOT:
        parsed = parse_slot(value, options, runs=True)
    if parsed is NO_SLOT:
        return match_option_text(value, options, prefix=False) or fuzzy_option(value, options)
    return parsed


# ---------------------------------------------------------------- the concluding sentence
_REF = r"(?:(?i:option|choice)\s+\(?(?P<a>[A-Z])\)?(?![A-Za-z0-9])|\((?P<b>[A-Z])\))"
# "... is (J) Wet mount." / "... would be option C."
_COPULA = re.compile(r"(?i:\b(?:is|are|would\s+be|will\s+be|must\s+be|corresponds\s+to|remains)\s+"
                     r"(?:the\s+)?(?:(?:correct|best|right|most\s+likely)\s+)?)" + _REF
                     + r"(?P<text>[^.\n]*?)[.!]?\s*$")
# "option D, activating natural killer cells ..., is the correct mechanism" / "sitagliptin (option B)
# is the most similar"
_PRAISED = re.compile(_REF + r"\)?(?P<text>,[^,\n]{1,160},)?\s+(?i:is|would\s+be)\s+(?:also\s+)?(?i:the\s+)?"
                      r"(?i:most|correct|best|right|answer|preferred|appropriate|likely)\b")
_NEGATED = re.compile(r"(?i)\b(?:not|no|never|neither|nor|incorrect|wrong|unlikely|except|rather\s+than|"
                      r"instead\s+of|if|whether|unless|might|may|could)\b|不|非")
_SENTENCE_END = re.compile(r"(?<=[.!?。])\s+|\n+")


def last_sentence(text: str) -> tuple[int, str]:
    """(start, sentence) of the last non-empty sentence of ``text`` (markdown already removed)."""
    body = text.rstrip()
    cuts = [m.end() for m in _SENTENCE_END.finditer(body) if m.end() < len(body)]
    start = cuts[-1] if cuts else 0
    return start, body[start:]


def concluding(text: str, options: Mapping[str, str]) -> list[Found]:
    """The last sentence names one option by letter, as what the response arrives at.

    Phi-3 (MMLU-Pro 6677): "... consistent with a third-degree atrioventricular block. The most likely
    diagnosis is (D)." -> D. Phi-3 (6711): "... is (C) Mustard seeds, lamb." -> C. Llama-3-70B (MedQA
    858): "Therefore, ..., option D, activating natural killer cells and cytotoxic T cells, is the
    correct mechanism of action for aldesleukin." -> D.
    Null when the sentence is negated or hedged, names two letters, or quotes another option's text.
    """
    start, sentence = last_sentence(text)
    if sentence.rstrip().endswith("?"):
        return []
    refs = {m["a"] or m["b"] for m in re.finditer(_REF, sentence)}
    if len(refs) != 1:
        return []
    m = _COPULA.search(sentence) or _PRAISED.search(sentence)
    if m is None or not re.search(r"[.!)]\s*$", sentence):
        return []  # no commitment, or a sentence cut off (truncated output)
    letter, span = m["a"] or m["b"], (start + m.start(), start + m.end())
    quoted = (m["text"] or "").strip(" ,.:;-")
    if letter not in options or _NEGATED.search(sentence[max(0, m.start() - 12):m.start()]):
        return [(*span, None)]
    if contradicts(quoted, letter, options):
        return [(*span, None)]
    if m.re is _COPULA and quoted and not consistent(quoted, options[letter]):
        return []  # "... is (G) because it suggests ...": the letter is inside the reasoning
    return [(*span, [letter])]


def contradicts(quoted: str, letter: str, options: Mapping[str, str]) -> bool:
    """Whether text written beside a letter names another option ("(B) Glucagon" where A is Glucagon)."""
    if not quoted:
        return False
    exact = match_option_text(quoted, options)
    if exact is not None:
        return exact != [letter]
    if consistent(quoted, options[letter]):
        return False
    other = fuzzy_option(quoted, options)
    return other is not None and other != [letter]


# ---------------------------------------------------------------- the last line: an option alone
_LEAD_IN = re.compile(r"(?i)(?:\b(?:answer|is|would\s+be|choose|select|pick)|是|为|答案)\s*[:：]?\s*$")


def option_line(text: str, options: Mapping[str, str]) -> list[Found]:
    """The last line is one option, letter and text, after a lead-in that commits ("... is:", "Answer:").

    The form the issue quotes from a 24B model's MedXpertQA outputs (not in ../shared):
    "The most appropriate next step is:" / "**(H) Text**" -> H. A lead-in that does not commit
    ("Options to consider:") gives no statement.
    """
    lines = [ln.strip() for ln in text.rstrip().splitlines() if ln.strip()]
    if len(lines) < 2 or not _LEAD_IN.search(lines[-2]) or _NEGATED.search(lines[-2]):
        return []
    parsed = letter_with_text(lines[-1], options)
    if parsed is NO_SLOT or not re.match(r"\s*(?:(?i:option|choice)\s+)?\(?[A-Z]\)?[.:)]?\s+\S", lines[-1]):
        return []
    start = text.rstrip().rfind(lines[-1])
    return [(start, start + len(lines[-1]), parsed)]  # type: ignore[list-item]


_OPTION_WORD_LINE = re.compile(r"(?i:option|choice)\s+\(?[A-Z]\)?\s*[:.)-]\s*\S")


def option_last_line(text: str, options: Mapping[str, str]) -> list[Found]:
    """The response ends on "Option D: <D's text>" and nothing else, not closing a list of options.

    Hand-written form from the issue: "... raises blood pressure quickly.\nOption D: Adrenaline" -> D.
    """
    lines = [ln.strip() for ln in text.rstrip().splitlines() if ln.strip()]
    if len(lines) < 2 or not _OPTION_WORD_LINE.match(lines[-1]):
        return []
    if any(_OPTION_WORD_LINE.match(ln) or re.match(r"\(?[A-Z]\)?[.:)]\s", ln) for ln in lines[-4:-1]):
        return []  # the last of several option lines: a review, not a choice
    parsed = letter_with_text(lines[-1].rstrip("."), options)
    if parsed is NO_SLOT or parsed is None or not re.search(r"[:.)-]\s*\S", lines[-1]):
        return []
    start = text.rstrip().rfind(lines[-1])
    return [(start, start + len(lines[-1]), parsed)]  # type: ignore[list-item]


# ---------------------------------------------------------------- a tick list
_TICK_LINE = re.compile(r"\s*(?:[-*]\s*)?(?:(?i:option|choice)\s+)?\(?([A-Z])\)?[.:)]?\s*(?P<body>.*)")
_TICK, _CROSS = re.compile(r"[✓✔☑✅]"), re.compile(r"[✗✘❌×]")


def tick_list(text: str, options: Mapping[str, str]) -> list[Found]:
    """The response ends on a list of options marked one by one, and exactly one is ticked.

    Hand-written form from the issue: "A ✗ raises glucose" / "B ✓ lowers glucose" / "C ✗" / "D ✗" -> B.
    Two ticks, or an unmarked option line in the list, commit to nothing.
    """
    lines = [ln for ln in text.rstrip().splitlines() if ln.strip()]
    block = []
    for ln in reversed(lines):
        m = _TICK_LINE.fullmatch(ln)
        if not m or m[1] not in options or not (_TICK.search(m["body"]) or _CROSS.search(m["body"])):
            break
        block.append((m[1], bool(_TICK.search(m["body"])) and not _CROSS.search(m["body"])))
    if len(block) < 2:
        return []
    start = text.rstrip().rfind(lines[-len(block)])
    ticked = sorted({x for x, ok in block if ok})
    return [(start, len(text.rstrip()), ticked if len(ticked) == 1 else None)]


# ---------------------------------------------------------------- "... so C." at the very end
_SO_END = re.compile(r"(?i)(?:^|[.;,!]\s*|\s)(?:so|hence|thus|therefore)[,:]?\s+"
                     r"(?:\(([A-Z])\)|([A-Z]))\s*[.!]\s*$")


def terminal_so(text: str, options: Mapping[str, str]) -> list[Found]:
    """A negation, then "so C" as the last words: the response ends on its choice.

    Hand-written form from the issue: "Not A: glucagon raises glucose. So C." -> C.
    """
    m = _SO_END.search(text.rstrip())
    if m is None:
        return []  # also "... so A" cut off before its full stop
    letter = m[1] or m[2]
    return [(m.start(), m.end(), [letter] if letter in options else None)]


# ---------------------------------------------------------------- the opening line
_OPEN_LINE = re.compile(r"\s*(?P<line>[^\n]+)")
_TEXT_THEN_LETTER = re.compile(r"(?P<text>.+?)\s*\((?P<letter>[A-Z])\)\s*\.?$")
_LABEL_ECHO = re.compile(r"(?P<echo>[A-Z])\s*:\s*(?=\()")
_LIST_LINE = re.compile(r"\n\s*(?:(?i:option|choice)\s+)?\(?[A-Z]\)?[.:)]\s")
_MARKED = re.compile(r"(?:^|[.;]\s+|\n\s*)\(?([A-Z])\)?[.:)]\s")  # a letter that opens a clause
_LETTER_HEAD = re.compile(r"\s*\(?(?P<letter>[A-Z])\)?[.:)]\s+(?P<rest>\S.*)")


def leading_option(segment: str, options: Mapping[str, str]) -> Parsed:
    """The response opens with its option, then explains.

    Mixtral-8x7B (AfriMed-QA MedQA): "D. Refuse to dictate the operative report." / "" /
    "###Justification: ..." -> D; "2.67 (D)." / "###Explanation: ..." -> D; "B.  Bromocriptine is a
    dopamine agonist ..." (letter, the option's own text, then the explanation) -> B; the label
    echoed, "A: (A) Text" -> A. A first line that is prose, or whose letter contradicts its text,
    gives NO_SLOT / None. Used only when no statement later in the response decides.
    """
    text = normalize(segment)
    m = _OPEN_LINE.match(text)
    if m is None or _LIST_LINE.search(text, m.end()):
        return NO_SLOT  # nothing, or the options reviewed one per line ("A. ..." / "B. ...")
    line = m["line"].strip()
    if not text[m.end():].strip():  # one line: the response may be just the option, or one paragraph
        return _option_then_prose(line, options)
    line = line.rstrip(".")
    echo = _LABEL_ECHO.match(line)
    if echo:
        line = line[echo.end():]
    parsed = letter_with_text(line, options) if len(line) <= 300 else NO_SLOT
    if parsed is not NO_SLOT:
        return None if echo and parsed and parsed != [echo["echo"]] else parsed
    tl = _TEXT_THEN_LETTER.fullmatch(line) if len(line) <= 300 else None
    if tl and tl["letter"] in options and (consistent(tl["text"], options[tl["letter"]]) or (
            len(tl["text"]) <= 40 and not re.search(r"[.!?]\s|\bnot\b", tl["text"]))):
        other = match_option_text(tl["text"], options, prefix=False)
        return None if other is not None and other != [tl["letter"]] else [tl["letter"]]
    found = match_option_text(line, options, prefix=False) or fuzzy_option(line, options)
    return found or _option_then_prose(line, options)


def _option_then_prose(line: str, options: Mapping[str, str]) -> Parsed:
    """"C.  Inflammatory rheumatological syndrome. The patient's symptoms ..." -> C; "D. The superior
    mesenteric artery is the most likely cause ..." -> D: a marked letter ("D.", "(D)", "D:") opens
    the response, then the explanation. Another option's text right after the letter -> None."""
    m = _LETTER_HEAD.match(line)
    if m is None or m["letter"] not in options:
        return NO_SLOT
    if any(x != m["letter"] and x in options for x in _MARKED.findall(m["rest"])):
        return NO_SLOT  # "(A) Glucagon raises it. (B) Insulin lowers it.": the options reviewed in turn
    starts = match_option_text(m["rest"], options)  # the option whose text the rest starts with
    return [m["letter"]] if starts is None or starts == [m["letter"]] else None

"""A scripted teacher and validator for load and fault tests of the CoT stage (not a model).

``reply`` is a ``fleming.llm.loadtest.StubServer`` reply: it reads the CoT prompts and answers as a
teacher would, deterministically, so a test or benchmark drives the real client, cache, verification and
refinement loop over HTTP:

- a first-round teacher prompt: a chain naming the correct option, except for one item in three (by a
  hash of the question), where it concludes another option (so refinement rounds happen);
- a refinement prompt: a chain naming the correct option;
- a validator prompt: the letter of the option the reasoning names.

Run it as a server: ``python -m fleming.llm.loadtest --delay 0.5 --reply fleming.cot.scripted:reply``.
"""

from __future__ import annotations

import hashlib
import re

_OPTION = re.compile(r"^([A-U])\. (.+)$", re.M)
_GOLD = re.compile(r"^Correct answer: ([A-U])\. (.+)$", re.M)


def reply(request: dict, index: int) -> str:
    text = request["messages"][-1]["content"]
    options = dict(_OPTION.findall(text.split("Correct answer:")[0].split("Reasoning:")[0]))
    gold = _GOLD.search(text)
    if gold is None:  # the validator: which option does the reasoning name?
        reasoning = text.split("Reasoning:", 1)[-1].casefold()
        named = [k for k, v in options.items() if v.casefold() in reasoning]
        return f"<answer>{named[0] if named else 'A'}</answer>"
    letter, answer = gold.group(1), gold.group(2).strip()
    first_round = "previous attempt" not in text
    h = int(hashlib.sha256(text.split("Options:")[0].encode()).hexdigest()[:8], 16)
    if first_round and h % 3 == 0:
        other = next((k for k in options if k != letter), letter)
        return (
            f"<think>\nThe findings point to {options[other]}.\nThe answer is {other}.\n</think>\n"
            f"<answer>{other}</answer>"
        )
    return (
        f"<think>\nThe findings in the question point to {answer}.\n{answer} explains each of "
        f"them, and no other option explains all of them (sample {index}).\n</think>\n"
        f"<answer>{letter}</answer>"
    )

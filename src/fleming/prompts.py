"""Versioned prompts: an MCQ record -> chat messages -> a model's chat template.

The instruction follows the paper (§4.1): the model reasons, then encloses the option letter in
``<answer></answer>``. Departures, all ours since the paper gives no prompt text:
- The reasoning is asked for inside ``<think></think>``, the format the strict reward checks
  (``fleming.grading.check_format``) and the released model's chat template produces.
- A multi-answer item (CMExam) says that several options are correct and asks for every letter, as the
  exam paper itself does for its multiple-answer questions.
- There is no system message, so the prompt works with chat templates that reject the system role.

A prompt id names a family; a record in language L uses the ``<id>-L`` variant when one exists
(``fleming-mcq-v1`` -> ``fleming-mcq-v1-zh`` for CMExam and JMED). Change a prompt's text only by
adding a new id: results are keyed on ``(id, version)``. A ``judge`` prompt (the refine ambiguity gate's)
shows the key and asks for JSON instead of an answer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from fleming.errors import ConfigError
from fleming.records import MCQ


@dataclass(frozen=True)
class PromptSpec:
    id: str
    version: str
    system: str | None
    template: str  # str.format fields: context, question, options, multi, key
    language: str = "en"
    context_label: str = "Context"
    multi_note: str = ""  # appended (via {multi}) when the record has several gold letters
    kind: str = "answer"  # answer: graded <answer></answer>; judge: JSON (structured output adds the schema)

    @property
    def fingerprint(self) -> str:
        """A short hash of the text, to tell apart two runs that claim the same id."""
        text = "\x1f".join([self.id, self.version, self.system or "", self.template, self.multi_note])
        return hashlib.sha256(text.encode()).hexdigest()[:12]


_EN = PromptSpec(
    id="fleming-mcq-v1",
    version="1",
    system=None,
    template=(
        "{context}Question: {question}\n\nOptions:\n{options}\n\n"
        "Think step by step inside <think></think>, then give the letter of the correct option inside "
        "<answer></answer>, for example <answer>X</answer>.{multi}"
    ),
    multi_note=" This question has more than one correct option: give all their letters, separated by "
               "commas, for example <answer>X, Y</answer>.",
)
_ZH = PromptSpec(
    id="fleming-mcq-v1-zh",
    version="1",
    system=None,
    template=(
        "{context}问题：{question}\n\n选项：\n{options}\n\n"
        "请在<think></think>中逐步推理，然后在<answer></answer>中给出正确选项的字母，"
        "例如<answer>X</answer>。{multi}"
    ),
    language="zh",
    context_label="资料",
    multi_note="本题有多个正确选项，请给出全部字母，用逗号分隔，例如<answer>X, Y</answer>。",
)
# The ambiguity gate's judge (refine/ambiguity.py, not in the paper): given the key, is any other option
# also correct? The reply format (JSON: other_correct, reason) is appended by structured output.
_AMBIGUITY = PromptSpec(
    id="fleming-ambiguity-v1",
    version="1",
    system=None,
    template=(
        "You are a clinician checking an exam item. A good multiple-choice item has exactly one defensible "
        "answer. Read the question and every option, then decide whether any option other than the keyed "
        "answer is also correct, or as defensible as the key, for this question as written.\n\n"
        "{context}Question: {question}\n\nOptions:\n{options}\n\nKeyed answer: {key}{multi}\n\n"
        "List in other_correct the letters of every other option that is also correct (an empty list if "
        "there is none), and say why in reason, in one or two sentences."
    ),
    multi_note=" (this item has several correct options; judge only the options outside the key)",
    kind="judge",
)
PROMPTS: dict[str, PromptSpec] = {p.id: p for p in (_EN, _ZH, _AMBIGUITY)}
DEFAULT_PROMPT = "fleming-mcq-v1"


def resolve_prompt(prompt_id: str, language: str = "en") -> PromptSpec:
    """The spec for ``prompt_id``, or its ``-<language>`` variant when there is one.

    >>> resolve_prompt("fleming-mcq-v1", "zh").id
    'fleming-mcq-v1-zh'
    """
    if prompt_id not in PROMPTS:
        raise ConfigError(f"unknown prompt id {prompt_id!r}; known: {', '.join(sorted(PROMPTS))}")
    lang = language.split("-")[0].lower()
    return PROMPTS.get(f"{prompt_id}-{lang}", PROMPTS[prompt_id])


def format_options(options: dict[str, str]) -> str:
    """One "A. text" line per option."""
    return "\n".join(f"{letter}. {text}" for letter, text in options.items())


def build_messages(record: MCQ, prompt_id: str = DEFAULT_PROMPT) -> list[dict[str, str]]:
    """Chat messages asking the record's question (system message first when the spec has one).

    >>> q = MCQ(id="x", source="demo", split="test", question="2+2?", options={"A": "3", "B": "4"},
    ...         answer=["B"])
    >>> print(build_messages(q)[0]["content"].splitlines()[3])
    A. 3
    """
    spec = resolve_prompt(prompt_id, record.language)
    context = f"{spec.context_label}: {record.context.strip()}\n\n" if record.context else ""
    key = "; ".join(f"{a}. {record.options[a]}" for a in record.answer)
    user = spec.template.format(context=context, question=record.question.strip(),
                                options=format_options(record.options), key=key,
                                multi=spec.multi_note if record.is_multi_answer else "")
    messages = [{"role": "system", "content": spec.system}] if spec.system else []
    return [*messages, {"role": "user", "content": user}]


def render_chat(tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
    """The prompt text the model sees, from the tokenizer's own chat template."""
    if not getattr(tokenizer, "chat_template", None):
        name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
        raise ConfigError(f"tokenizer {name!r} has no chat template; set tokenizer.chat_template "
                          "(a Jinja string) before rendering prompts")
    return tokenizer.apply_chat_template(messages, tokenize=False,
                                         add_generation_prompt=add_generation_prompt)


def opens_think(rendered_prompt: str) -> bool:
    """Whether the chat template already opened ``<think>`` (pass ``think_opened=True`` to the grader)."""
    return rendered_prompt.rstrip().endswith("<think>")


# ---------------------------------------------------------------- CoT cold start (paper §3.2)
@dataclass(frozen=True)
class TextPrompt:
    """A versioned prompt of the CoT stage; ``template`` takes str.format fields named in its text."""

    id: str
    version: str
    template: str

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(f"{self.id}\x1f{self.version}\x1f{self.template}".encode()).hexdigest()[:12]


_COT_FORMAT = ("Write the reasoning inside <think></think> as short steps, one per line: the key findings, "
               "what they point to, and the fact that rules out each other option. Then give the letter "
               "inside <answer></answer>, for example <answer>X</answer>. Never say that the answer was "
               "given to you: the reasoning must stand on the question alone.")
_COT_ITEM = "Question: {question}\n\nOptions:\n{options}\n\nCorrect answer: {answer}\n{grounding}"
_REFINE = ("{item}\nYour previous attempt:\n{attempt}\n\nA checker rejected it: {feedback}\n\n"
           "{strategy}\n\n" + _COT_FORMAT)
COT_PROMPTS: dict[str, TextPrompt] = {p.id: p for p in (
    TextPrompt("fleming-cot-teacher-v1", "1",
               "You are a medical expert writing a worked solution to a multiple-choice question. You know "
               "the correct answer; write a concise, logically structured chain of thought that a student "
               "could follow from the question to that answer.\n\n{item}\n" + _COT_FORMAT),
    TextPrompt("fleming-cot-backtracking-v1", "1",
               "You are a medical expert revising a worked solution.\n\n" + _REFINE.replace(
                   "{strategy}", "Backtracking: find the first step where the previous reasoning went "
                                 "wrong, keep the steps before it, and redo the reasoning from that point.")),
    TextPrompt("fleming-cot-path-exploration-v1", "1",
               "You are a medical expert revising a worked solution.\n\n" + _REFINE.replace(
                   "{strategy}", "Path exploration: do not reuse the previous line of reasoning. Reach "
                                 "the answer by another route, for example from the feature that "
                                 "distinguishes each option, eliminating the others one by one.")),
    TextPrompt("fleming-cot-self-correction-v1", "1",
               "You are a medical expert revising a worked solution.\n\n" + _REFINE.replace(
                   "{strategy}", "Self-correction: check the previous reasoning step by step; correct "
                                 "every false or unsupported statement and every problem the checker "
                                 "named, and keep the steps that were right.")),
    TextPrompt("fleming-cot-validator-v1", "1",
               "Below are a multiple-choice question and a line of reasoning about it whose conclusion "
               "has been removed. Using the reasoning only, which option does it support?\n\n"
               "Question: {question}\n\nOptions:\n{options}\n\nReasoning:\n{reasoning}\n\n"
               "Give the letter inside <answer></answer>, for example <answer>X</answer>."),
)}
STRATEGY_PROMPTS = {"backtracking": "fleming-cot-backtracking-v1",
                    "path_exploration": "fleming-cot-path-exploration-v1",
                    "self_correction": "fleming-cot-self-correction-v1"}


def cot_prompt(prompt_id: str) -> TextPrompt:
    if prompt_id not in COT_PROMPTS:
        raise ConfigError(f"unknown CoT prompt id {prompt_id!r}; known: {', '.join(sorted(COT_PROMPTS))}")
    return COT_PROMPTS[prompt_id]


def cot_item_text(record: MCQ, grounding: str | None = None) -> str:
    """The item as the teacher sees it: question, options, the correct answer, optional KG facts."""
    context = f"Context: {record.context.strip()}\n\n" if record.context else ""
    facts = (f"\nFacts from the knowledge graph (use them, stated in these same sentences):\n{grounding}\n"
             if grounding else "")
    answer = ", ".join(f"{a}. {record.options[a]}" for a in record.answer)
    return _COT_ITEM.format(question=context + record.question.strip(),
                            options=format_options(record.options), answer=answer, grounding=facts)

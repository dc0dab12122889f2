"""Structured output: ask for JSON matching a pydantic schema, validate it, and re-ask on failure.

The JSON schema goes into the prompt (appended to the last user message), so it works with any backend;
with the ``openai`` backend it is also sent as ``response_format`` (``json_schema``), which servers
with guided decoding (vLLM, SGLang, hosted APIs) enforce and others ignore. A reply that does not parse
or validate is re-asked up to ``max_retries`` times, with the validation error shown to the model. An
item that still fails is a ``StructuredResult`` with ``value=None`` and the reason: never an exception.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError

from fleming.llm.base import Messages, SamplingParams

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


@dataclass
class StructuredResult:
    value: BaseModel | None
    error: str | None
    raw: str
    attempts: int = 1


def schema_instruction(schema: type[BaseModel]) -> str:
    return ("Reply with only a JSON object (no other text) that matches this JSON schema:\n"
            + json.dumps(schema.model_json_schema(), ensure_ascii=False))


def parse_structured(text: str, schema: type[BaseModel]) -> tuple[BaseModel | None, str | None]:
    """(value, None) or (None, reason). Tolerates ```json fences and text around one JSON object.

    >>> class A(BaseModel):
    ...     x: int
    >>> parse_structured('```json\\n{"x": 1}\\n```', A)
    (A(x=1), None)
    >>> parse_structured('{"x": "one"}', A)[1][:41]
    "schema: field 'x': Input should be a vali"
    """
    fenced = _FENCE.search(text)
    body = fenced.group(1) if fenced else text
    start, end = body.find("{"), body.rfind("}")
    if start < 0:
        return None, "no JSON object in the reply"
    try:
        data = json.loads(body[start:end + 1] if end > start else body[start:])
    except json.JSONDecodeError as e:
        return None, f"invalid JSON: {e}"
    try:
        return schema.model_validate(data), None
    except ValidationError as e:
        errs = "; ".join(f"field '{'.'.join(map(str, err['loc'])) or '(root)'}': {err['msg']}"
                         for err in e.errors()[:5])
        return None, f"schema: {errs}"


def _response_format(schema: type[BaseModel]) -> dict:
    return {"type": "json_schema",
            "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema(), "strict": False}}


def _openai_inner(backend):
    """The OpenAI backend behind an optional cache wrapper, or None."""
    inner = getattr(backend, "inner", backend)
    return inner if getattr(inner, "kind", None) == "openai" and hasattr(inner, "response_format") else None


def generate_structured(backend, conversations: list[Messages], schema: type[BaseModel],
                        params: SamplingParams, max_retries: int = 2, progress: bool = True,
                        response_format: bool = True) -> list[StructuredResult]:
    """One validated ``schema`` instance (or the reason it failed) per conversation; ``n`` is taken as 1.

    Example::

        class Label(BaseModel):
            difficulty: Literal["Easy", "Moderate", "Difficult"]
        results = generate_structured(backend, convs, Label, SamplingParams())
        labels = [r.value.difficulty if r.value else None for r in results]
    """
    params = dataclasses.replace(params, n=1)
    instruction = schema_instruction(schema)
    convs = [_with_instruction(c, instruction) for c in conversations]
    results: list[StructuredResult | None] = [None] * len(convs)
    openai = _openai_inner(backend) if response_format else None
    saved = openai.response_format if openai else None
    if openai is not None:
        openai.response_format = _response_format(schema)
    try:
        pending = list(range(len(convs)))
        for attempt in range(1, max_retries + 2):
            if not pending:
                break
            rows = backend.generate([convs[i] for i in pending], params, progress=progress)
            pending = _check(rows, pending, convs, results, schema, attempt, last=attempt > max_retries)
    finally:
        if openai is not None:
            openai.response_format = saved
    return results  # type: ignore[return-value]


def _check(rows, pending, convs, results, schema, attempt: int, last: bool) -> list[int]:
    """Record each reply; return the positions to re-ask (their conversations get the error appended)."""
    again = []
    for i, row in zip(pending, rows, strict=True):
        c = row[0]
        if c.error is not None:  # the backend already retried the request itself
            results[i] = StructuredResult(None, f"request failed: {c.error}", "", attempt)
            continue
        value, err = parse_structured(c.text, schema)
        results[i] = StructuredResult(value, err, c.text, attempt)
        if err is not None and not last:
            convs[i] = convs[i] + [
                {"role": "assistant", "content": c.text},
                {"role": "user", "content": f"That reply was not valid ({err}). Reply again with only the "
                                            "JSON object matching the schema."}]
            again.append(i)
    return again


def _with_instruction(conv: Messages, instruction: str) -> Messages:
    conv = [dict(m) for m in conv]
    last_user = max((k for k, m in enumerate(conv) if m.get("role") == "user"), default=None)
    if last_user is None:
        return conv + [{"role": "user", "content": instruction}]
    conv[last_user]["content"] = f"{conv[last_user]['content']}\n\n{instruction}"
    return conv

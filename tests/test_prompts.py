"""fleming.prompts: versioned prompts, chat messages, and rendering with a real (locally built) tokenizer."""

from __future__ import annotations

import json

import pytest

from fleming.errors import ConfigError
from fleming.grading import check_format, extract_answer
from fleming.prompts import (
    DEFAULT_PROMPT,
    PROMPTS,
    build_messages,
    opens_think,
    render_chat,
    resolve_prompt,
)
from fleming.records import MCQ

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}")


def mcq(**kw) -> MCQ:
    base = dict(id="q1", source="demo", split="test", question="Which hormone lowers blood glucose?",
                options={"A": "Glucagon", "B": "Insulin", "C": "Cortisol"}, answer=["B"])
    return MCQ(**{**base, **kw})


@pytest.fixture(scope="module")
def tokenizer():
    """A byte-level BPE trained here with `tokenizers`, wrapped by transformers (there is no model hub)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<unk>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(["Which hormone lowers blood glucose? Options: Glucagon Insulin"] * 20, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, chat_template=CHATML, unk_token="<unk>",
                                   bos_token="<|im_start|>", eos_token="<|im_end|>")


def test_specs_are_versioned():
    assert DEFAULT_PROMPT in PROMPTS
    for pid, spec in PROMPTS.items():
        assert spec.id == pid and spec.version
        asks_answer = "<answer></answer>" in spec.template and "<think></think>" in spec.template
        assert asks_answer == (spec.kind == "answer") and spec.kind in ("answer", "judge")
    fingerprints = {s.fingerprint for s in PROMPTS.values()}
    assert len(fingerprints) == len(PROMPTS)


def test_english_message_lists_options_one_per_line():
    [msg] = build_messages(mcq())
    assert msg["role"] == "user"
    lines = msg["content"].splitlines()
    assert lines[0] == "Question: Which hormone lowers blood glucose?"
    i = lines.index("A. Glucagon")
    assert lines[i:i + 3] == ["A. Glucagon", "B. Insulin", "C. Cortisol"]
    assert "Context" not in msg["content"] and "more than one" not in msg["content"]
    assert "step by step" in msg["content"] and "<answer></answer>" in msg["content"]


def test_chinese_record_gets_the_chinese_variant():
    rec = mcq(language="zh", question="降低血糖的激素是？", options={"A": "胰高血糖素", "B": "胰岛素"})
    [msg] = build_messages(rec)
    assert resolve_prompt(DEFAULT_PROMPT, "zh").id == "fleming-mcq-v1-zh"
    assert msg["content"].startswith("问题：降低血糖的激素是？")
    assert "A. 胰高血糖素\nB. 胰岛素" in msg["content"] and "逐步推理" in msg["content"]


def test_multi_answer_item_asks_for_every_letter():
    en = build_messages(mcq(answer=["A", "B"]))[0]["content"]
    zh = build_messages(mcq(answer=["A", "B"], language="zh"))[0]["content"]
    assert "more than one correct option" in en and "多个正确选项" in zh


def test_real_pubmedqa_abstract_is_included(benchmarks_dir):
    pmid, item = next(iter(json.loads((benchmarks_dir / "pubmedqa" / "ori_pqal.json").read_text()).items()))
    context = " ".join(item["CONTEXTS"])
    rec = mcq(id=pmid, question=item["QUESTION"], options={"A": "yes", "B": "no", "C": "maybe"},
              answer=[{"yes": "A", "no": "B", "maybe": "C"}[item["final_decision"]]], context=context)
    content = build_messages(rec)[0]["content"]
    assert content.startswith(f"Context: {context.strip()}\n\nQuestion: {item['QUESTION']}")
    assert content.index("Context:") < content.index("A. yes") < content.index("<answer>")


def test_unknown_prompt_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown prompt id"):
        build_messages(mcq(), "no-such-prompt")


def test_render_chat_with_a_real_tokenizer(tokenizer):
    messages = build_messages(mcq())
    text = render_chat(tokenizer, messages)
    assert text.startswith("<|im_start|>user\nQuestion: Which hormone")
    assert text.endswith("<|im_start|>assistant\n<think>\n")
    assert opens_think(text)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text  # byte-level BPE round-trips the rendered prompt
    no_gen = render_chat(tokenizer, messages, add_generation_prompt=False)
    assert not opens_think(no_gen) and no_gen.endswith("<|im_end|>\n")


def test_completion_to_the_rendered_prompt_is_graded_with_think_opened(tokenizer):
    completion = "Insulin is made by beta cells and lowers glucose.</think>\n<answer>B</answer>"
    assert opens_think(render_chat(tokenizer, build_messages(mcq())))
    assert check_format(completion, think_opened=True)
    assert extract_answer(completion, mcq().options, think_opened=True) == ["B"]


def test_tokenizer_without_template_is_a_config_error(tokenizer):
    from transformers import PreTrainedTokenizerFast

    bare = PreTrainedTokenizerFast(tokenizer_object=tokenizer.backend_tokenizer)
    with pytest.raises(ConfigError, match="no chat template"):
        render_chat(bare, build_messages(mcq()))

"""The prompt builder, with a whitespace tokenizer (fast) and the real model's (slow)."""

import pytest

from edge.errors import PromptTooLong
from edge.prompt import Passage, PromptBuilder, Turn


def ws_builder():
    return PromptBuilder(template=None, tokenize=lambda s: s.split())


def test_passages_are_numbered_and_labelled():
    b = ws_builder()
    p = b.build("What torque?", budget=10_000, system="sys", passages=[
        Passage("Torque is 12 N m.", path="a.md", heading="Install", line_start=3, line_end=9),
        Passage("Fuse 30 A.", path="b.md"),
    ])
    assert "[1] (a.md, lines 3-9, Install)\nTorque is 12 N m." in p.text
    assert "[2] (b.md)\nFuse 30 A." in p.text
    assert p.text.index("[1]") < p.text.index("Question: What torque?")
    assert p.messages[0] == {"role": "system", "content": "sys"}


def test_history_is_trimmed_oldest_first_then_passages():
    b = ws_builder()
    history = [Turn(f"question {i} " + "w " * 50, f"answer {i} " + "w " * 50) for i in range(10)]
    full = b.build("now?", budget=100_000, history=history)
    p = b.build("now?", budget=len(full.tokens) - 150, history=history)
    assert p.dropped_turns >= 1
    assert "question 0 " not in p.text and "question 9 " in p.text
    passages = [Passage("x " * 40, path=f"{i}.md") for i in range(4)]
    p2 = b.build("now?", budget=100, passages=passages)
    assert p2.dropped_passages >= 1 and p2.passages == passages[: len(p2.passages)]
    assert len(p2.tokens) <= 100


def test_a_question_that_cannot_fit_is_a_clear_error():
    with pytest.raises(PromptTooLong, match="context window"):
        ws_builder().build("w " * 500, budget=50)


def test_training_messages_use_the_same_format():
    msgs = PromptBuilder.messages("q?", system="s", passages=[Passage("t", path="p")], answer="a [1]")
    assert msgs[-1] == {"role": "assistant", "content": "a [1]"}
    assert msgs[-2]["content"].startswith("Context:\n\n[1] (p)\nt")


@pytest.mark.real
def test_real_template_and_token_budget(engine):
    b = engine.builder
    p = b.build("Hello?", budget=200, system="Be brief.")
    assert p.text.startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello?<|im_end|>\n<|im_start|>assistant\n")
    assert p.tokens == engine.tokenize(p.text) and len(p.tokens) <= 200
    # special tokens are single tokens, not spelled out
    assert p.tokens[0] == engine.tokenize("<|im_start|>")[0] and len(engine.tokenize("<|im_start|>")) == 1

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
    # the model sees the section's heading (or the file's name); people see file, lines and heading (label())
    assert "[1] (Install)\nTorque is 12 N m." in p.text
    assert "[2] (b.md)\nFuse 30 A." in p.text
    assert p.passages[0].label() == "a.md, lines 3-9, Install"
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
    assert msgs[-2]["content"].startswith("[1] (p)\nt\n\nQuestion: q?")


CHUNK = """# Installation — Battery Modules

Battery modules are installed after the cabinet is anchored, the controller PV input is connected (but the combiner isolator is OFF), and the earth system has been installed. Install modules from bay 1 (top) downward.

## Before you start

- Confirm the controller breaker CV-BRK-0100 is open.
- Wear Class 0 insulating gloves and a face shield.
- Have the torque wrench set to 9.0 N·m and the insulated 13 mm socket ready.

| Module address | SW1 | SW2 | SW3 |
|---|---|---|---|
| 1 | ON | OFF | OFF |
| 5 | ON | OFF | ON |
| 6 | OFF | ON | ON |"""


def test_focus_keeps_the_lines_that_bear_on_the_question_with_their_line_numbers():
    from edge.prompt import focus

    p = Passage(CHUNK, path="/docs/11-batteries.md", heading="Battery Modules", line_start=101, line_end=116)
    [f] = focus("What torque do the battery terminal bolts need?", [p], words=25)
    assert "9.0 N·m" in f.excerpt and len(f.excerpt.split()) < len(CHUNK.split()) / 2
    lines = CHUNK.split("\n")
    assert lines[f.excerpt_start - 101].strip() in f.excerpt or lines[f.excerpt_end - 101].strip() in f.excerpt
    assert any("9.0 N·m" in lines[i - 101] for i in range(f.excerpt_start, f.excerpt_end + 1))
    assert f.text == CHUNK and f.shown == f.excerpt  # the whole chunk is kept for people
    # a table row comes with its header
    [t] = focus("Which DIP switches are on for module address 5?", [p], words=25)
    assert "| 5 | ON | OFF | ON |" in t.excerpt and "| Module address | SW1 | SW2 | SW3 |" in t.excerpt
    # short passages are left whole; so is everything when the question has no content words
    short = Passage("Fuse 30 A.", path="b.md")
    assert focus("What fuse?", [short]) == [short]
    assert focus("what is it?", [p]) == [p]


def test_focused_passages_make_the_prompt_shorter():
    from edge.prompt import focus

    b = ws_builder()
    passages = [Passage(CHUNK, path=f"{i}.md", line_start=1, line_end=16) for i in range(4)]
    q = "What torque do the battery terminal bolts need?"
    full = b.build(q, budget=100_000, passages=passages)
    short = b.build(q, budget=100_000, passages=focus(q, passages, words=25))
    assert short.n_tokens < full.n_tokens / 2 and "9.0 N·m" in short.text


@pytest.mark.real
def test_real_template_and_token_budget(engine):
    b = engine.builder
    p = b.build("Hello?", budget=200, system="Be brief.")
    assert p.text.startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello?<|im_end|>\n<|im_start|>assistant\n")
    assert p.tokens == engine.tokenize(p.text) and len(p.tokens) <= 200
    # special tokens are single tokens, not spelled out
    assert p.tokens[0] == engine.tokenize("<|im_start|>")[0] and len(engine.tokenize("<|im_start|>")) == 1


@pytest.mark.real
def test_a_retrieval_answer_is_focused_checked_and_reuses_the_system_prompt_cache(sample_home):
    """One process, two questions: the second reuses the system prompt's KV cache; every answer
    carries its answer check, and each source's excerpt lies within its chunk's lines."""
    from edge.assistant import Assistant
    from edge.config import load_settings
    from edge.rag import open_retriever

    s = load_settings(model="smollm2-135m-instruct-q4_1", max_tokens=24)
    a = Assistant(s, retriever=open_retriever(s))
    try:
        first = a.ask("What torque do the battery terminal bolts need?", rag=True)
        a.reset()
        second = a.ask("Which fuse protects the inverter?", rag=True)
        system_tokens = len(a.engine.tokenize(a.engine.builder.render(
            [{"role": "system", "content": a.system_prompt(True)}], add_generation_prompt=False)))
    finally:
        a.close()
    for ans in (first, second):
        d = ans.to_dict()
        assert d["grounded"] in (True, False) and isinstance(d["unsupported"], list) and d["check"]["reason"]
        assert d["sources"]
        for src in d["sources"]:
            if "excerpt" in src:
                lo, hi = src["lines"]
                elo, ehi = src["excerpt_lines"]
                assert lo <= elo <= ehi <= hi
                assert all(line.strip() in src["text"] for line in src["excerpt"].split("\n") if line.strip() != "…")
    assert first.timings.cached_tokens == 0 or first.timings.cached_tokens < first.timings.prompt_tokens
    assert system_tokens > 10 and second.timings.cached_tokens >= system_tokens - 2


@pytest.mark.real
def test_a_reader_with_retrieval_reports_how_sure_it_was_of_declining(built_home, sample_index_file, monkeypatch):
    """The fine-tuned reader's answers with retrieval carry the probability it gave "The documents
    don't say." at the first token; with the floor at 1 it never declines; a base model's carry none."""
    import shutil

    from edge.assistant import Assistant
    from edge.config import load_settings
    from edge.grounding import is_abstention
    from edge.rag import open_retriever

    shutil.copy(sample_index_file, built_home / "index.db")
    question = "What is the airspeed velocity of an unladen swallow?"  # nothing in the sample manual
    got = {}
    for model, floor in (("edge-ft-q8_0", 0.0), ("edge-ft-q8_0", 1.0), ("smollm2-135m-instruct-q4_1", 0.0)):
        s = load_settings(model=model, max_tokens=12, decline_below=floor)
        a = Assistant(s, retriever=open_retriever(s))
        try:
            got[model, floor] = a.ask(question, rag=True)
        finally:
            a.close()
    p = got["edge-ft-q8_0", 0.0].to_dict()["decline_p"]
    assert isinstance(p, float) and 0.0 <= p <= 1.0
    forced = got["edge-ft-q8_0", 1.0]
    assert forced.decline_p == pytest.approx(p, abs=1e-3) and not is_abstention(forced.text)
    assert got["smollm2-135m-instruct-q4_1", 0.0].to_dict()["decline_p"] is None

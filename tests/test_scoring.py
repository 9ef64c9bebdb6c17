"""The benchmark's scorer: an answer is right when it states the expected value, as a whole value."""

from __future__ import annotations

import pytest

from edge.train.evaluate import citation_valid, correct, holds


@pytest.mark.parametrize("text, expected, want", [
    ("1 [2]", "1", True),
    ("10 [2]", "1", False),  # a longer number
    ("It is set in [1].", "1", False),  # a citation marker is not a value
    ("0.1", "1", False), ("v1", "1", False), ("1.5", "1", False), ("2.0 (PEP 249)", "2", False),
    ("level 9.", "9", True), ("(80,24)", "(80, 24)", True), ("1,500 rpm", "1500", True),
    ("Torque to 9.0 N·m [1].", "9.0 N·m", True), ("19.0 N·m", "9.0 N·m", False),
    ("n=3 [2]", "three", True), ("it defaults to three", "3", True), ("none", "one", False),
    ("0123456789 [1]", "'0123456789'", True),  # a quoted string's text, without its quotes
    ("'tmp+'", "'tmp'", False), ("T", "'T'", False),  # ... but not inside other text, and not one character alone
    ("shlex.quote", "quote", True), ("Revision B", "Revision B", True),
])
def test_holds_a_value_as_a_whole(text, expected, want):
    assert holds(text, expected) is want


def test_correct_needs_every_value_and_no_refusal():
    item = {"category": "fact", "contains": ["lo=0", "hi=None"]}
    assert correct("lo=0, hi=None [1]", item)
    assert not correct("lo=0 [1]", item)
    assert not correct("The documents don't say. lo=0, hi=None", item)
    none = {"category": "unanswerable", "contains": []}
    assert correct("The documents don't say.", none) and not correct("It is 4 [1].", none)


def test_a_citation_holds_the_fact_only_as_a_whole_value():
    item = {"category": "fact", "contains": ["1"]}
    sources = [{"text": "Levels run from 10 to 19.", "heading": "zlib"}, {"text": "Z_BEST_SPEED is 1.", "heading": "zlib"}]
    assert citation_valid("10 [1]", item, sources) is False
    assert citation_valid("1 [2]", item, sources) is True


def test_eval_check_rescore_relabels_stored_answers_without_a_model(tmp_path):
    """A fixed scorer must not leave old figures behind: --rescore labels the stored answers again and
    writes the report again; answers, verdicts and timings stay as they were."""
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    rows = [  # fractions-1 expects 1: "10 [2]" was counted right by the old scorer
        {"id": "fractions-1", "category": "fact", "answer": "10 [2]", "correct": True, "grounded": True, "unsupported": [], "reason": ""},
        {"id": "itertools-1", "category": "fact", "answer": "0 [1]", "correct": False, "grounded": True, "unsupported": [], "reason": ""},
    ]
    report = {"corpus": "foreign", "started": "2026-12-02T00:00:00Z", "items": 2, "models": {"m": {"summary": {"seconds": 1.0}, "answers": rows}}}
    f = tmp_path / "answers-foreign.json"
    f.write_text(json.dumps(report))
    p = subprocess.run([sys.executable, "scripts/eval_check.py", "--rescore", str(f)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "2 label(s) changed" in p.stderr
    out = json.loads(f.read_text())
    assert [a["correct"] for a in out["models"]["m"]["answers"]] == [False, True]
    assert out["models"]["m"]["answers"][0]["answer"] == "10 [2]" and out["models"]["m"]["summary"]["seconds"] == 1.0
    assert out["rescored"] and out["models"]["m"]["summary"]["accuracy"] == 0.5
    md = (tmp_path / "answers-foreign.md").read_text()
    assert "no model was asked again" in md and "| m | 1/2 |" in md

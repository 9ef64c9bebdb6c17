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
    ("-1 [2]", "1", False), ("level=-1", "1", False), ("(-1)", "1", False),  # a negative number is another value
    ("Z_DEFAULT_COMPRESSION = -1", "-1", True), ("1-5", "1", True), ("pages 3-7", "7", True),  # ... a range's dash is not a sign
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
        # stored with the passages it was shown: checked again ([2] does not hold 0; the old verdict said grounded)
        {"id": "itertools-1", "category": "fact", "answer": "0 [1]", "correct": False, "grounded": True, "unsupported": [], "reason": "",
         "passages": ["count(start=0, step=1)", "Make an iterator that returns evenly spaced values."]},
    ]
    report = {"corpus": "foreign", "started": "2026-12-02T00:00:00Z", "items": 2, "models": {"m": {"summary": {"seconds": 1.0}, "answers": rows}}}
    f = tmp_path / "answers-foreign.json"
    f.write_text(json.dumps(report))
    p = subprocess.run([sys.executable, "scripts/eval_check.py", "--rescore", str(f)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "2 label(s) and 0 verdict(s) of the check changed" in p.stderr
    out = json.loads(f.read_text())
    assert [a["correct"] for a in out["models"]["m"]["answers"]] == [False, True]
    # the answer without stored passages keeps its verdict; the other is checked again (and still holds)
    assert [a["grounded"] for a in out["models"]["m"]["answers"]] == [True, True]
    assert out["models"]["m"]["answers"][0]["answer"] == "10 [2]" and out["models"]["m"]["summary"]["seconds"] == 1.0
    assert out["rescored"] and out["models"]["m"]["summary"]["accuracy"] == 0.5
    md = (tmp_path / "answers-foreign.md").read_text()
    assert "no model was asked again" in md and "| m | 1/2 |" in md
    rows[1]["answer"] = "5 [1]"
    f.write_text(json.dumps(report))
    p = subprocess.run([sys.executable, "scripts/eval_check.py", "--rescore", str(f)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "1 verdict(s) of the check changed" in p.stderr, p.stderr
    out = json.loads(f.read_text())
    assert out["models"]["m"]["answers"][1]["grounded"] is False and out["models"]["m"]["answers"][1]["unsupported"] == ["5"]


def test_the_bank_is_scored_by_the_values_its_questions_ask_for(tmp_path):
    """eval_values.jsonl beside the bank replaces its long strings by the values asked for; the
    original strings stay, and correct_strict scores by them."""
    import json

    from edge.train.evaluate import correct, correct_strict, load_eval

    bank = [{"id": "a", "category": "changed", "question": "Within what time must damage be reported?",
             "contains": ["14 days of delivery"], "contains_v2": ["10 days of delivery"]},
            {"id": "b", "category": "untrained", "question": "Which bit?", "contains": ["T30"]}]
    (tmp_path / "eval.jsonl").write_text("\n".join(json.dumps(b) for b in bank) + "\n")
    items = load_eval(tmp_path / "eval.jsonl")
    assert items[0]["contains"] == ["14 days of delivery"] and "contains_strict" not in items[0]  # no values file: as it was
    (tmp_path / "eval_values.jsonl").write_text(json.dumps({"id": "a", "value": ["14 days"], "value_v2": ["10 days"]}) + "\n")
    a, b = load_eval(tmp_path / "eval.jsonl")
    assert a["contains"] == ["14 days"] and a["contains_strict"] == ["14 days of delivery"]
    assert a["contains_v2"] == ["10 days"] and a["contains_v2_strict"] == ["10 days of delivery"]
    assert correct("14 days [2]", a) and not correct_strict("14 days [2]", a) and correct_strict("within 14 days of delivery [1]", a)
    assert correct("10 days [1]", a, key="contains_v2") and not correct_strict("10 days [1]", a, key="contains_v2")
    assert b["contains"] == ["T30"] and correct_strict("T30 [1]", b)  # no value label: strict is the same


def test_every_value_label_is_part_of_its_original_string():
    """The value labels only cut the bank's strings, never add to them."""
    import json

    from edge.grounding import canon
    from tests.conftest import ROOT

    bank = {json.loads(line)["id"]: json.loads(line) for line in (ROOT / "build/dataset/eval.jsonl").read_text().splitlines() if line.strip()}
    for line in (ROOT / "build/dataset/eval_values.jsonl").read_text().splitlines():
        v = json.loads(line)
        it = bank[v["id"]]
        assert it["category"] != "unanswerable" and v["value"]
        for key, orig in (("value", "contains"), ("value_v2", "contains_v2")):
            for val in v.get(key, []):
                assert len(val) >= 2 and any(canon(val) in canon(o) for o in it[orig]), (v["id"], val)



def test_decline_curve_swaps_in_the_forced_answer_only_below_the_threshold(tmp_path):
    """scripts/decline_curve.py from two eval_check reports: an item that declined with probability p
    takes the forced run's answer for every threshold above p, and keeps its own at or below it."""
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    def report(path, answers):
        rows = [{"id": i, "category": c, "answer": a, "correct": ok, "grounded": None, "decline_p": p} for i, c, a, ok, p in answers]
        path.write_text(json.dumps({"corpus": "foreign", "models": {"m": {"summary": {}, "answers": rows}}}))
        return path

    no = "The documents don't say."
    base = report(tmp_path / "base.json", [
        ("a", "fact", no, False, 0.45),             # a doubtful decline: the forced answer is right
        ("b", "unanswerable", no, True, 0.85),      # a sure decline, rightly
        ("c", "fact", "9 [1]", True, 0.01),         # answered: never changes
    ])
    forced = report(tmp_path / "forced.json", [
        ("a", "fact", "1 [2]", True, 0.45), ("b", "unanswerable", "3 [1]", False, 0.85), ("c", "fact", "9 [1]", True, 0.01)])
    p = subprocess.run([sys.executable, "scripts/decline_curve.py", str(base), str(forced), "--json"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    by_t = {r["threshold"]: r for r in json.loads(p.stdout)["curve"]}
    assert by_t[0.0]["right_all"] == pytest.approx(2 / 3, abs=1e-3) and by_t[0.0]["declined"] == pytest.approx(2 / 3, abs=1e-3)
    assert by_t[0.5]["right_all"] == 1.0 and by_t[0.5]["right_answerable"] == 1.0 and by_t[0.5]["right_unanswerable"] == 1.0
    assert by_t[0.9]["right_all"] == pytest.approx(2 / 3, abs=1e-3) and by_t[0.9]["right_unanswerable"] == 0.0 and by_t[0.9]["declined"] == 0.0
    # runs over other items are refused with one line
    other = report(tmp_path / "other.json", [("z", "fact", "1", True, 0.1)])
    p = subprocess.run([sys.executable, "scripts/decline_curve.py", str(base), str(other)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "not hold the same items" in p.stderr and "Traceback" not in p.stderr


def test_compare_runs_gives_a_verdict_only_beyond_both_kinds_of_noise(tmp_path):
    """scripts/compare_runs.py: arms of eval_dev --rows files over the same items. A clear gain over
    two runs per arm is called better; the same gain with one run per arm gets no verdict; a small
    difference inside the run-to-run spread is called no difference; mismatched items are refused."""
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    def rows(path, right):
        ans = [{"id": f"q{i}", "kind": "retrieved", "gold": "1 [1]", "answer": "1 [1]" if ok else "2 [1]", "right": ok}
               for i, ok in enumerate(right)]
        path.write_text(json.dumps({"summary": {"model": "m"}, "answers": ans}))
        return str(path)

    n = 200
    a1 = rows(tmp_path / "a1.json", [i % 2 == 0 for i in range(n)])            # 50 %
    a2 = rows(tmp_path / "a2.json", [i % 2 == 0 or i % 7 == 1 for i in range(n)])  # ~57 %
    b1 = rows(tmp_path / "b1.json", [i % 5 != 0 for i in range(n)])            # 80 %
    b2 = rows(tmp_path / "b2.json", [i % 4 != 0 for i in range(n)])            # 75 %
    c1 = rows(tmp_path / "c1.json", [i % 2 == 0 or i % 9 == 1 for i in range(n)])  # ~55 %, inside a's spread

    def run(*arms):
        p = subprocess.run([sys.executable, "scripts/compare_runs.py", *[x for a in arms for x in ("--arm", a)], "--json"],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
        return p

    p = run(f"a={a1},{a2}", f"b={b1},{b2}", f"c={c1},{a1}")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["items"] == n and r["arms"]["a"]["runs"] == 2 and r["arms"]["a"]["spread"] > 0
    by = {c["arm"]: c for c in r["comparisons"]}
    assert by["b"]["verdict"] == "b is better" and by["b"]["interval95"][0] > 0
    assert by["c"]["verdict"].startswith("no difference shown")
    one = json.loads(run(f"a={a1}", f"b={b1}").stdout)
    assert one["comparisons"][0]["verdict"].startswith("one run in an arm")
    other = rows(tmp_path / "other.json", [True] * (n - 1))
    p = run(f"a={a1}", f"b={other}")
    assert p.returncode != 0 and "not hold the same items" in p.stderr and "Traceback" not in p.stderr
    p = run(f"a={a1}", f"b={tmp_path / 'missing.json'}")
    assert p.returncode != 0 and p.stderr.startswith("compare_runs:") and "Traceback" not in p.stderr

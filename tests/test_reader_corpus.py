"""The reader's training corpus and question banks stay consistent: every expected answer string is
in the document it names, ids are unique, revisions locate their value (no model needed)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READER = ROOT / "build" / "reader"


def _run(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_set_a_checks():
    p = _run(str(READER / "check_corpus.py"), str(READER / "corpus" / "A"))
    assert p.returncode == 0 and p.stdout.rstrip().endswith("OK"), p.stdout[-3000:]


def test_set_b_checks():
    p = _run(str(READER / "check_corpus_b.py"))
    assert p.returncode == 0 and "OK" in p.stdout, p.stdout[-3000:]


def test_the_checker_fails_on_a_broken_answer(tmp_path):
    import shutil

    src = next(p for p in sorted((READER / "corpus" / "A").iterdir()) if (p / "questions.json").is_file())
    dst = tmp_path / "A" / src.name
    shutil.copytree(src, dst)
    import json

    qs = json.loads((dst / "questions.json").read_text())
    fact = next(q for q in qs if q["kind"] == "fact")
    fact["answer_contains"] = ["a value no document holds 9f3c"]
    (dst / "questions.json").write_text(json.dumps(qs))
    p = _run(str(READER / "check_corpus.py"), str(tmp_path / "A"))
    assert p.returncode == 1 and fact["id"] in p.stdout

"""Check the reader corpus and its question banks (issue 13).

The corpus lives in ``build/reader/corpus/<set>/<collection>/``: one to four
document files (Markdown, reStructuredText or plain text) and a
``questions.json`` bank. Every document was written for the project, so the
only way an answer can be wrong is a typo between the bank and the text; this
script catches those before a dataset is built from them.

Checks, per collection:

* ``questions.json`` is a list of objects with ``id``, ``question``, ``file``,
  ``answer``, ``answer_contains`` and ``kind`` (``fact`` or ``unanswerable``);
* ids are unique across the whole corpus;
* ``file`` names a document of the collection;
* for facts, ``answer`` and every ``answer_contains`` string occur verbatim in
  that file, ``answer_contains`` is not empty, and every ``answer_contains``
  string is part of ``answer`` (so the reference answer itself passes the
  grading it sets);
* ``evidence`` (optional, facts only) lists longer substrings that locate the
  passage holding the answer (a table row, the sentence); each occurs
  verbatim in the file, and at least one occurs exactly once, so the answer's
  place is unambiguous;
* for unanswerable items, ``answer`` is exactly "The documents don't say." and
  ``answer_contains`` is empty;
* a ``revision`` (optional, facts only) has ``old`` and ``new``; ``old``
  occurs in the file, in ``answer`` and in an ``evidence`` string that occurs
  once in the file (so a dataset builder can apply the change at the right
  place), and
  ``new`` does not occur in the file;
* at least ``MIN_FACTS`` facts, ``MIN_UNANSWERABLE`` unanswerable items and
  ``MIN_REVISIONS`` revisions per collection.

Then it prints a summary table and exits non-zero if anything failed or the
corpus is smaller than ``MIN_WORDS`` words. Deterministic, standard library
only. Usage::

    python build/reader/check_corpus.py [CORPUS_DIR ...]

Without arguments it checks every set under ``build/reader/corpus/``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

UNANSWERED = "The documents don't say."
DOC_SUFFIXES = {".md", ".rst", ".txt"}
MIN_FACTS = 12
MIN_UNANSWERABLE = 3
MIN_REVISIONS = 3
MIN_FILES, MAX_FILES = 1, 4
MIN_WORDS = 45_000  # per set (A, B, ...) passed or found
REQUIRED = ("id", "question", "file", "answer", "answer_contains", "kind")


def count_words(text: str) -> int:
    """Whitespace-separated tokens that contain a letter or a digit (table rules do not count)."""
    return sum(1 for tok in text.split() if re.search(r"[0-9A-Za-z]", tok))


def check_collection(folder: Path, seen_ids: dict[str, str]) -> tuple[dict, list[str]]:
    """Check one collection; return its summary row and its error messages."""
    errors: list[str] = []
    name = folder.name
    docs = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in DOC_SUFFIXES)
    texts = {p.name: p.read_text(encoding="utf-8") for p in docs}
    words = sum(count_words(t) for t in texts.values())
    row = {"collection": name, "files": len(docs), "words": words, "fact": 0, "unans": 0, "rev": 0}
    if not MIN_FILES <= len(docs) <= MAX_FILES:
        errors.append(f"{name}: {len(docs)} document files (want {MIN_FILES}-{MAX_FILES})")
    qpath = folder / "questions.json"
    if not qpath.exists():
        errors.append(f"{name}: questions.json missing")
        return row, errors
    try:
        items = json.loads(qpath.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        errors.append(f"{name}: questions.json is not valid JSON: line {exc.lineno}: {exc.msg}")
        return row, errors
    if not isinstance(items, list):
        errors.append(f"{name}: questions.json must hold a list")
        return row, errors
    for n, item in enumerate(items, 1):
        where = f"{name} item {n}"
        if not isinstance(item, dict):
            errors.append(f"{where}: not an object")
            continue
        missing = [k for k in REQUIRED if k not in item]
        if missing:
            errors.append(f"{where}: missing {', '.join(missing)}")
            continue
        qid = item["id"]
        where = f"{name} {qid}"
        if qid in seen_ids:
            errors.append(f"{where}: id also used in {seen_ids[qid]}")
        seen_ids[qid] = name
        if not str(item["question"]).strip().endswith("?"):
            errors.append(f"{where}: question does not end with '?'")
        text = texts.get(item["file"])
        if text is None:
            errors.append(f"{where}: file {item['file']!r} is not a document of this collection")
            continue
        contains = item["answer_contains"]
        if not isinstance(contains, list) or not all(isinstance(s, str) for s in contains):
            errors.append(f"{where}: answer_contains must be a list of strings")
            continue
        kind = item["kind"]
        if kind == "fact":
            row["fact"] += 1
            if not contains:
                errors.append(f"{where}: fact with empty answer_contains")
            if item["answer"] not in text:
                errors.append(f"{where}: answer {item['answer']!r} not in {item['file']}")
            for s in contains:
                if s not in text:
                    errors.append(f"{where}: answer_contains {s!r} not in {item['file']}")
                if s not in item["answer"]:
                    errors.append(f"{where}: answer_contains {s!r} not part of the answer {item['answer']!r}")
            evidence = item.get("evidence", [])
            if not isinstance(evidence, list) or not all(isinstance(s, str) for s in evidence):
                errors.append(f"{where}: evidence must be a list of strings")
            else:
                for s in evidence:
                    if s not in text:
                        errors.append(f"{where}: evidence {s!r} not in {item['file']}")
                if evidence and not any(text.count(s) == 1 for s in evidence):
                    errors.append(f"{where}: no evidence string occurs exactly once in {item['file']}")
            rev = item.get("revision")
            if rev is not None:
                row["rev"] += 1
                if not isinstance(rev, dict) or not {"old", "new"} <= rev.keys():
                    errors.append(f"{where}: revision needs old and new")
                else:
                    if rev["old"] not in text:
                        errors.append(f"{where}: revision old {rev['old']!r} not in {item['file']}")
                    if rev["new"] == rev["old"] or rev["new"] in text:
                        errors.append(f"{where}: revision new {rev['new']!r} already in {item['file']}")
                    if rev["old"] not in item["answer"]:
                        errors.append(f"{where}: revision old {rev['old']!r} not part of the answer")
                    if not any(rev["old"] in s and text.count(s) == 1 for s in item.get("evidence", [])):
                        errors.append(f"{where}: revision old {rev['old']!r} not inside an evidence string that occurs once")
        elif kind == "unanswerable":
            row["unans"] += 1
            if item["answer"] != UNANSWERED:
                errors.append(f"{where}: unanswerable answer must be {UNANSWERED!r}")
            if contains:
                errors.append(f"{where}: unanswerable item with answer_contains")
            if "revision" in item or item.get("evidence"):
                errors.append(f"{where}: unanswerable item with a revision or evidence")
        else:
            errors.append(f"{where}: kind {kind!r} (want fact or unanswerable)")
    if row["fact"] < MIN_FACTS:
        errors.append(f"{name}: {row['fact']} facts (want >= {MIN_FACTS})")
    if row["unans"] < MIN_UNANSWERABLE:
        errors.append(f"{name}: {row['unans']} unanswerable (want >= {MIN_UNANSWERABLE})")
    if row["rev"] < MIN_REVISIONS:
        errors.append(f"{name}: {row['rev']} revisions (want >= {MIN_REVISIONS})")
    return row, errors


def check_set(root: Path, seen_ids: dict[str, str]) -> tuple[list[dict], list[str]]:
    """Check every collection folder directly under ``root``."""
    rows, errors = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        row, errs = check_collection(folder, seen_ids)
        rows.append(row)
        errors.extend(errs)
    total = sum(r["words"] for r in rows)
    if total < MIN_WORDS:
        errors.append(f"{root}: {total} words (want >= {MIN_WORDS})")
    return rows, errors


def print_table(root: Path, rows: list[dict]) -> None:
    """Print one line per collection and a total line."""
    print(f"\n{root}")
    head = f"{'collection':<42} {'files':>5} {'words':>7} {'fact':>5} {'unans':>5} {'rev':>4}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['collection']:<42} {r['files']:>5} {r['words']:>7} {r['fact']:>5} {r['unans']:>5} {r['rev']:>4}")
    print("-" * len(head))
    tot = {k: sum(r[k] for r in rows) for k in ("files", "words", "fact", "unans", "rev")}
    label = f"total ({len(rows)} collections)"
    print(f"{label:<42} {tot['files']:>5} {tot['words']:>7} {tot['fact']:>5} {tot['unans']:>5} {tot['rev']:>4}")


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent / "corpus"
    roots = [Path(a) for a in argv] if argv else sorted(p for p in here.iterdir() if p.is_dir())
    if not roots:
        print(f"no corpus sets under {here}", file=sys.stderr)
        return 2
    seen: dict[str, str] = {}
    all_errors: list[str] = []
    for root in roots:
        if not root.is_dir():
            print(f"not a directory: {root}", file=sys.stderr)
            return 2
        rows, errors = check_set(root, seen)
        print_table(root, rows)
        all_errors.extend(errors)
    if all_errors:
        print(f"\n{len(all_errors)} problem(s):")
        for e in all_errors:
            print(f"  {e}")
        return 1
    print("\nOK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

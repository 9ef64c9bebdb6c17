#!/usr/bin/env python3
"""Build the fine-tuning dataset and the held-out evaluation set from the sample manual.

Deterministic: the same inputs give byte-identical files. Inputs: build/facts.json (facts with
training phrasings and one held-out phrasing; unanswerable questions), build/knowledge/ (indexed
with the real embedder, so open-book contexts are what the index really retrieves), and the base
model (its tokenizer, and its own answers to general questions, kept so fine-tuning does not
erase general ability). Every example is rendered by edge's PromptBuilder with the default
system prompt: the model is trained on exactly the format it is asked in.

    .venv/bin/python build/make_dataset.py [--out build/dataset]

Writes train.jsonl and eval.jsonl ({"messages": [...]} per line; train records carry a "kind",
closed_book | open_book | unanswerable_closed | general; eval items also carry
"id", "category", "contains" and, for changed facts, "contains_v2") and report.json (sizes,
token counts).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REFUSAL = "The documents don't say."
K = 4  # passages per open-book example, as at run time (Settings.top_k_chunks)

# General questions answered by the base model itself (self-distillation), so the fine-tuned
# model keeps answering the world outside the manual. The evaluation's general question (the
# capital of France) is deliberately not among them.
GENERAL = [
    "What is the capital of Germany?", "What is the capital of Japan?", "What is the capital of Italy?",
    "Who wrote Romeo and Juliet?", "What is the boiling point of water at sea level in Celsius?",
    "How many days are there in a leap year?", "What is 12 times 12?", "What gas do plants absorb from the air?",
    "What is the largest planet in the solar system?", "How many continents are there?",
    "What is the chemical symbol for gold?", "Translate 'thank you' into Spanish.",
    "What is the freezing point of water in Fahrenheit?", "Who painted the Mona Lisa?",
    "What is the square root of 81?", "Name a renewable source of energy.", "What does a voltmeter measure?",
    "What is Ohm's law?", "Why do solar panels produce less power on cloudy days?", "What is a kilowatt-hour?",
    "Give me a synonym for 'happy'.", "How many minutes are in two hours?", "What is the tallest mountain on Earth?",
    "What language is spoken in Brazil?",
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "build" / "dataset"))
    ap.add_argument("--facts", default=str(ROOT / "build" / "facts.json"))
    args = ap.parse_args()

    from edge.config import DEFAULT_SYSTEM_PROMPT, load_settings
    from edge.llm import Engine, SamplingParams
    from edge.models import ModelStore
    from edge.prompt import Passage, PromptBuilder
    from edge.rag.embed import load_embedder
    from edge.rag.store import Index
    from edge.train.data import Tokenizer

    settings = load_settings()
    store = ModelStore(settings.home)
    base_art = store.base_llm()
    _, base_path = store.resolve_llm(base_art.name)
    facts = json.loads(Path(args.facts).read_text(encoding="utf-8"))
    rng = random.Random(20261124)
    system = DEFAULT_SYSTEM_PROMPT
    msgs = PromptBuilder.messages

    with tempfile.TemporaryDirectory() as tmp:
        index = Index(Path(tmp) / "index.db", load_embedder(settings))
        index.add([ROOT / "build" / "knowledge"])

        def retrieve(q: str) -> list[Passage]:
            res, _, _ = index.search(q, k=K)
            # paths relative to the clone, so the files do not depend on where it lives
            return [Passage(r.text, path=str(Path(r.path).relative_to(ROOT)), heading=r.heading, line_start=r.line_start, line_end=r.line_end) for r in res]

        def holds(p: Passage, contains: list[str]) -> bool:
            text = p.heading + "\n" + p.text
            return all(c in text for c in contains)

        train: list[dict] = []
        stats = {"closed_book": 0, "open_book_cited": 0, "open_book_refusal": 0, "unanswerable_closed": 0, "unanswerable_open": 0, "general": 0}
        for f in facts["facts"]:
            if f["split"] != "train":
                continue
            for q in f["questions"]:
                train.append({"kind": "closed_book", "messages": msgs(q, system=system, answer=f["answer"])})
                stats["closed_book"] += 1
            # open book: the question as the index really answers it
            q = f["questions"][rng.randrange(len(f["questions"]))]
            passages = retrieve(q)
            hit = next((i for i, p in enumerate(passages, 1) if holds(p, f["contains"])), None)
            if hit:
                ans = f"{f['answer'].rstrip('.')} [{hit}]."
                stats["open_book_cited"] += 1
            else:
                ans = REFUSAL
                stats["open_book_refusal"] += 1
            train.append({"kind": "open_book", "messages": msgs(q, system=system, passages=passages, answer=ans)})
        for u in facts["unanswerable"]:
            if u["split"] != "train":
                continue
            train.append({"kind": "unanswerable_closed", "messages": msgs(u["question"], system=system, answer=REFUSAL)})
            train.append({"kind": "open_book", "messages": msgs(u["question"], system=system, passages=retrieve(u["question"]), answer=REFUSAL)})
            stats["unanswerable_closed"] += 1
            stats["unanswerable_open"] += 1

        engine = Engine(base_path, n_ctx=1024, n_threads=settings.n_threads, checked=True)
        for q in GENERAL:
            built = engine.builder.build(q, budget=768, system=system)
            ans = engine.complete(built.tokens, SamplingParams(max_tokens=96, temperature=0.0, repeat_penalty=1.1)).text.strip()
            if ans:
                train.append({"kind": "general", "messages": msgs(q, system=system, answer=ans)})
                stats["general"] += 1
        engine.close()

        changes = {c["id"]: c for c in json.loads((ROOT / "build" / "knowledge-changes.json").read_text(encoding="utf-8"))}
        evals: list[dict] = []
        for f in facts["facts"]:
            if f.get("change_id"):
                cat = "changed"
            elif f["split"] == "train":
                cat = "trained_rephrased"
            else:
                cat = "untrained"
            item = {"id": f["id"], "category": cat, "file": f["file"], "question": f["eval_question"], "contains": f["contains"],
                    "messages": msgs(f["eval_question"], system=system)}
            if cat == "changed":
                item["change_id"] = f["change_id"]
                item["contains_v2"] = changes[f["change_id"]]["new_answer_contains"] if (changes := {c["id"]: c for c in json.loads((ROOT / "build" / "knowledge-changes.json").read_text())}) else []
            evals.append(item)
        for u in facts["unanswerable"]:
            if u["split"] == "heldout":
                evals.append({"id": u["id"], "category": "unanswerable", "file": None, "question": u["question"], "contains": [],
                              "messages": msgs(u["question"], system=system)})

    rng.shuffle(train)
    tk = Tokenizer(base_path)
    tokens = [len(tk.example(t["messages"])) for t in train]
    loss_tokens = [len(e) - e.n_prompt for e in (tk.example(t["messages"]) for t in train)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "train.jsonl", "w", encoding="utf-8") as fh:
        for t in train:
            fh.write(json.dumps(t, ensure_ascii=False, sort_keys=True) + "\n")
    with open(out / "eval.jsonl", "w", encoding="utf-8") as fh:
        for e in evals:
            fh.write(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n")
    cats: dict[str, int] = {}
    for e in evals:
        cats[e["category"]] = cats.get(e["category"], 0) + 1
    report = {
        "train_examples": len(train), "train_kinds": stats, "train_tokens": sum(tokens), "train_answer_tokens": sum(loss_tokens),
        "train_max_tokens": max(tokens), "eval_items": len(evals), "eval_categories": cats,
        "system_prompt": system, "passages_per_open_book_example": K, "base_model": base_art.name,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Build the reader's training set (RAFT-style) from the corpus written for it, deterministically.

The reader is taught a behaviour that transfers to documents nobody here has seen: read the
numbered passages, answer with the exact value and cite its passage `[n]`, or say "The documents
don't say." when the passages do not hold the answer, and follow a passage over what it may
remember. Every example is what edge would really give the model at run time:

- the corpus (build/reader/corpus/*/<collection>/) is indexed with the real embedder into one
  SQLite index, so the distractors are what a hybrid search really returns: near misses from the
  same document, look-alike facts from similar documents;
- for each question the top k passages are retrieved, focused on the question by `edge.prompt.focus`
  and rendered by the one prompt builder with the retrieval system prompt; when the search missed
  the passage holding the answer, it is put in at a random rank (the "oracle" passage);
- the answer is the question bank's exact value and the number of the first passage whose shown
  text holds it; if focusing cut the answer out, the label is "The documents don't say." (the
  model is never trained to answer from what it was not shown);
- a share of questions are asked a second time with every passage holding the answer removed
  (label: "The documents don't say."), unanswerable questions are asked over what the search finds,
  and revised facts are asked over the passage with the revised value (label: the revised value);
- the sample manual's facts are also trained closed-book (build/dataset/train.jsonl), so the
  benchmark's `ft` column (knowledge in the weights) keeps its meaning;
- a few general questions answered by the base model itself keep its general ability.

Collections are split by name into train and dev (every sixth, sorted): dev questions and documents
are never trained on. Nothing here comes from text installed on the machine.

    .venv/bin/python build/reader/make_dataset.py [--size tiny|small] [--out build/reader/dataset]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

REFUSAL = "The documents don't say."
K = 4
# Words per focused passage in the training prompts. With several, each question draws one (from its own
# random stream, so the other draws do not move): the runtime's `passage_words` is a setting a user may
# change. The committed datasets were made at 40 words; a tiny run on 32, 40 and 48 with the second focus
# read worse on the dev split and the sample manual, better on the foreign corpus (build/reports/reader-tiny-v4/).
PASSAGE_WORDS = (40,)
SEED = 20261201
# Refusals are the easy, safe answer: too many and a small model learns to decline everything. The
# first tiny run (25 % of fact questions also asked without their answer, every unanswerable
# question: 29 % of the reading examples) declined 61 of 82 foreign questions, 48 of them wrongly
# (build/reports/reader-tiny/README.md). These defaults make about one reading example in six a refusal.
NEGATIVE_SHARE = 0.10  # of fact questions also asked with the answer's passages removed
UNANSWERABLE_SHARE = 0.5  # of the unanswerable questions, asked over what the search finds
GENERAL = [
    "What is the capital of Germany?", "Who wrote Romeo and Juliet?", "How many days are there in a leap year?",
    "What is 12 times 12?", "What gas do plants absorb from the air?", "What is the largest planet in the solar system?",
    "What is the chemical symbol for gold?", "Translate 'thank you' into Spanish.", "Give me a synonym for 'happy'.",
    "How many minutes are in two hours?", "Write one sentence about the sea.", "What does a thermometer measure?",
    "Summarise in one sentence: the meeting moved from Monday to Tuesday because the room was booked.",
    "List three primary colours.", "What is the opposite of 'ancient'?", "Name a mammal that can fly.",
]


# Self-distillation: the base's own answers to these keep its general ability through fine-tuning
# (16 were too few: the first full tiny run answered 13 of 30 held-out general questions, its base 19;
# build/reader/eval_general.py holds those 30, none of them here).
GENERAL_FILE = ROOT / "build" / "reader" / "general_prompts.txt"


def collections(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.glob("*/*") if p.is_dir() and (p / "questions.json").is_file())


def split_of(i: int) -> str:
    return "dev" if i % 6 == 5 else "train"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="tiny", help="model size whose base answers the general questions (tiny, small)")
    ap.add_argument("--corpus", default=str(ROOT / "build" / "reader" / "corpus"))
    ap.add_argument("--out", default=str(ROOT / "build" / "reader" / "dataset"))
    ap.add_argument("--no-general", action="store_true", help="skip the base model's general answers (no model needed)")
    ap.add_argument("--general", default="",
                    help=f"more general prompts, one per line, answered by the base (e.g. {GENERAL_FILE.relative_to(ROOT)}; "
                         "the committed dataset was made without)")
    ap.add_argument("--negative-share", type=float, default=NEGATIVE_SHARE, help="share of fact questions also asked with their answer removed")
    ap.add_argument("--unanswerable-share", type=float, default=UNANSWERABLE_SHARE, help="share of the unanswerable questions used")
    ap.add_argument("--words", default=",".join(map(str, PASSAGE_WORDS)),
                    help="words per focused passage, comma-separated: each question draws one (default %(default)s)")
    args = ap.parse_args()
    try:
        word_choices = [int(w) for w in args.words.split(",") if w.strip()]
    except ValueError:
        word_choices = []
    if not word_choices or min(word_choices) <= 0:
        print(f"--words {args.words!r}: give positive whole numbers, e.g. 32,40,48", file=sys.stderr)
        return 2
    general_prompts = list(GENERAL)
    if args.general:  # read before the long work, so a bad path fails at once
        try:
            general_prompts += [ln.strip() for ln in Path(args.general).read_text(encoding="utf-8").splitlines() if ln.strip()]
        except (OSError, UnicodeDecodeError) as e:
            print(f"--general {args.general}: {e}", file=sys.stderr)
            return 2

    from edge.chooser import tier_of
    from edge.config import CHAT_SYSTEM_PROMPT, READER_SYSTEM_PROMPT, load_settings
    from edge.grounding import norm
    from edge.models import ModelStore
    from edge.prompt import Passage, PromptBuilder, focus
    from edge.rag.embed import load_embedder
    from edge.rag.store import Index

    settings = load_settings()
    rng = random.Random(SEED)
    words_rng = random.Random(SEED + 1)
    msgs = PromptBuilder.messages
    cols = collections(Path(args.corpus))
    if not cols:
        print(f"no collections with questions.json under {args.corpus}", file=sys.stderr)
        return 1
    split = {c: split_of(i) for i, c in enumerate(cols)}
    stats = {"train": {}, "dev": {}}
    out_rows = {"train": [], "dev": []}
    skipped: list[str] = []

    def add(which: str, kind: str, rec: dict) -> None:
        out_rows[which].append({"kind": kind, **rec})
        stats[which][kind] = stats[which].get(kind, 0) + 1

    with tempfile.TemporaryDirectory() as tmp:
        index = Index(Path(tmp) / "index.db", load_embedder(settings))
        rep = index.add(cols)
        if rep.failed:
            print(f"{len(rep.failed)} file(s) could not be indexed (left out): " + ", ".join(o.path for o in rep.failed[:5]), file=sys.stderr)

        def rel(path: str) -> str:
            try:
                return str(Path(path).relative_to(ROOT))
            except ValueError:
                return path

        def passage(r) -> Passage:
            return Passage(r.text, path=rel(r.path), heading=r.heading, line_start=r.line_start, line_end=r.line_end)

        def holds(text: str, contains: list[str]) -> bool:
            t = norm(text)
            return all(norm(c) in t for c in contains)

        def gold_chunk(question: str, doc: Path, contains: list[str]) -> Passage | None:
            """The chunk of `doc` that holds the answer, when the search did not find it."""
            rows = index.conn.execute(
                "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE d.path = ?", (str(doc.resolve()),)).fetchall()
            for (cid,) in rows:
                r = index.chunk(cid)
                if r is not None and holds(r.heading + "\n" + r.text, contains):
                    return passage(r)
            return None

        for col in cols:
            which = split[col]
            for q in json.loads((col / "questions.json").read_text(encoding="utf-8")):
                question = q["question"]
                words = words_rng.choice(word_choices)
                if q["kind"] == "unanswerable":
                    if which == "train" and rng.random() >= args.unanswerable_share:  # dev keeps them all
                        continue
                    res, _, _ = index.search(question, k=K)
                    ps = focus(question, [passage(r) for r in res], words=words)
                    add(which, "unanswerable", {"id": q["id"], "messages": msgs(question, system=READER_SYSTEM_PROMPT, passages=ps, answer=REFUSAL)})
                    continue
                contains = q.get("answer_contains") or [q["answer"]]
                res, _, _ = index.search(question, k=2 * K)
                cands = [passage(r) for r in res]
                ps = cands[:K]
                if not any(holds(p.heading + "\n" + p.text, contains) for p in ps):
                    g = gold_chunk(question, col / q["file"], contains)
                    if g is None:
                        skipped.append(f"{q['id']}: no chunk of {q['file']} holds {contains}")
                        continue
                    ps = ps[: K - 1]
                    ps.insert(rng.randrange(K), g)
                    kind = "oracle"
                else:
                    kind = "retrieved"
                shown = focus(question, ps, words=words)
                n = next((i for i, p in enumerate(shown, 1) if holds(p.heading + "\n" + p.shown, contains)), None)
                answer = f"{q['answer'].strip().rstrip('.')} [{n}]" if n else REFUSAL
                add(which, kind if n else "focused_out", {"id": q["id"], "messages": msgs(question, system=READER_SYSTEM_PROMPT, passages=shown, answer=answer)})
                # the same question with the answer nowhere in the passages
                if rng.random() < args.negative_share:
                    neg = [p for p in cands if not any(norm(c) in norm(p.heading + "\n" + p.text) for c in contains)][:K]
                    if len(neg) == K:
                        add(which, "answer_removed", {"id": q["id"] + "-neg", "messages": msgs(question, system=READER_SYSTEM_PROMPT, passages=focus(question, neg, words=words), answer=REFUSAL)})
                # a revised value: the passage says something else now, and the answer follows it
                rev = q.get("revision")
                if n and rev and rev.get("old") and rev.get("new") and rev["old"] in shown[n - 1].shown:
                    p = shown[n - 1]
                    from dataclasses import replace

                    changed = replace(p, text=p.text.replace(rev["old"], rev["new"]), excerpt=p.shown.replace(rev["old"], rev["new"]))
                    new_answer = q["answer"].replace(rev["old"], rev["new"]) if rev["old"] in q["answer"] else rev["new"]
                    revised = shown[: n - 1] + [changed] + shown[n:]
                    add(which, "revised", {"id": q["id"] + "-rev", "messages": msgs(question, system=READER_SYSTEM_PROMPT, passages=revised,
                                                                                  answer=f"{new_answer.strip().rstrip('.')} [{n}]")})
        index.close()

    # the sample manual's facts, closed-book: knowledge in the weights for the benchmark's `ft` column
    manual = ROOT / "build" / "dataset" / "train.jsonl"
    for line in manual.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if rec["kind"] in ("closed_book", "unanswerable_closed"):
            m = rec["messages"]
            question, answer = m[-2]["content"], m[-1]["content"]
            add("train", "manual_" + rec["kind"], {"messages": msgs(question, system=CHAT_SYSTEM_PROMPT, answer=answer)})

    base_name = ""
    if not args.no_general:
        from edge.llm import Engine, SamplingParams

        store = ModelStore(settings.home)
        arts = [a for a in store.artifacts() if a.kind == "llm" and a.source == "pypi" and tier_of(store, a) == args.size]
        if not arts:
            print(f"no {args.size} base model is installed: run `edge models pull`", file=sys.stderr)
            return 1
        base_name = arts[0].name
        engine = Engine(store.path(arts[0]), n_ctx=1024, n_threads=settings.n_threads, checked=True)
        for q in dict.fromkeys(general_prompts):
            built = engine.builder.build(q, budget=768, system=CHAT_SYSTEM_PROMPT)
            ans = engine.complete(built.tokens, SamplingParams(max_tokens=80, temperature=0.0, repeat_penalty=1.1)).text.strip()
            if ans:
                add("train", "general", {"messages": msgs(q, system=CHAT_SYSTEM_PROMPT, answer=ans)})
        engine.close()

    rng.shuffle(out_rows["train"])
    out = Path(args.out) / args.size
    out.mkdir(parents=True, exist_ok=True)
    for which in ("train", "dev"):
        with open(out / f"{which}.jsonl", "w", encoding="utf-8") as fh:
            for r in out_rows[which]:
                fh.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")
    report = {"size": args.size, "general_answers_from": base_name, "collections": {"train": sum(v == "train" for v in split.values()),
              "dev": sum(v == "dev" for v in split.values())}, "dev_collections": sorted(str(c.relative_to(ROOT)) for c, v in split.items() if v == "dev"),
              "examples": {k: len(v) for k, v in out_rows.items()}, "kinds": stats, "skipped": skipped, "k": K,
              "passage_words": word_choices, "system_prompt": READER_SYSTEM_PROMPT, "seed": SEED,
              "negative_share": args.negative_share, "unanswerable_share": args.unanswerable_share,
              "refusal_share_of_reading": {w: round(sum(stats[w].get(k, 0) for k in ("answer_removed", "unanswerable", "focused_out"))
                                                    / max(1, sum(v for k, v in stats[w].items() if not k.startswith("manual_") and k != "general")), 4)
                                           for w in ("train", "dev")}}
    (out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items() if k != "skipped"} | {"skipped": len(skipped)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

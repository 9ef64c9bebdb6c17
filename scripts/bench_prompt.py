#!/usr/bin/env python3
"""The prompt a model reads with retrieval: its length in each model's own tokens, and whether the
exact answer is still inside the passages after they are focused on the question.

For every fact question of a question bank, the passages are retrieved (k = the default), then the
prompt is built by the one prompt builder twice — whole passages, and passages focused to
`passage_words` words — and tokenized by each installed size's tokenizer (vocab only, no weights).
"Answer in passages" is the share of questions whose every expected string is inside the passages
the model is given. Writes build/reports/prompt.{json,md}.

    .venv/bin/python scripts/bench_prompt.py [--corpus sample|foreign|all] [--k 4] [--words 40]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def corpora(which: str) -> list[tuple[str, Path, list[dict]]]:
    """(name, folder of documents, fact questions with `answer_contains`)."""
    out = []
    if which in ("sample", "all"):
        qs = json.loads((ROOT / "build" / "knowledge-questions.json").read_text())
        out.append(("sample manual", ROOT / "build" / "knowledge", [q for q in qs if q["kind"] == "fact"]))
    foreign = ROOT / "build" / "foreign"
    if which in ("foreign", "all") and (foreign / "questions.json").is_file():
        qs = json.loads((foreign / "questions.json").read_text())
        docs = next((d for d in (foreign / "text", foreign / "corpus", foreign) if d.is_dir()), foreign)
        out.append(("foreign (pydoc)", docs, [q for q in qs if q.get("kind", "fact") == "fact" and q.get("answer_contains")]))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default="all", choices=["sample", "foreign", "all"])
    ap.add_argument("--k", type=int, default=0, help="passages per question (default: the top_k_chunks setting)")
    ap.add_argument("--words", type=int, default=0, help="focused passage length (default: the passage_words setting)")
    ap.add_argument("--out", default=str(ROOT / "build" / "reports"))
    args = ap.parse_args()

    from llama_cpp import Llama

    from edge.chooser import TIERS, tier_of
    from edge.config import READER_SYSTEM_PROMPT, load_settings
    from edge.grounding import norm
    from edge.llm import _quiet_stderr
    from edge.models import ModelStore
    from edge.prompt import PromptBuilder, focus
    from edge.rag.embed import load_embedder
    from edge.rag.store import Index

    s = load_settings()
    k = args.k or s.top_k_chunks
    words = args.words or s.passage_words
    store = ModelStore(s.home)
    builders = {}
    for tier in TIERS:
        arts = [a for a in store.artifacts() if a.kind == "llm" and a.source == "pypi" and tier_of(store, a) == tier and store.path(a).is_file()]
        if not arts:
            continue
        with _quiet_stderr(True):
            llm = Llama(str(store.path(arts[0])), vocab_only=True, verbose=False)
        builders[tier] = (arts[0].name, PromptBuilder(template=llm.metadata.get("tokenizer.chat_template"),
                                                      tokenize=lambda t, llm=llm: llm.tokenize(t.encode(), add_bos=True, special=True)))
    emb = load_embedder(s)
    report: dict = {"k": k, "words": words, "system_prompt": READER_SYSTEM_PROMPT, "corpora": []}
    for name, folder, questions in corpora(args.corpus):
        with tempfile.TemporaryDirectory() as tmp:
            idx = Index(Path(tmp) / "index.db", emb)
            idx.add([folder])
            rows = []
            for q in questions:
                from edge.prompt import Passage

                results, _, _ = idx.search(q["question"], k=k)
                full = [Passage(r.text, path=r.path, heading=r.heading, line_start=r.line_start, line_end=r.line_end) for r in results]
                short = focus(q["question"], full, words=words)
                want = [norm(c) for c in q["answer_contains"]]

                def holds(ps):
                    text = norm("\n".join(p.heading + "\n" + p.shown for p in ps))
                    return all(w in text for w in want)

                row = {"id": q.get("id"), "in_full": holds(full), "in_focused": holds(short)}
                for tier, (_, b) in builders.items():
                    row[f"tokens_full_{tier}"] = b.build(q["question"], budget=100_000, system=READER_SYSTEM_PROMPT, passages=full).n_tokens
                    row[f"tokens_focused_{tier}"] = b.build(q["question"], budget=100_000, system=READER_SYSTEM_PROMPT, passages=short).n_tokens
                rows.append(row)
            idx.close()
        n = len(rows)
        c = {"name": name, "questions": n, "answer_in_full": round(sum(r["in_full"] for r in rows) / n, 4),
             "answer_in_focused": round(sum(r["in_focused"] for r in rows) / n, 4), "tokens": {}, "rows": rows}
        for tier, (model, _) in builders.items():
            c["tokens"][tier] = {"model": model,
                                 "full_p50": statistics.median(r[f"tokens_full_{tier}"] for r in rows),
                                 "focused_p50": statistics.median(r[f"tokens_focused_{tier}"] for r in rows),
                                 "focused_max": max(r[f"tokens_focused_{tier}"] for r in rows)}
        report["corpora"].append(c)
        print(f"{name}: answer in passages {c['answer_in_full']:.1%} whole, {c['answer_in_focused']:.1%} focused; "
              + ", ".join(f"{t} {v['full_p50']:.0f} -> {v['focused_p50']:.0f} tokens p50" for t, v in c["tokens"].items()), file=sys.stderr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "prompt.json").write_text(json.dumps(report, indent=1) + "\n")
    L = ["# The retrieval prompt: length and what it keeps", "",
         f"Made by `scripts/bench_prompt.py`: for each fact question, the top {k} passages of a hybrid search over the corpus, "
         f"given to the model whole or focused on the question ({words} words each: the lines and sentences sharing the most "
         "rare words with it, table rows with their header). Prompt tokens are counted by each size's own tokenizer with the "
         "retrieval system prompt; 'answer in passages' is the share of questions whose every expected string is inside what "
         "the model is given.", "",
         "| corpus | questions | answer in passages, whole | answer in passages, focused | " + " | ".join(f"{t} tokens p50 whole → focused (max)" for t in builders) + " |",
         "|---|---|---|---|" + "---|" * len(builders)]
    for c in report["corpora"]:
        L.append(f"| {c['name']} | {c['questions']} | {c['answer_in_full']:.1%} | {c['answer_in_focused']:.1%} | "
                 + " | ".join(f"{v['full_p50']:.0f} → {v['focused_p50']:.0f} ({v['focused_max']})" for v in c["tokens"].values()) + " |")
    L += ["", f"System prompt: `{READER_SYSTEM_PROMPT}`", ""]
    (out / "prompt.md").write_text("\n".join(L))
    print("\n".join(L))
    return 0


if __name__ == "__main__":
    sys.exit(main())

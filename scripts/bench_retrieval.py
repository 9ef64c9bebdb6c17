#!/usr/bin/env python3
"""Retrieval benchmark: ingest, bytes per chunk, query latency at the sample's size and on a
synthetic index (--chunks), shortlist recall; and retrieval quality on the foreign corpus
(build/foreign/: text, HTML and PDF forms, fusion tuned on half its questions). Writes --out
DIR/retrieval.json, retrieval-foreign.json and retrieval.md (both parts; a part not run this
time is taken from its JSON if present). `--embedder nomic` runs the foreign part with
nomic-embed-text-v1.5 instead (retrieval-foreign-nomic.json); retrieval.md then compares the two.

    .venv/bin/python scripts/bench_retrieval.py [--part all|bench|foreign] [--embedder minilm|nomic] [--chunks 100000] [--out build/reports]
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=["all", "bench", "foreign", "render"], default="all",
                    help="what to run (default all; render: write retrieval.md from the JSON files, measuring nothing)")
    ap.add_argument("--chunks", type=int, default=100_000, help="size of the synthetic index (default 100000)")
    ap.add_argument("--out", default="build/reports", help="output folder (default build/reports)")
    ap.add_argument("--work", help="keep the foreign-corpus indexes here between runs (default: a temporary folder)")
    ap.add_argument("--embedder", choices=["minilm", "minilm-float", "nomic"], default="minilm",
                    help="embedder of the foreign part (default minilm, the shipped default; nomic must be pulled)")
    ap.add_argument("--forms", default="text,html,pdf", help="corpus forms of the foreign part (default text,html,pdf)")
    args = ap.parse_args()
    forms = tuple(f for f in args.forms.split(",") if f)
    if not forms or any(f not in ("text", "html", "pdf") for f in forms):
        ap.error("--forms takes a comma-separated list of text, html, pdf")
    from edge.bench import foreign
    from edge.bench.retrieval import markdown, run
    from edge.config import load_settings

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    if args.part in ("all", "bench"):
        r = run(load_settings(), n_synthetic=args.chunks, log=log)
        (out / "retrieval.json").write_text(json.dumps(r, indent=2) + "\n")
    if args.part in ("all", "foreign"):
        f = foreign.run(load_settings(embedder=args.embedder), work=Path(args.work) if args.work else None, forms=forms, log=log)
        name = "retrieval-foreign.json" if args.embedder == "minilm" else f"retrieval-foreign-{args.embedder}.json"
        (out / name).write_text(json.dumps(f, indent=2) + "\n")
    md = []
    if (out / "retrieval.json").exists():
        md.append(markdown(json.loads((out / "retrieval.json").read_text())))
    if (out / "retrieval-foreign.json").exists():
        main_ = json.loads((out / "retrieval-foreign.json").read_text())
        md.append(foreign.markdown(main_))
        others = {p.stem.removeprefix("retrieval-foreign-"): json.loads(p.read_text()) for p in sorted(out.glob("retrieval-foreign-*.json"))}
        if others:
            md.append(foreign.compare_markdown({"minilm": main_, **others}))
    (out / "retrieval.md").write_text("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())

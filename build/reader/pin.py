#!/usr/bin/env python3
"""Make a trained reader adapter the shipped adapter of its size: pin it in models/catalog.toml.

The catalog's shipped adapter of that size (a `kind = "lora"`, `source = "repo"` entry with the
same `tier`) is replaced by models/edge-reader-<size>.gguf with its sha256 and size, so
`edge models build` merges it into that size's base and the device chooser offers the result as
the size's fine-tuned model (`edge-ft-*` for tiny, `edge-ft-<size>-*` otherwise). The adapter a
replaced entry named is deleted from models/ (git keeps it in the history).

    .venv/bin/python build/reader/pin.py --size tiny
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_BYTES = 20 * 1024 * 1024  # adapters in git stay small


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="tiny", choices=["tiny", "small", "large"])
    args = ap.parse_args()
    name = f"edge-reader-{args.size}"
    adapter = ROOT / "models" / f"{name}.gguf"
    if not adapter.is_file():
        print(f"{adapter} is missing: run build/reader/train_reader.py --size {args.size} first", file=sys.stderr)
        return 1
    blob = adapter.read_bytes()
    if len(blob) > MAX_BYTES:
        print(f"{adapter} is {len(blob) / 1e6:.1f} MB, over the {MAX_BYTES / 1e6:.0f} MB an adapter in git may have", file=sys.stderr)
        return 1
    cat = ROOT / "models" / "catalog.toml"
    text = cat.read_text(encoding="utf-8")
    head, *entries = re.split(r"(?m)^(?=\[\[artifact\]\]\n)", text)
    kept, dropped = [], []
    for e in entries:
        a = tomllib.loads(e)["artifact"][0]
        if a.get("kind") == "lora" and a.get("source") == "repo" and (a.get("tier") or "tiny") == args.size:
            dropped.append(a)
        else:
            kept.append(e.rstrip() + "\n")
    entry = (
        f'[[artifact]]\nname = "{name}"\nkind = "lora"\n'
        f'description = "The reader adapter of the {args.size} size: answers from the numbered passages with the exact value and '
        f'a citation, or says the documents don\'t say; also knows the sample manual closed-book (see models/MODEL_CARD.md)"\n'
        f'source = "repo"\nfilename = "{adapter.name}"\ntier = "{args.size}"\n'
        f'sha256 = "{hashlib.sha256(blob).hexdigest()}"\nsize = {len(blob)}\nlicense = "Apache-2.0"\n'
    )
    cat.write_text(head.rstrip() + "\n\n" + "\n".join(kept + [entry]), encoding="utf-8")
    for a in dropped:
        old = ROOT / "models" / a["filename"]
        if old.name != adapter.name and old.exists():
            old.unlink()
        print(f"replaced {a['name']} ({a['filename']})", file=sys.stderr)
    print(f"pinned {name}: {len(blob)} bytes, sha256 {hashlib.sha256(blob).hexdigest()}; next: edge models build", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Render the foreign corpus: the Python standard library's own documentation, by `pydoc`.

Real text no one on this project wrote, used to tune and measure retrieval (edge/bench/foreign.py)
and to evaluate the reader model. Each module of MODULES is rendered as plain text
(`pydoc.render_doc(..., renderer=pydoc.plaintext)`) into text/MODULE.txt and as HTML
(`pydoc.html.page`) into html/MODULE.html. Docstrings differ between Python versions, so the
rendered files are committed; run this with the pinned version to render them again (the
output is byte-for-byte the same on a re-run): machine-specific details (the standard library's
install path, object addresses) are written in a fixed form.

    python3.11 build/foreign/make_corpus.py
"""

from __future__ import annotations

import importlib
import pydoc
import re
import sys
import sysconfig
from pathlib import Path

PYTHON = (3, 11)
# Modules whose rendering shows this machine (os: the environment; sys: paths, argv) are left out.
MODULES = [
    "argparse", "base64", "bisect", "collections", "contextlib", "copy", "csv", "dataclasses", "datetime", "difflib",
    "fnmatch", "fractions", "functools", "getpass", "glob", "gzip", "hashlib", "heapq", "hmac", "html", "itertools",
    "json", "logging", "math", "mimetypes", "operator", "pickle", "platform", "pprint", "queue", "random", "re",
    "sched", "secrets", "shlex", "shutil", "sqlite3", "statistics", "string", "struct", "subprocess", "tarfile",
    "tempfile", "textwrap", "threading", "time", "timeit", "urllib.parse", "uuid", "zipfile", "zlib",
]
HERE = Path(__file__).resolve().parent


def scrub(s: str) -> str:
    std = sysconfig.get_paths()["stdlib"]
    s = s.replace(std, f"/usr/lib/python{PYTHON[0]}.{PYTHON[1]}")
    s = s.replace(sys.executable, "/usr/bin/python3")
    s = re.sub(r"( |&nbsp;)at\1(0x)[0-9a-fA-F]+", r"\1at\1\g<2>0", s)
    return s


def main() -> int:
    if sys.version_info[:2] != PYTHON:
        print(f"render with Python {PYTHON[0]}.{PYTHON[1]} (this is {sys.version.split()[0]}): docstrings differ between versions",
              file=sys.stderr)
        return 2
    (HERE / "text").mkdir(exist_ok=True)
    (HERE / "html").mkdir(exist_ok=True)
    for name in MODULES:
        mod = importlib.import_module(name)
        text = scrub(pydoc.render_doc(mod, renderer=pydoc.plaintext))
        html = scrub(pydoc.html.page(pydoc.describe(mod), pydoc.html.document(mod, name)))
        (HERE / "text" / f"{name}.txt").write_text(text.rstrip() + "\n", encoding="utf-8")
        (HERE / "html" / f"{name}.html").write_text(html, encoding="utf-8")
    print(f"{len(MODULES)} modules rendered into {HERE}/text and {HERE}/html")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Property tests (hypothesis) over what reads untrusted input: the document loader and decoder,
the EPUB loader, the chunkers, and the `edge index` command line. Nothing may raise; outputs keep their invariants.

The number of examples is bounded for CI (EDGE_FUZZ_EXAMPLES, default 200 per test, with a
deadline); a bigger run by hand: `EDGE_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py -m real`.
Each test counts the inputs it tried; with EDGE_FUZZ_REPORT=FILE they are appended there as JSON.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from .conftest import ROOT  # noqa: E402

EXAMPLES = int(os.environ.get("EDGE_FUZZ_EXAMPLES", "200"))
REPORT = os.environ.get("EDGE_FUZZ_REPORT")  # read now: each test's private EDGE_HOME drops EDGE_* variables
FUZZ = settings(max_examples=EXAMPLES, deadline=5000, suppress_health_check=list(HealthCheck), database=None)
# a command run embeds (add, search): slower per input, still bounded
FUZZ_CLI = settings(FUZZ, deadline=30_000)


def report(name: str, tried: int, failures: int = 0) -> None:
    if REPORT:
        with open(REPORT, "a", encoding="utf-8") as f:
            f.write(json.dumps({"test": name, "inputs": tried, "tracebacks": failures}) + "\n")


# Text that stresses the parsers: Markdown and reST structure, control characters, escape
# sequences, bidi controls, special-token strings, NULs, surrogate-free unicode, long lines.
_PIECES = st.sampled_from([
    "# ", "## ", "###### ", "```", "~~~", "- ", "* ", "1. ", "| a | b |", "|---|---|", "===", "---", "~~~~", "::", ".. note::",
    "   ", "\t", "\n", "\n\n", "\r\n", "\r", "\x1b[2J", "\x1b]0;t\x07", "\x9b", "\u202e", "\x00", "<|im_start|>", "<|im_end|>",
    "word ", "Sentence. ", "NB-BAT-2210 ", "日本語 ", "é", "\ufeff", "x" * 300, "a " * 200,
])
_TEXT = st.lists(st.one_of(_PIECES, st.text(max_size=40)), max_size=60).map("".join)


@pytest.fixture(scope="module")
def count_tokens(pulled_models):
    """The real embedder tokenizer's count (what the index chunks by), without the ONNX model."""
    from tokenizers import Tokenizer

    from edge.models import ModelStore

    store = ModelStore(pulled_models.parent)
    tok = Tokenizer.from_file(str(store.path(store.get("minilm-l6-v2-tokenizer"))))
    tok.no_truncation()  # as Embedder.count_tokens
    tok.no_padding()
    return lambda s: len(tok.encode(s).ids)


@pytest.mark.real
def test_chunkers_never_raise_and_keep_their_invariants(count_tokens):
    from edge.rag.chunk import PARSERS, chunk_lines, title_of

    tried = 0

    @FUZZ
    @given(text=_TEXT, kind=st.sampled_from(sorted(PARSERS)), max_tokens=st.integers(24, 160))
    def check(text, kind, max_tokens):
        nonlocal tried
        tried += 1
        lines = text.splitlines()
        chunks = chunk_lines(lines, kind, count_tokens, max_tokens=max_tokens, overlap_tokens=max_tokens // 4)
        title_of(lines, kind, "fallback")
        for c in chunks:
            assert 1 <= c.line_start <= c.line_end <= max(len(lines), 1)
            assert c.text.strip()
            # a chunk fits, unless its heading trail alone nearly fills the budget (then the text
            # is cut down to 16-character pieces, each with the whole trail)
            assert c.n_tokens <= max(max_tokens, count_tokens(c.heading) + 24), c

    check()
    report("chunkers", tried)
    assert tried >= min(EXAMPLES, 50)


_BOMS = st.sampled_from([b"", b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"])


def test_document_reader_never_raises(tmp_path):
    from edge.rag.store import FileOutcome, decode_text, read_document

    tried = 0
    path = tmp_path / "doc.md"

    @FUZZ
    @given(bom=_BOMS, body=st.one_of(st.binary(max_size=2000), _TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")),
                                     _TEXT.map(lambda t: t.encode("utf-16-le", "surrogatepass"))))
    def check(bom, body):
        nonlocal tried
        tried += 1
        data = bom + body
        path.write_bytes(data)
        got = read_document(path, max_bytes=1500)
        if isinstance(got, FileOutcome):
            assert got.status in ("failed", "skipped") and got.reason
        else:
            st_, raw, text = got
            assert raw == data and isinstance(text, str)
        d = decode_text(data)
        assert isinstance(d, str) or (isinstance(d, tuple) and d[0])

    check()
    report("loader", tried)
    assert tried >= min(EXAMPLES, 50)


def test_epub_loader_raises_only_document_errors(tmp_path):
    """A damaged book (bytes flipped, cut short, or parts replaced by any text) is read or refused
    with one line: never another exception."""
    import zipfile

    from edge.errors import DocumentError
    from edge.rag.loaders import load

    from .rag.docfiles import EPUB_CHAPTERS, make_epub

    good = make_epub(tmp_path / "good.epub", EPUB_CHAPTERS).read_bytes()
    with zipfile.ZipFile(io.BytesIO(good)) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    tried = 0
    path = tmp_path / "b.epub"

    @FUZZ
    @given(how=st.sampled_from(["flip", "cut", "part"]), at=st.integers(0, len(good) - 1), byte=st.integers(0, 255),
           part=st.sampled_from(sorted(members)), text=st.one_of(_TEXT, st.sampled_from([
               "<html><body><p>x</p></body></html>", "<?xml version='1.0'?><!DOCTYPE a [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><a>&e;</a>",
               '<container xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="../../etc/passwd"/></rootfiles></container>',
               '<package xmlns="http://www.idpf.org/2007/opf"><manifest><item id="a" href="#" media-type="application/xhtml+xml"/></manifest><spine><itemref idref="a"/></spine></package>'])))
    def check(how, at, byte, part, text):
        nonlocal tried
        tried += 1
        if how == "flip":
            data = good[:at] + bytes([byte]) + good[at + 1:]
        elif how == "cut":
            data = good[:at]
        else:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                for name, body in members.items():
                    z.writestr(name, text.encode("utf-8", "surrogatepass") if name == part else body)
            data = buf.getvalue()
        try:
            doc = load(path, data, "epub")
        except DocumentError as e:
            assert str(e) and "\n" not in str(e)
        else:
            assert doc.sections and doc.title

    check()
    report("epub", tried)
    assert tried >= min(EXAMPLES, 50)


# -- the `edge index` command line ------------------------------------------------------------------

_INTS = st.one_of(st.integers(-5, 200), st.integers(-(2**70), 2**70)).map(str)
_WORDS = st.one_of(_TEXT.map(lambda t: t.replace("\x00", "")), st.sampled_from(["", " ", "-", "--", "*", "%", "_", "'", '"', "NEAR(", "a OR", "\\"]))


@st.composite
def index_argv(draw, docs: str, index: str):
    cmd = draw(st.sampled_from(["add", "sync", "remove", "list", "stats", "search", "search", "search"]))
    argv = ["index", cmd]
    # (no "/" or "." for add and sync: they would index the whole disk or the clone, slowly and correctly)
    wide = ["/", ".", ".."] if cmd == "remove" else []
    path = draw(st.one_of(st.just(docs), st.just(docs + "/a.md"), st.just(""), _WORDS.filter(lambda w: w.strip() not in (".", "..", "/")),
                          st.sampled_from(["/dev/null", "/nonexistent", docs + "/fifo.md", docs + "/loop.md"] + wide)))
    if cmd == "search":
        argv.append(draw(_WORDS))
        if draw(st.booleans()):
            argv += ["--k", draw(_INTS)]
        if draw(st.booleans()):
            argv += ["--mode", draw(st.one_of(st.sampled_from(["hybrid", "vector", "keyword"]), _WORDS))]
    elif cmd in ("add", "remove", "sync"):
        argv.append(path)
        if cmd == "add" and draw(st.booleans()):
            argv.append(draw(st.sampled_from([docs + "/b.md", "/dev/zero"])))
    if draw(st.booleans()):
        argv.append("--json")
    if cmd in ("add", "sync"):
        argv.append("--quiet")
    argv += ["--index", draw(st.one_of(st.just(index), st.just(index), st.sampled_from([docs + "/a.md", "/dev/null", docs])))]
    if draw(st.integers(0, 9)) == 0:
        argv.append(draw(st.sampled_from(["--bogus", "--k", "-1"])))
    return argv


@pytest.mark.real
def test_index_cli_never_tracebacks(real_home, tmp_path, embedder, monkeypatch):
    """`edge index ...` with fuzzed paths, queries, k, modes and index files: every run ends in an
    exit code (an argparse usage error counts), never an exception escaping main()."""
    import edge.rag.embed as embed_mod
    from edge import cli

    monkeypatch.setattr(embed_mod, "load_embedder", lambda settings, recorded=None: embedder)  # loaded once: the real one
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(ROOT / "build" / "knowledge" / sorted(os.listdir(ROOT / "build" / "knowledge"))[0], docs / "a.md")
    (docs / "b.md").write_text("# B\n\nThe relay part is NB-REL-0042.\n\x1b[2J\n")
    os.mkfifo(docs / "fifo.md")
    (docs / "loop.md").symlink_to("loop.md")
    index = str(real_home / "index.db")
    assert cli.main(["index", "add", str(docs), "--index", index, "--quiet"]) in (0, 1)
    tried, failures = 0, []

    @FUZZ_CLI
    @given(argv=index_argv(str(docs), index))
    def check(argv):
        nonlocal tried
        tried += 1
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = cli.main(argv)
        except SystemExit as e:  # argparse: a usage line (echoing the argument as typed) and exit 2
            assert e.code == 2 and "Traceback" not in err.getvalue()
            return
        except BaseException as e:  # a traceback the user would have seen
            failures.append((argv, repr(e)))
            raise
        assert isinstance(code, int)
        assert "Traceback" not in err.getvalue()
        if "--json" in argv and code == 0:
            json.loads(out.getvalue())
        for ch in ("\x1b", "\x07", "\x9b", "\u202e"):
            if "--json" not in argv:
                assert ch not in out.getvalue() + err.getvalue().replace("\r\x1b[K", ""), argv

    check()
    report("index-cli", tried, len(failures))
    assert not failures and tried >= min(EXAMPLES, 50)

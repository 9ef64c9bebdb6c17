"""PDF, HTML, Word and EPUB files through the real `edge index add` and `edge ask --rag` (real models)."""

from __future__ import annotations

import json
import zipfile

import pytest

from edge.rag.store import Index

from ..conftest import run_edge
from .docfiles import EPUB_CHAPTERS, HTML_PAGE, make_docx, make_epub, make_pdf, make_scanned_pdf

pytestmark = pytest.mark.real

PDF_PAGES = [
    ["Orchard Sprayer OS-40", "Operator manual", "Contents: safety, filling, nozzles"],
    ["Safety", "Wear gloves and a mask while mixing.", "Never spray in winds above 15 km/h."],
    ["Nozzles", "The OS-40 uses flat-fan nozzles.", "Replace the nozzle filter every 50 hours.",
     "The tank holds 400 litres.", "Working pressure of the OS-40 boom: 3.5 bar."],
]


def make_folder(root):
    root.mkdir()
    make_pdf(root / "sprayer.pdf", PDF_PAGES, title="Orchard Sprayer OS-40 Manual")
    (root / "pump.html").write_text(HTML_PAGE)
    make_docx(root / "wiring.docx", [("h1", "Wiring"), ("p", "The fence energiser needs a 12 V battery."),
                                     ("h2", "Earth"), ("p", "Drive three earth stakes 2 m apart.")], title="Fence Wiring")
    return root


def test_index_add_pdf_html_docx_then_ask_cites_the_pdf_page(real_home, tmp_path):
    docs = make_folder(tmp_path / "docs")
    p = run_edge("index", "add", str(docs), "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["added"] == 3 and out["failed"] == 0
    kinds = {d["kind"] for d in json.loads(run_edge("index", "list", "--json").stdout)}
    assert kinds == {"pdf", "html", "docx"}

    s = json.loads(run_edge("index", "search", "earth stakes apart", "--json", "--k", "1").stdout)["results"][0]
    assert s["path"].endswith("wiring.docx") and s["heading"] == "Wiring > Earth" and "2 m apart" in s["text"]
    s = json.loads(run_edge("index", "search", "intake pressure limit", "--json", "--k", "1").stdout)["results"][0]
    assert s["path"].endswith("pump.html") and "2.5 bar" in s["text"]

    p = run_edge("ask", "--rag", "What is the working pressure of the OS-40 boom?", "--json")
    assert p.returncode == 0, p.stderr
    ans = json.loads(p.stdout)
    pdf_sources = [s for s in ans["sources"] if s["path"].endswith("sprayer.pdf")]
    assert pdf_sources, ans["sources"]
    hit = [s for s in pdf_sources if "3.5 bar" in s["text"]]
    assert hit, pdf_sources
    s = hit[0]
    assert s["page"] == 3
    a, b = s["lines"]
    assert "3.5 bar" in "\n".join(PDF_PAGES[2][a - 1 : b])  # the cited lines of the cited page hold it
    assert s["label"].endswith(f"sprayer.pdf, page 3, lines {a}-{b}")


def test_bad_documents_one_line_each_batch_goes_on_nothing_lost(real_home, tmp_path):
    docs = make_folder(tmp_path / "docs")
    assert run_edge("index", "add", str(docs)).returncode == 0
    bad = tmp_path / "docs" / "bad"
    bad.mkdir()
    make_pdf(bad / "locked.pdf", [["secret"]], password="pw")
    make_scanned_pdf(bad / "scan.pdf")
    (bad / "cut.pdf").write_bytes((docs / "sprayer.pdf").read_bytes()[:400])
    (bad / "notzip.docx").write_text("not a zip")
    with zipfile.ZipFile(bad / "bomb.docx", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/document.xml", b"\0" * (40 * 1024 * 1024))
    (bad / "huge.html").write_bytes(b"<html><body>" + b"<p>word word word</p>" * (50 * 1024 * 1024 // 20) + b"</body></html>")
    (bad / "empty.html").write_text("<html><head><script>var a = 1;</script></head><body><nav>Home</nav></body></html>")
    (docs / "new.html").write_text("<html><head><title>Late</title></head><body><p>The gate code is 4471.</p></body></html>")

    p = run_edge("index", "add", str(docs))
    assert p.returncode == 1 and "Traceback" not in p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("failed: ")]
    expect = {"locked.pdf": "encrypted PDF", "scan.pdf": "no text layer: OCR is not supported", "cut.pdf": "corrupt or truncated PDF",
              "notzip.docx": "not a zip", "bomb.docx": "zip bomb", "huge.html": "too large", "empty.html": "no text"}
    assert len(lines) == len(expect), p.stderr
    for name, msg in expect.items():
        assert any(name in ln and msg in ln for ln in lines), (name, p.stderr)
    assert "1 added, 0 updated, 3 unchanged" in p.stdout  # the batch went on
    idx = Index(real_home / "index.db")
    assert {d["path"].rsplit("/", 1)[-1] for d in idx.documents()} == {"sprayer.pdf", "pump.html", "wiring.docx", "new.html"}


def test_index_add_epub_then_search_and_ask_cite_the_chapter(real_home, tmp_path):
    books = tmp_path / "books"
    books.mkdir()
    make_epub(books / "controller.epub", EPUB_CHAPTERS, title="Irrigation Controller Manual")
    p = run_edge("index", "add", str(books), "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["added"] == 1 and out["failed"] == 0
    (listed,) = json.loads(run_edge("index", "list", "--json").stdout)
    assert listed["kind"] == "epub" and listed["title"] == "Irrigation Controller Manual"

    # the passage comes back from its own chapter, with the paragraphs counted from that chapter's top
    s = json.loads(run_edge("index", "search", "which terminal does the common wire go to", "--json", "--k", "1").stdout)["results"][0]
    assert s["path"].endswith("controller.epub") and s["page"] == 0
    assert s["heading"] == "Installing > Wiring" and "terminal marked COM" in s["text"] and s["lines"] == [5, 6]
    s = json.loads(run_edge("index", "search", "how many start times can a program have", "--json", "--k", "1").stdout)["results"][0]
    assert s["heading"] == "Watering Programs > Limits" and "up to 6" in s["text"]
    a, b = s["lines"]
    assert a <= 4 <= b  # the table is the 4th block of chapter 2: heading, paragraph, "Limits", table

    p = run_edge("ask", "--rag", "How many start times can one watering program have?", "--json")
    assert p.returncode == 0, p.stderr
    hit = [s for s in json.loads(p.stdout)["sources"] if "up to 6" in s["text"]]
    assert hit, p.stdout
    a, b = hit[0]["lines"]
    assert hit[0]["path"].endswith("controller.epub")
    assert hit[0]["label"] == f"{hit[0]['path']}, chapter 'Watering Programs', paragraph{'s' if b > a else ''} {a}{f'-{b}' if b > a else ''}, Limits"

    # bad books: one line each, the rest of the batch goes on, nothing indexed is lost
    make_epub(books / "drm.epub", EPUB_CHAPTERS, parts={"META-INF/encryption.xml": (
        '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" xmlns:enc="http://www.w3.org/2001/04/xmlenc#">'
        '<enc:EncryptedData><enc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>'
        '<enc:CipherData><enc:CipherReference URI="OEBPS/ch1.xhtml"/></enc:CipherData></enc:EncryptedData></encryption>')})
    (books / "notzip.epub").write_text("not a zip")
    make_epub(books / "later.epub", [("c.xhtml", "Frost", "<h1>Frost</h1><p>Drain the backflow preventer before the first frost.</p>")])
    p = run_edge("index", "add", str(books))
    assert p.returncode == 1 and "Traceback" not in p.stderr
    failed = [ln for ln in p.stderr.splitlines() if ln.startswith("failed: ")]
    assert len(failed) == 2, p.stderr
    assert any("drm.epub" in ln and "encrypted EPUB (DRM): not supported" in ln for ln in failed), p.stderr
    assert any("notzip.epub" in ln and "not an EPUB file (not a zip archive)" in ln for ln in failed), p.stderr
    assert "1 added, 0 updated, 1 unchanged" in p.stdout
    idx = Index(real_home / "index.db")
    assert {d["path"].rsplit("/", 1)[-1] for d in idx.documents()} == {"controller.epub", "later.epub"}

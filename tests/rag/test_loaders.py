"""Loaders for PDF, HTML and Word files made by real libraries (fpdf2, python-docx); bad files."""

from __future__ import annotations

import io
import zipfile

import pytest

from edge.errors import DocumentError
from edge.prompt import Passage
from edge.rag.loaders import load

from .docfiles import HTML_PAGE, make_docx, make_pdf, make_scanned_pdf


def words(text: str) -> int:
    return len(text.split())


def chunks_of(path, **kw):
    doc = load(path, path.read_bytes())
    return doc, doc.chunks(words, max_tokens=kw.get("max_tokens", 128), overlap_tokens=16)


def test_pdf_chunks_carry_page_and_lines_within_the_page(tmp_path):
    pages = [["Contents", "1 Safety", "2 Torque"], ["Safety", "Wear gloves at all times."],
             ["Torque values", "Wheel nuts: 110 N m.", "Flange bolts: 42 N m.", "Drain plug: 25 N m."]]
    doc, chunks = chunks_of(make_pdf(tmp_path / "manual.pdf", pages, title="Tractor Manual"))
    assert doc.title == "Tractor Manual" and doc.kind == "pdf"
    hit = [c for c in chunks if "Flange bolts: 42 N m." in c.text]
    assert len(hit) == 1 and hit[0].page == 3
    # the lines are the page's own: line 3 of page 3 is the flange line
    assert hit[0].line_start <= 3 <= hit[0].line_end
    assert pages[2][hit[0].line_start - 1 : hit[0].line_end] == hit[0].text.split("\n")
    # the title is matched on (embedded), the stored text stays the document's own words
    assert hit[0].embed_text().startswith("Tractor Manual\n") and "Tractor Manual" not in hit[0].text


def test_pdf_title_falls_back_to_first_line(tmp_path):
    doc, _ = chunks_of(make_pdf(tmp_path / "x.pdf", [["Pump Handbook", "text"]]))
    assert doc.title == "Pump Handbook"


def test_passage_label_shows_page_and_lines():
    p = Passage("t", path="/docs/manual.pdf", page=12, line_start=3, line_end=9)
    assert p.label() == "/docs/manual.pdf, page 12, lines 3-9"
    assert Passage("t", path="g.docx", heading="Setup > Wiring", line_start=4, line_end=7).label() == "g.docx, paragraphs 4-7, Setup > Wiring"
    assert Passage("t", path="a.md", line_start=5, line_end=5).label() == "a.md, line 5"


def test_html_main_text_headings_table_and_no_chrome(tmp_path):
    f = tmp_path / "guide.html"
    f.write_text(HTML_PAGE)
    doc, chunks = chunks_of(f)
    assert doc.title == "Pump Station Guide"
    text = "\n".join(c.text for c in chunks)
    for junk in ("SCRIPT-TEXT", "HEADER-NAV", "NAV-MENU", "ASIDE-TEXT", "FOOTER-TEXT", "color: red"):
        assert junk not in text
    assert "Intake pressure | 2.5 bar" in text
    prime = next(c for c in chunks if "bleed valve" in c.text)
    assert prime.heading == "Pump Station Guide > Priming"
    assert "Open the bleed valve before starting the pump.\nClose it when water flows." in prime.text
    assert prime.line_start == prime.line_end == 4  # the 4th block of the page


def test_html_title_from_h1_and_no_text(tmp_path):
    f = tmp_path / "a.html"
    f.write_text("<html><body><h1>Only A Heading</h1><p>and a line</p></body></html>")
    assert load(f, f.read_bytes()).title == "Only A Heading"
    f.write_text("<html><head><script>x=1</script></head><body><nav>menu</nav></body></html>")
    with pytest.raises(DocumentError, match="no text"):
        load(f, f.read_bytes())


def test_html_legacy_encoding(tmp_path):
    f = tmp_path / "l.html"
    f.write_bytes('<html><head><meta charset="iso-8859-1"></head><body><p>Température 20 °C</p></body></html>'.encode("latin-1"))
    _, chunks = chunks_of(f)
    assert "Température 20 °C" in chunks[0].text


def test_docx_headings_paragraphs_tables(tmp_path):
    f = make_docx(tmp_path / "g.docx", [("h1", "Setup"), ("p", "Plug it in."), ("h2", "Wiring"), ("p", "Red goes to plus."),
                                        ("table", [["Wire", "Colour"], ["Live", "Brown"]])], title="Install Guide")
    doc, chunks = chunks_of(f)
    assert doc.title == "Install Guide"
    wiring = next(c for c in chunks if "Red goes" in c.text)
    assert wiring.heading == "Setup > Wiring" and "Live | Brown" in wiring.text
    assert (wiring.line_start, wiring.line_end) == (4, 5)
    assert wiring.embed_text().startswith("Install Guide > Setup > Wiring\n")
    doc2, _ = chunks_of(make_docx(tmp_path / "h.docx", [("h1", "First Heading"), ("p", "x")]))
    assert doc2.title == "First Heading"


def test_bad_pdfs_one_line_each(tmp_path):
    good = make_pdf(tmp_path / "g.pdf", [["some text"]])
    cases = {
        make_pdf(tmp_path / "enc.pdf", [["secret"]], password="pw"): "encrypted PDF",
        make_scanned_pdf(tmp_path / "scan.pdf"): "no text layer: OCR is not supported",
    }
    trunc = tmp_path / "trunc.pdf"
    trunc.write_bytes(good.read_bytes()[:200])
    cases[trunc] = "corrupt or truncated PDF"
    fake = tmp_path / "fake.pdf"
    fake.write_text("hello, not a pdf")
    cases[fake] = "not a PDF"
    for f, msg in cases.items():
        with pytest.raises(DocumentError, match=msg) as e:
            load(f, f.read_bytes())
        assert "\n" not in str(e.value)


def test_bad_docx_not_a_zip_and_zip_bomb(tmp_path):
    f = tmp_path / "x.docx"
    f.write_text("plain text named .docx")
    with pytest.raises(DocumentError, match="not a zip"):
        load(f, f.read_bytes())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", b"\0" * (30 * 1024 * 1024))
    f.write_bytes(buf.getvalue())
    with pytest.raises(DocumentError, match="zip bomb"):
        load(f, f.read_bytes())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "a zip, not a Word file")
    f.write_bytes(buf.getvalue())
    with pytest.raises(DocumentError, match="no word/document.xml"):
        load(f, f.read_bytes())


def test_a_file_that_vanishes_before_it_is_read_is_one_line(tmp_path):
    from edge.rag.store import Index

    idx = Index(tmp_path / "i.db")
    out = idx._prepare(tmp_path / "gone.pdf")
    assert out.status == "failed" and out.reason == "no such file or folder"

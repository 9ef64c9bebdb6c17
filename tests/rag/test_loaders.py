"""Loaders for PDF, HTML and Word files made by real libraries (fpdf2, python-docx), EPUB files made
to the EPUB 3 specification; bad files."""

from __future__ import annotations

import io
import zipfile

import pytest

from edge.errors import DocumentError
from edge.prompt import Passage
from edge.rag.loaders import load

from .docfiles import EPUB_CHAPTERS, HTML_PAGE, make_docx, make_epub, make_pdf, make_scanned_pdf, xhtml_page


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
    # an EPUB's paragraphs are counted within the chapter that heads its trail
    assert Passage("t", path="b.epub", heading="Installing > Wiring", line_start=3, line_end=7).label() == "b.epub, chapter 'Installing', paragraphs 3-7, Wiring"
    assert Passage("t", path="b.epub", heading="Installing", line_start=2, line_end=2).label() == "b.epub, chapter 'Installing', paragraph 2"


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


# -- EPUB -------------------------------------------------------------------------------------

def test_epub_chapters_in_reading_order_with_chapter_heading_trail_and_paragraphs(tmp_path):
    f = make_epub(tmp_path / "manual.epub", EPUB_CHAPTERS, title="Irrigation Controller Manual")
    doc, chunks = chunks_of(f, max_tokens=40)
    assert doc.title == "Irrigation Controller Manual" and doc.kind == "epub"
    assert [s.blocks[0].lines[0] for s in doc.sections] == ["Installing", "Watering Programs"]  # the nav page has no text
    text = "\n".join(c.text for c in chunks)
    assert "Contents" not in text and "Contents" not in {c.heading for c in chunks}
    wiring = next(c for c in chunks if "COM" in c.text)
    # the chapter's paragraphs count from its top: its heading is 1, then 2 paras, "Wiring" is 4
    assert wiring.heading == "Installing > Wiring" and (wiring.line_start, wiring.line_end) == (5, 6)
    assert wiring.embed_text().startswith("Irrigation Controller Manual > Installing > Wiring\n")
    first = next(c for c in chunks if "Unpack" in c.text)
    assert first.heading == "Installing" and first.line_start == 2
    # a chapter heading inside <header>, a table, and a footnote in <aside> are the book's text
    limits = next(c for c in chunks if "Zone run time" in c.text)
    assert limits.heading == "Watering Programs > Limits" and "Zone run time | 1 to 240 minutes" in limits.text
    assert any("4 mm of rain" in c.text and c.heading == "Watering Programs > Limits" for c in chunks)
    p = Passage(wiring.text, path=str(f), heading=wiring.heading, line_start=wiring.line_start, line_end=wiring.line_end)
    assert p.label() == f"{f}, chapter 'Installing', paragraphs 5-6, Wiring"


def test_epub_title_and_chapter_name_fallbacks(tmp_path):
    chapters = [("a.xhtml", "Getting Started", "<p>No heading here: the table of contents names this chapter.</p>"),
                ("b.xhtml", "Part 1", "<h2>Introduction</h2><p>Part one.</p>"),
                ("c.xhtml", "Part 2", "<h2>Introduction</h2><p>Part two.</p>")]
    doc, chunks = chunks_of(make_epub(tmp_path / "untitled.epub", chapters, title=None))
    assert doc.title == "Introduction"  # no dc:title: the first heading
    # a chapter's first heading names it, else its entry in the contents; the same name twice: the file tells them apart
    assert [c.heading for c in chunks] == ["Getting Started", "Introduction", "Introduction (c.xhtml)"]
    empty_toc = {"OEBPS/nav.xhtml": xhtml_page("Contents", '<nav epub:type="toc"><ol><li><span>-</span></li></ol></nav>')}
    doc, chunks = chunks_of(make_epub(tmp_path / "bare.epub", chapters[:1], title=None, parts=empty_toc))
    assert doc.title == "bare" and chunks[0].heading == "a.xhtml"  # no title, no heading, no contents: the file's name


def test_epub_2_package_html_entities_and_escaped_hrefs(tmp_path):
    """An EPUB 2 layout: the package in the archive's root, an XHTML 1.1 chapter that uses HTML's
    named entities without their DTD (not well-formed XML on its own), an href with %20, an NCX."""
    container = EPUB_CONTAINER_ROOT
    opf = """<?xml version="1.0"?>
<package xmlns="http://www.idpf.org/2007/opf" version="2.0" unique-identifier="id">
<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Old Book</dc:title><dc:identifier id="id">x</dc:identifier></metadata>
<manifest><item id="c" href="Text/chapter%201.html" media-type="application/xhtml+xml"/>
<item id="c2" href="Text/two.html" media-type="application/xhtml+xml"/>
<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>
<item id="img" href="cover.jpg" media-type="image/jpeg"/></manifest>
<spine toc="ncx"><itemref idref="img"/><itemref idref="c"/><itemref idref="c2"/></spine></package>"""
    ncx = """<?xml version="1.0"?><ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1"><navMap>
<navPoint id="n1" playOrder="1"><navLabel><text>One</text></navLabel><content src="Text/chapter%201.html"/></navPoint>
<navPoint id="n2" playOrder="2"><navLabel><text>The Second Chapter</text></navLabel><content src="Text/two.html#start"/></navPoint>
</navMap></ncx>"""
    chapter = """<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN" "http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd">
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>One</title></head>
<body><h1>Chapter&nbsp;One</h1><p>It was 5&nbsp;km &mdash; no more.</p></body></html>"""
    f = tmp_path / "old.epub"
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("mimetype", "application/epub+zip")
        z.writestr("META-INF/container.xml", container)
        z.writestr("book.opf", opf)
        z.writestr("Text/chapter 1.html", chapter)
        z.writestr("cover.jpg", b"\xff\xd8\xff not really a jpeg")
        z.writestr("toc.ncx", ncx)
        z.writestr("Text/two.html", '<html xmlns="http://www.w3.org/1999/xhtml"><body><p class="chapter-title">2</p><p>Second.</p></body></html>')
    doc, chunks = chunks_of(f)
    assert doc.title == "Old Book"
    assert len(chunks) == 2 and chunks[0].heading == "Chapter One" and chunks[0].text == "It was 5 km \u2014 no more."
    assert chunks[1].heading == "The Second Chapter"  # no heading in it: its label in the NCX contents


EPUB_CONTAINER_ROOT = """<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
<rootfiles><rootfile full-path="book.opf" media-type="application/oebps-package+xml"/></rootfiles></container>"""

ENCRYPTION = """<?xml version="1.0"?>
<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" xmlns:enc="http://www.w3.org/2001/04/xmlenc#">
<enc:EncryptedData><enc:EncryptionMethod Algorithm="{alg}"/>
<enc:CipherData><enc:CipherReference URI="{uri}"/></enc:CipherData></enc:EncryptedData></encryption>"""


def test_bad_epubs_one_line_each(tmp_path):
    import random

    cipher = random.Random(7).randbytes(4096)
    aes = "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
    cases = {}

    def case(name, msg, **kw):
        cases[make_epub(tmp_path / name, EPUB_CHAPTERS, **kw)] = msg

    case("drm.epub", "encrypted EPUB (DRM): not supported",
         parts={"META-INF/encryption.xml": ENCRYPTION.format(alg=aes, uri="OEBPS/ch1.xhtml"), "OEBPS/ch1.xhtml": cipher})
    # Adobe's DRM without an encryption entry for the chapter still shows as ciphertext
    case("adept.epub", "encrypted EPUB (DRM): not supported", parts={"META-INF/rights.xml": "<rights/>", "OEBPS/ch2.xhtml": cipher})
    case("noopf.epub", "broken EPUB: its package file OEBPS/content.opf is missing", parts={"OEBPS/content.opf": None})
    case("nocontainer.epub", "not an EPUB file (no META-INF/container.xml inside)", parts={"META-INF/container.xml": None})
    case("nochapter.epub", "broken EPUB: chapter OEBPS/ch2.xhtml (in its spine) is missing", parts={"OEBPS/ch2.xhtml": None})
    case("badopf.epub", "broken EPUB: OEBPS/content.opf is not readable XML", parts={"OEBPS/content.opf": b"\x00\x01 not xml"})
    case("images.epub", "no text in this EPUB", parts={"OEBPS/ch1.xhtml": '<html xmlns="http://www.w3.org/1999/xhtml"><body><img src="a.png"/></body></html>',
                                                      "OEBPS/ch2.xhtml": '<html xmlns="http://www.w3.org/1999/xhtml"><body><h1>Only a heading</h1></body></html>'})
    # a name from inside the file is shown on one line, its control characters escaped
    cases[make_epub(tmp_path / "nl.epub", [("a%0A%1B[2Jb.xhtml", "A", "<p>x</p>")], parts={"OEBPS/a%0A%1B[2Jb.xhtml": None})] = \
        "broken EPUB: chapter OEBPS/a\\n\\x1b[2Jb.xhtml (in its spine) is missing"
    cut = tmp_path / "cut.epub"
    cut.write_bytes(make_epub(tmp_path / "whole.epub", EPUB_CHAPTERS).read_bytes()[:700])
    cases[cut] = "corrupt or truncated zip archive: not readable as an EPUB file"
    notzip = tmp_path / "notzip.epub"
    notzip.write_text("plain text named .epub")
    cases[notzip] = "not an EPUB file (not a zip archive)"
    bomb = tmp_path / "bomb.epub"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("mimetype", "application/epub+zip")
        z.writestr("META-INF/container.xml", EPUB_CONTAINER_ROOT)
        z.writestr("book.opf", b"<package/>" + b" " * (30 * 1024 * 1024))
    cases[bomb] = "zip bomb"
    for f, msg in cases.items():
        with pytest.raises(DocumentError) as e:
            load(f, f.read_bytes())
        assert msg in str(e.value), (f.name, str(e.value))
        assert "\n" not in str(e.value)


def test_epub_obfuscated_fonts_are_not_drm(tmp_path):
    enc = ENCRYPTION.format(alg="http://www.idpf.org/2008/embedding", uri="OEBPS/fonts/serif.otf")
    f = make_epub(tmp_path / "fonts.epub", EPUB_CHAPTERS, parts={"META-INF/encryption.xml": enc, "OEBPS/fonts/serif.otf": b"\x00\x01obfuscated"})
    assert len(load(f, f.read_bytes()).sections) == 2
    # the same entry naming a chapter with a real cipher is DRM
    enc = ENCRYPTION.format(alg="http://www.w3.org/2001/04/xmlenc#aes256-cbc", uri="OEBPS/ch2.xhtml")
    f = make_epub(tmp_path / "locked.epub", EPUB_CHAPTERS, parts={"META-INF/encryption.xml": enc})
    with pytest.raises(DocumentError, match=r"encrypted EPUB \(DRM\)"):
        load(f, f.read_bytes())


def test_epub_member_names_are_only_names(tmp_path, monkeypatch):
    """A member named "../../x" (or "/x") is read by its name from the archive, never written out."""
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    opf_items = '<item id="e" href="../../../escape.xhtml" media-type="application/xhtml+xml"/>'
    f = make_epub(tmp_path / "a" / "b" / "t.epub", [], parts={
        "../../escape.xhtml": '<html xmlns="http://www.w3.org/1999/xhtml"><body><h1>Out</h1><p>Read in place.</p></body></html>',
        "/abs.xhtml": "<html><body><p>absolute</p></body></html>",
    })
    # point the spine at the traversing name
    with zipfile.ZipFile(f) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    opf = members["OEBPS/content.opf"].decode().replace("<manifest>", "<manifest>" + opf_items).replace("<spine>", '<spine><itemref idref="e"/>')
    members["OEBPS/content.opf"] = opf.encode()
    with zipfile.ZipFile(f, "w") as z:
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name), data)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    doc, chunks = chunks_of(f)
    assert [c.text for c in chunks] == ["Read in place."] and chunks[0].heading == "Out"
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_epub_entities_are_never_expanded_nor_files_read(tmp_path):
    """An external entity (a local file) and nested entities (a "billion laughs") in a chapter are
    left as they are written: nothing is read from the disk, nothing grows."""
    g = "".join(f'<!ENTITY {n} "{("&" + p + ";") * 10}">' for p, n in zip("abcdef", "bcdefg"))
    chapter = f"""<?xml version="1.0"?>
<!DOCTYPE html [<!ENTITY x SYSTEM "file:///etc/passwd"><!ENTITY a "aaaaaaaaaa">{g}]>
<html xmlns="http://www.w3.org/1999/xhtml"><body><h1>T</h1><p>x &x; y &g; z</p></body></html>"""
    f = make_epub(tmp_path / "lol.epub", [("c.xhtml", "T", "<p>-</p>")], parts={"OEBPS/c.xhtml": chapter})
    _, chunks = chunks_of(f)
    text = "\n".join(c.text for c in chunks)
    assert "x &x; y &g; z" in text and "root:" not in text and len(text) < 200


def test_html_source_wrapping_is_not_a_line_break_but_br_is(tmp_path):
    """Pages and books are wrapped in their source: a heading or a cell broken across lines is
    one heading or cell (the trail and the citation stay one line), a paragraph one line until a <br>."""
    f = tmp_path / "w.html"
    f.write_text("<html><head><title>A\n  Page</title></head><body><h1>UNIT\n  1 -<br/>Introduction</h1>"
                 "<p>The pump\nruns <b>every\nhour</b>\nat night.<br>Second line.</p>"
                 "<table><tr><td>Intake\npressure</td><td>2.5 bar</td></tr></table></body></html>")
    doc, chunks = chunks_of(f)
    assert doc.title == "A Page"
    assert chunks[0].heading == "UNIT 1 - Introduction"
    assert chunks[0].text == "The pump runs every hour at night.\nSecond line.\n\nIntake pressure | 2.5 bar"

"""Documents made by real libraries for the loader tests: PDF by fpdf2, Word by python-docx; EPUB
by zipfile, to the EPUB 3 specification (the one maintained EPUB writer on PyPI, EbookLib, is
AGPL-licensed: not a dependency for an Apache-2.0 project, even a test-only one)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.sax.saxutils import escape


def make_pdf(path: Path, pages: list[list[str]], *, title: str | None = None, password: str | None = None) -> Path:
    """A PDF whose page i holds the lines `pages[i]` (a real text layer, Helvetica)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(False)
    if title:
        pdf.set_title(title)
    if password:
        pdf.set_encryption(owner_password="owner-" + password, user_password=password)
    for lines in pages:
        pdf.add_page()
        pdf.set_font("Helvetica", size=11)
        for ln in lines:
            pdf.cell(0, 6, ln, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def make_scanned_pdf(path: Path) -> Path:
    """A PDF whose only page is a picture: no text layer, as a scanner makes."""
    from fpdf import FPDF
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (400, 200), "white")
    ImageDraw.Draw(img).text((20, 80), "The torque is 12 N m", fill="black")
    pdf = FPDF()
    pdf.add_page()
    pdf.image(img, x=10, y=10, w=150)
    pdf.output(str(path))
    return path


def make_docx(path: Path, blocks: list[tuple[str, object]], *, title: str | None = None) -> Path:
    """A Word file from ("h1"|"h2"|"p"|"table", content) blocks."""
    import docx

    d = docx.Document()
    if title:
        d.core_properties.title = title
    for kind, content in blocks:
        if kind.startswith("h"):
            d.add_heading(str(content), level=int(kind[1]))
        elif kind == "p":
            d.add_paragraph(str(content))
        elif kind == "table":
            rows = content
            t = d.add_table(rows=len(rows), cols=len(rows[0]))
            for i, row in enumerate(rows):
                for j, cell in enumerate(row):
                    t.cell(i, j).text = cell
    d.save(str(path))
    return path


HTML_PAGE = """<!doctype html>
<html><head><title>Pump Station Guide</title><style>body { color: red }</style>
<script>var secret = "SCRIPT-TEXT-MUST-NOT-APPEAR";</script></head>
<body>
<header><a href="/">Home</a> | <a href="/about">HEADER-NAV-TEXT</a></header>
<nav><ul><li>NAV-MENU-ITEM</li></ul></nav>
<main>
<h1>Pump Station Guide</h1>
<p>The station has two pumps that share one intake.</p>
<h2>Priming</h2>
<p>Open the bleed valve <b>before</b> starting the pump.<br>Close it when water flows.</p>
<h2>Limits</h2>
<table><tr><th>Part</th><th>Limit</th></tr>
<tr><td>Intake pressure</td><td>2.5 bar</td></tr>
<tr><td>Motor current</td><td>14 A</td></tr></table>
</main>
<aside>ASIDE-TEXT</aside>
<footer>FOOTER-TEXT copyright</footer>
</body></html>
"""


EPUB_CONTAINER = """<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles>
    <rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>
  </rootfiles>
</container>
"""


def xhtml_page(title: str, body: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" xml:lang="en" lang="en">
<head><meta charset="UTF-8"/><title>{escape(title)}</title></head>
<body>
{body}
</body>
</html>
"""


def make_epub(path: Path, chapters: list[tuple[str, str, str]], *, title: str | None = "A Book",
              parts: dict[str, bytes | str | None] | None = None) -> Path:
    """An EPUB 3 file: `chapters` are (file name, table-of-contents label, XHTML body), in reading
    order under OEBPS/, after a navigation document (itself in the spine, as many books have it).

    What the specification asks and readers check: the `mimetype` member first and stored
    uncompressed, META-INF/container.xml naming the package file, a package with a unique
    identifier, title, language and modification date, a manifest, a spine and a nav document.
    `parts` adds members, replaces them, or (None) leaves them out, to make broken books."""
    items = ['<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>']
    refs = ['<itemref idref="nav"/>']
    toc = []
    for i, (name, label, _) in enumerate(chapters, 1):
        items.append(f'<item id="c{i}" href="{escape(name)}" media-type="application/xhtml+xml"/>')
        refs.append(f'<itemref idref="c{i}"/>')
        toc.append(f'<li><a href="{escape(name)}">{escape(label)}</a></li>')
    dc_title = f"<dc:title>{escape(title)}</dc:title>" if title else ""
    opf = f"""<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="uid" xml:lang="en">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="uid">urn:uuid:8a6b1c3e-2f4d-4e5a-9b7c-0d1e2f3a4b5c</dc:identifier>
    {dc_title}
    <dc:language>en</dc:language>
    <meta property="dcterms:modified">2026-01-01T00:00:00Z</meta>
  </metadata>
  <manifest>
    {chr(10).join(items)}
  </manifest>
  <spine>
    {chr(10).join(refs)}
  </spine>
</package>
"""
    nav = xhtml_page("Contents", '<nav epub:type="toc" id="toc"><h1>Contents</h1><ol>' + "".join(toc) + "</ol></nav>")
    members: dict[str, bytes | str | None] = {"META-INF/container.xml": EPUB_CONTAINER, "OEBPS/content.opf": opf, "OEBPS/nav.xhtml": nav}
    for name, label, body in chapters:
        members[f"OEBPS/{name}"] = xhtml_page(label, body)
    members.update(parts or {})
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        for name, data in members.items():
            if data is not None:
                z.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    return path


# A small manual as a book: two chapters with headings, paragraphs and a table.
EPUB_CHAPTERS = [
    ("ch1.xhtml", "Installing", """<section epub:type="chapter">
<h1>Installing</h1>
<p>Unpack the irrigation controller and check the parts list.</p>
<p>Mount the controller on a wall out of direct sunlight.</p>
<h2>Wiring</h2>
<p>Connect the common wire to the terminal marked COM.</p>
<p>Each valve wire goes to its own numbered zone terminal.</p>
</section>"""),
    ("ch2.xhtml", "Watering Programs", """<section epub:type="chapter">
<header><h1>Watering Programs</h1></header>
<p>A program runs its zones one after another, never at once.</p>
<h2>Limits</h2>
<table><tr><th>Setting</th><th>Range</th></tr>
<tr><td>Zone run time</td><td>1 to 240 minutes</td></tr>
<tr><td>Start times per program</td><td>up to 6</td></tr></table>
<aside epub:type="footnote"><p>The rain sensor pauses every program after 4 mm of rain.</p></aside>
</section>"""),
]

"""Documents made by real libraries for the loader tests: PDF by fpdf2, Word by python-docx."""

from __future__ import annotations

from pathlib import Path


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

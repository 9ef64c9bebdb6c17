"""Read a file of any supported format into blocks for the chunker, with a title and locations.

Text formats (Markdown, reStructuredText, plain text) are parsed by `chunk.py`. Here:

- PDF through pypdfium2: the text layer of each page; a chunk's location is the page and the
  lines within that page ("manual.pdf, page 12, lines 3-9"). Title: the PDF's metadata, else
  its first line, else the file name.
- HTML through lxml: the main text, headings, lists and tables (a data table as one row per
  line, cells joined by " | "); scripts, styles, navigation, headers, footers and asides are
  dropped. A chunk's location is its heading trail and its range of paragraphs (blocks counted
  from the top of the page). Title: `<title>`, else the first `<h1>`, else the file name.
- Word (.docx) through python-docx: "Heading N" / "Title" styled paragraphs make the heading
  trail, then paragraphs and tables (rows as for HTML). Location: heading trail + paragraphs.
  Title: the document's core property, else its first heading, else the file name.
- EPUB (2 and 3) through zipfile + lxml: the chapters in reading order (the package's spine),
  each read like an HTML page (headers, footers and asides kept: in a book they are text).
  Location: the chapter (its first heading, else its label in the table of contents, else its
  file name) heads the heading trail, then paragraphs counted from the chapter's top
  ("book.epub, chapter 'Installing', paragraphs 3-7").
  Title: the package's dc:title, else the first heading, else the file name. DRM-encrypted
  books, zip bombs and broken packages are refused with one line.

Every problem a file can have is a `DocumentError` whose message is one line for the user.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DocumentError
from .chunk import PARSERS, Block, Chunk, chunk_blocks, kind_of, title_of

# A .docx or .epub whose parts inflate past this (or at a ratio past ZIP_RATIO) is refused as a zip bomb
# before anything is inflated.
ZIP_MAX_BYTES = 200 * 1024 * 1024
ZIP_RATIO = 200
PDF_MAX_PAGES = 5000

# Where a location counts paragraphs rather than lines.
PARAGRAPH_KINDS = {"html", "docx", "epub"}


@dataclass
class Section:
    """A run of blocks sharing one page (PDF) or the whole document (page 0)."""

    blocks: list[Block]
    page: int = 0


@dataclass
class Document:
    title: str
    kind: str
    sections: list[Section] = field(default_factory=list)

    def chunks(self, count_tokens, *, max_tokens: int, overlap_tokens: int) -> list[Chunk]:
        out: list[Chunk] = []
        for s in self.sections:
            for c in chunk_blocks(s.blocks, count_tokens, max_tokens=max_tokens, overlap_tokens=overlap_tokens, title=self.title):
                c.page = s.page
                out.append(c)
        return out


def load(path: Path, data: bytes, kind: str | None = None, *, text: str | None = None) -> Document:
    """Parse `data` (the bytes of `path`) by its kind; raises DocumentError. `text`: a text
    format's content already decoded (the index's reader knows byte-order marks)."""
    kind = kind or kind_of(path)
    if kind == "pdf":
        return load_pdf(path, data)
    if kind == "html":
        return load_html(path, data)
    if kind == "docx":
        return load_docx(path, data)
    if kind == "epub":
        return load_epub(path, data)
    if kind in PARSERS:
        return load_text(path, data, kind, text=text)
    raise DocumentError(f"unsupported file type {path.suffix or '(none)'!r}")


def _clean(s: str) -> str:
    """One line: runs of white space (line breaks too: a heading or a cell broken across the
    source's lines is still one heading) as one space. Callers split lines they keep first."""
    return re.sub(r"[\s\u00a0\u200b]+", " ", s).strip()


# -- text -------------------------------------------------------------------------------------

def load_text(path: Path, data: bytes, kind: str, *, text: str | None = None) -> Document:
    if text is None:
        if b"\x00" in data[:8192]:
            raise DocumentError("binary file (NUL bytes), not text")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DocumentError(f"not valid UTF-8 (byte {e.start})") from None
    if not text.strip():
        raise DocumentError("empty file")
    lines = text.lstrip("\ufeff").splitlines()
    return Document(title_of(lines, kind, path.stem), kind, [Section(PARSERS[kind](lines))])


# -- PDF --------------------------------------------------------------------------------------

def load_pdf(path: Path, data: bytes) -> Document:
    import pypdfium2 as pdfium

    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise DocumentError("not a PDF file (no %PDF header)")
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as e:
        msg = str(e)
        if "password" in msg.lower():
            raise DocumentError("encrypted PDF (needs a password): edge cannot read it") from None
        raise DocumentError(f"corrupt or truncated PDF ({msg.rstrip('.')})") from None
    try:
        n = len(pdf)
        if n == 0:
            raise DocumentError("corrupt or truncated PDF (no pages)")
        if n > PDF_MAX_PAGES:
            raise DocumentError(f"too many pages ({n}; the limit is {PDF_MAX_PAGES})")
        sections: list[Section] = []
        first_line = ""
        for i in range(n):
            try:
                page = pdf[i]
                tp = page.get_textpage()
                text = tp.get_text_range()
                tp.close()
                page.close()
            except pdfium.PdfiumError as e:
                raise DocumentError(f"corrupt PDF: page {i + 1} cannot be read ({e})") from None
            lines = [_clean(ln) for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
            # a lone page number or running header line is still a line: keep numbering true to the page
            if not any(lines):
                continue
            if not first_line:
                first_line = next(ln for ln in lines if ln)
            sections.append(Section(PARSERS["text"](lines), page=i + 1))
        if not sections:
            raise DocumentError("no text layer: OCR is not supported")
        meta = {}
        try:
            meta = pdf.get_metadata_dict(skip_empty=True)
        except Exception:  # metadata is a nicety; a PDF whose info dictionary is broken still reads
            pass
        title = _clean(meta.get("Title", "")) or first_line[:120] or path.stem
        return Document(title, "pdf", sections)
    finally:
        pdf.close()


# -- HTML -------------------------------------------------------------------------------------

_DROP = {"script", "style", "nav", "header", "footer", "aside", "noscript", "template", "svg", "form", "button",
         "iframe", "head", "select", "input", "canvas", "object", "embed", "video", "audio", "map"}
_BLOCK = {"p", "div", "section", "article", "main", "body", "ul", "ol", "li", "dl", "dt", "dd", "blockquote", "pre",
          "table", "thead", "tbody", "tfoot", "tr", "td", "th", "figure", "figcaption", "hr", "address", "details",
          "summary", "fieldset", "center", "caption", "html", "h1", "h2", "h3", "h4", "h5", "h6", "menu", "hgroup",
          "header", "footer", "aside"}  # dropped from web pages, read in an EPUB's chapters
_CELL_BLOCKS = _BLOCK - {"td", "th", "tr", "thead", "tbody", "tfoot", "caption", "hr"}


def _html_encoding(data: bytes) -> str:
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    m = re.search(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", data[:4096], re.I)
    if m:
        enc = m.group(1).decode("ascii", "replace")
        try:
            "".encode(enc)
            return enc
        except LookupError:
            pass
    return "windows-1252"


class _Blocks:
    """Blocks in document order, numbered as paragraphs (each block is one "line")."""

    def __init__(self):
        self.blocks: list[Block] = []

    def add(self, kind: str, lines: list[str], level: int = 0) -> None:
        lines = [ln for ln in lines if ln.strip()] if kind != "code" else lines
        while lines and not lines[-1].strip():
            lines.pop()
        while lines and not lines[0].strip():
            lines.pop(0)
        if not lines:
            return
        n = len(self.blocks) + 1
        self.blocks.append(Block(kind, lines, n, n, level=level))


def _is_data_table(table) -> bool:
    """A table whose cells hold only inline content is data; one holding blocks is page layout."""
    for el in table.iter():
        if el is not table and isinstance(el.tag, str) and el.tag.lower() in _CELL_BLOCKS | {"table"}:
            return False
    return True


def _flow(text: str) -> str:
    """Text of the page's source: its line breaks are wrapping, not the text's (only `<br>` is)."""
    return text.replace("\r", " ").replace("\n", " ")


def _inline_text(el, drop=_DROP) -> str:
    """An element's text with `<br>` as a line break, scripts and the like dropped."""
    parts: list[str] = []

    def walk(e):
        tag = e.tag.lower() if isinstance(e.tag, str) else ""
        if tag in drop:
            if e.tail:
                parts.append(_flow(e.tail))
            return
        if tag == "br":
            parts.append("\n")
        elif e.text and tag:
            parts.append(_flow(e.text))
        for c in e:
            walk(c)
        if e.tail and e is not el:
            parts.append(_flow(e.tail))

    walk(el)
    return "".join(parts)


def _parse_html(data: bytes):
    """The root element of an HTML page (lxml.html, which knows HTML's entities and tag soup)."""
    import lxml.etree
    import lxml.html

    try:
        parser = lxml.html.HTMLParser(encoding=_html_encoding(data), remove_comments=True, remove_pis=True)
        return lxml.html.document_fromstring(data, parser=parser)
    except (lxml.etree.ParserError, ValueError) as e:
        raise DocumentError(f"not readable as HTML ({e})") from None


def html_blocks(root, *, drop: frozenset[str] | set[str] = _DROP) -> tuple[str, list[Block]]:
    """The `<title>` (or "") and the blocks of a parsed HTML page, numbered as paragraphs from 1.

    The main text only: elements whose tag is in `drop` are passed over with everything in them;
    if the page has a single `<main>` (or `<article>`), only that is read."""
    title = ""
    t = root.find(".//title")
    if t is not None and t.text_content():
        title = _clean(t.text_content())
    body = root.find(".//body")
    if body is None:
        body = root
    mains = body.findall(".//main") or body.findall(".//article")
    top = mains[0] if len(mains) == 1 else body
    out = _Blocks()
    buf: list[str] = []

    def flush_inline():
        text = "".join(buf)
        buf.clear()
        out.add("para", [_clean(ln) for ln in text.split("\n")])

    def walk(el):
        tag = el.tag.lower() if isinstance(el.tag, str) else ""
        if not tag:  # comments and the like
            return
        if tag in drop:
            return
        if re.fullmatch(r"h[1-6]", tag):
            flush_inline()
            text = _clean(_inline_text(el, drop))  # a <br> in a heading is a space, not nothing
            if text:
                out.add("heading", [text], level=int(tag[1]))
            return
        if tag == "pre":
            flush_inline()
            out.add("code", el.text_content().rstrip().split("\n"))
            return
        if tag == "table" and _is_data_table(el):
            flush_inline()
            rows = []
            for tr in el.iter("tr"):
                cells = [_clean(c.text_content()) for c in tr if isinstance(c.tag, str) and c.tag.lower() in ("td", "th")]
                if any(cells):
                    rows.append(" | ".join(cells))
            cap = el.find("caption")
            out.add("table", ([_clean(cap.text_content())] if cap is not None else []) + rows)
            return
        if tag in _BLOCK:
            flush_inline()
            if el.text:
                buf.append(_flow(el.text))
            for c in el:
                walk(c)
                if c.tail:
                    buf.append(_flow(c.tail))
            flush_inline()
            return
        # inline: its text joins the paragraph being collected
        buf.append(_inline_text(el, drop))

    walk(top)
    flush_inline()
    return title, out.blocks


def load_html(path: Path, data: bytes) -> Document:
    if not data.strip():
        raise DocumentError("empty file")
    title, blocks = html_blocks(_parse_html(data))
    if not title:
        h1 = next((b for b in blocks if b.kind == "heading" and b.level == 1), None)
        title = h1.lines[0] if h1 else path.stem
    if not any(b.kind != "heading" for b in blocks):
        raise DocumentError("no text in this HTML page (only markup, scripts or navigation)")
    return Document(title, "html", [Section(blocks)])


# -- Word -------------------------------------------------------------------------------------

def _open_zip(data: bytes, what: str) -> zipfile.ZipFile:
    """The zip archive in `data` (a .docx, an .epub), refused before anything is inflated if its
    parts would inflate past ZIP_MAX_BYTES or at a ratio past ZIP_RATIO. `what`: "a Word .docx
    file", for the message when it is not a zip at all."""
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, ValueError, EOFError, OSError, struct.error):
        # (a damaged directory can claim a zip version or a feature that zipfile does not have)
        if data[:4] == b"PK\x03\x04":
            raise DocumentError(f"corrupt or truncated zip archive: not readable as {what}") from None
        raise DocumentError(f"not {what} (not a zip archive)") from None
    infos = z.infolist()
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos) or 1
    if total > ZIP_MAX_BYTES or total / packed > ZIP_RATIO:
        z.close()
        raise DocumentError(
            f"refused: its parts would inflate to {total / 1e6:.0f} MB from {packed / 1e6:.1f} MB (a zip bomb?)"
        )
    return z


def _check_zip(data: bytes) -> None:
    with _open_zip(data, "a Word .docx file") as z:
        if "word/document.xml" not in z.namelist():
            raise DocumentError("not a Word .docx file (no word/document.xml inside)")


def _heading_level(style_name: str) -> int:
    if style_name == "Title":
        return 1
    m = re.fullmatch(r"Heading (\d)", style_name or "")
    return int(m.group(1)) if m else 0


def load_docx(path: Path, data: bytes) -> Document:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    _check_zip(data)
    try:
        d = docx.Document(io.BytesIO(data))
    except Exception as e:  # python-docx raises PackageNotFoundError, KeyError, lxml errors ...
        raise DocumentError(f"not a readable Word document ({type(e).__name__}: {e})") from None
    out = _Blocks()
    first_heading = ""
    try:
        for el in d.element.body.iterchildren():
            tag = el.tag.rsplit("}", 1)[-1]
            if tag == "p":
                p = Paragraph(el, d)
                text = _clean(p.text)
                if not text:
                    continue
                style = p.style.name if p.style is not None else ""
                level = _heading_level(style)
                if level:
                    first_heading = first_heading or text
                    out.add("heading", [text], level=level)
                else:
                    out.add("list" if style.startswith("List") else "para", [text])
            elif tag == "tbl":
                rows = []
                for row in Table(el, d).rows:
                    cells: list[str] = []
                    for c in row.cells:  # merged cells repeat: keep each once
                        t = _clean(c.text)
                        if not cells or cells[-1] != t:
                            cells.append(t)
                    if any(cells):
                        rows.append(" | ".join(cells))
                out.add("table", rows)
    except DocumentError:
        raise
    except Exception as e:
        raise DocumentError(f"not a readable Word document ({type(e).__name__}: {e})") from None
    if not any(b.kind != "heading" for b in out.blocks):
        raise DocumentError("no text in this Word document")
    title = _clean(d.core_properties.title or "") or first_heading or path.stem
    return Document(title, "docx", [Section(out.blocks)])


# -- EPUB -------------------------------------------------------------------------------------

# An EPUB's chapters are XHTML documents of a book, not web pages: headers, footers and asides
# (footnotes, sidebars) are part of the text. Navigation (the table of contents) is still dropped.
_EPUB_DROP = frozenset(_DROP - {"header", "footer", "aside"})
_EPUB_TEXT_TYPES = {"application/xhtml+xml", "text/html", "application/html"}
# Fonts are "encrypted" by these to stop their reuse, not the book's reading: such books are readable.
_FONT_OBFUSCATION = {"http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC"}
_DRM = "encrypted EPUB (DRM): not supported"


def _shown(name: str) -> str:
    """A name from inside the file, for a one-line message: control characters escaped, cut short."""
    name = "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)
    return name if len(name) <= 120 else name[:117] + "..."


def _xml(data: bytes, name: str):
    """A parsed XML part of a zip package: no DTDs loaded, no entities expanded, no network."""
    import lxml.etree

    parser = lxml.etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True,
                                  remove_pis=True, recover=True)
    try:
        root = lxml.etree.fromstring(data, parser=parser)
    except (lxml.etree.XMLSyntaxError, ValueError):
        root = None
    if root is None:
        raise DocumentError(f"broken EPUB: {_shown(name)} is not readable XML")
    return root


def _member(z: zipfile.ZipFile, name: str) -> bytes:
    """One part of the archive, read by name (never extracted, so a name like "../x" is only a name)."""
    import zlib

    info = z.getinfo(name)
    if info.flag_bits & 0x1:
        raise DocumentError("encrypted EPUB (a password-protected zip): not supported")
    try:
        with z.open(info) as f:
            data = f.read(ZIP_MAX_BYTES + 1)
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError, zlib.error) as e:
        raise DocumentError(f"corrupt EPUB: {_shown(name)} cannot be read ({_shown(str(e))})") from None
    if len(data) > ZIP_MAX_BYTES:  # the sizes in the zip's directory lied
        raise DocumentError(f"refused: {_shown(name)} inflates past {ZIP_MAX_BYTES / 1e6:.0f} MB (a zip bomb?)")
    return data


def _part_path(base: str, href: str) -> str:
    """A zip member name from an href relative to the folder `base` ("OEBPS"): %-escapes decoded,
    the fragment dropped, "a/../b" folded."""
    import posixpath
    from urllib.parse import unquote

    href = unquote(href.split("#", 1)[0]).lstrip("/")
    return posixpath.normpath(posixpath.join(base, href)) if href else ""


def _encrypted_parts(z: zipfile.ZipFile, names: set[str]) -> set[str]:
    """The members that META-INF/encryption.xml says are encrypted, obfuscated fonts left out."""
    if "META-INF/encryption.xml" not in names:
        return set()
    out = set()
    for ed in _xml(_member(z, "META-INF/encryption.xml"), "META-INF/encryption.xml").iter("{*}EncryptedData"):
        method = ed.find("{*}EncryptionMethod")
        if method is not None and method.get("Algorithm", "") in _FONT_OBFUSCATION:
            continue
        for ref in ed.iter("{*}CipherReference"):
            if ref.get("URI"):
                out.add(_part_path("", ref.get("URI")))
    return out


def _toc_labels(z: zipfile.ZipFile, names: set[str], package, base: str, manifest_items: list) -> dict[str, str]:
    """{chapter part: its label in the book's table of contents} (the first entry that points
    into it): the EPUB 3 nav document's `toc` nav, else the EPUB 2 NCX. A chapter with no heading
    is named by it, as a reader's contents shows it. A table of contents that cannot be read is
    passed over: the book is still read."""
    import posixpath

    labels: dict[str, str] = {}
    try:
        nav = next((i for i in manifest_items if "nav" in (i.get("properties") or "").split()), None)
        if nav is not None and _part_path(base, nav.get("href")) in names:
            nav_path = _part_path(base, nav.get("href"))
            root = _parse_xhtml(_member(z, nav_path), nav_path, False)
            for n in root.iter("nav"):
                if "toc" in (n.get("{http://www.idpf.org/2007/ops}type") or n.get("epub:type") or "").split():
                    for a in n.iter("a"):
                        if a.get("href") and _clean(a.text_content()):
                            labels.setdefault(_part_path(posixpath.dirname(nav_path), a.get("href")), _clean(a.text_content()))
        if not labels:
            spine = package.find("{*}spine")
            ncx = next((i for i in manifest_items if spine is not None and i.get("id") == spine.get("toc")), None)
            if ncx is not None and _part_path(base, ncx.get("href")) in names:
                ncx_path = _part_path(base, ncx.get("href"))
                for point in _xml(_member(z, ncx_path), ncx_path).iter("{*}navPoint"):
                    text, content = point.find("{*}navLabel/{*}text"), point.find("{*}content")
                    if text is not None and text.text and _clean(text.text) and content is not None and content.get("src"):
                        labels.setdefault(_part_path(posixpath.dirname(ncx_path), content.get("src")), _clean(text.text))
    except DocumentError:
        return {}
    return labels


def _parse_xhtml(data: bytes, name: str, drm: bool):
    """A chapter's root element: as XML (XHTML is XML), else as HTML, for the EPUB 2 files that
    use HTML's named entities (&nbsp;) without their DTD (the XML parser would drop them)."""
    import lxml.etree
    import lxml.html

    parser = lxml.html.XHTMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True, remove_pis=True)
    try:
        root = lxml.etree.fromstring(data, parser=parser)
        if next(root.iter(lxml.etree.Entity), None) is None:
            lxml.html.xhtml_to_html(root)  # the XHTML namespace off the tags, as the HTML walker expects
            return root
    except (lxml.etree.XMLSyntaxError, ValueError):
        pass
    if b"\x00" in data[:8192]:  # ciphertext, or binary: the HTML parser would read it as words
        raise DocumentError(_DRM if drm else f"corrupt EPUB: chapter {_shown(name)} is binary, not XHTML")
    return _parse_html(data)


def load_epub(path: Path, data: bytes) -> Document:
    """An EPUB (2 or 3): META-INF/container.xml names the package file, whose spine lists the
    chapters (XHTML documents) in reading order. Each chapter is read like an HTML page into its
    own section, paragraphs counted from its top; the chapter's name (its first heading, else its
    label in the table of contents, else its file name) heads the heading trail of every chunk in
    it, so a citation reads "book.epub, chapter 'Installing', paragraphs 3-7". Title: the
    package's dc:title, else the first heading."""
    import posixpath

    with _open_zip(data, "an EPUB file") as z:
        names = set(z.namelist())
        if "META-INF/container.xml" not in names:
            raise DocumentError("not an EPUB file (no META-INF/container.xml inside)")
        container = _xml(_member(z, "META-INF/container.xml"), "META-INF/container.xml")
        rootfiles = [r for r in container.iter("{*}rootfile") if r.get("full-path")]
        opf = [r for r in rootfiles if r.get("media-type") == "application/oebps-package+xml"] or rootfiles
        if not opf:
            raise DocumentError("broken EPUB: META-INF/container.xml names no package file")
        opf_path = _part_path("", opf[0].get("full-path"))
        if opf_path not in names:
            raise DocumentError(f"broken EPUB: its package file {_shown(opf_path)} is missing")
        package = _xml(_member(z, opf_path), opf_path)
        base = posixpath.dirname(opf_path)
        items = [i for i in package.iter("{*}item") if i.get("id") and i.get("href")]
        manifest = {i.get("id"): (_part_path(base, i.get("href")), (i.get("media-type") or "").strip().lower()) for i in items}
        spine = [manifest[r.get("idref")] for r in package.iter("{*}itemref") if r.get("idref") in manifest]
        if not spine:
            raise DocumentError("broken EPUB: its package file lists no chapters (an empty spine)")
        encrypted = _encrypted_parts(z, names)
        drm = bool(encrypted) or "META-INF/rights.xml" in names
        title = next((_clean(t.text) for t in package.iter("{http://purl.org/dc/elements/1.1/}title") if t.text and _clean(t.text)), "")
        toc = _toc_labels(z, names, package, base, items)
        sections: list[Section] = []
        seen_names: set[str] = set()
        first_heading = ""
        for part, media_type in spine:
            if media_type not in _EPUB_TEXT_TYPES:
                continue  # images and SVG pages carry no text to index
            if part in encrypted:
                raise DocumentError(_DRM)
            if part not in names:
                raise DocumentError(f"broken EPUB: chapter {_shown(part)} (in its spine) is missing")
            _, blocks = html_blocks(_parse_xhtml(_member(z, part), part, drm), drop=_EPUB_DROP)
            if not any(b.kind != "heading" for b in blocks):
                continue  # a cover, a part's title page, the table of contents
            heading = next((b for b in blocks if b.kind == "heading"), None)
            if heading is not None:
                name = heading.lines[0]
                first_heading = first_heading or name
                blocks.remove(heading)  # it becomes the trail's first element, below
            else:
                name = toc.get(part) or posixpath.basename(part)
            if name in seen_names:  # "Introduction" to each part: the file tells them apart
                name = f"{name} ({posixpath.basename(part)})"
            seen_names.add(name)
            # level 0: no heading inside the chapter can take the chapter's name off the trail
            sections.append(Section([Block("heading", [name], 0, 0, level=0)] + blocks))
    if not sections:
        raise DocumentError("no text in this EPUB (its chapters hold only images or markup)")
    return Document(title or first_heading or path.stem, "epub", sections)

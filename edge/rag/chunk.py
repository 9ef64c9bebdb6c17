"""Split documents into chunks for the index: structure-aware, token-bounded, line-tracked.

Markdown (ATX/Setext headings, fenced code, lists, tables), reStructuredText (underlined titles,
`::` literal blocks, directives) and plain text (paragraphs) are read into blocks; blocks are then
packed into chunks of at most `max_tokens` embedder tokens, each remembering its file, heading
trail and 1-based line range. A block that fits is never split; one that does not is split at
line, then sentence, then word boundaries. Consecutive chunks of a section overlap by one block
(or a few lines) so a fact at a boundary is whole in at least one of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

# Changes when the same file is cut into other chunks: benchmark runs record it, so runs made with
# different chunkers are not compared as if only the embedder differed. 2: overlapping cuts inside
# a block too long for one chunk.
CHUNKER_VERSION = 2

TEXT_SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".mdown": "markdown", ".rst": "rst", ".txt": "text", ".text": "text"}
# Read by edge/rag/loaders.py into the same blocks the text formats parse into.
DOCUMENT_SUFFIXES = {".pdf": "pdf", ".html": "html", ".htm": "html", ".xhtml": "html", ".docx": "docx", ".epub": "epub"}
SUFFIXES = {**TEXT_SUFFIXES, **DOCUMENT_SUFFIXES}


@dataclass
class Block:
    kind: str  # heading | para | code | list | table
    lines: list[str]
    start: int  # 1-based line numbers
    end: int
    level: int = 0  # headings
    cont: bool = False  # the next lines of the block before it (a long block cut by _line_groups)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass
class Chunk:
    text: str
    heading: str  # trail, "Batteries > Charging"
    line_start: int
    line_end: int
    n_tokens: int = 0
    title: str = ""  # the document's title; matched on, not stored with the chunk's text
    page: int = 0  # 1-based PDF page; 0 = the format has no pages

    def context(self) -> str:
        """The title and heading trail: what a chunk is about, beyond its own words."""
        return context_line(self.title, self.heading)

    def embed_text(self) -> str:
        """What is embedded: the document's title and the heading trail give a chunk its context
        ("count the lines in a file" finds wc's page by its title, not its text)."""
        ctx = self.context()
        return f"{ctx}\n{self.text}" if ctx else self.text


def context_line(title: str, heading: str) -> str:
    """Title and heading trail in one line, the title left out when the trail already starts with it."""
    if not title or heading == title or heading.startswith(title + " > "):
        return heading
    return f"{title} > {heading}" if heading else title


def kind_of(path: Path) -> str | None:
    return SUFFIXES.get(path.suffix.lower())


# -- parsing into blocks ---------------------------------------------------------------------

_FENCE = re.compile(r"^\s{0,3}(```+|~~~+)")
_ATX = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_LIST = re.compile(r"^\s{0,3}([-*+]|\d+[.)])\s+")
_RST_ADORN = re.compile(r"^([=\-~^\"'`#*+:.!_<>])\1{2,}\s*$")


def parse_markdown(lines: list[str]) -> list[Block]:
    blocks: list[Block] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        m = _FENCE.match(line)
        if m:
            fence = m.group(1)
            j = i + 1
            while j < n and not lines[j].strip().startswith(fence):
                j += 1
            j = min(j, n - 1)
            blocks.append(Block("code", lines[i : j + 1], i + 1, j + 1))
            i = j + 1
            continue
        m = _ATX.match(line)
        if m:
            blocks.append(Block("heading", [m.group(2)], i + 1, i + 1, level=len(m.group(1))))
            i += 1
            continue
        if i + 1 < n and lines[i + 1].strip() and re.fullmatch(r"\s{0,3}(=+|-+)\s*", lines[i + 1]) and not _LIST.match(line):
            level = 1 if lines[i + 1].strip()[0] == "=" else 2
            blocks.append(Block("heading", [line.strip()], i + 1, i + 2, level=level))
            i += 2
            continue
        if line.lstrip().startswith("|"):
            j = i
            while j < n and lines[j].lstrip().startswith("|"):
                j += 1
            blocks.append(Block("table", lines[i:j], i + 1, j))
            i = j
            continue
        kind = "list" if _LIST.match(line) else "para"
        j = i + 1
        while j < n and lines[j].strip() and not _FENCE.match(lines[j]) and not _ATX.match(lines[j]) and not lines[j].lstrip().startswith("|"):
            if kind == "para" and _LIST.match(lines[j]):
                break
            j += 1
        # a list continues across blank lines while the next item or an indented line follows
        if kind == "list":
            while j + 1 < n and not lines[j].strip() and (_LIST.match(lines[j + 1]) or lines[j + 1].startswith("   ")):
                j += 1
                while j < n and lines[j].strip() and not _ATX.match(lines[j]) and not _FENCE.match(lines[j]):
                    j += 1
        blocks.append(Block(kind, lines[i:j], i + 1, j))
        i = j
    return blocks


def parse_rst(lines: list[str]) -> list[Block]:
    blocks: list[Block] = []
    levels: list[str] = []  # adornment styles in order of first appearance
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        # overlined title: ===\nTitle\n===
        if _RST_ADORN.match(line) and i + 2 < n and lines[i + 1].strip() and _RST_ADORN.match(lines[i + 2]):
            style = "o" + line.strip()[0]
            if style not in levels:
                levels.append(style)
            blocks.append(Block("heading", [lines[i + 1].strip()], i + 1, i + 3, level=levels.index(style) + 1))
            i += 3
            continue
        if i + 1 < n and _RST_ADORN.match(lines[i + 1]) and line.strip() and len(lines[i + 1].strip()) >= len(line.strip()) - 1:
            style = lines[i + 1].strip()[0]
            if style not in levels:
                levels.append(style)
            blocks.append(Block("heading", [line.strip()], i + 1, i + 2, level=levels.index(style) + 1))
            i += 2
            continue
        j = i + 1
        while j < n and lines[j].strip():
            j += 1
        para = lines[i:j]
        kind = "list" if _LIST.match(line) else "para"
        # "::" at the end of a paragraph (or a directive) introduces an indented literal block
        if para[-1].rstrip().endswith("::") or line.lstrip().startswith(".. "):
            k = j
            while k < n and (not lines[k].strip() or lines[k].startswith((" ", "\t"))):
                k += 1
            while k > j and not lines[k - 1].strip():
                k -= 1
            if k > j:
                para = lines[i:k]
                j = k
                kind = "code"
        blocks.append(Block(kind, para, i + 1, j))
        i = j
    return blocks


def parse_text(lines: list[str]) -> list[Block]:
    blocks = []
    i, n = 0, len(lines)
    while i < n:
        if not lines[i].strip():
            i += 1
            continue
        j = i + 1
        while j < n and lines[j].strip():
            j += 1
        blocks.append(Block("para", lines[i:j], i + 1, j))
        i = j
    return blocks


PARSERS = {"markdown": parse_markdown, "rst": parse_rst, "text": parse_text}


# -- packing into chunks ---------------------------------------------------------------------

def _split_block(b: Block, fits: Callable[[str], bool]) -> list[Block]:
    """Split an oversized block at line boundaries, then sentences, then words."""
    if len(b.lines) > 1:
        return [piece for o in _line_groups(b, fits) for piece in (_split_block(o, fits) if not fits(o.text) else [o])]
    # one long line: sentences, then words
    text = b.lines[0]
    units = re.split(r"(?<=[.!?;:])\s+", text)
    if len(units) == 1:
        units = text.split(" ")
    out, cur = [], ""
    for u in units:
        cand = f"{cur} {u}".strip()
        if cur and not fits(cand):
            out.append(Block(b.kind, [cur], b.start, b.end))
            cur = u
        else:
            cur = cand
    if cur:
        out.append(Block(b.kind, [cur], b.start, b.end))
    if len(out) == 1 and not fits(out[0].text):  # one giant "word": cut by characters
        s = out[0].text
        step = max(16, len(s) // 2)
        return [piece for k in range(0, len(s), step) for piece in _split_block(Block(b.kind, [s[k : k + step]], b.start, b.end), fits)] if len(s) > 16 else out
    # a sentence still too long: cut by words (a word by characters); each piece is shorter than b
    return [piece for o in out for piece in ([o] if fits(o.text) else _split_block(o, fits))]


def _line_groups(b: Block, small: Callable[[str], bool]) -> list[Block]:
    """An oversized block as runs of consecutive lines, each run as long as `small` allows (a line
    longer than that is a run of its own). Packed back into chunks by the caller, these let the
    overlap between two chunks carry the lines before a cut, where a split into chunk-sized pieces
    left nothing small enough to carry: a sentence across the cut was whole in neither chunk."""
    out: list[Block] = []
    cur: list[str] = []
    start = b.start
    for k, line in enumerate(b.lines):
        if cur and not small("\n".join(cur + [line])):
            out.append(Block(b.kind, cur, start, start + len(cur) - 1, cont=bool(out)))
            cur, start = [], b.start + k
        cur.append(line)
    if cur:
        out.append(Block(b.kind, cur, start, start + len(cur) - 1, cont=bool(out)))
    return out


def chunk_lines(
    lines: list[str],
    kind: str,
    count_tokens: Callable[[str], int],
    *,
    max_tokens: int = 256,
    overlap_tokens: int = 48,
    title: str = "",
) -> list[Chunk]:
    """Chunks of one document's lines. `count_tokens` is the embedder's token count."""
    return chunk_blocks(PARSERS[kind](lines), count_tokens, max_tokens=max_tokens, overlap_tokens=overlap_tokens, title=title)


def chunk_blocks(
    blocks: list[Block],
    count_tokens: Callable[[str], int],
    *,
    max_tokens: int = 256,
    overlap_tokens: int = 48,
    title: str = "",
) -> list[Chunk]:
    """Pack parsed blocks into chunks (any format's loader ends here). `title` is embedded with
    every chunk, so it counts against the budget like the heading trail."""
    trail: list[tuple[int, str]] = []
    chunks: list[Chunk] = []

    # The heading trail is embedded with the text, so it counts against the budget.
    def heading() -> str:
        return " > ".join(t for _, t in trail)

    def fits_with(h: str) -> Callable[[str], bool]:
        ctx = context_line(title, h)
        return lambda text: count_tokens(f"{ctx}\n{text}" if ctx else text) <= max_tokens

    section: list[Block] = []

    def flush():
        nonlocal section
        if not section:
            return
        h = heading()
        fits = fits_with(h)
        small = lambda text: count_tokens(text) <= overlap_tokens  # noqa: E731
        pieces: list[Block] = []
        for b in section:
            if fits(b.text):
                pieces.append(b)
            else:  # in runs of lines no longer than the overlap, so the carry below can repeat the last of them
                pieces.extend(p for g in _line_groups(b, small) for p in ([g] if fits(g.text) else _split_block(g, fits)))
        cur: list[Block] = []
        for b in pieces:
            if cur and not fits(_join(cur + [b])):
                chunks.append(_mk(cur, h, title, count_tokens))
                # overlap: carry the last block(s) of the chunk just made, within overlap_tokens
                carry: list[Block] = []
                for x in reversed(cur):
                    if count_tokens(_join([x] + carry)) > overlap_tokens:
                        break
                    carry.insert(0, x)
                cur = carry if fits(_join(carry + [b])) else []
            cur.append(b)
        if cur:
            chunks.append(_mk(cur, h, title, count_tokens))
        section = []

    for b in blocks:
        if b.kind == "heading":
            flush()
            while trail and trail[-1][0] >= b.level:
                trail.pop()
            trail.append((b.level, b.lines[0].strip()))
            continue
        section.append(b)
    flush()
    return chunks


def _join(blocks: list[Block]) -> str:
    """Blocks' text, a blank line apart; the runs of lines one long block was cut into rejoined line by line."""
    out = blocks[0].text
    for b in blocks[1:]:
        out += ("\n" if b.cont else "\n\n") + b.text
    return out


def _mk(blocks: list[Block], heading: str, title: str, count_tokens) -> Chunk:
    text = _join(blocks)
    c = Chunk(text=text, heading=heading, line_start=blocks[0].start, line_end=blocks[-1].end, title=title)
    c.n_tokens = count_tokens(c.embed_text())
    return c


def title_of(lines: list[str], kind: str, fallback: str) -> str:
    for b in PARSERS[kind](lines[:200]):
        if b.kind == "heading":
            return b.lines[0].strip()
    return fallback

from pathlib import Path

from edge.rag.chunk import chunk_lines, kind_of

ROOT = Path(__file__).resolve().parents[2]


def wc(s: str) -> int:  # a stand-in token count: words + 2 specials
    return len(s.split()) + 2


MD = """# Manual

Intro paragraph.

## Wiring

Use 35 mm² cable.

```
$ status
OK 48.2 V
```

- item one
- item two

| a | b |
|---|---|
| 1 | 2 |

### Fuses

Main fuse 200 A.
"""


def test_markdown_structure_and_lines():
    lines = MD.splitlines()
    chunks = chunk_lines(lines, "markdown", wc, max_tokens=200)
    heads = [c.heading for c in chunks]
    assert heads == ["Manual", "Manual > Wiring", "Manual > Wiring > Fuses"]
    wiring = chunks[1]
    assert "```\n$ status\nOK 48.2 V\n```" in wiring.text  # code block kept whole
    assert "| 1 | 2 |" in wiring.text and "- item two" in wiring.text
    # the line range points at the text in the file
    assert lines[wiring.line_start - 1] == "Use 35 mm² cable."
    assert lines[wiring.line_end - 1] == "| 1 | 2 |"


def test_token_bound_with_overlap_and_split_of_long_paragraphs():
    para = " ".join(f"Sentence {i} has some words." for i in range(200))
    lines = ["# T", ""] + [f"Paragraph {i} " + "word " * 30 for i in range(0, 12)] + ["", para]
    # blank lines between paragraphs
    text = []
    for ln in lines:
        text += [ln, ""]
    chunks = chunk_lines(text, "markdown", wc, max_tokens=64, overlap_tokens=40)
    assert all(c.n_tokens <= 64 for c in chunks)
    joined = " ".join(c.text for c in chunks)
    for i in range(200):
        assert f"Sentence {i} has" in joined
    # consecutive chunks of the paragraphs overlap by a block
    assert any(chunks[i].line_end >= chunks[i + 1].line_start for i in range(len(chunks) - 1))



def test_a_long_block_of_lines_is_cut_with_overlap():
    """One block of many lines and no blank line (a pydoc class body, a long list): the chunks that
    cut it overlap, so a sentence across a cut is whole in one of them, and each chunk's text is the
    file's own lines (not pieces rejoined with blank lines)."""
    lines = [f"line {i}: the value of key{i} is {i * 7} and it" for i in range(60)]
    lines[30] = "line 30: separators default to (', ', ': ') if indent is None and"
    lines[31] = "(',', ': ') otherwise."
    chunks = chunk_lines(lines, "text", wc, max_tokens=80, overlap_tokens=24)
    assert len(chunks) > 3 and all(c.n_tokens <= 80 for c in chunks)
    for a, b in zip(chunks, chunks[1:]):
        assert b.line_start <= a.line_end, (a.line_start, a.line_end, b.line_start, b.line_end)
    for c in chunks:
        assert c.text == "\n".join(lines[c.line_start - 1 : c.line_end])
    assert any("is None and\n(',', ': ') otherwise." in c.text for c in chunks)
    # a line longer than the overlap is still never split while it fits a chunk
    long = ["short one", "word " * 40 + "end.", "short two"] * 4
    cs = chunk_lines(long, "text", wc, max_tokens=60, overlap_tokens=10)
    assert all(c.text == "\n".join(long[c.line_start - 1 : c.line_end]) for c in cs)

def test_rst_titles_and_literal_blocks():
    rst = """Firmware
========

Update
------

Run this::

    fw --flash 3.0

Done.
""".splitlines()
    chunks = chunk_lines(rst, "rst", wc, max_tokens=200)
    assert chunks[0].heading == "Firmware > Update"
    assert "    fw --flash 3.0" in chunks[0].text


def test_kinds():
    assert kind_of(Path("a.md")) == "markdown" and kind_of(Path("a.RST")) == "rst" and kind_of(Path("a.txt")) == "text"
    assert kind_of(Path("a.PDF")) == "pdf" and kind_of(Path("a.htm")) == "html" and kind_of(Path("a.docx")) == "docx"
    assert kind_of(Path("book.EPUB")) == "epub"
    assert kind_of(Path("a.doc")) is None and kind_of(Path("a.png")) is None


def test_sample_manual_chunks_stay_within_256(embedder):
    for p in sorted((ROOT / "build" / "knowledge").iterdir()):
        lines = p.read_text(encoding="utf-8").splitlines()
        for c in chunk_lines(lines, kind_of(p), embedder.count_tokens, max_tokens=128, overlap_tokens=32):
            assert c.n_tokens <= 128 and c.line_start <= c.line_end <= len(lines)

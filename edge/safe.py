"""Untrusted text made safe to print: documents, file names, headings, titles and model output.

A document (or a model echoing one) can hold terminal control sequences: ESC [ 2 J clears the
screen, ESC ] 0 ; ... BEL retitles the window, others rewrite the clipboard or fake a prompt.
Bidirectional overrides reorder what is shown ("Trojan Source"). `terminal_safe` shows every
such character visibly (`\\x1b`, `\\u202e`) instead of letting the terminal act on it; the
rest of a sequence (`[2J`) is then plain text. `--json` output does not need it: JSON escapes
control characters itself, and scripts get the exact text.
"""

from __future__ import annotations

import re

# C0 controls (except tab and newline, kept where the caller says), DEL, C1 controls (0x80-0x9f:
# a lone 0x9b is a CSI on some terminals), the bidi embedding/override/isolate controls, and the
# line/paragraph separators (some terminals start a new line on them).
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029\u200e\u200f\u061c]")
_UNSAFE_KEEP_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029\u200e\u200f\u061c]")

_NAMED = {"\r": "\\r", "\n": "\\n", "\x1b": "\\x1b"}


def _show(m: re.Match) -> str:
    ch = m.group(0)
    if ch in _NAMED:
        return _NAMED[ch]
    o = ord(ch)
    return f"\\x{o:02x}" if o <= 0xFF else f"\\u{o:04x}"


def terminal_safe(text: str, *, multiline: bool = True) -> str:
    """`text` with every control character, escape sequence introducer and bidi control shown
    visibly (`\\x1b[2J` prints as those five characters). With `multiline` (the default),
    newlines and tabs are kept; without it (file names, headings, titles on one line) a newline
    is shown as `\\n` too, so one entry stays one line."""
    if text is None:
        return ""
    text = str(text)
    if multiline:
        text = text.replace("\r\n", "\n")
        return _UNSAFE_KEEP_LINES.sub(_show, text)
    return _UNSAFE.sub(_show, text)


def line_safe(text: str) -> str:
    """`terminal_safe` for text shown on one line (a path, a heading, a title)."""
    return terminal_safe(text, multiline=False)

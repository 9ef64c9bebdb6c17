"""The presentation helpers the CLI, the index CLI and the chat share (edge/present.py)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

from edge.present import Progress, fmt_size, print_json, stats_line
from edge.timings import Timings
from tests.conftest import ROOT


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_print_json_and_sizes(capsys):
    print_json({"a": "é", "n": 1})
    assert json.loads(capsys.readouterr().out) == {"a": "é", "n": 1}
    assert [fmt_size(n) for n in (512, 2048, 98_362_432)] == ["512 B", "2.0 KB", "93.8 MB"]


def test_stats_line_reads_the_timings():
    class A:
        mode, model = "base+rag", "m"
        timings = Timings(prompt_tokens=40, embed_ms=3.0, search_ms=2.0, ttft_ms=120.4, prefill_tok_s=500, decode_tok_s=99.96, completion_tokens=7)

    assert stats_line(A) == "base+rag · m · 40 prompt tok · retrieval 5 ms · TTFT 120 ms · prefill 500 tok/s · decode 100.0 tok/s · 7 tok"


def test_progress_in_a_log_is_two_lines():
    out = io.StringIO()
    bar = Progress("indexing", 3, unit="files", stream=out)
    bar.write("failed: x.md: not UTF-8")
    for _ in range(3):
        bar.update(1)
    bar.close("indexed 3 files")
    assert out.getvalue() == "indexing...\nfailed: x.md: not UTF-8\nindexed 3 files\n"
    quiet = io.StringIO()
    Progress("x", 1, stream=quiet, enabled=False).close()
    assert quiet.getvalue() == ""


def test_progress_in_a_log_says_where_long_work_stands(monkeypatch):
    out = io.StringIO()
    bar = Progress("training", 4, unit="steps", stream=out)
    bar.update(1, postfix="loss 1.2")  # within LOG_EVERY_S of the start: nothing
    monkeypatch.setattr(Progress, "LOG_EVERY_S", 0.0)
    bar.update(1, postfix="loss 0.9")
    bar.close("trained 4 steps")
    lines = out.getvalue().splitlines()
    assert lines[0] == "training..." and lines[-1] == "trained 4 steps" and len(lines) == 3
    assert lines[1].startswith("training: 2/4 steps (50 %), ") and lines[1].endswith(" · loss 0.9")


def test_progress_on_a_terminal_is_rich_bar_then_one_line():
    out = FakeTTY()
    bar = Progress("verifying m", 2048, unit="B", stream=out)
    assert bar._bar is not None  # rich draws it
    bar.update(1024)
    bar._bar.refresh()
    drawn = out.getvalue()
    assert "verifying m" in drawn and "50%" in drawn and "1.0/2.0 kB" in drawn
    bar.close("verified m")
    assert out.getvalue().endswith("verified m\n")


def test_the_cli_modules_do_not_import_each_other_in_a_loop():
    """edge.rag.cli and the chat print through edge.present, not edge.cli (which imports them)."""
    code = ("import sys, edge.rag.cli, edge.tui.app, edge.tui.screens.chat; "
            "print('edge.cli' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "False"


def test_help_does_not_load_rich_or_textual():
    """Start-up stays cheap: rich is loaded only when a bar is drawn on a terminal."""
    code = ("import sys\nfrom edge.cli import build_parser\nbuild_parser()\n"
            "print(sorted(m for m in ('rich', 'textual', 'llama_cpp') if m in sys.modules))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]"

"""The real `edge` command: errors are one line with a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import re

import pytest

from .conftest import ROOT, run_edge
from .tiny_gguf import write_tiny_gguf

TIMING_FIELDS = ["load_ms", "prompt_tokens", "ttft_ms", "prefill_tok_s", "decode_tok_s", "completion_tokens", "total_ms"]


def one_line_error(proc, code):
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("edge: error: "), proc.stderr
    return lines[0]


def test_ask_without_models_names_the_command():
    line = one_line_error(run_edge("ask", "hi"), 2)
    assert "edge models pull" in line


def test_unknown_model_lists_known_ones(real_home):
    line = one_line_error(run_edge("ask", "hi", "--model", "nope"), 2)
    assert "smollm2-135m-instruct-q4_1" in line


def test_empty_question_is_refused(real_home):
    one_line_error(run_edge("ask", "   "), 2)


def test_damaged_model_is_refused_not_loaded(real_home):
    # Replace the linked model with a copy whose bytes differ: the sha256 pin must catch it.
    models = real_home / "models"
    target = models / "SmolLM2-135M-Instruct.Q4_1.gguf"
    data = bytearray(target.read_bytes())
    target.unlink()
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    line = one_line_error(run_edge("ask", "hi", "--model", "smollm2-135m-instruct-q4_1"), 3)
    assert "verif" in line
    # nor is it measured or chosen as the default (another verified size may answer instead)
    d = json.loads(run_edge("doctor", "--json").stdout)
    assert all(c["model"] != "smollm2-135m-instruct-q4_1" for c in d["model_choice"]["candidates"])


def test_models_add_refuses_non_gguf_and_truncated(tmp_path, _isolated_home):
    junk = tmp_path / "junk.gguf"
    junk.write_text("hello")
    assert "not a GGUF" in one_line_error(run_edge("models", "add", str(junk), "--name", "junk"), 3)
    good = write_tiny_gguf(tmp_path / "t.gguf")
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(good.read_bytes()[:-16])
    one_line_error(run_edge("models", "add", str(cut), "--name", "cut"), 3)
    assert not (_isolated_home / "models" / "cut.gguf").exists()
    one_line_error(run_edge("models", "add", str(tmp_path / "missing.gguf"), "--name", "m"), 2)
    ok = run_edge("models", "add", str(good), "--name", "tiny", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["architecture"] == "llama"
    listed = json.loads(run_edge("models", "list", "--json").stdout)
    tiny = next(m for m in listed if m["name"] == "tiny")
    assert tiny["verified"] and tiny["source"] == "local"


def test_models_list_and_verify(real_home):
    p = run_edge("models", "list", "--json")
    assert p.returncode == 0
    rows = json.loads(p.stdout)
    assert {r["name"] for r in rows} >= {"smollm2-135m-instruct-q4_1", "qwen2.5-coder-0.5b-instruct-q4_k_m", "minilm-l6-v2-int8", "minilm-l6-v2-tokenizer"}
    # everything setup pulls verifies; the large size is optional and says how to get it
    assert all(r["verified"] or (r["optional"] and not r["present"]) for r in rows)
    large = next(r for r in rows if r["tier"] == "large")
    assert large["optional"] and "edge models pull large" in large["problem"]
    text = run_edge("models", "list").stdout
    assert text.split("\n")[0].split()[:3] == ["NAME", "KIND", "TIER"] and " small " in text
    v = run_edge("models", "verify", "--json")
    assert v.returncode == 0 and all(r["verified"] for r in json.loads(v.stdout))
    assert "large" not in {r.get("tier") for r in json.loads(v.stdout)}, "a never-pulled optional size is not a failure"


def test_verify_fails_on_missing_models(_isolated_home):
    p = run_edge("models", "verify")
    assert p.returncode == 3 and "Traceback" not in p.stderr


def test_ask_json_has_answer_and_every_timing(real_home):
    p = run_edge("ask", "Say hello in one short sentence.", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["answer"].strip() and out["stop_reason"] in ("eos", "length")
    assert out["model"] == "smollm2-135m-instruct-q4_1" and out["mode"] == "base" and out["sources"] == []
    for f in TIMING_FIELDS:
        assert out["timings"][f] > 0, f


def test_ask_streams_plain_text(real_home):
    p = run_edge("ask", "Say hello in one short sentence.", "--verbose", "--max-tokens", "24")
    assert p.returncode == 0 and p.stdout.strip()
    assert "decode" in p.stderr and "tok/s" in p.stderr


def test_doctor_json(real_home):
    p = run_edge("doctor", "--json")
    assert p.returncode == 0, p.stdout + p.stderr
    d = json.loads(p.stdout)
    assert d["ok"] and d["cpu"]["physical_cores"] >= 1
    assert d["sqlite"]["sqlite_vec"].startswith("v") and d["sqlite"]["fts5"]
    assert "CPU" in d["llama_cpp"]["system_info"]
    emb = next(c for c in d["checks"] if c["name"] == "embedder")
    assert emb["ok"] and "int8 products" in emb["detail"] and d["embedder"] == "minilm"


def test_doctor_reports_missing_models(_isolated_home):
    p = run_edge("doctor")
    assert p.returncode == 1 and "edge models pull" in p.stdout and "Traceback" not in p.stderr


# -- every command has --help and a line in the README -------------------------------------

def _commands():
    from edge.cli import build_parser
    import argparse

    out = []

    def walk(parser, prefix):
        for act in parser._actions:
            if isinstance(act, argparse._SubParsersAction):
                for name, sub in act.choices.items():
                    out.append(prefix + [name])
                    walk(sub, prefix + [name])

    walk(build_parser(), [])
    return out


@pytest.mark.parametrize("cmd", _commands(), ids=lambda c: " ".join(c))
def test_every_command_has_help_and_a_readme_line(cmd):
    p = run_edge(*cmd, "--help")
    assert p.returncode == 0 and "usage: edge " + " ".join(cmd) in p.stdout
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"`edge " + re.escape(" ".join(cmd)) + r"[ `]", readme), f"README has no line for `edge {' '.join(cmd)}`"


def test_the_shipped_adapter_cannot_be_removed(_isolated_home):
    from edge.models import load_catalog

    shipped = [a for a in load_catalog() if a.kind == "lora" and a.source == "repo"]
    assert shipped
    for a in shipped:
        line = one_line_error(run_edge("models", "remove", a.name), 2)
        assert "ships with edge" in line
        assert (ROOT / "models" / a.filename).exists()

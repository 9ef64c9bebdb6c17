"""`edge bench --quick` on the real models: every mode measured, nothing typed in."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ..conftest import ROOT, run_edge

pytestmark = pytest.mark.real


def _stopped_after_first_part(out) -> subprocess.CompletedProcess:
    """`edge bench --quick` stopped with Ctrl-C (SIGINT to its process group, as a terminal sends it)
    as soon as it has kept its first measured part."""
    p = subprocess.Popen([sys.executable, "-m", "edge", "bench", "--quick", "--out", str(out)], cwd=ROOT, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 600
    while not list((out / "partial").glob("*.part.json")) and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGINT)
    stdout, stderr = p.communicate(timeout=120)
    return subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr)


def test_bench_quick_measures_every_mode(built_home, tmp_path):
    out = tmp_path / "bench"
    # stopped after its first part: a one-line message, the part kept, and the next run goes on from it
    stopped = _stopped_after_first_part(out)
    assert stopped.returncode == 130, stopped.stderr[-2000:]
    assert "Traceback" not in stopped.stderr and "run the same command again" in stopped.stderr
    kept = sorted(f.name for f in (out / "partial").glob("*.part.json"))
    assert kept and not (out / "results.json").exists()
    p = run_edge("bench", "--quick", "--out", str(out), timeout=900)
    assert p.returncode == 0, p.stderr[-2000:]
    assert f"{len(kept)} part(s) already measured" in p.stderr
    assert not (out / "partial").exists()  # the report is written: the parts are gone
    res = json.loads((out / "results.json").read_text())
    assert res["resumed_parts"] == len(kept)
    assert res["schema_version"] == 2 and res["quick"]
    configs = res["summary"]["configs"]
    # the tiny size has a fine-tuned build: all four modes; any other installed size at least its base
    assert {c["mode"] for c in configs if c["size"] == "tiny"} == {"base", "base+rag", "ft", "ft+rag"}
    for size in {c["size"] for c in configs}:
        assert {"base", "base+rag"} <= {c["mode"] for c in configs if c["size"] == size}
    assert {p["size"] for p in res["plan"]} == {c["size"] for c in configs}
    for c in res["summary"]["configs"]:
        la = c["latency"]
        for k in ("ttft_ms", "prefill_tok_s", "decode_tok_s", "total_ms", "prompt_tokens"):
            assert la[k]["p50"] and la[k]["p50"] > 0, (c["mode"], k)
        if c["mode"].endswith("rag"):
            assert la["embed_ms"]["p50"] > 0 and la["search_ms"]["p50"] > 0
        assert c["peak_rss_bytes"] > 50e6 and c["model_bytes"] > 50e6
        assert "accuracy" in c and 0 <= c["accuracy"]["all"] <= 1 and c["accuracy"]["n"] == 8
        assert "freshness" in c and c["freshness"]["n"] == 4
        assert c["decode_vs_raw"] and c["decode_vs_raw"] > 0
        if c["mode"].endswith("rag") and "answer_check" in c:
            # the answer check judged the retrieval answers that assert something (a refusal gets no verdict)
            assert 1 <= c["answer_check"]["n"] <= 8 and 0 <= c["answer_check"]["grounded"] <= 1
    # every run is kept, and the report's numbers are the JSON's
    assert all(len(w["runs"]) == 3 for w in res["runs"])
    # the stored jobs name their questions by id (the banks hold the items), the answers stay
    assert all(isinstance(q, str) for w in res["runs"] for q in w["job"]["accuracy"] + w["job"]["freshness"])
    # decode is compared with raw llama.cpp decoding from the depth this configuration decoded at
    import statistics

    for w in res["runs"]:
        assert w["raw_at_depth"]["depth"] == int(statistics.median(r["timings"]["prompt_tokens"] for r in w["runs"]))
        assert w["raw_at_depth"]["tg_mean"] > 0
    assert res["index"]["update_changed_documents"] > 0 and res["index"]["update_to_v2_seconds"] > 0
    report = (out / "report.md").read_text()
    ft = next(c for c in res["summary"]["configs"] if c["mode"] == "ft")
    assert f"{ft['latency']['ttft_ms']['p50']:.0f} ms" in report
    assert "## Which size, which mode" in report
    # the held-out foreign corpus: every size's base (and fine-tuned, where built) with retrieval, 2 facts + 2 uncovered
    fo = res["summary"]["foreign"]
    assert {(r["size"], r["mode"]) for r in fo} == {(c["size"], c["mode"]) for c in configs if c["mode"].endswith("rag")}
    for r in fo:
        assert r["n"] == 4 and r["n_facts"] == 2 and r["n_unanswerable"] == 2 and 0 <= r["all"] <= 1
    assert all(len(w["accuracy"]) == 4 and all(a["answer"] is not None for a in w["accuracy"]) for w in res["foreign"]["runs"])
    assert "## Held-out foreign corpus" in report
    for png in ("latency.png", "accuracy.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the reader's targets for the fine-tuned size, each with its measured figure
    ftr = next(c for c in configs if c["mode"] == "ft+rag" and c["threads"] == configs[0]["threads"])
    assert f"| sample manual, tiny {ftr['model']} with retrieval: all held-out items ≥ 85 % | {100 * ftr['accuracy']['all']:.1f} % |" in report
    assert "tiny closed-book (`ft`, edge-know-q8_0): all ≥ 40 %" in report and "wrong answers flagged ≥ 80 %" in report
    # closed-book `ft` is the knowledge adapter's build, `ft+rag` the reader, and the report says so
    assert {c["model"] for c in configs if c["mode"] == "ft"} == {"edge-know-q8_0"} and ftr["model"] == "edge-ft-q8_0"
    assert "`ft` is edge-know-q8_0, the knowledge adapter" in report
    # the report written again from results.json: the same figures, nothing measured, and it says so
    (out / "report.md").unlink()
    r = run_edge("bench", "--render-only", "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["configs"] == json.loads(json.dumps(res["summary"]["configs"]))
    again = (out / "report.md").read_text()
    assert "nothing was measured again" in again and f"{ft['latency']['ttft_ms']['p50']:.0f} ms" in again
    assert "(0 labels changed)" in again and all("all_strict" in c["accuracy"] for c in res["summary"]["configs"] if "accuracy" in c)
    # a stored label that the scorer would not give is labelled again from the stored answer
    stored = json.loads((out / "results.json").read_text())
    rec = stored["runs"][0]["accuracy"][0]
    rec["correct"] = not rec["correct"]
    (out / "results.json").write_text(json.dumps(stored))
    r = run_edge("bench", "--render-only", "--out", str(out), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["configs"] == json.loads(json.dumps(res["summary"]["configs"])), r.stderr[-2000:]
    assert "(1 labels changed)" in (out / "report.md").read_text()


def test_bench_bad_flags_are_one_line(built_home, tmp_path):
    p = run_edge("bench", "--threads", "two")
    assert p.returncode != 0 and "Traceback" not in p.stderr and "--threads" in p.stderr
    # --render-only without a finished run, or over something that is not one
    p = run_edge("bench", "--render-only", "--out", str(tmp_path / "none"))
    assert p.returncode == 1 and "does not exist" in p.stderr and "Traceback" not in p.stderr
    for text in ("{not json", "[1, 2]", '{"schema_version": 1}', '{"schema_version": 2, "runs": []}'):
        (tmp_path / "results.json").write_text(text)
        p = run_edge("bench", "--render-only", "--out", str(tmp_path))
        assert p.returncode == 1 and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, (text, p.stderr)


def test_checkpoint_reuses_parts_only_for_the_same_run(tmp_path):
    from edge.bench.runner import Checkpoint

    fp = {"commit": "abc", "cpu": "x", "models": {"m": "1"}}
    logs: list[str] = []
    ck = Checkpoint(tmp_path, fp, log=logs.append)
    assert ck.measure("run-0-tiny-base", lambda: {"v": 1}) == {"v": 1}
    assert ck.reused == 0
    (tmp_path / "partial" / "run-1.part.json").write_text('{"v": ')  # cut short while written: measured again
    again = Checkpoint(tmp_path, fp, log=logs.append)
    assert "2 part(s) already measured" in logs[-1]
    assert again.measure("run-0-tiny-base", lambda: pytest.fail("a kept part was measured again")) == {"v": 1}
    assert again.measure("run-1", lambda: {"v": 2}) == {"v": 2} and again.reused == 1
    # another machine, commit or model: nothing is reused
    other = Checkpoint(tmp_path, fp | {"cpu": "y"}, log=logs.append)
    assert "discarding" in logs[-1]
    assert other.measure("run-0-tiny-base", lambda: {"v": 3}) == {"v": 3} and other.reused == 0
    fresh = Checkpoint(tmp_path, fp | {"cpu": "y"}, fresh=True, log=logs.append)
    assert "--fresh" in logs[-1] and fresh.get("run-0-tiny-base") is None
    Checkpoint.finish(tmp_path)
    assert not (tmp_path / "partial").exists()

"""One benchmark configuration in its own process, so load time and peak memory are its own.

Reads a JSON job on stdin, prints a JSON result on stdout. Not a user command: `edge bench` runs it.
"""

from __future__ import annotations

import json
import resource
import sys
import time


def peak_rss_bytes() -> int:
    """This process's resident-memory high-water mark (VmHWM; ru_maxrss where /proc is missing)."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> int:
    t_proc = time.perf_counter()
    job = json.load(sys.stdin)
    from ..assistant import Assistant
    from ..config import load_settings
    from ..train.evaluate import citation_valid, correct, correct_strict

    s = load_settings(model=job["model"], threads=job["threads"], max_tokens=job["max_tokens"], index=job.get("index") or None)
    retriever = None
    if job["rag"]:
        from ..rag import open_retriever

        retriever = open_retriever(s)
    a = Assistant(s, retriever=retriever)
    t0 = time.perf_counter()
    a.load()
    load_ms = (time.perf_counter() - t0) * 1000
    out = {"job": job, "load_ms": load_ms, "runs": [], "accuracy": [], "freshness": []}
    # one warm-up, not kept
    a.reset()
    a.ask(job["warmup"], rag=job["rag"])
    for q in job["latency"]:
        a.reset()
        ans = a.ask(q, rag=job["rag"])
        out["runs"].append({"question": q, "timings": ans.timings.to_dict(), "answer": ans.text})
    # the memory of answering, before the accuracy and freshness passes add anything of their own
    out["peak_rss_bytes"] = peak_rss_bytes()
    for it in job["accuracy"]:
        a.reset()
        ans = a.ask(it["question"], rag=job["rag"])
        d = ans.to_dict()
        out["accuracy"].append({
            "id": it["id"], "category": it["category"], "correct": correct(ans.text, it), "correct_strict": correct_strict(ans.text, it),
            "citation_valid": citation_valid(ans.text, it, d["sources"]) if job["rag"] else None,
            "grounded": ans.grounded, "unsupported": d["unsupported"],
            "answer": ans.text, "ttft_ms": ans.timings.ttft_ms, "prompt_tokens": ans.timings.prompt_tokens,
        })
    if job.get("fresh_index") and job["freshness"]:
        if job["rag"]:
            from ..rag import open_retriever

            s2 = load_settings(model=job["model"], threads=job["threads"], max_tokens=job["max_tokens"], index=job["fresh_index"])
            a.retriever.index.close()
            a.retriever = open_retriever(s2)
        for it in job["freshness"]:
            a.reset()
            ans = a.ask(it["question"], rag=job["rag"])
            out["freshness"].append({"id": it["id"], "new": correct(ans.text, it, key="contains_v2"), "old": correct(ans.text, it), "answer": ans.text})
    out["peak_rss_bytes_all"] = peak_rss_bytes()
    out["process_seconds"] = time.perf_counter() - t_proc
    a.close()
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`edge bench`: retrieval, fine-tuning, or both — measured on this device.

Modes `base`, `base+rag`, `ft`, `ft+rag`, across the quantized variants `edge models build` makes
and the thread counts asked for. Each (mode, model, threads) runs in its own process (see
worker.py): one warm-up, then fixed questions from the held-out evaluation set, every run kept.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ModelNotFound, UsageError
from ..present import Progress

ROOT = Path(__file__).resolve().parents[2]
FOREIGN = ROOT / "build" / "foreign"
MODES = ("base", "base+rag", "ft", "ft+rag")
SCHEMA_VERSION = 2  # 2: every model size, each config names its size; answer-check figures
TIMING_KEYS = ("embed_ms", "search_ms", "prompt_tokens", "ttft_ms", "prefill_tok_s", "decode_tok_s", "completion_tokens", "total_ms")


@dataclass
class BenchConfig:
    quick: bool = False
    threads: list[int] = field(default_factory=list)
    quants: list[str] = field(default_factory=lambda: ["q8_0", "q4_0"])
    sizes: list[str] = field(default_factory=list)  # [] = every installed size
    max_tokens: int = 64
    latency_n: int = 20
    accuracy_n: int = 0  # 0 = every held-out item
    freshness_n: int = 0  # 0 = every changed fact
    baseline_reps: int = 3
    baseline_pp: int = 512
    baseline_tg: int = 128
    startup_runs: int = 3
    foreign: bool = True  # the held-out foreign corpus (build/foreign/), with retrieval, every size
    foreign_n: int = 0  # at most this many questions of each kind (fact, unanswerable); 0 = all

    @classmethod
    def quick_config(cls, threads: list[int]) -> "BenchConfig":
        return cls(quick=True, threads=threads, quants=["q8_0"], latency_n=3, accuracy_n=2, freshness_n=4,
                   baseline_reps=1, baseline_pp=128, baseline_tg=32, startup_runs=1, foreign_n=2)


def pstats(xs: list[float]) -> dict:
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return {"p50": None, "p95": None, "n": 0}
    p95 = xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
    return {"p50": round(statistics.median(xs), 3), "p95": round(p95, 3), "n": len(xs)}


@dataclass
class Pair:
    """One model size at one quantization: the base, and its fine-tuned build when there is one."""

    size: str
    quant: str
    base: str
    ft: str | None
    know: str | None = None  # the build of the size's knowledge adapter, when one is shipped

    def model(self, role: str) -> str | None:
        return self.base if role == "base" else self.ft

    def model_for(self, mode: str) -> str | None:
        """The model a mode measures: closed-book `ft` is the knowledge adapter's build where there is
        one (the manual in the weights), `ft+rag` the reader; the base modes the base."""
        if mode == "ft" and self.know:
            return self.know
        return self.model(mode.split("+")[0])

    def models(self) -> list[tuple[str, str]]:
        """(role, model) for every distinct model of the pair."""
        return [(r, m) for r, m in (("base", self.base), ("ft", self.ft), ("knowledge", self.know)) if m]


def _quant_of(name: str) -> str:
    return name.rsplit("-", 1)[-1].lower() if "-" in name else name


def plan(store, cfg: "BenchConfig") -> list[Pair]:
    """The pairs to measure: for each installed size (smallest first), its fine-tuned builds in the
    asked quantizations with the base re-quantized alike; a size with no fine-tuned build is
    measured as its base model alone (base and base+rag)."""
    from ..chooser import TIERS, tier_of

    llms = [a for a in store.artifacts() if a.kind == "llm" and store.path(a).is_file()]
    by_tier: dict[str, list] = {}
    for a in llms:
        by_tier.setdefault(tier_of(store, a), []).append(a)
    sizes = cfg.sizes or [t for t in TIERS if by_tier.get(t)]
    pairs: list[Pair] = []
    for size in sizes:
        arts = by_tier.get(size, [])
        if not arts:
            raise ModelNotFound(f"no {size} model is installed: run `edge models pull` (and `edge models build`)")
        fts = {_quant_of(a.name): a for a in arts if a.role == "ft" and a.source == "build"}
        bases = {_quant_of(a.name): a for a in arts if a.role == "base" and a.source == "build"}
        knows = {_quant_of(a.name): a for a in arts if a.role == "knowledge" and a.source == "build"}
        pulled = [a for a in arts if a.source == "pypi"]
        if fts:
            for q in cfg.quants:
                if q not in fts:
                    raise ModelNotFound(f"the {size} fine-tuned model in {q} is not built: run `edge models build`")
                base = bases.get(q) or (pulled[0] if pulled else None)
                if base is None:
                    raise ModelNotFound(f"the {size} base model in {q} is not built: run `edge models build`")
                pairs.append(Pair(size, q, base.name, fts[q].name, knows[q].name if q in knows else None))
        elif pulled:
            pairs.append(Pair(size, _quant_of(pulled[0].name), pulled[0].name, None))
    if not pairs:
        raise ModelNotFound("no language model is installed: run `edge models pull`")
    return pairs


def _pick(items: list[dict], per_category: int) -> list[dict]:
    if not per_category:
        return items
    out, seen = [], {}
    for it in items:
        if seen.get(it["category"], 0) < per_category:
            out.append(it)
            seen[it["category"]] = seen.get(it["category"], 0) + 1
    return out


def foreign_items(per_kind: int = 0) -> list[dict]:
    """The foreign corpus's questions as evaluation items (category `fact` or `unanswerable`,
    `contains`: the exact strings a right answer holds); at most `per_kind` of each kind."""
    qs = json.loads((FOREIGN / "questions.json").read_text(encoding="utf-8"))
    items = [{"id": q["id"], "question": q["question"], "contains": q.get("answer_contains") or [],
              "category": "unanswerable" if q["kind"] == "unanswerable" else "fact"} for q in qs]
    return _pick(items, per_kind)


def environment() -> dict:
    from .. import __version__
    from ..config import ram_bytes
    from ..doctor import cpu_info

    versions = {}
    for mod in ("llama_cpp", "onnxruntime", "sqlite_vec", "numpy", "tokenizers"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:
            versions[mod] = None
    return {"edge": __version__, "commit": _commit(), "python": platform.python_version(), "platform": platform.platform(), "cpu": cpu_info(),
            "ram_bytes": ram_bytes(), "versions": versions}


def _commit() -> str | None:
    """The clone's commit, with `-dirty` when files differ from it: which code made a report."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("-dirty" if dirty else "")


def _run_worker(job: dict) -> dict:
    proc = subprocess.run([sys.executable, "-m", "edge.bench.worker"], input=json.dumps(job), capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise RuntimeError(f"benchmark worker failed for {job['mode']} {job['model']}: {lines[-1] if lines else proc.returncode}")
    return json.loads(proc.stdout)


class Checkpoint:
    """What a benchmark has measured so far, one JSON file per finished part under `<out>/partial/`,
    so a run stopped by Ctrl-C, a crash or the end of a working session goes on where it stopped.

    A part is reused only when the run would measure the same thing: same settings, same edge commit,
    same CPU, same model files (by sha256) and questions; otherwise the old parts are set aside with
    a line saying why, and everything is measured again (figures from two machines or two builds are
    never mixed in one report). The folder is removed once the report is written."""

    def __init__(self, folder: Path | None, fingerprint: dict, *, fresh: bool = False, log=print):
        self.dir = folder / "partial" if folder else None
        self.reused = 0
        if self.dir is None:
            return
        fp_path = self.dir / "fingerprint.json"
        if self.dir.is_dir():
            try:
                old = json.loads(fp_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                old = None
            if fresh or old != fingerprint:
                why = "--fresh" if fresh else ("the settings, commit, CPU, models or questions differ" if old else "it has no fingerprint")
                log(f"discarding the unfinished benchmark in {self.dir} ({why})")
                shutil.rmtree(self.dir)
            else:
                n = len(list(self.dir.glob("*.part.json")))
                if n:
                    log(f"resuming the unfinished benchmark in {self.dir}: {n} part(s) already measured")
        self.dir.mkdir(parents=True, exist_ok=True)
        _write_atomic(fp_path, fingerprint)

    def _path(self, key: str) -> Path:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in key)
        return self.dir / f"{safe}.part.json"

    def get(self, key: str):
        if self.dir is None:
            return None
        try:
            value = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):  # not measured yet, or cut short while written
            return None
        self.reused += 1
        return value

    def put(self, key: str, value) -> None:
        if self.dir is not None:
            _write_atomic(self._path(key), value)

    def measure(self, key: str, fn):
        """The stored part `key`, or fn() measured now and stored."""
        got = self.get(key)
        if got is None:
            got = fn()
            self.put(key, got)
        return got

    @staticmethod
    def finish(folder: Path) -> None:
        """The report is written: the parts are no longer needed."""
        shutil.rmtree(folder / "partial", ignore_errors=True)


def _write_atomic(path: Path, value) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value), encoding="utf-8")
    os.replace(tmp, path)


def fingerprint(store, cfg: "BenchConfig", threads: list[int], pairs: list[Pair], items: list[dict]) -> dict:
    """What must be equal for a stopped run's parts to be reused (see Checkpoint)."""
    import hashlib

    from ..doctor import cpu_info

    names = sorted({n for p in pairs for n in (p.base, p.ft) if n})
    qs = json.dumps(items, sort_keys=True)
    if (FOREIGN / "questions.json").is_file():
        qs += (FOREIGN / "questions.json").read_text(encoding="utf-8")
    commit = _commit()
    if commit and commit.endswith("-dirty"):  # uncommitted changes: the same ones only
        try:
            diff = subprocess.run(["git", "diff", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
            commit += "-" + hashlib.sha256(diff).hexdigest()[:16]
        except (OSError, subprocess.CalledProcessError):
            pass
    return {"schema_version": SCHEMA_VERSION, "config": cfg.__dict__ | {"threads": threads}, "commit": commit, "cpu": cpu_info(),
            "models": {n: store.get(n).sha256 for n in names}, "questions": hashlib.sha256(qs.encode()).hexdigest()}


def startup_to_first_token(model: str, threads: int, runs: int) -> list[float]:
    """Seconds from starting `edge ask` to its first streamed byte on stdout."""
    out = []
    env = dict(os.environ)
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.Popen([sys.executable, "-m", "edge", "ask", "What torque do the battery terminal bolts need?", "--model", model,
                              "--threads", str(threads), "--max-tokens", "16"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        first = p.stdout.read(1)
        t1 = time.perf_counter()
        p.communicate()
        if first:
            out.append(t1 - t0)
    return out


def run_bench(settings, cfg: BenchConfig, *, log=print, checkpoint_dir: Path | None = None, fresh: bool = False) -> dict:
    """Measure every configuration; with `checkpoint_dir`, each finished part is kept there so a
    stopped run resumes (see Checkpoint)."""
    from ..models import ModelStore
    from ..rag.embed import load_embedder
    from ..rag.store import Index
    from ..train.evaluate import load_eval
    from .baseline import raw_llama_bench

    store = ModelStore(settings.home)
    threads = cfg.threads or [settings.n_threads]
    pairs = plan(store, cfg)
    eval_path = ROOT / "build" / "dataset" / "eval.jsonl"
    if not eval_path.exists():
        raise UsageError(f"{eval_path} is missing: the benchmark's questions ship in the edge clone")
    items = load_eval(eval_path)
    latency_q = [it["question"] for it in items if it["category"] == "trained_rephrased"][: cfg.latency_n]
    accuracy = _pick(items, cfg.accuracy_n)
    changed = [it for it in items if it["category"] == "changed"]
    freshness = changed[: cfg.freshness_n] if cfg.freshness_n else changed
    ck = Checkpoint(checkpoint_dir, fingerprint(store, cfg, threads, pairs, items), fresh=fresh, log=log)
    res: dict = {"schema_version": SCHEMA_VERSION, "quick": cfg.quick, "config": cfg.__dict__ | {"threads": threads},
                 "environment": environment(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        emb = load_embedder(settings)
        # the user's documents, version 1, then revised to version 2 in place (same paths)
        docs = tmp / "manual"
        shutil.copytree(ROOT / "build" / "knowledge", docs)
        log("indexing the sample manual ...")
        idx = Index(tmp / "index.db", emb)
        r1 = idx.add([docs])
        idx.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        index_bytes = idx.stats()["bytes_on_disk"]
        idx.close()
        shutil.copy(tmp / "index.db", tmp / "index-v1.db")
        for f in (ROOT / "build" / "knowledge-v2").iterdir():
            shutil.copy(f, docs / f.name)
        idx = Index(tmp / "index.db", emb)
        t0 = time.perf_counter()
        r2 = idx.add([docs])
        update_s = time.perf_counter() - t0
        idx.close()
        res["index"] = {
            "documents": len(r1.outcomes), "build_seconds": round(r1.seconds, 3), "bytes_on_disk": index_bytes,
            "update_to_v2_seconds": round(update_s, 3), "update_changed_documents": r2.count("updated"),
            "update_embedded_tokens": r2.tokens,
        }
        log(f"index: built in {r1.seconds:.1f}s; revision update ({r2.count('updated')} changed documents) in {update_s:.1f}s")

        res["plan"] = [p.__dict__ for p in pairs]
        jobs = [(p, t, m) for p in pairs for t in threads for m in MODES if p.model_for(m)]
        bar = Progress("benchmark", len(jobs), unit="configs")
        res["runs"] = []
        for n_job, (pair, t, mode) in enumerate(jobs):
            rag = mode.endswith("+rag")
            name, q = pair.model_for(mode), pair.quant
            first_t = t == threads[0]
            job = {"mode": mode, "size": pair.size, "model": name, "quant": q, "threads": t, "rag": rag, "max_tokens": cfg.max_tokens,
                   "index": str(tmp / "index-v1.db"), "fresh_index": str(tmp / "index.db"),
                   "warmup": latency_q[0], "latency": latency_q,
                   "accuracy": accuracy if first_t else [], "freshness": freshness if first_t else []}
            # the job names temporary paths that differ from run to run: the key is what it measures
            w = ck.measure(f"run-{n_job}-{pair.size}-{mode}-{q}-t{t}", lambda: _run_worker(job))
            w["model_bytes"] = store.path(store.get(name)).stat().st_size
            res["runs"].append(w)
            bar.update(1, postfix=f"{pair.size} {mode} {q} t{t}")
        bar.close()

        if cfg.foreign and (FOREIGN / "questions.json").is_file():
            res["foreign"] = _foreign(pairs, threads[0], cfg, tmp, emb, store, log, ck)

        log("raw llama.cpp baseline ...")
        res["baseline"] = []
        for pair in pairs:
            for role, name in pair.models():
                for t in threads:
                    def raw(name=name, t=t):
                        b = raw_llama_bench(store.path(store.get(name)), threads=t, n_prompt=cfg.baseline_pp, n_gen=cfg.baseline_tg, repetitions=cfg.baseline_reps)
                        return {**b.to_dict(), "file": b.model}
                    b = ck.measure(f"baseline-{name}-t{t}", raw)
                    res["baseline"].append({**b, "model": name, "size": pair.size, "quant": pair.quant, "role": role})
        log("raw llama.cpp decode at each configuration's prompt depth ...")
        for n_job, w in enumerate(res["runs"]):
            # decode slows as the cache deepens, so the assistant's decode rate is compared with raw
            # decode of as many tokens from the same depth (its median prompt and answer lengths)
            j = w["job"]
            depth = int(statistics.median(r["timings"]["prompt_tokens"] for r in w["runs"]))
            n_gen = max(16, int(statistics.median(r["timings"]["completion_tokens"] for r in w["runs"])))
            def at_depth(j=j, depth=depth, n_gen=n_gen):
                b = raw_llama_bench(store.path(store.get(j["model"])), threads=j["threads"], n_prompt=0, n_gen=n_gen, depth=depth, repetitions=cfg.baseline_reps)
                return {"depth": depth, "n_gen": n_gen, "tg_tok_s": b.tg_tok_s, "tg_mean": b.tg_mean}
            w["raw_at_depth"] = ck.measure(f"depth-{n_job}-{j['model']}-{j['mode']}-t{j['threads']}", at_depth)
        log("process start to first token ...")
        first = pairs[0].ft or pairs[0].base
        res["startup"] = {"model": first, "threads": threads[0], "seconds": startup_to_first_token(first, threads[0], cfg.startup_runs)}
    res["summary"] = summarize(res)
    res["resumed_parts"] = ck.reused
    res["seconds"] = round(time.perf_counter() - t_all, 1)
    return res


def _foreign(pairs: list[Pair], threads: int, cfg: BenchConfig, tmp: Path, emb, store, log, ck: Checkpoint) -> dict:
    """Every size's base and fine-tuned model, with retrieval, over documents nobody trained on:
    pydoc's text of the standard-library modules in build/foreign/ and its question bank."""
    from ..rag.store import Index

    items = foreign_items(cfg.foreign_n)
    log(f"indexing the foreign corpus ({FOREIGN / 'text'}) ...")
    idx = Index(tmp / "foreign.db", emb)
    rep = idx.add([FOREIGN / "text"])
    idx.close()
    out = {"index": {"documents": len(rep.outcomes), "build_seconds": round(rep.seconds, 3)}, "n": len(items), "runs": []}
    # one quantization per size (the first asked): what the corpus measures is reading, not quantization
    first = {}
    for p in pairs:
        first.setdefault(p.size, p)
    jobs = [(p, role) for p in first.values() for role in ("base", "ft") if p.model(role)]
    bar = Progress("foreign corpus", len(jobs), unit="models")
    for pair, role in jobs:
        name = pair.model(role)
        job = {"mode": f"{role}+rag", "size": pair.size, "model": name, "quant": pair.quant, "threads": threads, "rag": True,
               "max_tokens": cfg.max_tokens, "index": str(tmp / "foreign.db"), "fresh_index": None, "warmup": items[0]["question"],
               "latency": [], "accuracy": items, "freshness": []}
        out["runs"].append(ck.measure(f"foreign-{pair.size}-{role}-{name}", lambda: _run_worker(job)))
        bar.update(1, postfix=f"{pair.size} {role}+rag")
    bar.close()
    return out


def _share(rows: list[dict], pred) -> float | None:
    return round(sum(1 for r in rows if pred(r)) / len(rows), 4) if rows else None


def foreign_summary(fr: dict) -> list[dict]:
    """Per model: accuracy on the foreign corpus's facts and on the questions it does not answer."""
    out = []
    for w in fr["runs"]:
        j, acc = w["job"], w["accuracy"]
        facts = [a for a in acc if a["category"] == "fact"]
        none = [a for a in acc if a["category"] == "unanswerable"]
        cv = [a["citation_valid"] for a in facts if a["citation_valid"] is not None]
        out.append({"size": j["size"], "mode": j["mode"], "model": j["model"], "quant": j["quant"], "n": len(acc),
                    "all": _share(acc, lambda a: a["correct"]), "facts": _share(facts, lambda a: a["correct"]), "n_facts": len(facts),
                    "says_not_covered": _share(none, lambda a: a["correct"]), "n_unanswerable": len(none),
                    "citation_valid": round(sum(cv) / len(cv), 4) if cv else None, "citations": len(cv),
                    "grounded": _share([a for a in acc if a.get("grounded") is not None], lambda a: a["grounded"])})
    return out


def _training_report(res: dict) -> tuple[dict | None, str | None]:
    """The report of the training that put the knowledge into the compared fine-tuned model: the
    knowledge adapter's (build/train_shipped.py: build/reports/train.json) where the `ft` column is
    its build, else the reader's of the smallest size with a fine-tuned build
    (build/reports/train-reader-<size>.json), else the older recipe's."""
    with_ft = [p for p in res.get("plan", []) if p.get("ft")]
    reports = ROOT / "build" / "reports"
    first = [] if not with_ft or with_ft[0].get("know") else [reports / f"train-reader-{with_ft[0]['size']}.json"]
    for path in first + [reports / "train.json"]:
        try:
            return json.loads(path.read_text(encoding="utf-8")), str(path.relative_to(ROOT))
        except (OSError, ValueError):
            continue
    return None, None


def relabel(res: dict) -> int:
    """Label the stored answers of a finished run again with this edge's scorer and question banks (a
    corrected label must not leave old figures behind); returns how many labels changed. Answers to
    questions a bank no longer has keep their labels."""
    from ..train.evaluate import correct, correct_strict, load_eval

    sample = {it["id"]: it for it in load_eval(ROOT / "build" / "dataset" / "eval.jsonl")}
    foreign = {it["id"]: it for it in foreign_items()} if res.get("foreign") else {}
    changed = 0

    def put(rec: dict, key: str, value: bool) -> None:
        nonlocal changed
        changed += rec.get(key) is not None and rec.get(key) != value
        rec[key] = value

    for runs, bank in ((res.get("runs", []), sample), ((res.get("foreign") or {}).get("runs", []), foreign)):
        for w in runs:
            for a in w.get("accuracy", []):
                it = bank.get(a["id"])
                if it is not None and "answer" in a:
                    put(a, "correct", correct(a["answer"], it))
                    put(a, "correct_strict", correct_strict(a["answer"], it))
            for f in w.get("freshness", []):
                it = bank.get(f["id"])
                if it is not None and "answer" in f:
                    put(f, "new", correct(f["answer"], it, key="contains_v2"))
                    put(f, "old", correct(f["answer"], it))
    return changed


def summarize(res: dict) -> dict:
    tr, tr_path = _training_report(res)
    base = {(b["model"], b["threads"]): b for b in res["baseline"]}
    configs = []
    for w in res["runs"]:
        j = w["job"]
        lat = {k: pstats([r["timings"][k] for r in w["runs"]]) for k in TIMING_KEYS}
        retr = [((r["timings"]["embed_ms"] or 0) + (r["timings"]["search_ms"] or 0)) / r["timings"]["ttft_ms"] for r in w["runs"] if j["rag"] and r["timings"]["ttft_ms"]]
        b = base.get((j["model"], j["threads"]))
        c = {"mode": j["mode"], "size": j.get("size", "tiny"), "model": j["model"], "quant": j["quant"], "threads": j["threads"], "load_ms": round(w["load_ms"], 1),
             "latency": lat, "peak_rss_bytes": w["peak_rss_bytes"], "model_bytes": w["model_bytes"],
             "retrieval_share_of_ttft": round(statistics.median(retr), 4) if retr else None,
             "raw_tg_at_depth": round(w["raw_at_depth"]["tg_mean"], 2) if w.get("raw_at_depth") else None,
             "decode_vs_raw": round(lat["decode_tok_s"]["p50"] / w["raw_at_depth"]["tg_mean"], 4) if w.get("raw_at_depth") and lat["decode_tok_s"]["p50"] else None,
             "decode_vs_raw_tg": round(lat["decode_tok_s"]["p50"] / b["tg_mean"], 4) if b and lat["decode_tok_s"]["p50"] else None}
        if w["accuracy"]:
            acc = w["accuracy"]
            cats = sorted({a["category"] for a in acc})
            cv = [a["citation_valid"] for a in acc if a["citation_valid"] is not None]
            c["accuracy"] = {"all": round(sum(a["correct"] for a in acc) / len(acc), 4), "n": len(acc),
                             # by the bank's original, longer strings (runs made before the value labels: the same)
                             "all_strict": round(sum(a.get("correct_strict", a["correct"]) for a in acc) / len(acc), 4),
                             **{k: round(sum(a["correct"] for a in acc if a["category"] == k) / sum(1 for a in acc if a["category"] == k), 4) for k in cats},
                             "citation_valid": round(sum(cv) / len(cv), 4) if cv else None, "citations": len(cv)}
            gr = [a for a in acc if a.get("grounded") is not None]
            if gr:
                marked = [a for a in gr if a["grounded"]]
                wrong = [a for a in gr if not a["correct"]]
                c["answer_check"] = {
                    "n": len(gr),
                    # the share of answers whose cited passages hold what they assert
                    "grounded": round(len(marked) / len(gr), 4),
                    # of those marked grounded, how many are right; of the wrong ones, how many were flagged
                    "precision": round(sum(a["correct"] for a in marked) / len(marked), 4) if marked else None,
                    "flags_wrong": round(sum(not a["grounded"] for a in wrong) / len(wrong), 4) if wrong else None,
                }
        if w["freshness"]:
            fr = w["freshness"]
            c["freshness"] = {"n": len(fr), "new_value": round(sum(f["new"] for f in fr) / len(fr), 4), "old_value": round(sum(f["old"] for f in fr) / len(fr), 4)}
        configs.append(c)
    out = {"configs": configs, "index": res["index"]}
    if tr:
        out["retrain_seconds"] = tr["train_seconds"]
        out["retrain_tokens_per_s"] = tr["tokens_per_s"]
        out["retrain_tokens"] = tr["tokens"]
        out["retrain_report"] = tr_path
        out["retrain_precision"] = (tr.get("config") or {}).get("precision")
    st = res.get("startup", {}).get("seconds") or []
    out["startup_to_first_token_s"] = pstats(st)
    if res.get("foreign"):
        out["foreign"] = foreign_summary(res["foreign"])
    return out

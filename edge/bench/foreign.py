"""Retrieval on the foreign corpus (build/foreign/): the Python standard library's documentation
rendered by pydoc, as text, as HTML, and converted to PDF here, with a question bank whose
answers are exact strings of the corpus.

Measured per format: the share of fact questions whose evidence string (the corpus text that
holds the answer; see questions.json) is inside the passages given to the model at the default k,
and document recall@5 (the question's module among the top 5 results' documents). The fusion
parameters (rank.py) are chosen by a grid search on one half of the questions (odd positions),
scored on all three forms, and reported on the other half as well as on all of them.
"""

from __future__ import annotations

import itertools
import json
import re
import statistics
import tempfile
import time
from pathlib import Path

from ..rag.rank import Fusion, fuse

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "build" / "foreign"
FORMATS = ("text", "html", "pdf")


def norm(s: str) -> str:
    return " ".join(s.replace("\u00a0", " ").split())


def load_questions(path: Path = CORPUS / "questions.json") -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))


def verify(questions: list[dict], corpus: Path = CORPUS) -> list[str]:
    """Problems with the question bank: an evidence string not in its module's text or HTML
    rendering (as the HTML loader reads it), an answer not inside its evidence. Empty = sound."""
    from ..rag.loaders import load

    problems = []
    facts = [q for q in questions if q["kind"] == "fact"]
    none = [q for q in questions if q["kind"] == "unanswerable"]
    if len(facts) < 60 or len(none) < 10:
        problems.append(f"{len(facts)} fact and {len(none)} unanswerable questions (want >= 60 and >= 10)")
    if len({q["id"] for q in questions}) != len(questions):
        problems.append("duplicate ids")
    for q in facts:
        ev = norm(q["evidence"])
        text = norm((corpus / "text" / q["file"]).read_text(encoding="utf-8"))
        if ev not in text:
            problems.append(f"{q['id']}: evidence {q['evidence']!r} not in text/{q['file']}")
        h = corpus / "html" / (q["module"] + ".html")
        doc = load(h, h.read_bytes())
        html_text = norm("\n".join(b.text for s in doc.sections for b in s.blocks))
        if ev not in html_text:
            problems.append(f"{q['id']}: evidence {q['evidence']!r} not in the HTML form of {q['module']}")
        for a in q["answer_contains"]:
            if norm(a) not in ev:
                problems.append(f"{q['id']}: answer {a!r} not in its evidence")
    return problems


def make_pdfs(text_dir: Path, out: Path) -> None:
    """Each text file as a PDF (fpdf2, Courier, A4 landscape): the text layer pypdfium2 reads."""
    from fpdf import FPDF

    out.mkdir(parents=True, exist_ok=True)
    for f in sorted(text_dir.glob("*.txt")):
        pdf = FPDF(orientation="L", format="A4")
        pdf.set_title(f.stem)
        pdf.set_auto_page_break(True, margin=10)
        pdf.set_margins(10, 10, 10)
        pdf.add_page()
        pdf.set_font("Courier", size=7)
        for line in f.read_text(encoding="utf-8").splitlines():
            line = line.encode("latin-1", "replace").decode("latin-1") or " "
            pdf.multi_cell(0, 3.2, line, new_x="LMARGIN", new_y="NEXT")
        pdf.output(str(out / (f.stem + ".pdf")))


def build_indexes(emb, work: Path, *, forms=FORMATS, log=print) -> dict:
    """The three indexes (reused from `work` if there), and what building them cost."""
    from ..rag.store import Index

    info = {}
    src = {"text": CORPUS / "text", "html": CORPUS / "html", "pdf": work / "pdf"}
    if not any(src["pdf"].glob("*.pdf")):
        log("converting the text corpus to PDF ...")
        make_pdfs(CORPUS / "text", src["pdf"])
    for fmt in forms:
        p = work / f"{fmt}.db"
        fresh = not p.exists()
        idx = Index(p, emb)
        if fresh:
            log(f"indexing the {fmt} form ...")
        rep = idx.add([src[fmt]])
        if rep.failed:
            raise RuntimeError(f"{fmt}: {[(o.path, o.reason) for o in rep.failed]}")
        idx.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        st = idx.stats()
        info[fmt] = {"documents": st["documents"], "chunks": st["chunks"], "tokens": st["tokens"],
                     "bytes_on_disk": st["bytes_on_disk"], "bytes_per_chunk": st["bytes_per_chunk"]}
        if rep.tokens and rep.embed_seconds:  # embedded now (all of it, or what an interrupted run left)
            info[fmt].update(ingest_seconds=round(rep.seconds, 1), embed_tokens_per_s=round(rep.tokens / rep.embed_seconds, 1),
                             embedded_tokens_now=rep.tokens)
        idx.close()
    return info


def candidates(idx, questions: list[dict]) -> list[dict]:
    """Per question: its vector and keyword candidates and their documents (the costly part, once)."""
    from ..rag.store import CANDIDATES

    out = []
    total = idx.n_chunks()
    paths = dict(idx.conn.execute("SELECT id, path FROM documents").fetchall())
    for q in questions:
        qvec = idx.embedder.embed_query(q["question"])
        vec = idx.vector_search(qvec, CANDIDATES, total=total)
        kw = idx.keyword_search(q["question"], CANDIDATES, total=total)
        doc_of = idx.doc_ids({c for c, _ in vec} | {c for c, _ in kw})
        out.append({"q": q, "vec": vec, "kw": kw, "doc_of": doc_of, "paths": paths})
    return out


def score(idx, cands: list[dict], fusion: Fusion, ks=(4, 5, 8)) -> dict:
    """Evidence-in-passages at each k, and document recall@5, for one fusion setting."""
    hits = {k: 0 for k in ks}
    recall5 = 0
    texts: dict[int, str] = {}
    for c in cands:
        q = c["q"]
        top = fuse(c["vec"], c["kw"], max(ks), c["doc_of"], fusion)
        ids = [cid for cid, _ in top]
        for cid in ids:
            if cid not in texts:
                h, t = idx.conn.execute("SELECT heading, text FROM chunks WHERE id = ?", (cid,)).fetchone()
                texts[cid] = norm(h + "\n" + t)
        ev = norm(q["evidence"])
        for k in ks:
            if any(ev in texts[cid] for cid in ids[:k]):
                hits[k] += 1
        mods = {Path(c["paths"][c["doc_of"][cid]]).stem for cid in ids[:5]}
        recall5 += q["module"] in mods
    n = len(cands)
    return {"n": n, **{f"evidence_in_top{k}": round(hits[k] / n, 4) for k in ks}, "doc_recall_at_5": round(recall5 / n, 4)}


GRID = {
    "w_keyword": [0.5, 0.75, 1.0, 1.5, 2.0],
    "rrf_k": [10, 30, 60],
    "per_doc": [1, 2, 3, None],
}


def tune(idxs: dict, cands: dict, k: int) -> tuple[Fusion, list[dict]]:
    """The grid point with the best mean (over the three forms) of evidence-in-top-k + recall@5 on
    `cands` (per form); ties go to the point nearest plain RRF (w_keyword 1, rrf_k 60, no cap)."""
    rows = []
    for wk, rk, pd in itertools.product(GRID["w_keyword"], GRID["rrf_k"], GRID["per_doc"]):
        f = Fusion(w_vector=1.0, w_keyword=wk, rrf_k=rk, per_doc=pd)
        per = [score(idxs[fmt], cands[fmt], f, ks=(k, 5)) for fmt in idxs]
        ev = round(sum(p[f"evidence_in_top{k}"] for p in per) / len(per), 4)
        rec = round(sum(p["doc_recall_at_5"] for p in per) / len(per), 4)
        rows.append({"w_keyword": wk, "rrf_k": rk, "per_doc": pd, f"evidence_in_top{k}": ev, "doc_recall_at_5": rec})

    def key(r):
        plain = abs(r["w_keyword"] - 1.0) + abs(r["rrf_k"] - 60) / 60 + (r["per_doc"] is not None)
        return (r[f"evidence_in_top{k}"] + r["doc_recall_at_5"], -plain)

    best = max(rows, key=key)
    rows.sort(key=key, reverse=True)
    return Fusion(1.0, best["w_keyword"], best["rrf_k"], best["per_doc"]), rows


def latency(idx, questions: list[dict]) -> dict:
    idx.search(questions[0]["question"], k=4)  # warm-up
    tot = []
    for q in questions:
        _, e, s = idx.search(q["question"], k=4)
        tot.append(e + s)
    xs = sorted(tot)
    return {"p50": round(statistics.median(xs), 2), "p95": round(xs[int(0.95 * (len(xs) - 1))], 2), "n": len(xs)}


def run(settings, *, work: Path | None = None, default_k: int = 4, forms=FORMATS, log=print) -> dict:
    """`forms`: the corpus forms to index and score (all three by default; fewer for a costly embedder)."""
    from ..rag.embed import load_embedder
    from ..rag.store import Index

    questions = load_questions()
    problems = verify(questions)
    if problems:
        raise RuntimeError("question bank: " + "; ".join(problems))
    facts = [q for q in questions if q["kind"] == "fact"]
    tune_set, held_out = facts[0::2], facts[1::2]
    emb = load_embedder(settings)
    tmp = None
    if work is None:
        tmp = tempfile.TemporaryDirectory()
        work = Path(tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    from ..doctor import cpu_info
    from ..rag.chunk import CHUNKER_VERSION

    out: dict = {"questions": len(facts), "unanswerable": len(questions) - len(facts), "default_k": default_k,
                 "tune_set": len(tune_set), "held_out": len(held_out), "embedder": emb.id, "dim": emb.dim,
                 "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpu": cpu_info().get("model", "?"),
                 "chunker": CHUNKER_VERSION}
    out["indexes"] = build_indexes(emb, work, forms=forms, log=log)
    idxs = {fmt: Index(work / f"{fmt}.db", emb) for fmt in forms}
    t0 = time.perf_counter()
    cands = {fmt: candidates(idxs[fmt], facts) for fmt in forms}
    log(f"candidates in {time.perf_counter() - t0:.1f}s")
    by_id = {fmt: {c["q"]["id"]: c for c in cands[fmt]} for fmt in forms}
    pick = lambda fmt, qs: [by_id[fmt][q["id"]] for q in qs]  # noqa: E731
    best, grid = tune(idxs, {fmt: pick(fmt, tune_set) for fmt in forms}, default_k)
    out["tuned"] = {"w_vector": best.w_vector, "w_keyword": best.w_keyword, "rrf_k": best.rrf_k, "per_doc": best.per_doc}
    out["grid_top"] = grid[:8]
    baseline = Fusion(1.0, 1.0, 60, None)  # plain RRF, no diversity: what edge did before
    default = Fusion()
    settings_ = {"baseline (RRF k=60, no diversity)": baseline, "shipped defaults (rank.py)": default, "tuned on half": best}
    out["results"] = {}
    for name, f in settings_.items():
        out["results"][name] = {fmt: {"all": score(idxs[fmt], cands[fmt], f), "held_out": score(idxs[fmt], pick(fmt, held_out), f)}
                                for fmt in forms}
    # vector-only and keyword-only, for scale
    out["results"]["vector only"] = {fmt: {"all": score(idxs[fmt], [dict(c, kw=[]) for c in cands[fmt]], Fusion(per_doc=None))} for fmt in forms}
    out["results"]["keyword only"] = {fmt: {"all": score(idxs[fmt], [dict(c, vec=[]) for c in cands[fmt]], Fusion(per_doc=None))} for fmt in forms}
    out["latency_ms"] = {fmt: {"chunks": out["indexes"][fmt]["chunks"], **latency(idxs[fmt], facts)} for fmt in forms}
    for i in idxs.values():
        i.close()
    if tmp:
        tmp.cleanup()
    return out


def _ingest_rate(index_info: dict) -> str:
    return f"{index_info['embed_tokens_per_s']:.0f}" if index_info.get("embed_tokens_per_s") else "(reused)"


def markdown(r: dict) -> str:
    k = r["default_k"]
    lines = [
        "## Foreign corpus: the Python standard library's pydoc pages",
        "",
        f"{r['indexes']['text']['documents']} modules rendered by `build/foreign/make_corpus.py` (Python 3.11), as text, as HTML, "
        f"and converted to PDF with fpdf2; {r['questions']} fact questions (+ {r['unanswerable']} unanswerable, not scored here) in "
        "`build/foreign/questions.json`, each answer an exact string of the corpus. *Evidence in top k*: the corpus string that holds "
        "the answer is inside one of the k passages given to the model (heading + text, whitespace-normalised). *Doc recall@5*: the "
        "question's module is among the documents of the top 5.",
        "",
        "| form | documents | chunks | bytes/chunk | ingest tokens/s | embed + search p50 / p95 |",
        "|---|---|---|---|---|---|",
    ]
    for fmt in r["indexes"]:
        i, lat = r["indexes"][fmt], r["latency_ms"][fmt]
        rate = _ingest_rate(i)
        lines.append(f"| {fmt} | {i['documents']} | {i['chunks']} | {i['bytes_per_chunk']} | {rate} | {lat['p50']} / {lat['p95']} ms |")
    lines += ["", f"| fusion | form | evidence in top {k} (all) | top 8 | doc recall@5 (all) | evidence in top {k} (held-out half) | doc recall@5 (held-out) |",
              "|---|---|---|---|---|---|---|"]
    for name, per in r["results"].items():
        for fmt in r["indexes"]:
            a = per[fmt]["all"]
            h = per[fmt].get("held_out")
            hs = f"{h[f'evidence_in_top{k}']} | {h['doc_recall_at_5']}" if h else "– | –"
            lines.append(f"| {name} | {fmt} | {a[f'evidence_in_top{k}']} | {a['evidence_in_top8']} | {a['doc_recall_at_5']} | {hs} |")
    t = r["tuned"]
    lines += ["", f"Tuned on the {r['tune_set']} questions at odd positions (mean of the three forms), grid {GRID}: "
              f"w_vector {t['w_vector']}, w_keyword {t['w_keyword']}, rrf_k {t['rrf_k']}, per_doc {t['per_doc']}. "
              f"Held-out half: the other {r['held_out']} questions.", ""]
    lines += ["Best grid points (tune half, mean of the three forms):", "", f"| w_keyword | rrf_k | per_doc | evidence in top {k} | doc recall@5 |", "|---|---|---|---|---|"]
    for g in r["grid_top"]:
        lines.append(f"| {g['w_keyword']} | {g['rrf_k']} | {g['per_doc']} | {g[f'evidence_in_top{k}']} | {g['doc_recall_at_5']} |")
    return "\n".join(lines) + "\n"


def compare_markdown(runs: dict[str, dict]) -> str:
    """The embedders side by side on the foreign corpus: quality at the shipped fusion, vector-only
    quality (the embedder alone), and what each costs to ingest and to query."""
    k = next(iter(runs.values()))["default_k"]
    lines = ["## Embedders compared on the foreign corpus", "",
             "The same corpus, questions and fusion (the shipped defaults of rank.py); each run's CPU and time are given, since "
             "ingest speeds are comparable only within one machine. *Vector only* is the embedder alone, without the keyword index.", "",
             f"| embedder | dims | form | evidence in top {k} | top 8 | doc recall@5 | vector only: evidence in top {k} | vector only: top 8 "
             "| ingest tokens/s | bytes/chunk | embed + search p50 |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in runs.items():
        for fmt in r["indexes"]:
            a = r["results"]["shipped defaults (rank.py)"][fmt]["all"]
            v = r["results"]["vector only"][fmt]["all"]
            i, lat = r["indexes"][fmt], r["latency_ms"][fmt]
            rate = _ingest_rate(i)
            lines.append(f"| {name} | {r.get('dim', '?')} | {fmt} | {a[f'evidence_in_top{k}']} | {a['evidence_in_top8']} | {a['doc_recall_at_5']} "
                         f"| {v[f'evidence_in_top{k}']} | {v['evidence_in_top8']} | {rate} | {i['bytes_per_chunk']} | {lat['p50']} ms |")
    lines.append("")
    for name, r in runs.items():
        lines.append(f"- {name}: {r.get('embedder', '?')}, measured {r.get('measured_at', '(time not recorded)')} on {r.get('cpu', '(CPU not recorded)')}, "
                     f"chunker version {r.get('chunker', 1)}")
    if len({r.get("chunker", 1) for r in runs.values()}) > 1:
        lines.append("- **These runs cut the corpus with different chunkers**: their differences are not the embedders' alone.")
    first, base = next(iter(runs.items()))
    for name, r in list(runs.items())[1:]:
        for fmt in (f for f in r["indexes"] if f in base["indexes"]):
            a, b = r["results"]["shipped defaults (rank.py)"][fmt]["all"], base["results"]["shipped defaults (rank.py)"][fmt]["all"]
            ri, bi = r["indexes"][fmt], base["indexes"][fmt]
            slower = (f"ingest {bi['embed_tokens_per_s'] / ri['embed_tokens_per_s']:.1f}× slower"
                      if ri.get("embed_tokens_per_s") and bi.get("embed_tokens_per_s") else "ingest speed not measured in both")
            lines.append(f"- {name} against {first}, {fmt} form: evidence in top {k} {100 * (a[f'evidence_in_top{k}'] - b[f'evidence_in_top{k}']):+.1f} points "
                         f"({round(a[f'evidence_in_top{k}'] * a['n'])} against {round(b[f'evidence_in_top{k}'] * b['n'])} of {a['n']}); {slower}; "
                         f"embed + search {r['latency_ms'][fmt]['p50'] / base['latency_ms'][fmt]['p50']:.1f}× the time; "
                         f"{ri['bytes_per_chunk'] / bi['bytes_per_chunk']:.2f}× the bytes per chunk")
    return "\n".join(lines) + "\n"

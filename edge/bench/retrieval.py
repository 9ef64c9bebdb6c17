"""Retrieval benchmark: ingest speed, bytes per chunk, query latency at the sample's size and at
100,000 chunks, and the recall of the 1-bit shortlist + exact re-rank against an exact scan."""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def _lat(xs):
    return {"p50": round(statistics.median(xs), 3), "p95": round(_pct(xs, 95), 3), "n": len(xs)}


def synthetic_index(idx, base_vecs: np.ndarray, texts: list[str], n: int, seed: int = 0) -> None:
    """Fill `idx` with `n` chunks: mixtures of real chunk embeddings plus noise (so the vectors are
    clustered like real ones, not uniform), and real chunk texts with a serial number."""
    from ..rag.layout import insert_chunk

    rng = np.random.default_rng(seed)
    c = idx.conn
    c.execute("BEGIN")
    c.execute("INSERT INTO documents(path, sha256, mtime, size, title, kind, n_chunks, indexed_at) VALUES ('synthetic', '', 0, 0, 'synthetic', 'text', ?, 0)", (n,))
    doc = c.execute("SELECT id FROM documents WHERE path='synthetic'").fetchone()[0]
    for i in range(n):
        a, b = rng.integers(0, len(base_vecs), 2)
        v = base_vecs[a] + 0.5 * rng.random() * base_vecs[b] + rng.normal(0, 0.04, base_vecs.shape[1])
        v = (v / np.linalg.norm(v)).astype(np.float32)
        text = f"{texts[a]} (copy {i})"
        insert_chunk(c, doc, i, title="", heading="", line_start=1, line_end=1, n_tokens=0, text=text, page=0, vec=v)
    c.execute("COMMIT")


def run(settings, *, n_synthetic: int = 100_000, also: tuple[int, ...] = (6_000,), log=print) -> dict:
    """The sample manual, then synthetic indexes of `n_synthetic` chunks (the main figures) and of
    each size in `also` (hybrid embed + search latency and bytes per chunk only)."""
    from ..rag.embed import load_embedder
    from ..rag.store import Index

    questions = [q["question"] for q in json.loads((ROOT / "build" / "knowledge-questions.json").read_text()) if q["kind"] == "fact"]
    emb = load_embedder(settings)
    out: dict = {"questions": len(questions)}
    with tempfile.TemporaryDirectory() as tmp:
        idx = Index(Path(tmp) / "sample.db", emb)
        log("indexing the sample manual ...")
        rep = idx.add([ROOT / "build" / "knowledge"])
        idx.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        st = idx.stats()
        out["sample"] = {
            "documents": st["documents"], "chunks": st["chunks"], "embedded_tokens": rep.tokens,
            "ingest_seconds": round(rep.seconds, 3), "embed_tokens_per_s": round(rep.tokens / rep.embed_seconds, 1),
            "bytes_on_disk": st["bytes_on_disk"], "bytes_per_chunk": st["bytes_per_chunk"],
        }
        idx.search(questions[0], k=5)  # warm-up
        e_ms, s_ms, tot = [], [], []
        for q in questions:
            _, e, s = idx.search(q, k=5)
            e_ms.append(e)
            s_ms.append(s)
            tot.append(e + s)
        out["sample"].update(embed_ms=_lat(e_ms), search_ms=_lat(s_ms), embed_plus_search_ms=_lat(tot))
        log(f"sample: p50 embed+search {statistics.median(tot):.2f} ms")
        qvecs = np.stack([emb.embed_query(q) for q in questions])
        from ..rag.layout import from_q8

        base_rows = idx.conn.execute("SELECT text, embedding FROM chunks").fetchall()
        base_vecs = from_q8([r[1] for r in base_rows], emb.dim)
        texts = [r[0] for r in base_rows]
        idx.close()

        out["sizes"] = []
        for n in also:
            small = Index(Path(tmp) / f"s{n}.db", emb)
            synthetic_index(small, base_vecs, texts, n)
            small.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            small.search(questions[0], k=4)  # warm-up
            tot = []
            for q in questions:
                _, e, s_ = small.search(q, k=4)
                tot.append(e + s_)
            out["sizes"].append({"chunks": n, "bytes_per_chunk": small.stats()["bytes_per_chunk"], "hybrid_embed_plus_search_ms": _lat(tot)})
            log(f"{n} chunks: hybrid embed+search p50 {statistics.median(tot):.1f} ms")
            small.close()

        big = Index(Path(tmp) / "big.db", emb)
        log(f"building a synthetic index of {n_synthetic} chunks ...")
        t0 = time.perf_counter()
        synthetic_index(big, base_vecs, texts, n_synthetic)
        big.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        st = big.stats()
        res = {"chunks": st["chunks"], "build_seconds": round(time.perf_counter() - t0, 1), "bytes_on_disk": st["bytes_on_disk"],
               "bytes_per_chunk": st["bytes_per_chunk"]}
        exact_ms, short_ms, recalls = [], [], []
        big.vector_search(qvecs[0], 5, exact=True)
        big.vector_search(qvecs[0], 5, exact=False)
        for qv in qvecs:
            t = time.perf_counter()
            ex = big.vector_search(qv, 5, exact=True)
            exact_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            ap = big.vector_search(qv, 5, exact=False)
            short_ms.append((time.perf_counter() - t) * 1000)
            recalls.append(len({i for i, _ in ex} & {i for i, _ in ap}) / 5)
        hy_tot = []
        for q in questions:
            _, e, s = big.search(q, k=5)
            hy_tot.append(e + s)
        res.update(exact_float_scan_ms=_lat(exact_ms), bit_shortlist_rerank_ms=_lat(short_ms),
                   recall_at_5_vs_exact=round(float(np.mean(recalls)), 4), hybrid_embed_plus_search_ms=_lat(hy_tot))
        out["synthetic"] = res
        log(f"{n_synthetic} chunks: exact scan p50 {statistics.median(exact_ms):.1f} ms, shortlist+rerank p50 "
            f"{statistics.median(short_ms):.1f} ms (recall@5 {np.mean(recalls):.3f}), hybrid embed+search p50 {statistics.median(hy_tot):.1f} ms")
        big.close()
    return out


def markdown(r: dict) -> str:
    s, y = r["sample"], r["synthetic"]
    return "\n".join([
        "# Retrieval benchmark", "",
        f"Sample manual: {s['documents']} documents, {s['chunks']} chunks, {s['embedded_tokens']} embedded tokens.", "",
        "| measure | value |", "|---|---|",
        f"| ingest (embedding) | {s['embed_tokens_per_s']:.0f} tokens/s |",
        f"| index bytes per chunk (sample) | {s['bytes_per_chunk']} |",
        f"| query embed, p50 / p95 | {s['embed_ms']['p50']} / {s['embed_ms']['p95']} ms |",
        f"| search (sample), p50 / p95 | {s['search_ms']['p50']} / {s['search_ms']['p95']} ms |",
        f"| embed + search (sample), p50 / p95 | {s['embed_plus_search_ms']['p50']} / {s['embed_plus_search_ms']['p95']} ms |",
        f"| {y['chunks']} chunks: exact float scan, p50 | {y['exact_float_scan_ms']['p50']} ms |",
        f"| {y['chunks']} chunks: 1-bit shortlist + exact re-rank, p50 | {y['bit_shortlist_rerank_ms']['p50']} ms |",
        f"| {y['chunks']} chunks: recall@5 of shortlist vs exact | {y['recall_at_5_vs_exact']} |",
        f"| {y['chunks']} chunks: hybrid embed + search, p50 / p95 | {y['hybrid_embed_plus_search_ms']['p50']} / {y['hybrid_embed_plus_search_ms']['p95']} ms |",
        f"| {y['chunks']} chunks: bytes per chunk | {y['bytes_per_chunk']} |",
        *[f"| {z['chunks']} chunks: hybrid embed + search (k=4), p50 / p95 | {z['hybrid_embed_plus_search_ms']['p50']} / "
          f"{z['hybrid_embed_plus_search_ms']['p95']} ms |" for z in r.get("sizes", [])],
        *[f"| {z['chunks']} chunks: bytes per chunk | {z['bytes_per_chunk']} |" for z in r.get("sizes", [])],
        "", f"Queries: the {r['questions']} fact questions of build/knowledge-questions.json, one warm-up first. Synthetic "
        "indexes: real chunk texts and mixtures of real chunk vectors (edge/bench/retrieval.py).",
    ]) + "\n"

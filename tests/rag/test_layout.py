"""Schema version 2 (int8 vectors, contentless FTS, page column): size, deletes, and the
migration that carries a version-1 index forward."""

from __future__ import annotations

import numpy as np
import pytest

from edge import db
from edge.rag.layout import from_q8, q8
from edge.rag.store import MIGRATIONS, Index

pytestmark = pytest.mark.real


def test_q8_round_trip_keeps_cosine():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(50, 384)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    back = from_q8([q8(x) for x in v], 384)
    assert np.min(np.sum(v * back, axis=1)) > 0.9995


def test_deletes_leave_no_trace_in_the_keyword_index(embedder, tmp_path):
    docs = tmp_path / "d"
    docs.mkdir()
    (docs / "a.md").write_text("# Pump\n\nThe pump part number is PX-1138.\n")
    (docs / "b.txt").write_text("Zebra crossings are striped.\n")
    idx = Index(tmp_path / "i.db", embedder)
    idx.add([docs])
    (docs / "a.md").write_text("# Pump\n\nThe pump part number is PX-2200.\n")
    idx.add([docs])
    assert not idx.conn.execute("SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH '\"1138\"'").fetchall()
    assert idx.conn.execute("SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH '\"2200\"'").fetchall()
    idx.remove(docs)
    assert idx.conn.execute("SELECT count(*) FROM chunks_fts_vocab").fetchone()[0] == 0
    assert idx.conn.execute("SELECT count(*) FROM chunks_vec").fetchone()[0] == 0


def test_version_1_index_is_migrated_in_place(embedder, tmp_path):
    p = tmp_path / "old.db"
    conn = db.connect(p)
    db.migrate(conn, MIGRATIONS[:1], name="index")
    conn.execute("INSERT INTO meta VALUES ('embedder', ?), ('dim', ?), ('created', '0')", (embedder.id, str(embedder.dim)))
    conn.execute(f"CREATE VIRTUAL TABLE chunks_vec USING vec0(embedding float[{embedder.dim}] distance_metric=cosine)")
    conn.execute(f"CREATE VIRTUAL TABLE chunks_bin USING vec0(embedding bit[{embedder.dim}])")
    texts = ["The pump part number is PX-1138.", "The valve opens at 3 bar."]
    vecs = embedder.embed([f"Pump\n{texts[0]}", f"Valve\n{texts[1]}"])
    conn.execute("INSERT INTO documents VALUES (1, '/docs/a.md', 'x', 0, 1, 'Pump', 'markdown', 2, 0)")
    for i, (t, v) in enumerate(zip(texts, vecs), 1):
        blob = np.asarray(v, dtype="<f4").tobytes()
        conn.execute("INSERT INTO chunks VALUES (?, 1, ?, 'Pump', 3, 3, 10, ?, ?)", (i, i, t, blob))
        conn.execute("INSERT INTO chunks_vec(rowid, embedding) VALUES (?, ?)", (i, blob))
        conn.execute("INSERT INTO chunks_bin(rowid, embedding) VALUES (?, vec_quantize_binary(?))", (i, blob))
        conn.execute("INSERT INTO chunks_fts(rowid, heading, text) VALUES (?, 'Pump', ?)", (i, t))
    conn.close()

    idx = Index(p, embedder)
    assert idx.stats()["schema_version"] == len(MIGRATIONS) == 3
    res, _, _ = idx.search("valve opening pressure", k=1)
    assert res[0].text == texts[1] and res[0].page == 0
    res, _, _ = idx.search("PX-1138", k=1, mode="keyword")
    assert res[0].text == texts[0]
    assert idx.remove("/docs/a.md") == ["/docs/a.md"]
    assert idx.conn.execute("SELECT count(*) FROM chunks_fts_vocab").fetchone()[0] == 0

"""The 1-bit shortlist kept in memory (store.Index._bit_shortlist) against sqlite-vec's own bit
table, on random vectors (no model): same Hamming distances, and refreshed after a write."""

from __future__ import annotations

import numpy as np

from edge.rag import store
from edge.rag.embed import Embedder
from edge.rag.layout import insert_chunk


class RandomEmbedder(Embedder):
    id, dim, max_tokens = "random@test", 384, 256

    def embed_batch(self, texts):
        return np.stack([np.random.default_rng(abs(hash(t)) % 2**32).normal(size=self.dim) for t in texts]).astype(np.float32)

    def count_tokens(self, text):
        return len(text.split())


def vectors(n, seed):
    """Unit vectors with no component near zero, so int8 rounding keeps every sign."""
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.2, 1.0, (n, 384)) * rng.choice([-1.0, 1.0], (n, 384))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def fill(idx, vecs, start=0):
    c = idx.conn
    c.execute("BEGIN")
    c.execute("INSERT INTO documents(path, sha256, mtime, size, title, kind, n_chunks, indexed_at) VALUES (?, '', 0, 0, 't', 'text', ?, 0)",
              (f"d{start}", len(vecs)))
    doc = c.execute("SELECT max(id) FROM documents").fetchone()[0]
    ids = [insert_chunk(c, doc, i, title="t", heading="", line_start=1, line_end=1, n_tokens=1, text=f"chunk {start + i}", page=0, vec=v)
           for i, v in enumerate(vecs)]
    c.execute("COMMIT")
    return ids


def test_memory_shortlist_matches_sqlite_vec_bits(tmp_path):
    idx = store.Index(tmp_path / "i.db", RandomEmbedder())
    fill(idx, vectors(600, 1))
    q = vectors(3, 2)
    for qv in q:
        mine = idx._bit_shortlist(qv, 50)
        ids, bits = idx._sign_bits()
        theirs = idx.conn.execute(
            "SELECT rowid, distance FROM chunks_bin WHERE embedding MATCH vec_quantize_binary(?) AND k = 50 ORDER BY distance",
            (store.vec_blob(qv),)).fetchall()
        dist = dict(theirs)
        all_d = dict(idx.conn.execute("SELECT rowid, vec_distance_hamming(embedding, vec_quantize_binary(?)) FROM chunks_bin",
                                      (store.vec_blob(qv),)).fetchall())
        assert len(mine) == 50
        assert sorted(all_d[i] for i in mine) == sorted(dist.values())  # the same 50 nearest distances
        assert [all_d[i] for i in mine] == sorted(all_d[i] for i in mine)  # nearest first


def test_large_index_search_uses_memory_bits_and_sees_new_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "EXACT_LIMIT", 100)  # 600 chunks count as a large index
    idx = store.Index(tmp_path / "i.db", RandomEmbedder())
    vecs = vectors(600, 3)
    fill(idx, vecs)
    first = idx.vector_search(vecs[7], 5)  # vec0's bit table
    assert idx._bits is None
    second = idx.vector_search(vecs[7], 5)  # the bits in memory
    assert idx._bits is not None
    assert first[0][0] == second[0][0] and [i for i, _ in first] == [i for i, _ in second]
    assert abs(second[0][1]) < 1e-3  # the vector itself, at distance 0

    new = vectors(1, 4)
    other = store.Index(tmp_path / "i.db", RandomEmbedder())  # another connection writes
    (cid,) = fill(other, new, start=600)
    other.close()
    got = idx.vector_search(new[0], 5)
    assert got[0][0] == cid and len(idx._sign_bits()[0]) == 601


def test_own_writes_refresh_the_caches(tmp_path, monkeypatch):
    """A write through the searching connection itself (the benchmark's synthetic fill writes so)
    is seen by the next search: PRAGMA data_version does not count a connection's own writes."""
    monkeypatch.setattr(store, "EXACT_LIMIT", 100)
    idx = store.Index(tmp_path / "i.db", RandomEmbedder())
    vecs = vectors(300, 5)
    fill(idx, vecs)
    idx.vector_search(vecs[0], 5)
    idx.search("chunk", k=3, mode="keyword")
    assert idx._cached_count() == 300 and idx.vector_search(vecs[0], 5)[0][0] == 1
    new = vectors(1, 6)
    (cid,) = fill(idx, new, start=300)  # straight through idx.conn, not Index.add
    assert idx._cached_count() == 301
    assert idx.vector_search(new[0], 5)[0][0] == cid

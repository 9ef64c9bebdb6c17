"""How a chunk is laid out on disk (schema version 2), shared by the index and the benchmark.

Version 1 kept every vector twice as float32 (a `vec0` table for the exact scan plus a copy in
`chunks` to re-rank the 1-bit shortlist) and every chunk's text twice (in `chunks` and in the
FTS5 table's own content). A chunks row of 2 KB also spilled into an overflow page of its own.
That came to 5.7-6.3 KB per chunk. Version 2:

- vectors as int8 (each vector scaled so its largest component is ±127, rounded): 384 bytes
  instead of 1,536 in `chunks_vec` (vec0 int8, cosine) and in `chunks.embedding` (the B-tree copy
  that re-ranks a shortlist on large indexes). Cosine similarity of int8-quantized unit vectors
  ranks like the float ones (measured in build/reports/retrieval.md).
- the FTS5 table is contentless (`content=''`): the text lives once, in `chunks`. A contentless
  table forgets its rows' values, so a row is deleted with FTS5's 'delete' command and the same
  values it was indexed with, which `fts_values` recomputes from `chunks` and `documents`.
- `chunks.page`: a PDF chunk's page (0 = none).
"""

from __future__ import annotations

import numpy as np

from .chunk import context_line

VEC_CHUNK_SIZE = 128  # vec0 preallocates this many rows at a time (its default, 1024, wastes up to 1.5 MB)


def q8(v) -> bytes:
    """A vector as int8 bytes, scaled so its largest component is ±127. Cosine distance ignores
    the scale, so each vector uses the whole int8 range (x127 alone would leave a unit vector of
    384 components about ±25 levels)."""
    v = np.asarray(v, dtype=np.float32)
    m = float(np.max(np.abs(v))) or 1.0
    return np.clip(np.round(v * (127.0 / m)), -127, 127).astype(np.int8).tobytes()


def from_q8(blobs: list[bytes], dim: int) -> np.ndarray:
    """Rows of int8 vectors back as float32 unit vectors."""
    mat = np.frombuffer(b"".join(blobs), dtype=np.int8).reshape(len(blobs), dim).astype(np.float32)
    return mat / np.maximum(np.linalg.norm(mat, axis=1, keepdims=True), 1e-9)


def create_vector_tables(conn, dim: int) -> None:
    conn.execute(
        f"CREATE VIRTUAL TABLE chunks_vec USING vec0(embedding int8[{dim}] distance_metric=cosine, chunk_size={VEC_CHUNK_SIZE})"
    )
    conn.execute(f"CREATE VIRTUAL TABLE chunks_bin USING vec0(embedding bit[{dim}], chunk_size={VEC_CHUNK_SIZE})")


def create_fts(conn) -> None:
    conn.execute("CREATE VIRTUAL TABLE chunks_fts USING fts5(heading, text, content='', tokenize='unicode61 remove_diacritics 2')")
    conn.execute("CREATE VIRTUAL TABLE chunks_fts_vocab USING fts5vocab(chunks_fts, row)")


def insert_chunk(conn, doc_id: int, seq: int, *, title: str, heading: str, line_start: int, line_end: int, n_tokens: int,
                 text: str, page: int, vec, with_vectors: bool = True) -> int:
    """One chunk into every table; returns its id. The caller holds the transaction."""
    float_blob = np.asarray(vec, dtype="<f4").tobytes()
    v8 = q8(vec)
    cid = conn.execute(
        "INSERT INTO chunks(doc_id, seq, heading, line_start, line_end, n_tokens, text, embedding, page) VALUES (?,?,?,?,?,?,?,?,?)",
        (doc_id, seq, heading, line_start, line_end, n_tokens, text, v8, page),
    ).lastrowid
    if with_vectors:
        conn.execute("INSERT INTO chunks_vec(rowid, embedding) VALUES (?, vec_int8(?))", (cid, v8))
        conn.execute("INSERT INTO chunks_bin(rowid, embedding) VALUES (?, vec_quantize_binary(?))", (cid, float_blob))
    # the keyword index sees the title with the heading trail; the chunk's text stays its own words
    conn.execute("INSERT INTO chunks_fts(rowid, heading, text) VALUES (?, ?, ?)", (cid, context_line(title, heading), text))
    return cid


def delete_chunks(conn, doc_id: int, *, with_vectors: bool = True) -> None:
    """Every chunk of a document out of every table. The caller holds the transaction."""
    rows = conn.execute(
        "SELECT c.id, c.heading, c.text, d.title FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.doc_id = ?", (doc_id,)
    ).fetchall()
    for cid, heading, text, title in rows:
        conn.execute("INSERT INTO chunks_fts(chunks_fts, rowid, heading, text) VALUES ('delete', ?, ?, ?)",
                     (cid, context_line(title, heading), text))
    ids = [r[0] for r in rows]
    if with_vectors:
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ",".join("?" * len(part))
            conn.execute(f"DELETE FROM chunks_vec WHERE rowid IN ({marks})", part)
            conn.execute(f"DELETE FROM chunks_bin WHERE rowid IN ({marks})", part)
    conn.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))


def migrate_v1_to_v2(conn) -> None:
    """Carry a version-1 index forward in place: page column, int8 vectors, contentless FTS."""
    conn.execute("ALTER TABLE chunks ADD COLUMN page INTEGER NOT NULL DEFAULT 0")
    dim_row = conn.execute("SELECT value FROM meta WHERE key = 'dim'").fetchone()
    conn.execute("DROP TABLE chunks_fts_vocab")
    conn.execute("DROP TABLE chunks_fts")
    create_fts(conn)
    if dim_row is not None:
        dim = int(dim_row[0])
        conn.execute("DROP TABLE chunks_vec")
        conn.execute("DROP TABLE chunks_bin")
        create_vector_tables(conn, dim)
    rows = conn.execute("SELECT c.id, c.heading, c.text, c.embedding, d.title FROM chunks c JOIN documents d ON d.id = c.doc_id").fetchall()
    for cid, heading, text, emb, title in rows:
        conn.execute("INSERT INTO chunks_fts(rowid, heading, text) VALUES (?, ?, ?)", (cid, context_line(title, heading), text))
        if dim_row is not None:
            v = np.frombuffer(emb, dtype="<f4")
            v8 = q8(v)
            conn.execute("UPDATE chunks SET embedding = ? WHERE id = ?", (v8, cid))
            conn.execute("INSERT INTO chunks_vec(rowid, embedding) VALUES (?, vec_int8(?))", (cid, v8))
            conn.execute("INSERT INTO chunks_bin(rowid, embedding) VALUES (?, vec_quantize_binary(?))", (cid, emb))

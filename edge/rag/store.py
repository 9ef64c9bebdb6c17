"""The document index: one SQLite file with documents, chunks, sqlite-vec vectors and FTS5 text.

Search fuses vector similarity and BM25 keyword ranks with reciprocal rank fusion: pure vector
search misses exact strings such as part numbers, error codes and option flags. Each document
is written in one transaction, after its chunks were embedded outside it, so readers (the TUI)
never wait long and a killed `edge index add` leaves every committed document intact.

Vectors: an exact int8 `vec0` table (cosine), plus a 1-bit `vec0` table used, for large
indexes, to shortlist candidates by Hamming distance that are then re-ranked. The on-disk
layout (int8 vectors, a contentless FTS5 table: about 1.8 KB per chunk) is in layout.py.
"""

from __future__ import annotations

import codecs
import errno
import hashlib
import os
import re
import stat
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from .. import db
from ..paths import user_path
from ..errors import DocumentError, EdgeError, IndexError_, UsageError
from .chunk import CHUNKER_VERSION, PARSERS, Chunk, kind_of
from .embed import Embedder
from .rank import Fusion, fuse
from .layout import create_vector_tables, delete_chunks, from_q8, insert_chunk, migrate_v1_to_v2, q8

MAX_FILE_BYTES = 10 * 1024 * 1024  # text and HTML
MAX_PACKED_BYTES = 200 * 1024 * 1024  # PDF, Word and EPUB files, whose text is a small part of their bytes
# all-MiniLM-L6-v2 was trained on inputs of at most 128 tokens; longer chunks embed worse.
CHUNK_TOKENS = 128
CHUNK_OVERLAP = 32
CANDIDATES = 50
MAX_RESULTS = 100  # k of one search (sqlite-vec's own limit is 4096)
EXACT_LIMIT = 20_000  # up to this many chunks, vector search scans every vector
# Up to this many chunks, a process that searches more than once (the chat, the API server, the
# benchmark) keeps the vectors in memory from its second search on, as one float32 matrix (384
# dims: 1.5 KB a chunk, 15 MB at 10k): a scan of 2.3k chunks took 0.4 ms there against 4 ms in vec0.
MATRIX_LIMIT = 10_000
# Above EXACT_LIMIT the 1-bit shortlist is read, from the second search on, from the chunks' sign
# bits kept in memory (48 bytes a chunk at 384 dims: 4.8 MB at 100k) up to this many chunks: vec0's
# own scan of its bit table took 32 ms at 100k chunks, a numpy popcount over the same bits 2 ms.
BITS_LIMIT = 1_000_000
SHORTLIST_MIN = 200  # the 1-bit shortlist holds max(8 n, this) candidates for the exact re-rank

STOPWORDS = set(
    "a an and are as at be by can do does for from how i in is it its of on or should the to what when where which "
    "who why will with my me we you your this that these those there their if into than then them was were has have "
    "had not no yes so about after before up down out over under again more most any all each much many also".split()
)


def _m1(conn) -> None:
    conn.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute(
        """CREATE TABLE documents(
            id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, sha256 TEXT NOT NULL, mtime REAL NOT NULL,
            size INTEGER NOT NULL, title TEXT NOT NULL, kind TEXT NOT NULL, n_chunks INTEGER NOT NULL,
            indexed_at REAL NOT NULL)"""
    )
    conn.execute(
        """CREATE TABLE chunks(
            id INTEGER PRIMARY KEY, doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL, heading TEXT NOT NULL, line_start INTEGER NOT NULL, line_end INTEGER NOT NULL,
            n_tokens INTEGER NOT NULL, text TEXT NOT NULL,
            embedding BLOB NOT NULL)"""  # little-endian float32, to re-rank a shortlist by rowid
    )
    conn.execute("CREATE INDEX chunks_doc ON chunks(doc_id)")
    conn.execute("CREATE VIRTUAL TABLE chunks_fts USING fts5(heading, text, tokenize='unicode61 remove_diacritics 2')")
    conn.execute("CREATE VIRTUAL TABLE chunks_fts_vocab USING fts5vocab(chunks_fts, row)")


def _m3(conn) -> None:
    """Each document records the chunker that cut it (CHUNKER_VERSION); 0 = cut before this was
    recorded. A document cut by an older chunker is cut again by the next `edge index add` or
    `edge index refresh`, even when its file is unchanged."""
    conn.execute("ALTER TABLE documents ADD COLUMN chunker INTEGER NOT NULL DEFAULT 0")


MIGRATIONS = [_m1, migrate_v1_to_v2, _m3]

INDEX_KIND = db.Kind(
    name="document index", tables=("meta", "documents", "chunks"), migrations=MIGRATIONS,
    app_id=0x65646769,  # "edgi"
    rebuild="rebuild it: move it aside (`mv {path} {path}.damaged`) and index your documents again "
            "(`edge index add PATH...`, or `edge index add --sample`)",
)


@dataclass
class SearchResult:
    chunk_id: int
    path: str
    heading: str
    line_start: int
    line_end: int
    text: str
    score: float
    vector_rank: int | None = None
    keyword_rank: int | None = None
    page: int = 0
    title: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["lines"] = [self.line_start, self.line_end]
        return d


@dataclass
class FileOutcome:
    path: str
    status: str  # added | updated | unchanged | skipped | failed
    reason: str = ""
    chunks: int = 0
    tokens: int = 0


@dataclass
class AddReport:
    outcomes: list[FileOutcome] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    embed_seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def failed(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def tokens(self) -> int:
        return sum(o.tokens for o in self.outcomes if o.status in ("added", "updated"))

    def to_dict(self) -> dict:
        counts = {s: self.count(s) for s in ("added", "updated", "unchanged", "skipped", "failed")}
        return {
            **counts, "removed": self.removed, "chunks": sum(o.chunks for o in self.outcomes if o.status in ("added", "updated")),
            "embedded_tokens": self.tokens, "seconds": round(self.seconds, 3),
            "embed_tokens_per_s": round(self.tokens / self.embed_seconds, 1) if self.embed_seconds else None,
            "files": [asdict(o) for o in self.outcomes],
        }


def vec_blob(v: np.ndarray) -> bytes:
    return np.asarray(v, dtype="<f4").tobytes()


def fts_query(text: str, drop: set[str] | frozenset = frozenset()) -> str:
    """An FTS5 query from free text: every meaningful term, OR-ed; codes like NB-BAT-2210 as phrases.
    Single words in `drop` are left out (codes never are)."""
    terms = []
    for tok in re.findall(r"[A-Za-z0-9]+(?:[-_./][A-Za-z0-9]+)*", text):
        parts = [p for p in re.split(r"[-_./]", tok.lower()) if p]
        if len(parts) == 1:
            w = parts[0]
            if w in STOPWORDS or w in drop or (len(w) < 2 and not w.isdigit()):
                continue
            terms.append(f'"{w}"')
        else:
            terms.append('"' + " ".join(parts) + '"')
            if re.search(r"[._]", tok):
                # a dotted or snake_case name (pickle.HIGHEST_PROTOCOL, re.search) is also matched by
                # its parts: the text says HIGHEST_PROTOCOL under pickle, search() under re
                terms.extend(f'"{w}"' for w in parts if len(w) > 1 and w not in STOPWORDS and w not in drop)
    return " OR ".join(dict.fromkeys(terms))


class Index:
    """A document index file. Give an `embedder` to add or search; listing needs none."""

    def __init__(self, path: str | Path, embedder: Embedder | None = None, *, create: bool = True, readonly: bool = False):
        """Open (or, with `create`, make) the index at `path`. `readonly` opens it for reading
        only: searching and listing then work on read-only media and never change the file."""
        self.path = user_path(path)
        if not create and not self.path.exists():
            raise IndexError_(f"no document index at {self.path}: run `edge index add PATH` (or `edge index add --sample`)")
        self.embedder = embedder
        self.readonly = readonly
        self._mat, self._mat_version, self._searched = None, -1, False  # see _matrix()
        self._bits, self._bits_version = None, -1  # see _sign_bits()
        self._count: tuple[tuple[int, int], int] | None = None  # see _cached_count()
        self.conn = db.open_store(self.path, INDEX_KIND, readonly=readonly, create=create)
        self.meta = dict(self.conn.execute("SELECT key, value FROM meta").fetchall())
        if embedder is not None:
            self._bind_embedder(embedder)

    def attach_embedder(self, emb: Embedder) -> None:
        """Give an index opened without an embedder one now (refused if the index was made by another)."""
        self._bind_embedder(emb)
        self.embedder = emb

    def _bind_embedder(self, emb: Embedder) -> None:
        have = self.meta.get("embedder")
        if have is None and self.readonly:
            return  # nothing indexed yet, and nothing may be written: searches find nothing
        if have is None:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                # another process may have bound it meanwhile
                row = self.conn.execute("SELECT value FROM meta WHERE key='embedder'").fetchone()
                if row is None:
                    self.conn.execute("INSERT INTO meta VALUES ('embedder', ?), ('dim', ?), ('created', ?)", (emb.id, str(emb.dim), str(time.time())))
                    create_vector_tables(self.conn, emb.dim)
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.meta = dict(self.conn.execute("SELECT key, value FROM meta").fetchall())
        if self.meta.get("embedder") != emb.id or int(self.meta.get("dim", 0)) != emb.dim:
            raise IndexError_(
                f"index {self.path} was built with embedder {self.meta.get('embedder')} ({self.meta.get('dim')} dims), "
                f"not {emb.id} ({emb.dim} dims): use another --index, or delete it and index again"
            )

    def close(self) -> None:
        self.conn.close()

    # -- reading ---------------------------------------------------------------------------
    def documents(self) -> list[dict]:
        rows = self.conn.execute(
            "SELECT path, title, kind, n_chunks, size, sha256, mtime, indexed_at, chunker FROM documents ORDER BY path"
        ).fetchall()
        keys = ["path", "title", "kind", "chunks", "bytes", "sha256", "mtime", "indexed_at", "chunker"]
        return [dict(zip(keys, r)) for r in rows]

    def stats(self) -> dict:
        n_docs = self.conn.execute("SELECT count(*) FROM documents").fetchone()[0]
        n_chunks = self.n_chunks()
        tokens = self.conn.execute("SELECT coalesce(sum(n_tokens), 0) FROM chunks").fetchone()[0]
        size = sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())
        return {
            "path": str(self.path), "documents": n_docs, "chunks": n_chunks, "tokens": tokens,
            "bytes_on_disk": size, "bytes_per_chunk": round(size / n_chunks, 1) if n_chunks else None,
            "embedder": self.meta.get("embedder"), "dim": int(self.meta["dim"]) if "dim" in self.meta else None,
            "schema_version": self.conn.execute("PRAGMA user_version").fetchone()[0],
            "chunker": CHUNKER_VERSION, "documents_to_rechunk": self.n_stale(),
            "sqlite_vec": self.conn.execute("SELECT vec_version()").fetchone()[0],
        }

    def n_stale(self) -> int:
        """Documents cut by an older chunker than this edge's (`edge index refresh` cuts them again)."""
        return self.conn.execute("SELECT count(*) FROM documents WHERE chunker < ?", (CHUNKER_VERSION,)).fetchone()[0]

    def chunk(self, chunk_id: int) -> SearchResult | None:
        row = self.conn.execute(
            "SELECT c.id, d.path, c.heading, c.line_start, c.line_end, c.text, c.page, d.title FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.id = ?",
            (chunk_id,),
        ).fetchone()
        return SearchResult(*row[:6], score=0.0, page=row[6], title=row[7]) if row else None

    # -- search ----------------------------------------------------------------------------
    def _need_embedder(self) -> Embedder:
        if self.embedder is None:
            raise EdgeError("this operation needs the embedder")
        if "embedder" not in self.meta:
            self._bind_embedder(self.embedder)
        return self.embedder

    def doc_ids(self, chunk_ids) -> dict[int, int]:
        """chunk id -> document id."""
        ids = list(chunk_ids)
        if not ids:
            return {}
        return dict(self.conn.execute(f"SELECT id, doc_id FROM chunks WHERE id IN ({','.join('?' * len(ids))})", ids).fetchall())

    def n_chunks(self) -> int:
        return self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]

    def _version(self) -> tuple[int, int]:
        """Changes when any connection writes: PRAGMA data_version for the others' commits,
        total_changes for this one's own writes (which data_version does not count)."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0], self.conn.total_changes

    def _cached_count(self) -> int:
        """n_chunks(), remembered until the index changes (count(*) walks a B-tree: 0.3 ms at 100k chunks)."""
        ver = self._version()
        if self._count is None or self._count[0] != ver:
            self._count = (ver, self.n_chunks())
        return self._count[1]

    def vector_search(self, qvec: np.ndarray, n: int, *, exact: bool | None = None, total: int | None = None) -> list[tuple[int, float]]:
        """(chunk id, cosine distance), nearest first. `total`: the chunk count, if the caller has it."""
        if "embedder" not in self.meta:
            return []
        if exact is None:
            total = self.n_chunks() if total is None else total
            exact = total <= EXACT_LIMIT
        blob = vec_blob(qvec)
        # the matrix from the second search on: a one-shot command is faster with vec0 alone
        if exact and self._searched and (total if total is not None else self.n_chunks()) <= MATRIX_LIMIT:
            ids, mat = self._matrix()
            if not len(ids):
                return []
            sim = mat @ np.asarray(qvec, dtype=np.float32)
            top = np.argpartition(-sim, n - 1)[:n] if n < len(ids) else np.arange(len(ids))
            top = top[np.argsort(-sim[top])]
            return [(int(ids[i]), float(1.0 - sim[i])) for i in top]
        if exact:
            self._searched = True
            return self.conn.execute(
                "SELECT rowid, distance FROM chunks_vec WHERE embedding MATCH vec_int8(?) AND k = ? ORDER BY distance", (q8(qvec), n)
            ).fetchall()
        # shortlist by Hamming distance on sign bits, then re-rank the shortlist exactly
        m = max(n * 8, SHORTLIST_MIN)
        if self._searched and (total if total is not None else self.n_chunks()) <= BITS_LIMIT:
            ids = self._bit_shortlist(qvec, m)
        else:
            self._searched = True
            short = self.conn.execute(
                "SELECT rowid FROM chunks_bin WHERE embedding MATCH vec_quantize_binary(?) AND k = ? ORDER BY distance", (blob, m)
            ).fetchall()
            ids = [r[0] for r in short]
        if not ids:
            return []
        # vec0 point lookups are slow (65 ms for 200 at 100k rows); the chunks table's copy is a B-tree hit
        rows = self.conn.execute(
            f"SELECT id, embedding FROM chunks WHERE id IN ({','.join('?' * len(ids))})", ids
        ).fetchall()
        mat = from_q8([r[1] for r in rows], len(qvec))
        dist = 1.0 - mat @ np.asarray(qvec, dtype=np.float32)
        order = np.argsort(dist)[:n]
        return [(rows[i][0], float(dist[i])) for i in order]

    def _bit_shortlist(self, qvec: np.ndarray, m: int) -> list[int]:
        """The `m` chunk ids nearest `qvec` by Hamming distance between sign bits."""
        ids, bits = self._sign_bits()
        if not len(ids):
            return []
        qbits = _pack_signs(np.frombuffer(q8(qvec), dtype=np.int8)[None, :])[:, 0]
        dist = np.zeros(len(ids), dtype=np.uint16)
        for word, qword in zip(bits, qbits):  # a contiguous row of words at a time: 5x a reduction over the short axis
            dist += _popcount(word ^ qword)
        top = np.argpartition(dist, m - 1)[:m] if m < len(ids) else np.arange(len(ids))
        top = top[np.argsort(dist[top], kind="stable")]
        return ids[top].tolist()

    def _sign_bits(self) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids, their vectors' sign bits as uint64 words: (words, chunks)), cached like _matrix()."""
        ver = self._version()
        if self._bits is None or self._bits_version != ver:
            dim = int(self.meta["dim"])
            cur = self.conn.execute("SELECT id, embedding FROM chunks")
            id_parts, bit_parts = [np.zeros(0, np.int64)], [_pack_signs(np.zeros((0, dim), np.int8))]
            while rows := cur.fetchmany(8192):  # a part at a time: the int8 vectors are 8x the bits
                id_parts.append(np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)))
                bit_parts.append(_pack_signs(np.frombuffer(b"".join(r[1] for r in rows), dtype=np.int8).reshape(len(rows), dim)))
            self._bits, self._bits_version = (np.concatenate(id_parts), np.ascontiguousarray(np.concatenate(bit_parts, axis=1))), ver
        return self._bits

    def _matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids, unit float32 vectors), cached until this or another connection writes."""
        ver = self._version()
        if self._mat is None or self._mat_version != ver:
            rows = self.conn.execute("SELECT id, embedding FROM chunks").fetchall()
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            mat = from_q8([r[1] for r in rows], int(self.meta["dim"])) if rows else np.zeros((0, int(self.meta["dim"])), np.float32)
            self._mat, self._mat_version = (ids, mat), ver
        return self._mat

    def keyword_search(self, query: str, n: int, *, total: int | None = None) -> list[tuple[int, float]]:
        total = self.n_chunks() if total is None else total
        q = fts_query(query, self._common_terms(query, total) if total > EXACT_LIMIT else ())
        if not q:
            return []
        return self.conn.execute(
            "SELECT rowid, bm25(chunks_fts, 2.0, 1.0) AS s FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY s LIMIT ?", (q, n)
        ).fetchall()

    def _common_terms(self, query: str, total: int) -> set[str]:
        """Terms in more than 2 % of chunks: near-zero BM25 weight, yet they make a large index
        score tens of thousands of rows. Dropped from the query on large indexes only."""
        # stopwords and single letters never reach the query: looking them up would walk the
        # longest document lists of all ("the": every chunk; 2.5 of 2.8 ms at 100k chunks)
        words = {w for w in (w.lower() for w in re.findall(r"[A-Za-z0-9]+", query)) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())}
        if not words:
            return set()
        rows = self.conn.execute(
            f"SELECT term, doc FROM chunks_fts_vocab WHERE term IN ({','.join('?' * len(words))})", sorted(words)
        ).fetchall()
        return {t for t, d in rows if d > 0.02 * total}

    def search(self, query: str, *, k: int = 5, mode: str = "hybrid", fusion: Fusion | None = None) -> tuple[list[SearchResult], float, float]:
        """Top `k` chunks for `query`; returns (results, embed_ms, search_ms). Hybrid results are
        fused and kept diverse across documents as rank.py says."""
        if mode not in ("hybrid", "vector", "keyword"):
            raise EdgeError(f"unknown search mode {mode!r}")
        if not 1 <= k <= MAX_RESULTS:
            raise UsageError(f"k = {k}: ask for between 1 and {MAX_RESULTS} results")
        embed_ms = 0.0
        vec: list[tuple[int, float]] = []
        if mode != "keyword":
            emb = self._need_embedder()
            t0 = time.perf_counter()
            qvec = emb.embed_query(query)
            embed_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        total = self._cached_count()  # once: both searches decide their method by it
        if mode != "keyword":
            vec = self.vector_search(qvec, CANDIDATES if mode == "hybrid" else k, total=total)
        kw = self.keyword_search(query, CANDIDATES if mode == "hybrid" else k, total=total) if mode != "vector" else []
        vrank = {cid: r for r, (cid, _) in enumerate(vec, 1)}
        krank = {cid: r for r, (cid, _) in enumerate(kw, 1)}
        if mode == "hybrid":
            top = fuse(vec, kw, k, self.doc_ids(set(vrank) | set(krank)), fusion or Fusion())
        elif mode == "vector":
            top = [(cid, 1.0 - d) for cid, d in vec][:k]
        else:
            top = [(cid, -s) for cid, s in kw][:k]
        results = []
        for cid, score in top:
            r = self.chunk(cid)
            if r is None:  # deleted between the two queries by a concurrent writer
                continue
            r.score, r.vector_rank, r.keyword_rank = score, vrank.get(cid), krank.get(cid)
            results.append(r)
        search_ms = (time.perf_counter() - t0) * 1000
        return results, embed_ms, search_ms

    # -- writing ---------------------------------------------------------------------------
    def add(
        self,
        paths: Iterable[str | Path],
        *,
        progress: Callable[[FileOutcome], None] | None = None,
        batch_chunks: int = 64,
    ) -> AddReport:
        """Index files and folders (recursively). Unchanged files are no-ops; changed ones have
        their chunks replaced atomically; one bad file never stops the batch."""
        emb = self._need_embedder()
        rep = AddReport()
        t_start = time.perf_counter()
        pending: list[tuple[Path, dict, list[Chunk]]] = []

        def emit(o: FileOutcome) -> None:
            rep.outcomes.append(o)
            if progress:
                progress(o)

        def flush() -> None:
            if not pending:
                return
            texts = [c.embed_text() for _, _, cs in pending for c in cs]
            t0 = time.perf_counter()
            vecs = emb.embed(texts)
            rep.embed_seconds += time.perf_counter() - t0
            i = 0
            for path, info, chunks in pending:
                v = vecs[i : i + len(chunks)]
                i += len(chunks)
                status = self._write_document(path, info, chunks, v)
                emit(FileOutcome(str(path), status, info["reason"], chunks=len(chunks), tokens=sum(c.n_tokens for c in chunks)))
            pending.clear()

        for path, problem in iter_files(paths):
            if problem is not None:
                emit(problem)
                continue
            prepared = self._prepare(path)
            if isinstance(prepared, FileOutcome):
                emit(prepared)
                continue
            info, chunks = prepared
            pending.append((path, info, chunks))
            if sum(len(c) for _, _, c in pending) >= batch_chunks:
                flush()
        flush()
        rep.seconds = time.perf_counter() - t_start
        return rep

    def _prepare(self, path: Path):
        kind = kind_of(path)
        if kind is None:
            return FileOutcome(str(path), "skipped", f"unsupported file type {path.suffix or '(none)'!r}: edge reads .md, .rst, .txt, .pdf, .html, .docx and .epub")
        # PDF, Word and EPUB files are mostly not text; HTML says its own encoding: the loaders decode those
        got = read_document(path, max_bytes=MAX_PACKED_BYTES if kind in ("pdf", "docx", "epub") else MAX_FILE_BYTES, decode=kind in PARSERS)
        if isinstance(got, FileOutcome):
            return got
        st, data, text = got
        sha = hashlib.sha256(data).hexdigest()
        row = self.conn.execute("SELECT sha256, chunker FROM documents WHERE path = ?", (str(path),)).fetchone()
        if row and row[0] == sha and row[1] == CHUNKER_VERSION:
            return FileOutcome(str(path), "unchanged")
        rechunk = bool(row and row[0] == sha)
        if not data.strip():
            return FileOutcome(str(path), "skipped", "empty file")
        from .loaders import load

        try:
            doc = load(path, data, kind, text=text)
        except DocumentError as e:
            return FileOutcome(str(path), "failed", str(e))
        chunks = doc.chunks(self.embedder.count_tokens, max_tokens=min(CHUNK_TOKENS, self.embedder.max_tokens), overlap_tokens=CHUNK_OVERLAP)
        info = {"sha256": sha, "mtime": st.st_mtime, "size": st.st_size, "title": doc.title, "kind": kind,
                "reason": f"unchanged file cut again by chunker {CHUNKER_VERSION} (was {row[1] or 'unrecorded'})" if rechunk else ""}
        return info, chunks

    def _write_document(self, path: Path, info: dict, chunks: list[Chunk], vecs: np.ndarray) -> str:
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            row = c.execute("SELECT id FROM documents WHERE path = ?", (str(path),)).fetchone()
            if row:
                self._delete_chunks(row[0])
                c.execute(
                    "UPDATE documents SET sha256=?, mtime=?, size=?, title=?, kind=?, n_chunks=?, indexed_at=?, chunker=? WHERE id=?",
                    (info["sha256"], info["mtime"], info["size"], info["title"], info["kind"], len(chunks), time.time(), CHUNKER_VERSION, row[0]),
                )
                doc_id, status = row[0], "updated"
            else:
                cur = c.execute(
                    "INSERT INTO documents(path, sha256, mtime, size, title, kind, n_chunks, indexed_at, chunker) VALUES (?,?,?,?,?,?,?,?,?)",
                    (str(path), info["sha256"], info["mtime"], info["size"], info["title"], info["kind"], len(chunks), time.time(), CHUNKER_VERSION),
                )
                doc_id, status = cur.lastrowid, "added"
            for seq, (ch, v) in enumerate(zip(chunks, vecs)):
                insert_chunk(c, doc_id, seq, title=info["title"], heading=ch.heading, line_start=ch.line_start, line_end=ch.line_end,
                             n_tokens=ch.n_tokens, text=ch.text, page=ch.page, vec=v)
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        return status

    def _delete_chunks(self, doc_id: int) -> None:
        delete_chunks(self.conn, doc_id, with_vectors="embedder" in self.meta)

    def remove(self, path: str | Path) -> list[str]:
        """Remove a document, or every document under a folder; returns the paths removed."""
        if not str(path).strip():
            raise UsageError("name the file or folder to remove (an empty path would match everything under the current folder)")
        p = real_path(path)
        rows = self.conn.execute(
            "SELECT id, path FROM documents WHERE path = ? OR path LIKE ? ESCAPE '\\'",
            (p, _like_prefix(p.rstrip(os.sep) + os.sep)),
        ).fetchall()
        removed = []
        for doc_id, dpath in rows:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self._delete_chunks(doc_id)
                self.conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            removed.append(dpath)
        return removed

    def refresh(self, *, prune: bool = False, progress=None) -> AddReport:
        """Index again every indexed document whose file changed or that an older chunker cut.
        A file that is gone is a failure (its chunks stay) unless `prune` drops it."""
        t0 = time.perf_counter()
        paths = [p for (p,) in self.conn.execute("SELECT path FROM documents ORDER BY path").fetchall()]
        gone = {p for p in paths if _gone(p)}
        rep = self.add([p for p in paths if p not in gone], progress=progress)
        for dpath in sorted(gone):
            if prune:
                rep.removed.extend(self.remove(dpath))
                continue
            o = FileOutcome(dpath, "failed", "the file is gone; its chunks stay in the index until "
                                             "`edge index remove PATH` or `edge index refresh --prune`")
            rep.outcomes.append(o)
            if progress:
                progress(o)
        rep.seconds = time.perf_counter() - t0
        return rep

    def sync(self, folder: str | Path, *, progress=None) -> AddReport:
        """Add new and changed files under `folder`, and drop documents whose files vanished."""
        if not str(folder).strip():
            raise UsageError("name the folder to sync (an empty path would mean the current folder)")
        root = user_path(folder)
        if not root.is_dir():
            raise EdgeError(f"{folder}: not a folder")
        rep = self.add([root], progress=progress)
        prefix = str(root.resolve()).rstrip(os.sep) + os.sep
        for (dpath,) in self.conn.execute(
            "SELECT path FROM documents WHERE path LIKE ? ESCAPE '\\'", (_like_prefix(prefix),)
        ).fetchall():
            if _gone(dpath):
                rep.removed.extend(self.remove(dpath))
        return rep


def _gone(dpath: str) -> bool:
    """An indexed document whose file is no longer there to read: removed, replaced by a folder, or of
    a kind edge no longer reads (what `sync` drops and `refresh` reports)."""
    return not Path(dpath).is_file() or kind_of(Path(dpath)) is None


def _pack_signs(v8: np.ndarray) -> np.ndarray:
    """Rows of int8 vectors as their sign bits (1 = positive), packed into uint64 words: an array of
    (words, rows), each word's row contiguous."""
    packed = np.packbits(v8 > 0, axis=1)
    pad = -packed.shape[1] % 8
    if pad:
        packed = np.pad(packed, ((0, 0), (0, pad)))
    return np.ascontiguousarray(np.ascontiguousarray(packed).view(np.uint64).T)


_POP8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _popcount(words: np.ndarray) -> np.ndarray:
    """Set bits per uint64 element (numpy < 2 has no bitwise_count: a byte table instead)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(words)
    return _POP8[words.view(np.uint8)].reshape(*words.shape, 8).sum(axis=-1, dtype=np.uint8)


def real_path(path: str | Path) -> str:
    """The absolute path with symbolic links resolved as far as they go. Unlike Path.resolve(),
    a symbolic link loop is not an error here: the looping part is kept as written."""
    return os.path.realpath(os.path.expanduser(str(path)))


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _special_kind(mode: int) -> str:
    return ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a character device" if stat.S_ISCHR(mode) else "a block device" if stat.S_ISBLK(mode)
            else "a folder" if stat.S_ISDIR(mode) else "not a regular file")


def _missing(p: Path) -> str:
    """Why `p`, which does not exist as far as Path.exists() can tell, cannot be read."""
    try:
        os.stat(p)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symbolic link loop"
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return "broken symbolic link" if p.is_symlink() else "no such file or folder"
        return e.strerror or str(e)
    return "no such file or folder"


def _indexed_path(p: Path) -> Path:
    """The path a file is indexed under: symbolic links resolved once, to the real file, unless
    only the link's name says what kind of file it is (README.md -> README): then the link's own
    path, in its real folder."""
    rp = p.resolve()
    if kind_of(rp) is not None or kind_of(p) is None:
        return rp
    return p.absolute().parent.resolve() / p.name


def read_document(path: Path, *, max_bytes: int = MAX_FILE_BYTES, decode: bool = True):
    """(stat, bytes, text) of a document file, or a FileOutcome saying why it cannot be read.
    With `decode=False` (PDF, HTML, Word, EPUB: their loaders decode them) text is None.

    Only regular files are opened: a FIFO would block the reader for ever, a device could be
    endless or act on being opened. Text is UTF-8, or UTF-16/32 with a byte-order mark (what
    Windows editors write); anything else with NUL bytes is called binary.
    """
    try:
        st = os.stat(path)
    except OSError as e:
        return FileOutcome(str(path), "failed", _missing(path) if e.errno in (errno.ELOOP, errno.ENOENT) else
                           "permission denied" if e.errno == errno.EACCES else (e.strerror or str(e)))
    if not stat.S_ISREG(st.st_mode):
        return FileOutcome(str(path), "skipped", f"{_special_kind(st.st_mode)}, not a regular file: not read")
    if st.st_size > max_bytes:
        return FileOutcome(str(path), "failed", f"too large ({st.st_size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB)")
    try:
        # O_NONBLOCK: should the file have been swapped for a FIFO since the stat, opening it
        # does not wait for a writer; fstat below then refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        return FileOutcome(str(path), "failed", "permission denied" if e.errno == errno.EACCES else (e.strerror or str(e)))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return FileOutcome(str(path), "skipped", f"{_special_kind(st.st_mode)}, not a regular file: not read")
        chunks, left = [], max_bytes + 1
        while left > 0:
            b = os.read(fd, min(left, 1 << 20))
            if not b:
                break
            chunks.append(b)
            left -= len(b)
        data = b"".join(chunks)
    except OSError as e:
        return FileOutcome(str(path), "failed", e.strerror or str(e))
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        return FileOutcome(str(path), "failed", f"too large (over {max_bytes / 1e6:.0f} MB; it grew while being read)")
    if not decode:
        return st, data, None
    text = decode_text(data)
    if isinstance(text, str):
        return st, data, text
    return FileOutcome(str(path), "failed", text[0])


_BOMS = [(codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")]


def decode_text(data: bytes) -> str | tuple[str]:
    """The text of a document's bytes, or a 1-tuple holding why it is not text."""
    for bom, enc in _BOMS:  # UTF-32 LE before UTF-16 LE: its BOM starts with UTF-16's
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(enc)
            except UnicodeDecodeError as e:
                return (f"not valid {enc.upper()[:6]} text after its byte-order mark (byte {e.start + len(bom)})",)
    if b"\x00" in data[:8192]:
        return ("binary file (NUL bytes), not text",)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        return (f"not valid UTF-8 (byte {e.start})",)


def iter_files(paths: Iterable[str | Path]) -> Iterator[tuple[Path, FileOutcome | None]]:
    """Yield (file, None) for every indexable file under `paths`, or (path, outcome) for a problem.

    Folders are walked recursively in sorted order, following symbolic links but never into a
    folder already visited (so link loops end); hidden files and folders are passed over.
    FIFOs, sockets and devices are reported and never opened.
    """
    seen_dirs: set[str] = set()
    seen_files: set[str] = set()
    for raw in paths:
        p = user_path(raw)
        if not str(raw).strip():
            yield p, FileOutcome(str(raw), "failed", "empty path")
            continue
        if not p.exists():
            yield p, FileOutcome(str(p), "failed", _missing(p))
            continue
        if p.is_file():
            rp = p.resolve()
            if kind_of(rp) is None and kind_of(p) is None:
                yield p, FileOutcome(str(rp), "skipped", f"unsupported file type {p.suffix or '(none)'!r}: edge reads .md, .rst, .txt, .pdf, .html, .docx and .epub")
            elif str(rp) not in seen_files:
                seen_files.add(str(rp))
                yield _indexed_path(p), None
            continue
        if not p.is_dir():
            yield p, FileOutcome(str(p), "skipped", f"{_special_kind(p.stat().st_mode)}, not a regular file: not read")
            continue
        for dirpath, dirnames, filenames in os.walk(p, followlinks=True, onerror=None):
            real = os.path.realpath(dirpath)
            if real in seen_dirs:
                yield Path(dirpath), FileOutcome(dirpath, "skipped", "symbolic link loop (folder already visited)")
                dirnames[:] = []
                continue
            seen_dirs.add(real)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                fp = Path(dirpath) / name
                if kind_of(fp) is None:
                    continue  # other kinds in a folder are passed over silently; counted in --json? no: noise
                if not fp.exists():
                    yield fp, FileOutcome(str(fp), "failed", _missing(fp))
                    continue
                if not fp.is_file():
                    yield fp, FileOutcome(str(fp), "skipped", f"{_special_kind(fp.stat().st_mode)}, not a regular file: not read")
                    continue
                rp = fp.resolve()
                if str(rp) in seen_files:
                    continue
                seen_files.add(str(rp))
                yield _indexed_path(fp), None

"""The index on the real embedder and the real sqlite-vec extension, in real SQLite files."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from edge import db
from edge.errors import IndexError_
from edge.rag.store import Index

from ..conftest import ROOT, run_edge

pytestmark = pytest.mark.real


def counts(idx):
    q = lambda sql: idx.conn.execute(sql).fetchone()[0]  # noqa: E731
    return {t: q(f"select count(*) from {t}") for t in ("documents", "chunks", "chunks_vec", "chunks_bin", "chunks_fts")}


def test_unchanged_readd_is_a_noop_and_changed_doc_is_replaced(embedder, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Pump\n\nThe pump part number is PX-1138.\n")
    (docs / "b.md").write_text("# Valve\n\nThe valve opens at 3 bar.\n")
    idx = Index(tmp_path / "i.db", embedder)
    rep = idx.add([docs])
    assert rep.count("added") == 2
    before = counts(idx)
    ids_before = [r[0] for r in idx.conn.execute("select id from chunks order by id")]
    rep2 = idx.add([docs])
    assert rep2.count("unchanged") == 2 and rep2.count("added") == rep2.count("updated") == 0
    assert counts(idx) == before
    assert [r[0] for r in idx.conn.execute("select id from chunks order by id")] == ids_before

    (docs / "a.md").write_text("# Pump\n\nThe pump part number is now PX-2200.\n")
    rep3 = idx.add([docs])
    assert rep3.count("updated") == 1 and rep3.count("unchanged") == 1
    assert counts(idx) == before  # same number of chunks, every table in step
    texts = " ".join(r[0] for r in idx.conn.execute("select text from chunks"))
    assert "PX-2200" in texts and "PX-1138" not in texts
    assert not idx.conn.execute("select rowid from chunks_fts where chunks_fts match '\"px 1138\"'").fetchall()
    res, _, _ = idx.search("pump part number", k=1)
    assert "PX-2200" in res[0].text


def test_mismatched_embedder_is_refused(embedder, tmp_path):
    idx = Index(tmp_path / "i.db", embedder)
    idx.close()

    class Other:
        id, dim, max_tokens = "other-model@123", 384, 256

    with pytest.raises(IndexError_, match="built with embedder minilm"):
        Index(tmp_path / "i.db", Other())


def test_index_of_a_newer_schema_is_refused(embedder, tmp_path):
    Index(tmp_path / "i.db", embedder).close()
    conn = db.connect(tmp_path / "i.db")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(Exception, match="newer"):
        Index(tmp_path / "i.db", embedder)


def test_hybrid_finds_an_exact_part_number_that_vector_search_ranks_low(sample_index_file, embedder, tmp_path):
    p = tmp_path / "i.db"
    shutil.copy(sample_index_file, p)
    idx = Index(p, embedder)
    query = "CV-DFL-0350"
    holds = lambda r: query in r.text  # noqa: E731
    vec, _, _ = idx.search(query, k=5, mode="vector")
    hyb, _, _ = idx.search(query, k=5, mode="hybrid")
    assert not any(holds(r) for r in vec[:3]), "vector search alone does not put the part number near the top"
    assert holds(hyb[0]), "hybrid search puts the exact part number first"


def test_bad_inputs_are_reported_and_the_batch_goes_on(embedder, tmp_path, monkeypatch):
    d = tmp_path / "docs"
    d.mkdir()
    (d / "good.md").write_text("# Good\n\nThe inverter is rated 3,000 W.\n")
    (d / "binary.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (d / "empty.txt").write_text("")
    (d / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    big = d / "huge.txt"
    with open(big, "wb") as f:
        f.truncate(100 * 1024 * 1024)  # 100 MB: refused by size before it is read
    (d / "secret.md").write_text("# Secret\n\nhidden\n")
    (d / "image.png").write_bytes(b"\x89PNG")
    (d / "loop").symlink_to(d)  # a symbolic link loop
    import os

    real_open = os.open

    def os_open(path, *a, **kw):
        if Path(path).name == "secret.md":  # root can read anything: simulate an unreadable file
            raise PermissionError(13, "Permission denied")
        return real_open(path, *a, **kw)

    monkeypatch.setattr(os, "open", os_open)
    idx = Index(tmp_path / "i.db", embedder)
    rep = idx.add([d, tmp_path / "nope"])
    by = {Path(o.path).name: o for o in rep.outcomes}
    assert by["good.md"].status == "added"
    assert by["binary.md"].status == "failed" and "binary" in by["binary.md"].reason
    assert by["empty.txt"].status == "skipped" and "empty" in by["empty.txt"].reason
    assert by["latin1.txt"].status == "failed" and "UTF-8" in by["latin1.txt"].reason
    assert by["huge.txt"].status == "failed" and "too large" in by["huge.txt"].reason
    assert by["secret.md"].status == "failed" and "permission" in by["secret.md"].reason
    assert by["nope"].status == "failed" and "no such" in by["nope"].reason
    assert any("loop" in o.reason for o in rep.outcomes)
    assert "image.png" not in by
    assert [x["path"] for x in idx.documents()] == [str((d / "good.md").resolve())]


def test_cli_exit_code_says_whether_anything_failed(real_home, tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    (d / "ok.md").write_text("# OK\n\nFine text.\n")
    p = run_edge("index", "add", str(d))
    assert p.returncode == 0, p.stderr
    (d / "bad.md").write_bytes(b"\x00\x01")
    p = run_edge("index", "add", str(d), str(tmp_path / "missing"))
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert "bad.md: binary" in p.stderr and "missing: no such file" in p.stderr
    assert "1 unchanged" in p.stdout


KILL_SCRIPT = r"""
import sys, time
from edge.config import load_settings
from edge.rag.embed import load_embedder
from edge.rag.store import Index
idx = Index(sys.argv[1], load_embedder(load_settings(embed_threads=1)))
def progress(o):
    print("COMMITTED", o.path, flush=True)
idx.add([sys.argv[2]], progress=progress, batch_chunks=1)
print("DONE", flush=True)
"""


def test_kill_9_mid_add_leaves_a_good_index_that_resumes(real_home, tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "build" / "knowledge", docs)
    db_path = tmp_path / "i.db"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(db_path), str(docs)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    committed = []
    for line in proc.stdout:
        if line.startswith("COMMITTED"):
            committed.append(line.split(" ", 1)[1].strip())
        if len(committed) >= 5:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    from edge.config import load_settings
    from edge.rag.embed import load_embedder

    idx = Index(db_path, load_embedder(load_settings()))
    assert idx.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    have = {d["path"] for d in idx.documents()}
    assert set(committed) <= have, "every document reported committed is there"
    c = counts(idx)
    assert c["chunks"] == c["chunks_vec"] == c["chunks_bin"] == c["chunks_fts"]
    assert c["chunks"] == sum(d["chunks"] for d in idx.documents())
    rep = idx.add([docs])
    assert rep.count("unchanged") == len(have) and rep.count("added") == 42 - len(have)
    assert len(idx.documents()) == 42


WRITER = r"""
import sys
from edge.config import load_settings
from edge.rag.embed import load_embedder
from edge.rag.store import Index
idx = Index(sys.argv[1], load_embedder(load_settings(embed_threads=1)))
rep = idx.add([sys.argv[2]], batch_chunks=1)
print(len(rep.failed))
"""


def test_a_reader_and_a_writer_at_once(sample_index_file, embedder, real_home, tmp_path):
    db_path = tmp_path / "i.db"
    shutil.copy(sample_index_file, db_path)
    docs = tmp_path / "more"
    shutil.copytree(ROOT / "build" / "knowledge-v2", docs)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db_path), str(docs)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    reader = Index(db_path, embedder)
    searches = 0
    while writer.poll() is None and searches < 500:
        res, _, _ = reader.search("battery terminal torque", k=3)
        assert res
        searches += 1
    out, _ = writer.communicate(timeout=300)
    assert writer.returncode == 0 and out.strip() == "0"
    assert searches > 0
    assert len(reader.documents()) == 84


def test_sync_adds_changes_and_drops_vanished(embedder, tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    for n in "abc":
        (d / f"{n}.md").write_text(f"# {n}\n\nDocument {n}.\n")
    idx = Index(tmp_path / "i.db", embedder)
    idx.add([d])
    (d / "a.md").unlink()
    (d / "b.md").write_text("# b\n\nDocument b, revised.\n")
    (d / "e.md").write_text("# e\n\nNew.\n")
    rep = idx.sync(d)
    assert rep.count("added") == 1 and rep.count("updated") == 1 and rep.count("unchanged") == 1
    assert [Path(p).name for p in rep.removed] == ["a.md"]
    assert sorted(Path(x["path"]).name for x in idx.documents()) == ["b.md", "c.md", "e.md"]
    assert idx.remove(d) and idx.documents() == []


def _cut_by_an_older_chunker(idx, docs, monkeypatch):
    """Index `docs` as an older edge would have: another chunker version cutting other chunks."""
    import edge.rag.store as store

    with monkeypatch.context() as m:
        m.setattr(store, "CHUNKER_VERSION", store.CHUNKER_VERSION - 1)
        m.setattr(store, "CHUNK_TOKENS", 24)
        rep = idx.add([docs])
    assert rep.count("added") == 2
    return counts(idx)


def _two_docs(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    lines = "\n".join(f"- setting {i} defaults to {i * 7} seconds" for i in range(40))
    (docs / "a.md").write_text(f"# Timers\n\n{lines}\n")
    (docs / "b.md").write_text("# Valve\n\nThe valve opens at 3 bar.\n")
    return docs


def test_documents_an_older_chunker_cut_are_cut_again(embedder, tmp_path, monkeypatch):
    docs = _two_docs(tmp_path)
    fresh = Index(tmp_path / "fresh.db", embedder)
    fresh.add([docs])
    idx = Index(tmp_path / "i.db", embedder)
    old = _cut_by_an_older_chunker(idx, docs, monkeypatch)
    assert old["chunks"] > counts(fresh)["chunks"]
    assert idx.stats()["documents_to_rechunk"] == 2

    rep = idx.add([docs])  # the files did not change, the chunker did
    assert rep.count("updated") == 2 and rep.count("unchanged") == 0
    assert all("cut again by chunker" in o.reason for o in rep.outcomes)
    assert counts(idx) == counts(fresh)
    texts = lambda i: [r[0] for r in i.conn.execute("select c.text from chunks c order by c.doc_id, c.seq")]  # noqa: E731
    assert texts(idx) == texts(fresh)
    assert idx.stats()["documents_to_rechunk"] == 0
    assert idx.add([docs]).count("unchanged") == 2


def test_refresh_recuts_reindexes_changes_and_keeps_gone_files_unless_pruned(embedder, tmp_path, monkeypatch):
    docs = _two_docs(tmp_path)
    idx = Index(tmp_path / "i.db", embedder)
    _cut_by_an_older_chunker(idx, docs, monkeypatch)
    (docs / "b.md").unlink()
    rep = idx.refresh()
    assert rep.count("updated") == 1 and [Path(o.path).name for o in rep.failed] == ["b.md"]
    assert "the file is gone" in rep.failed[0].reason
    assert len(idx.documents()) == 2 and idx.stats()["documents_to_rechunk"] == 1  # b's chunks stay
    rep = idx.refresh(prune=True)
    assert [Path(p).name for p in rep.removed] == ["b.md"] and rep.count("unchanged") == 1 and not rep.failed
    assert [Path(x["path"]).name for x in idx.documents()] == ["a.md"] and idx.stats()["documents_to_rechunk"] == 0


def test_an_index_from_before_chunker_versions_is_upgraded_by_a_reader(embedder, tmp_path):
    from edge.rag.store import INDEX_KIND, MIGRATIONS

    docs = _two_docs(tmp_path)
    p = tmp_path / "old.db"
    Index(p, embedder).add([docs])
    conn = db.connect(p)  # make it what schema 2 left: no chunker column
    conn.execute("ALTER TABLE documents DROP COLUMN chunker")
    conn.execute("PRAGMA user_version = 2")
    conn.close()
    # a read-only open (what `edge ask --rag` does) of a writable file upgrades it
    conn = db.open_store(p, INDEX_KIND, readonly=True, create=False)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 3
    conn.close()
    idx = Index(p, embedder)
    assert idx.stats()["documents_to_rechunk"] == 2
    assert idx.add([docs]).count("updated") == 2 and idx.stats()["documents_to_rechunk"] == 0


def test_cli_refresh_and_stats(real_home, tmp_path):
    docs = _two_docs(tmp_path)
    assert run_edge("index", "add", str(docs)).returncode == 0
    p = run_edge("index", "stats", "--json")
    assert p.returncode == 0 and '"documents_to_rechunk": 0' in p.stdout
    doc = json.loads(run_edge("doctor", "--json").stdout)
    assert doc["index"]["documents"] == 2 and doc["index"]["documents_to_rechunk"] == 0
    assert [c["ok"] for c in doc["checks"] if c["name"] == "index"] == [True]
    (docs / "b.md").write_text("# Valve\n\nThe valve opens at 4 bar.\n")
    (docs / "a.md").unlink()
    p = run_edge("index", "refresh")
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert "a.md: the file is gone" in p.stderr and "1 updated" in p.stdout
    p = run_edge("index", "refresh", "--prune", "--json")
    assert p.returncode == 0 and '"removed"' in p.stdout and "a.md" in p.stdout

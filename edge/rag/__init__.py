"""Retrieval: embed (onnxruntime), chunk, and a SQLite index (sqlite-vec + FTS5)."""

from __future__ import annotations

from pathlib import Path


def sample_knowledge_dir() -> Path:
    """The sample manual shipped in the clone (build/knowledge/)."""
    return Path(__file__).resolve().parent.parent.parent / "build" / "knowledge"


def open_index(settings, *, create: bool = True, embedder: bool = True, readonly: bool = False):
    """The index in `settings`; `readonly` for commands that only read it (never changes the file,
    but for upgrading the schema of one an older edge wrote, once, when the file is writable)."""
    from .store import Index

    if not embedder:
        return Index(settings.index_path, None, create=create, readonly=readonly)
    from .embed import load_embedder

    if not settings.index_path.is_file():
        # a new index: the configured embedder, loaded first, so a missing model creates no file
        return Index(settings.index_path, load_embedder(settings), create=create, readonly=readonly)
    index = Index(settings.index_path, None, create=create, readonly=readonly)
    try:  # the embedder the index was made with, if it is one edge knows; else the configured one
        index.attach_embedder(load_embedder(settings, recorded=index.meta.get("embedder")))
    except BaseException:
        index.close()
        raise
    return index


def open_retriever(settings):
    """A retriever for the assistant: question, k -> (passages, embed_ms, search_ms)."""
    from ..prompt import Passage

    from ..errors import EmptyIndex
    from .embed import load_embedder

    # emptiness first: it is the more useful error, and it costs no embedder load
    index = open_index(settings, create=False, readonly=True, embedder=False)
    try:
        if index.n_chunks() == 0:
            raise EmptyIndex(f"the index {index.path} is empty: run `edge index add PATH` (or `edge index add --sample`)")
        index.attach_embedder(load_embedder(settings, recorded=index.meta.get("embedder")))
    except BaseException:
        index.close()
        raise

    def retrieve(question: str, k: int):
        results, embed_ms, search_ms = index.search(question, k=k)
        passages = [Passage(r.text, path=r.path, heading=r.heading, line_start=r.line_start, line_end=r.line_end, score=r.score, page=r.page) for r in results]
        return passages, embed_ms, search_ms

    retrieve.index = index  # for callers that want to show a source's chunk
    return retrieve

"""Sentence embeddings on the CPU: all-MiniLM-L6-v2 (int8 ONNX) through onnxruntime + tokenizers
(the default), or nomic-embed-text-v1.5 (GGUF) through llama.cpp (`embedder = "nomic"`).

The base class owns batching (by length, so little padding is computed), pooling-agnostic
normalisation and the id/dimension that the index records; a model implements `embed_batch`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Sequence

import numpy as np


class Embedder(ABC):
    id: str  # recorded in the index; a different id means incompatible vectors
    dim: int
    max_tokens: int

    @abstractmethod
    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Raw (not normalised) embeddings of a batch, shape (len(texts), dim), float32."""

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for `text` (special tokens included, before truncation)."""

    def lengths(self, texts: Sequence[str]) -> list[int]:
        """Sort keys for batching; a model with a tokenizer returns token counts."""
        return [len(t) for t in texts]

    def embed(self, texts: Sequence[str], *, batch_size: int = 8, progress=None) -> np.ndarray:
        """L2-normalised embeddings, in input order.

        Texts are batched by length so that little padding is computed; on this 2-core machine
        batches of 8 sorted by token count embedded ~6,000 tokens/s, batches of 32 sorted by
        characters ~3,900 (attention over padding, and worse cache use).
        """
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        keys = self.lengths(texts)
        order = sorted(range(len(texts)), key=lambda i: keys[i])
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            vecs = np.asarray(self.embed_batch([texts[i] for i in idx]), dtype=np.float32)
            out[idx] = vecs
            if progress is not None:
                progress(len(idx))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def embed_query(self, text: str) -> np.ndarray:
        """A search query's embedding (a model trained with query/document prefixes overrides this;
        `embed` is for the documents)."""
        return self.embed_one(text)


class OnnxEmbedder(Embedder):
    """A BERT-style ONNX model with mean pooling over the attention mask."""

    def __init__(self, model_path: Path, tokenizer_path: Path, *, model_id: str, threads: int = 0, max_tokens: int = 256):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from ..config import physical_cores

        self.id = model_id
        self.max_tokens = max_tokens
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(max_tokens)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest in each batch
        self._count_tok = Tokenizer.from_file(str(tokenizer_path))
        self._count_tok.no_truncation()
        self._count_tok.no_padding()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads if threads > 0 else physical_cores()
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        # onnxruntime's worker threads busy-wait for more work after each run by default. Between
        # queries that steals the cores the search itself then needs: on this 2-core machine a
        # query's embed + search took 15.4 ms p50 with it, 5.9 ms with spinning stopped as each run
        # returns (it still spins within a run: batch ingest was as fast). Same process, same load, the
        # foreign text corpus; allow_spinning=0 instead gave 7.2 ms.
        opts.add_session_config_entry("session.force_spinning_stop", "1")
        self.session = ort.InferenceSession(str(model_path), sess_options=opts, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self.session.get_inputs()}
        self.dim = int(self.session.get_outputs()[0].shape[-1])

    def count_tokens(self, text: str) -> int:
        return len(self._count_tok.encode(text).ids)

    def lengths(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self._count_tok.encode_batch(list(texts))]

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        encs = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encs], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(None, feeds)[0]  # (batch, seq, dim)
        m = mask[:, :, None].astype(np.float32)
        return (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)


class LlamaEmbedder(Embedder):
    """A GGUF embedding model run by llama.cpp (pooling as its metadata says), with the task
    prefixes it was trained with: nomic-embed-text-v1.5 embeds "search_document: ..." and
    "search_query: ..." (without them its retrieval is worse, its model card says)."""

    def __init__(self, model_path: Path, *, model_id: str, threads: int = 0, max_tokens: int = 256,
                 doc_prefix: str = "search_document: ", query_prefix: str = "search_query: "):
        import llama_cpp

        from ..config import physical_cores
        from ..errors import IntegrityError
        from ..llm import _quiet_stderr
        from ..models import check_gguf

        check_gguf(model_path)  # never hand llama.cpp a file nobody has looked at
        self.id = model_id
        self.max_tokens = max_tokens
        self.doc_prefix, self.query_prefix = doc_prefix, query_prefix
        # a non-causal model needs each text within one ubatch; llama-cpp-python packs texts into
        # batches of this many tokens (4 of the longest, more of the usual 128-token chunks)
        n = 4 * max_tokens
        threads = threads if threads > 0 else physical_cores()
        try:
            with _quiet_stderr(True):
                self.llm = llama_cpp.Llama(str(model_path), embedding=True, n_ctx=n, n_batch=n, n_ubatch=n,
                                           n_threads=threads, n_threads_batch=threads, verbose=False)
        except (ValueError, RuntimeError) as e:
            raise IntegrityError(f"llama.cpp could not load {model_path}: {e}") from None
        self.dim = int(self.llm.n_embd())

    def _ids(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)

    def count_tokens(self, text: str) -> int:
        return len(self._ids(self.doc_prefix + text))

    def lengths(self, texts: Sequence[str]) -> list[int]:
        return [self.count_tokens(t) for t in texts]

    def _run(self, texts: list[str]) -> np.ndarray:
        cut = []
        for t in texts:  # truncated as the ONNX embedder truncates: the first max_tokens tokens
            ids = self._ids(t)
            cut.append(t if len(ids) <= self.max_tokens else self.llm.detokenize(ids[1:self.max_tokens - 1]).decode("utf-8", "ignore"))
        return np.asarray(self.llm.embed(cut, normalize=False, truncate=True), dtype=np.float32)

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self._run([self.doc_prefix + t for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        v = self._run([self.query_prefix + text])[0]
        return v / max(float(np.linalg.norm(v)), 1e-12)


EMBEDDER_MODEL = "minilm-l6-v2-int8"
EMBEDDER_TOKENIZER = "minilm-l6-v2-tokenizer"
EMBEDDERS = {"minilm": EMBEDDER_MODEL, "nomic": "nomic-embed-text-v1.5-f16"}


def load_embedder(settings, recorded: str | None = None) -> Embedder:
    """The embedder an existing index was made with (`recorded`, its meta id "name@sha"), if it is
    one edge knows; else the configured one (`embedder`: minilm, the default, or nomic). A model
    not downloaded is a ModelNotFound that says to pull it."""
    from ..errors import UsageError
    from ..models import ModelStore

    store = ModelStore(settings.home)
    which = getattr(settings, "embedder", "") or "minilm"
    made_with = {v: k for k, v in EMBEDDERS.items()}.get((recorded or "").split("@")[0])
    which = made_with or which
    if which not in EMBEDDERS:
        raise UsageError(f"unknown embedder {which!r}: use one of {', '.join(EMBEDDERS)}")
    if which == "nomic":
        art = store.get(EMBEDDERS[which])
        model = store.require(art.name)
        return LlamaEmbedder(model, model_id=f"{art.name}@{art.sha256[:12]}", threads=settings.embed_threads)
    model = store.require(EMBEDDER_MODEL)
    tok = store.require(EMBEDDER_TOKENIZER)
    art = store.get(EMBEDDER_MODEL)
    return OnnxEmbedder(model, tok, model_id=f"{art.name}@{art.sha256[:12]}", threads=settings.embed_threads)

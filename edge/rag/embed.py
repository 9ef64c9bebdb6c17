"""Sentence embeddings on the CPU: all-MiniLM-L6-v2 (int8 ONNX) through onnxruntime + tokenizers
(the default), or nomic-embed-text-v1.5 (GGUF) through llama.cpp (`embedder = "nomic"`).

The base class owns batching (by length, so little padding is computed), pooling-agnostic
normalisation and the id/dimension that the index records; a model implements `embed_batch`.
"""

from __future__ import annotations

import os
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

    batch_size = 8  # texts per model call, unless `embed` is told otherwise

    def embed(self, texts: Sequence[str], *, batch_size: int | None = None, progress=None) -> np.ndarray:
        """L2-normalised embeddings, in input order.

        Texts are batched by length so that little padding is computed; on this 2-core machine
        batches of 8 sorted by token count embedded ~6,000 tokens/s, batches of 32 sorted by
        characters ~3,900 (attention over padding, and worse cache use).
        """
        batch_size = batch_size or self.batch_size
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

    def __init__(self, model_path: Path, tokenizer_path: Path, *, model_id: str, threads: int = 0, max_tokens: int = 256,
                 batch_size: int = 8):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from ..config import physical_cores

        self.id = model_id
        self.max_tokens = max_tokens
        self.batch_size = batch_size
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
# The default embedder is the shipped MiniLM file with its 36 weight products run as int8 products
# (see derive_int8_products); "minilm-float" is the file as shipped, whose int8 weights onnxruntime
# widens to float once at load and multiplies in float — the embedder of indexes made before.
FAST_MINILM = "minilm-l6-v2-int8-dq1"  # the recorded name; bump the digit when the derivation changes
EMBEDDERS = {"minilm": FAST_MINILM, "minilm-float": EMBEDDER_MODEL, "nomic": "nomic-embed-text-v1.5-f16"}


def derive_int8_products(src: Path, dst: Path) -> int:
    """Write to `dst` the ONNX model `src` with each product of an activation by a stored int8
    weight — MatMul(x, Cast(W_q) * scale), W_q int8 [K, N], one scale per output column — replaced
    by onnxruntime's DynamicQuantizeMatMul(x, W_q, scale): the same int8 weights and scales, the
    activation quantized to 8 bits per call, an integer product (VNNI/AVX2/NEON kernels). Ingest
    1.7-1.8x the float model's tokens/s on 2 x86 cores (build/reports/retrieval.md); vectors within
    cosine 0.98 of the float model's. Returns how many products were replaced; 0 = not such a model
    (nothing written). Deterministic: the same `src` gives the same bytes."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    replaced: dict[int, onnx.NodeProto] = {}
    scales: list[onnx.TensorProto] = []
    for n in g.node:
        mul = producer.get(n.input[1]) if n.op_type == "MatMul" and len(n.input) == 2 else None
        if mul is None or mul.op_type != "Mul" or len(mul.input) != 2:
            continue
        cast = producer.get(mul.input[0])
        w, sc = (inits.get(cast.input[0]) if cast is not None and cast.op_type == "Cast" else None), inits.get(mul.input[1])
        if (w is None or sc is None or w.data_type != onnx.TensorProto.INT8 or len(w.dims) != 2
                or list(sc.dims) not in ([1, w.dims[1]], [w.dims[1]])):
            continue
        flat = numpy_helper.from_array(numpy_helper.to_array(sc).reshape(-1), f"{sc.name}_per_column")
        if flat.name not in {s.name for s in scales}:
            scales.append(flat)
        replaced[id(n)] = helper.make_node("DynamicQuantizeMatMul", [n.input[0], w.name, flat.name], list(n.output),
                                           name=f"{n.name or n.output[0]}_int8", domain="com.microsoft")
    if not replaced:
        return 0
    nodes = [replaced.get(id(n), n) for n in g.node]
    while True:  # drop what no longer feeds anything (the widening Casts and scaling Muls)
        used = {i for n in nodes for i in n.input} | {o.name for o in g.output}
        kept = [n for n in nodes if any(o in used for o in n.output)]
        if len(kept) == len(nodes):
            break
        nodes = kept
    used = {i for n in nodes for i in n.input}
    keep_inits = [i for i in g.initializer if i.name in used] + [s for s in scales if s.name in used]
    del g.node[:]
    g.node.extend(nodes)
    del g.initializer[:]
    g.initializer.extend(keep_inits)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    tmp = dst.with_name(f"{dst.name}.{os.getpid()}.part")  # two processes deriving at once each write their own
    try:
        onnx.save(model, str(tmp))
        tmp.replace(dst)
    finally:
        tmp.unlink(missing_ok=True)
    return len(replaced)


def _fast_minilm_path(store) -> tuple[Path, str]:
    """The derived file of the default embedder (made from the pulled MiniLM once, beside it) and
    its id. A file that onnxruntime cannot load is made again."""
    from ..errors import EdgeError

    src = store.require(EMBEDDER_MODEL)
    art = store.get(EMBEDDER_MODEL)
    dst = src.with_name(f"{FAST_MINILM}-{art.sha256[:12]}.onnx")
    if not dst.is_file():
        try:
            n = derive_int8_products(src, dst)
        except ImportError:
            raise EdgeError("the default embedder is made with the onnx package, which is not installed: "
                            "pip install onnx (or set embedder = \"minilm-float\")") from None
        except OSError as e:
            raise EdgeError(f"could not write {dst}: {e.strerror or e}") from None
        if not n:
            raise EdgeError(f"{src} has no int8 weight products to run as such: pull it again (`edge models pull {EMBEDDER_MODEL}`)")
    return dst, f"{FAST_MINILM}@{art.sha256[:12]}"


def load_embedder(settings, recorded: str | None = None) -> Embedder:
    """The embedder an existing index was made with (`recorded`, its meta id "name@sha"), if it is
    one edge knows; else the configured one (`embedder`: minilm, the default; minilm-float; or
    nomic). A model not downloaded is a ModelNotFound that says to pull it."""
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
    tok = store.require(EMBEDDER_TOKENIZER)
    if which == "minilm":
        from ..errors import EdgeError

        # one text per call: the activations' 8-bit range is taken per call, so a text batched with
        # others would get a vector that depends on them (cosine 0.983 to its own, measured)
        model, model_id = _fast_minilm_path(store)
        try:
            return OnnxEmbedder(model, tok, model_id=model_id, threads=settings.embed_threads, batch_size=1)
        except Exception:  # a damaged derived file (onnxruntime's own errors): made again, once
            model.unlink(missing_ok=True)
            model, model_id = _fast_minilm_path(store)
            try:
                return OnnxEmbedder(model, tok, model_id=model_id, threads=settings.embed_threads, batch_size=1)
            except Exception as e:
                raise EdgeError(f"onnxruntime cannot load {model} (made from {EMBEDDER_MODEL}): {str(e).splitlines()[0][:200]}") from None
    model = store.require(EMBEDDER_MODEL)
    art = store.get(EMBEDDER_MODEL)
    return OnnxEmbedder(model, tok, model_id=f"{art.name}@{art.sha256[:12]}", threads=settings.embed_threads)

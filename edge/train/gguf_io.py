"""GGUF in and out, with numpy only: dequantize a base model, write a model or a LoRA adapter
keeping every metadata key of the base, merge an adapter into a base, quantize with llama.cpp.

Tensor layout is GGUF's: a weight with ggml shape ne=[n_in, n_out] reads as a numpy array of
shape (n_out, n_in), the same as torch's Linear.weight, so y = x @ W.T.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import IntegrityError, UsageError

# What differs between the architectures the one torch model (model.py) runs, as data. Rotary
# embeddings: llama.cpp's converter permutes llama's Q/K so each rotated pair is two adjacent
# dimensions (LLAMA_ROPE_TYPE_NORM); qwen2 keeps Hugging Face's layout, where dimension i pairs
# with i + head_dim/2 (LLAMA_ROPE_TYPE_NEOX). Q/K/V biases and a tied or separate output matrix
# are read from the file's tensors; rms eps and rope theta from its metadata.
ARCH_ROPE_NEOX = {"llama": False, "qwen2": True}
SUPPORTED_ARCHS = set(ARCH_ROPE_NEOX)
LORA_TARGETS = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")
_SKIP_KEYS = {"GGUF.version", "GGUF.tensor_count", "GGUF.kv_count"}


@dataclass
class HParams:
    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    n_vocab: int
    rope_theta: float
    rms_eps: float
    n_ctx_train: int
    rope_neox: bool = False  # rotate the two halves of each head (qwen2), not adjacent pairs (llama)

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head


@dataclass
class GGUFModel:
    """A GGUF file read into memory: metadata fields (as (value, types)) and float32 tensors."""

    path: Path
    arch: str
    fields: dict  # key -> (value, [GGUFValueType...])
    tensors: dict  # name -> np.ndarray float32, GGUF layout
    tensor_types: dict  # name -> original GGMLQuantizationType
    hparams: HParams


def _field_value(f):
    return f.contents()


def read_gguf(path: str | Path, *, dequantize: bool = True) -> GGUFModel:
    """Read and (by default) dequantize every tensor to float32. Refuses unsupported architectures
    before any work is done."""
    from gguf.quants import dequantize as dq

    from ..models import open_checked_gguf

    path = Path(path)
    info, r = open_checked_gguf(path)
    if info.architecture not in SUPPORTED_ARCHS:
        raise UsageError(f"{path.name}: architecture {info.architecture!r} is not supported for fine-tuning (supported: {', '.join(sorted(SUPPORTED_ARCHS))})")
    fields = {k: (_field_value(f), list(f.types)) for k, f in r.fields.items() if k not in _SKIP_KEYS}
    tensors, types = {}, {}
    for t in r.tensors:
        types[t.name] = t.tensor_type
        if dequantize:
            arr = dq(t.data, t.tensor_type).astype(np.float32, copy=False)
            shape = tuple(int(x) for x in reversed(t.shape.tolist()))
            tensors[t.name] = np.ascontiguousarray(arr.reshape(shape))
    a = info.architecture
    get = lambda k, d=None: fields.get(f"{a}.{k}", (d, None))[0]  # noqa: E731
    n_embd = int(get("embedding_length"))
    hp = HParams(
        n_layer=int(get("block_count")), n_embd=n_embd, n_ff=int(get("feed_forward_length")),
        n_head=int(get("attention.head_count")), n_head_kv=int(get("attention.head_count_kv", get("attention.head_count"))),
        n_vocab=int(get("vocab_size", len(fields.get("tokenizer.ggml.tokens", ([],))[0]))),
        rope_theta=float(get("rope.freq_base", 10000.0)), rms_eps=float(get("attention.layer_norm_rms_epsilon", 1e-5)),
        n_ctx_train=int(get("context_length", 2048)), rope_neox=ARCH_ROPE_NEOX[a],
    )
    if get("rope.dimension_count") not in (None, hp.head_dim):
        raise UsageError(f"{path.name}: partial rotary embeddings are not supported")
    return GGUFModel(path, a, fields, tensors, types, hp)


def _writer(path: Path, arch: str, fields: dict, *, overrides: dict | None = None):
    import gguf

    w = gguf.GGUFWriter(str(path), arch)
    overrides = overrides or {}
    for key, (val, types) in fields.items():
        if key == "general.architecture":
            continue  # the writer adds it
        if key in overrides:
            continue
        vtype = types[0]
        sub = types[1] if vtype == gguf.GGUFValueType.ARRAY and len(types) > 1 else None
        w.add_key_value(key, val, vtype, sub)
    for key, (val, vtype) in overrides.items():
        w.add_key_value(key, val, vtype)
    return w


def _finish(w, path: Path, tmp: Path) -> None:
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, path)


def write_model(base: GGUFModel, tensors: dict, path: str | Path, *, name: str | None = None, f16: bool = True) -> Path:
    """Write a model with `base`'s metadata and `tensors` (float32): 2-D weights as F16 (or F32),
    norms as F32. The result is a plain GGUF that llama.cpp loads and quantizes."""
    import gguf

    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    over = {"general.file_type": (int(gguf.LlamaFileType.MOSTLY_F16 if f16 else gguf.LlamaFileType.ALL_F32), gguf.GGUFValueType.UINT32)}
    if name:
        over["general.name"] = (name, gguf.GGUFValueType.STRING)
    w = _writer(tmp, base.arch, base.fields, overrides=over)
    try:
        for tname in base.tensors:  # keep the base's tensor order
            arr = tensors[tname]
            if f16 and arr.ndim == 2:
                w.add_tensor(tname, arr.astype(np.float16), raw_dtype=gguf.GGMLQuantizationType.F16)
            else:
                w.add_tensor(tname, arr.astype(np.float32))
        _finish(w, path, tmp)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_lora(base: GGUFModel, lora: dict, path: str | Path, *, alpha: float, name: str = "edge-lora", f16: bool = True) -> Path:
    """Write a LoRA adapter llama.cpp loads at run time: `lora` maps a base tensor name to
    (A, B) with A (r, n_in) and B (n_out, r); the delta is (alpha / r) * B @ A."""
    import gguf

    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    w = gguf.GGUFWriter(str(tmp), base.arch)
    w.add_type("adapter")
    w.add_string("adapter.type", "lora")
    w.add_float32("adapter.lora.alpha", float(alpha))
    w.add_name(name)
    try:
        for tname in sorted(lora):
            a, b = lora[tname]
            for suffix, arr in (("lora_a", a), ("lora_b", b)):
                if f16:  # half the size; llama.cpp computes the delta in F16 either way on CPU
                    w.add_tensor(f"{tname}.{suffix}", np.ascontiguousarray(arr, dtype=np.float16), raw_dtype=gguf.GGMLQuantizationType.F16)
                else:
                    w.add_tensor(f"{tname}.{suffix}", np.ascontiguousarray(arr, dtype=np.float32))
        _finish(w, path, tmp)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_lora(path: str | Path) -> tuple[dict, float, str]:
    """(tensor name -> (A, B)), alpha, architecture of a GGUF LoRA adapter."""
    from gguf import GGUFReader

    path = Path(path)
    try:
        r = GGUFReader(str(path))
    except Exception as e:
        raise IntegrityError(f"{path} is not a readable GGUF adapter: {e}") from None
    f = {k: v.contents() for k, v in r.fields.items() if k not in _SKIP_KEYS}
    if f.get("general.type") != "adapter" or f.get("adapter.type") != "lora":
        raise IntegrityError(f"{path} is not a LoRA adapter (general.type={f.get('general.type')!r})")
    pairs: dict = {}
    for t in r.tensors:
        shape = tuple(int(x) for x in reversed(t.shape.tolist()))
        arr = np.array(t.data, dtype=np.float32).reshape(shape)
        base_name, _, which = t.name.rpartition(".")
        pairs.setdefault(base_name, {})[which] = arr
    out = {}
    for n, d in pairs.items():
        if set(d) != {"lora_a", "lora_b"}:
            raise IntegrityError(f"{path}: tensor {n} lacks lora_a or lora_b")
        out[n] = (d["lora_a"], d["lora_b"])
    return out, float(f.get("adapter.lora.alpha", 0.0)), f.get("general.architecture", "")


def merge(base: GGUFModel, lora: dict, alpha: float) -> dict:
    """Base weights plus each LoRA delta, in float32 numpy. Shapes are checked first."""
    out = dict(base.tensors)
    for name, (a, b) in lora.items():
        if name not in base.tensors:
            raise IntegrityError(f"the adapter changes {name}, which the base model does not have: wrong base?")
        w = base.tensors[name]
        if a.shape[1] != w.shape[1] or b.shape[0] != w.shape[0] or a.shape[0] != b.shape[1]:
            raise IntegrityError(f"the adapter's {name} has shapes {a.shape}/{b.shape}, the base {w.shape}: wrong base?")
        r = a.shape[0]
        scale = alpha / r if alpha else 1.0
        out[name] = (w.astype(np.float64) + scale * (b.astype(np.float64) @ a.astype(np.float64))).astype(np.float32)
    return out


QUANT_TYPES = {"q8_0": 7, "q4_0": 2, "q4_1": 3, "q5_0": 8, "q5_1": 9, "f16": 1}


def quantize(src: str | Path, dst: str | Path, qtype: str, *, threads: int = 0) -> Path:
    """Quantize a GGUF with llama.cpp's own quantizer (llama_model_quantize)."""
    import llama_cpp as lc

    from ..llm import _quiet_stderr

    if qtype not in QUANT_TYPES:
        raise UsageError(f"unknown quantization {qtype!r}; choose from {', '.join(QUANT_TYPES)}")
    dst = Path(dst)
    tmp = dst.with_name(dst.name + ".partial")
    params = lc.llama_model_quantize_default_params()
    params.ftype = QUANT_TYPES[qtype]
    params.nthread = threads
    params.allow_requantize = True
    with _quiet_stderr(True):
        rc = lc.llama_model_quantize(str(src).encode(), str(tmp).encode(), params)
    if rc != 0 or not tmp.exists():
        tmp.unlink(missing_ok=True)
        raise IntegrityError(f"llama.cpp could not quantize {src} to {qtype} (code {rc})")
    os.replace(tmp, dst)
    return dst

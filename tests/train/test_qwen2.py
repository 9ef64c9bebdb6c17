"""The qwen2 architecture (the small and large sizes) in training and `edge models build`: golden
logits of the torch model against llama.cpp on the real Qwen2.5-Coder-0.5B file, and an adapter
trained by edge that merges, quantizes and loads."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge.train.gguf_io import read_gguf, read_lora, write_lora, write_model  # noqa: E402

from .test_train import llama_logits  # noqa: E402

pytestmark = pytest.mark.real

# Against llama.cpp running the same dequantized weights written as F32: only the arithmetic
# differs (llama.cpp's F32 kernels, another summation order). Logits here span about -28..32;
# measured 0.031 on this machine (AVX-512), the llama case 0.016 on logits a third as large.
F32_TOL = 0.1
# Against llama.cpp running the Q4_K_M file itself: its matmuls quantize the activations to 8 bits
# before the dot products with the 4/5/6-bit weights, so logits move more; measured 0.50 here,
# with the argmax the same at every position.
QUANT_TOL = 1.5
QUANT_TOP1 = 0.9  # share of positions where the argmax agrees

TEXT = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        "What torque do the battery terminals need?<|im_end|>\n<|im_start|>assistant\nThe terminals need")


@pytest.fixture(scope="module")
def qwen(real_small_path):
    base = read_gguf(real_small_path)
    assert base.arch == "qwen2" and base.hparams.rope_neox
    return base


@pytest.fixture(scope="module")
def qwen_tokens(real_small_path):
    from edge.train.data import Tokenizer

    return Tokenizer(real_small_path).builder._tokenize(TEXT)


@pytest.fixture(scope="module")
def qwen_ours(qwen, qwen_tokens):
    from edge.train.model import LlamaLoRA

    torch.set_num_threads(2)
    model = LlamaLoRA(qwen, rank=0)
    with torch.no_grad():
        return model.logits(model(torch.tensor([qwen_tokens])))[0].numpy()


def test_qwen2_hparams_come_from_the_file(qwen):
    hp = qwen.hparams
    assert (hp.n_layer, hp.n_embd, hp.n_head, hp.n_head_kv) == (24, 896, 14, 2)
    assert hp.rms_eps == pytest.approx(1e-6) and hp.rope_theta == pytest.approx(1e6)
    # Q/K/V biases; this file carries its own output matrix (Q8_0) although the model ties it to the
    # embeddings: SmolLM2 (the llama golden test) has none, so both cases are compared with llama.cpp
    assert {"blk.0.attn_q.bias", "blk.0.attn_k.bias", "blk.0.attn_v.bias", "output.weight"} <= set(qwen.tensors)
    # Q4_K_M mixes block types (896 is not a multiple of 256): every one was dequantized
    assert {"Q4_K", "Q5_0", "Q6_K", "Q8_0"} <= {t.name for t in qwen.tensor_types.values()}
    assert all(np.isfinite(a).all() for a in qwen.tensors.values())


@pytest.mark.parametrize("output", ["separate", "tied"])
def test_golden_qwen2_logits_match_llama_cpp_on_the_same_weights(qwen, qwen_ours, qwen_tokens, tmp_path, output):
    """The dequantized weights written as F32, run by llama.cpp and by the torch model. "tied": the
    same model without its output matrix, so both fall back to the token embeddings."""
    import dataclasses

    from edge.train.model import LlamaLoRA

    model_in, ours = qwen, qwen_ours
    if output == "tied":
        model_in = dataclasses.replace(qwen, tensors={k: v for k, v in qwen.tensors.items() if k != "output.weight"})
        m = LlamaLoRA(model_in, rank=0)
        assert m.output is None
        with torch.no_grad():
            ours = m.logits(m(torch.tensor([qwen_tokens])))[0].numpy()
        assert np.abs(ours - qwen_ours).max() > 0.01, "the embeddings are not the output matrix"
    f32 = write_model(model_in, model_in.tensors, tmp_path / "qwen-f32.gguf", f16=False)
    ref = llama_logits(f32, qwen_tokens)
    diff = np.abs(ours - ref).max()
    print(f"qwen2 F32 ({output} output): max |logit diff| torch vs llama.cpp {diff:.4f} over {len(qwen_tokens)} tokens, "
          f"logit range {ref.min():.1f}..{ref.max():.1f}")
    assert diff < F32_TOL
    assert (ours.argmax(-1) == ref.argmax(-1)).all()


def test_golden_qwen2_logits_match_llama_cpp_on_the_quantized_file(real_small_path, qwen_ours, qwen_tokens):
    ref = llama_logits(real_small_path, qwen_tokens)
    diff = np.abs(qwen_ours - ref).max()
    top1 = float((qwen_ours.argmax(-1) == ref.argmax(-1)).mean())
    print(f"qwen2 Q4_K_M: max |logit diff| {diff:.4f}, top-1 agreement {top1:.3f} over {len(qwen_tokens)} tokens")
    assert diff < QUANT_TOL
    assert top1 >= QUANT_TOP1


def test_neox_rope_is_what_makes_qwen2_match(qwen, qwen_ours, qwen_tokens):
    """The rotary layout is data: the same model with llama's adjacent-pair rotation is far off."""
    import dataclasses

    from edge.train.model import LlamaLoRA

    wrong = dataclasses.replace(qwen, hparams=dataclasses.replace(qwen.hparams, rope_neox=False))
    model = LlamaLoRA(wrong, rank=0)
    with torch.no_grad():
        other = model.logits(model(torch.tensor([qwen_tokens])))[0].numpy()
    assert np.abs(other - qwen_ours).max() > 1.0


def test_qwen2_adapter_trains_merges_quantizes_and_loads(real_home, real_small_path, qwen, qwen_tokens, tmp_path):
    """A few LoRA steps on the 0.5B, exported by edge, built (merged + Q8_0) by `build_models` with
    the base re-quantized beside it; llama.cpp loads both and the adapter moves the logits as the
    same adapter applied at run time does."""
    import time

    from edge.models import ModelStore
    from edge.train.build import build_models
    from edge.train.data import Tokenizer
    from edge.train.model import LlamaLoRA
    from edge.train.trainer import TrainConfig, train

    t0 = time.perf_counter()
    tk = Tokenizer(real_small_path)
    recs = [[{"role": "user", "content": f"What is the code of widget {i}?"}, {"role": "assistant", "content": f"Widget {i} has code QX-{i * 37 % 1000}."}] for i in range(4)]
    torch.manual_seed(0)
    model = LlamaLoRA(qwen, rank=4, alpha=8)
    res = train(model, [tk.example(r) for r in recs], TrainConfig(max_steps=4, epochs=4, batch_tokens=4096, lr=3e-3, warmup_steps=1, threads=2),
                tmp_path / "run", log=lambda m: None)
    assert res["steps"] == 4 and res["history"][-1] < res["history"][0] * 0.7, res["history"]
    adapter = write_lora(qwen, model.lora_state(), tmp_path / "qwen-lora.gguf", alpha=8)
    assert read_lora(adapter)[2] == "qwen2"
    t_train = time.perf_counter() - t0

    store = ModelStore(real_home)
    small = store.base_llm("small")
    built = build_models(store, types=("q8_0",), adapter=adapter, name="q-ft", base_name=small.name, log=lambda m: None)
    assert {a.name for a in built} == {"q-ft-q8_0", "qwen2.5-coder-0.5b-instruct-base-q8_0"}
    assert all(a.tier == "small" for a in built)
    ft, base = (store.path(store.get(n)) for n in ("q-ft-q8_0", "qwen2.5-coder-0.5b-instruct-base-q8_0"))
    t_build = time.perf_counter() - t0 - t_train

    plain = llama_logits(base, qwen_tokens)
    merged = llama_logits(ft, qwen_tokens)
    runtime = llama_logits(base, qwen_tokens, lora=adapter)
    moved = np.abs(merged - plain).max()
    vs_runtime = np.abs(merged - runtime).max()
    print(f"qwen2 adapter: train {t_train:.0f}s, build {t_build:.0f}s; the adapter moves logits by up to {moved:.3f}; "
          f"merged Q8_0 vs base Q8_0 + runtime adapter: max diff {vs_runtime:.3f}")
    assert moved > 0.5, "the adapter changes the model"
    assert vs_runtime < moved / 2, "the merged model carries the adapter's change"

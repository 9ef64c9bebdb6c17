"""Fine-tuning: data validation, golden logits against llama.cpp, training, export, merge, build."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge.errors import UsageError
from edge.train.data import validate_jsonl

from ..conftest import run_edge

LOGIT_TOL = 0.05  # max |Δ| on logits of magnitude ~10; measured 0.016 on this machine


def test_bad_jsonl_is_refused_with_line_numbers(tmp_path):
    p = tmp_path / "d.jsonl"
    good = json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})
    p.write_text("\n".join([good, "{not json", json.dumps({"messages": [{"role": "user", "content": "q"}]}), good,
                            json.dumps({"text": "x"}), json.dumps({"messages": [{"role": "robot", "content": "q"}, {"role": "assistant", "content": "a"}]})]))
    with pytest.raises(UsageError) as e:
        validate_jsonl(p)
    msg = str(e.value)
    assert "4 bad record(s)" in msg and "line 2 (not JSON" in msg and "3 (does not end" in msg and "5 (no \"messages\"" in msg and "6 (" in msg
    assert "\n" not in msg


def test_finetune_cli_refuses_bad_data_before_training(real_home, tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"messages": []}\n')
    r = run_edge("finetune", "--data", str(p))
    assert r.returncode == 2 and "line 1" in r.stderr and "Traceback" not in r.stderr


# -- the rest needs torch (the `train` extra) ---------------------------------------------

torch = pytest.importorskip("torch")

from edge.train.gguf_io import merge, read_gguf, read_lora, write_lora, write_model  # noqa: E402

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def base(real_llm_path):
    return read_gguf(real_llm_path)


@pytest.fixture(scope="module")
def base_f32(base, tmp_path_factory):
    p = tmp_path_factory.mktemp("f32") / "base-f32.gguf"
    return write_model(base, base.tensors, p, f16=False)


def llama_logits(path, tokens, lora=None):
    from llama_cpp import Llama

    from edge.llm import _quiet_stderr, model_params

    with _quiet_stderr(True), model_params():
        llm = Llama(str(path), n_ctx=256, logits_all=True, verbose=False, n_threads=2, lora_path=str(lora) if lora else None)
    llm.reset()
    llm.eval(tokens)
    out = np.array(llm.scores[: len(tokens)])
    with _quiet_stderr(True):
        llm.close()
    return out


TOKENS_TEXT = "<|im_start|>user\nWhat torque do the battery terminals need?<|im_end|>\n<|im_start|>assistant\nThe terminals"


@pytest.fixture(scope="module")
def tokens(real_llm_path):
    from edge.train.data import Tokenizer

    return Tokenizer(real_llm_path).builder._tokenize(TOKENS_TEXT)


def test_golden_torch_logits_match_llama_cpp(base, base_f32, tokens):
    from edge.train.model import LlamaLoRA

    torch.set_num_threads(2)
    model = LlamaLoRA(base, rank=0)
    with torch.no_grad():
        ours = model.logits(model(torch.tensor([tokens])))[0].numpy()
    ref = llama_logits(base_f32, tokens)
    diff = np.abs(ours - ref).max()
    print(f"max |logit diff| torch vs llama.cpp: {diff:.4f}")
    assert diff < LOGIT_TOL
    assert (ours.argmax(-1) == ref.argmax(-1)).all()


def random_lora(base, rank=8, seed=0, scale=0.02):
    rng = np.random.default_rng(seed)
    lora = {}
    for name, w in base.tensors.items():
        if name.endswith(("attn_q.weight", "attn_v.weight", "ffn_down.weight")):
            lora[name] = ((rng.standard_normal((rank, w.shape[1])) * scale).astype(np.float32),
                          (rng.standard_normal((w.shape[0], rank)) * scale).astype(np.float32))
    return lora


def test_golden_merged_gguf_matches_base_plus_runtime_adapter(base, base_f32, tokens, tmp_path):
    lora = random_lora(base)
    adapter = write_lora(base, lora, tmp_path / "a.gguf", alpha=16.0, f16=False)
    back, alpha, arch = read_lora(adapter)
    assert alpha == 16.0 and arch == "llama" and set(back) == set(lora)
    merged = write_model(base, merge(base, lora, alpha), tmp_path / "merged.gguf", f16=False)
    with_adapter = llama_logits(base_f32, tokens, lora=adapter)
    from_merged = llama_logits(merged, tokens)
    plain = llama_logits(base_f32, tokens)
    assert np.abs(with_adapter - plain).max() > 1.0, "the adapter really changes the model"
    diff = np.abs(with_adapter - from_merged).max()
    print(f"max |logit diff| merged vs base+runtime adapter: {diff:.4f}")
    assert diff < LOGIT_TOL


def test_tiny_training_lowers_the_loss_and_the_adapter_loads(real_home, real_llm_path, base, tmp_path):
    from edge.llm import Engine, SamplingParams
    from edge.train.data import Tokenizer
    from edge.train.model import LlamaLoRA
    from edge.train.trainer import TrainConfig, train

    tk = Tokenizer(real_llm_path)
    recs = [[{"role": "user", "content": f"What is the code of widget {i}?"}, {"role": "assistant", "content": f"Widget {i} has code QX-{i * 37 % 1000}."}] for i in range(8)]
    examples = [tk.example(r) for r in recs]
    torch.manual_seed(0)
    model = LlamaLoRA(base, rank=4, alpha=8)
    res = train(model, examples, TrainConfig(max_steps=6, epochs=6, batch_tokens=4096, lr=3e-3, warmup_steps=1, checkpoint_every=3), tmp_path / "run", log=lambda m: None)
    assert res["steps"] == 6
    assert res["history"][-1] < res["history"][0] * 0.7, res["history"]
    assert (tmp_path / "run" / "checkpoint.pt").exists()
    adapter = write_lora(base, model.lora_state(), tmp_path / "tiny.gguf", alpha=8)
    eng = Engine(real_llm_path, n_ctx=512, n_threads=2, lora_path=adapter, checked=True)
    try:
        out = eng.complete(eng.builder.build("What is the code of widget 3?", budget=400).tokens, SamplingParams(max_tokens=16))
        assert out.timings.completion_tokens > 0
    finally:
        eng.close()


def test_bf16_base_weights_keep_the_logits_and_still_train(real_llm_path, base, tmp_path):
    """precision="bf16" keeps the frozen projections in bf16 (the fast path on AVX512_BF16/AMX CPUs;
    elsewhere torch emulates it): the logits stay close to fp32's and a short run still learns."""
    from edge.train.data import Tokenizer
    from edge.train.model import LlamaLoRA
    from edge.train.trainer import TrainConfig, train

    torch.set_num_threads(2)
    tk = Tokenizer(real_llm_path)
    ids = torch.tensor([tk.example([{"role": "user", "content": "Which port does the relay use?"},
                                    {"role": "assistant", "content": "Port 4711 [1]."}]).tokens])
    model = LlamaLoRA(base, rank=0)
    with torch.no_grad():
        ref = model.logits(model(ids))[0]
        model.set_base_dtype(torch.bfloat16)
        got = model.logits(model(ids))[0]
    assert model.blocks[0].proj["attn_q"].weight.dtype == torch.bfloat16
    assert got.dtype == torch.float32  # the residual stream and the head stay fp32
    agree = (got.argmax(-1) == ref.argmax(-1)).float().mean().item()
    rel = ((got - ref).abs().max() / ref.abs().max()).item()
    print(f"bf16 base: top-1 agreement {agree:.3f}, max relative logit difference {rel:.4f}")
    assert agree >= 0.9 and rel < 0.1

    recs = [[{"role": "user", "content": f"What is the code of widget {i}?"}, {"role": "assistant", "content": f"Widget {i} has code QX-{i * 37 % 1000}."}] for i in range(8)]
    torch.manual_seed(0)
    res = train(LlamaLoRA(base, rank=4, alpha=8), [tk.example(r) for r in recs],
                TrainConfig(max_steps=6, epochs=6, batch_tokens=4096, lr=3e-3, warmup_steps=1, precision="bf16"), tmp_path / "run", log=lambda m: None)
    assert res["history"][-1] < res["history"][0] * 0.7, res["history"]


def test_grad_checkpoint_gives_the_same_gradients(real_llm_path, base):
    """Recomputing each layer in backward (--grad-checkpoint) changes memory, not the result."""
    from edge.train.model import LlamaLoRA

    torch.set_num_threads(2)
    torch.manual_seed(0)
    ids = torch.randint(0, 1000, (2, 24))
    pad = torch.ones(2, 24, dtype=torch.bool)
    pad[1, 16:] = False
    model = LlamaLoRA(base, rank=4, alpha=8)
    for lin in (b.proj["attn_q"] for b in model.blocks):
        torch.nn.init.normal_(lin.lora_b, std=0.02)  # B starts at zero: make A's gradient non-zero
    grads = []
    for ckpt in (False, True):
        model.grad_checkpoint = ckpt
        model.zero_grad(set_to_none=True)
        model.logits(model(ids, pad)[:, -4:]).float().logsumexp(-1).sum().backward()
        grads.append([p.grad.clone() for p in model.lora_parameters()])
    assert all(g0.abs().sum() > 0 for g0 in grads[0][:2])
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(*grads))


def test_precision_auto_follows_the_cpu(monkeypatch):
    from edge.train import trainer

    monkeypatch.setattr(trainer, "cpu_has_bf16", lambda: True)
    assert trainer.resolve_precision("auto") == "bf16"
    monkeypatch.setattr(trainer, "cpu_has_bf16", lambda: False)
    assert trainer.resolve_precision("auto") == "fp32"
    assert trainer.resolve_precision("bf16") == "bf16"
    with pytest.raises(ValueError):
        trainer.resolve_precision("fp8")


def _four_examples(real_llm_path):
    """Four one-token question/answer pairs in the real tokenizer: the smallest run that trains."""
    from edge.train.data import Tokenizer

    tk = Tokenizer(real_llm_path)
    return [tk.example([{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]) for i in range(4)]


def test_training_resumes_from_its_checkpoint(real_llm_path, base, tmp_path):
    from edge.train.model import LlamaLoRA
    from edge.train.trainer import TrainConfig, train

    examples = _four_examples(real_llm_path)
    cfg = TrainConfig(max_steps=4, epochs=4, batch_tokens=64, lr=1e-3, warmup_steps=1, checkpoint_every=2)
    torch.manual_seed(0)
    full = train(LlamaLoRA(base, rank=2, alpha=4), examples, cfg, tmp_path / "a", log=lambda m: None)
    torch.manual_seed(0)
    cfg2 = TrainConfig(**{**cfg.__dict__, "max_steps": 2})
    train(LlamaLoRA(base, rank=2, alpha=4), examples, cfg2, tmp_path / "b", log=lambda m: None)
    # continue the same run to 4 steps: the checkpoint holds step 2; config must match to resume
    import torch as _t

    ck = _t.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)
    ck["config"]["max_steps"] = 4
    _t.save(ck, tmp_path / "b" / "checkpoint.pt")
    torch.manual_seed(0)
    resumed = train(LlamaLoRA(base, rank=2, alpha=4), examples, cfg, tmp_path / "b", log=lambda m: None)
    assert resumed["steps"] == 4
    assert np.allclose(resumed["history"], full["history"], rtol=1e-3, atol=1e-4)


def test_a_run_resumes_with_more_recomputation_to_the_same_result(real_llm_path, base, tmp_path):
    """After running out of memory, a run goes on with --grad-checkpoint (every layer or every other):
    those settings change memory and time, not the result; any other setting is refused."""

    from edge.train.model import LlamaLoRA
    from edge.train.trainer import TrainConfig, same_run, train

    examples = _four_examples(real_llm_path)
    cfg = TrainConfig(max_steps=4, epochs=4, batch_tokens=64, lr=1e-3, warmup_steps=1, checkpoint_every=2)
    torch.manual_seed(0)
    full = train(LlamaLoRA(base, rank=2, alpha=4), examples, cfg, tmp_path / "a", log=lambda m: None)

    class StopsAfterTwo(LlamaLoRA):
        calls = 0

        def forward(self, *a, **kw):
            StopsAfterTwo.calls += 1
            if StopsAfterTwo.calls == 3:  # the third step dies (as a run killed for memory would)
                raise MemoryError("out of memory")
            return super().forward(*a, **kw)

    torch.manual_seed(0)
    with pytest.raises(MemoryError):
        train(StopsAfterTwo(base, rank=2, alpha=4), examples, cfg, tmp_path / "b", log=lambda m: None)
    more = TrainConfig(**{**cfg.__dict__, "grad_checkpoint": True, "grad_checkpoint_every": 2})
    assert same_run(cfg.__dict__, more) and not same_run(cfg.__dict__, TrainConfig(**{**cfg.__dict__, "lr": 2e-3}))
    torch.manual_seed(0)
    logs: list[str] = []
    resumed = train(LlamaLoRA(base, rank=2, alpha=4), examples, more, tmp_path / "b", log=logs.append)
    assert any("resuming from step 2" in m for m in logs)
    assert resumed["steps"] == 4 and np.allclose(resumed["history"], full["history"], rtol=1e-3, atol=1e-4)
    with pytest.raises(RuntimeError, match="other settings"):
        train(LlamaLoRA(base, rank=2, alpha=4), examples, TrainConfig(**{**cfg.__dict__, "lr": 2e-3}), tmp_path / "b", log=lambda m: None)


def test_models_build_is_deterministic(real_home, base, tmp_path):
    from edge.models import ModelStore
    from edge.train.build import build_models

    adapter = write_lora(base, random_lora(base, seed=3), tmp_path / "a.gguf", alpha=16.0)
    store = ModelStore(real_home)
    first = build_models(store, types=("q8_0",), adapter=adapter, name="t-ft", with_base=False, log=lambda m: None)
    second = build_models(store, types=("q8_0",), adapter=adapter, name="t-ft", with_base=False, log=lambda m: None)
    assert first[0].sha256 == second[0].sha256
    assert store.get("t-ft-q8_0").role == "ft" and store.default_llm().name == "t-ft-q8_0"
    r = run_edge("ask", "Say hello.", "--json", "--max-tokens", "8")
    assert r.returncode == 0 and json.loads(r.stdout)["mode"] == "ft"


RUNTIME_MODULES = ["edge.cli", "edge.assistant", "edge.llm", "edge.prompt", "edge.models", "edge.rag", "edge.rag.store",
                   "edge.rag.embed", "edge.tui.app", "edge.train.build", "edge.train.gguf_io", "edge.train.evaluate", "edge.bench.runner"]


def test_runtime_never_imports_torch():
    import subprocess
    import sys

    code = "import sys\n" + "".join(f"import {m}\n" for m in RUNTIME_MODULES) + "print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


BLOCK_TORCH = """
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, _NoTorch())
"""


def test_models_build_and_ask_work_without_torch(real_home, tmp_path):
    """`edge models build` (the shipped adapter) and `edge ask` on its result, with torch unimportable."""
    import os
    import subprocess
    import sys
    import time

    from ..conftest import ROOT

    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(BLOCK_TORCH)
    env = dict(os.environ, PYTHONPATH=str(guard))
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "edge", "models", "build", "--json"], capture_output=True, text=True, env=env, cwd=ROOT)
    took = time.perf_counter() - t0
    assert p.returncode == 0, p.stderr
    built = json.loads(p.stdout)
    assert {b["name"] for b in built} == {"edge-ft-q8_0", "edge-ft-q4_0", "edge-know-q8_0", "edge-know-q4_0",
                                          "smollm2-135m-instruct-base-q8_0", "smollm2-135m-instruct-base-q4_0"}
    print(f"edge models build took {took:.1f}s (process start included)")
    p = subprocess.run([sys.executable, "-m", "edge", "ask", "Say hello in one short sentence.", "--json", "--model", "edge-ft-q8_0"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["model"] == "edge-ft-q8_0" and out["mode"] == "ft" and out["answer"].strip()
    # a second build has nothing to do: the same models, not rebuilt (their files untouched)
    mtimes = {b["name"]: os.stat(b["path"]).st_mtime_ns for b in built}
    p = subprocess.run([sys.executable, "-m", "edge", "models", "build", "--json"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    again = json.loads(p.stdout)
    assert {b["name"]: b["sha256"] for b in again} == {b["name"]: b["sha256"] for b in built}
    assert {b["name"]: os.stat(b["path"]).st_mtime_ns for b in again} == mtimes


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_a_stopped_training_saves_its_step_and_resumes_to_the_same_result(real_llm_path, base, tmp_path, signame):
    """Ctrl-C or SIGTERM mid-step: the step finishes, the checkpoint is written (though no checkpoint was
    due), the run ends with TrainingInterrupted, and running it again ends where an unstopped run ends."""
    import os
    import signal

    from edge.errors import TrainingInterrupted
    from edge.train.model import LlamaLoRA
    from edge.train.trainer import TrainConfig, train

    examples = _four_examples(real_llm_path)
    cfg = TrainConfig(max_steps=4, epochs=4, batch_tokens=64, lr=1e-3, warmup_steps=1, checkpoint_every=25)
    torch.manual_seed(0)
    full = train(LlamaLoRA(base, rank=2, alpha=4), examples, cfg, tmp_path / "a", log=lambda m: None)

    class SignalledOnce(LlamaLoRA):
        calls = 0

        def forward(self, *a, **kw):
            SignalledOnce.calls += 1
            if SignalledOnce.calls == 2:  # during the second step
                os.kill(os.getpid(), getattr(signal, signame))
            return super().forward(*a, **kw)

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    torch.manual_seed(0)
    with pytest.raises(TrainingInterrupted, match="step 2 of 4"):
        train(SignalledOnce(base, rank=2, alpha=4), examples, cfg, tmp_path / "b", log=lambda m: None)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    import torch as _t

    assert _t.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)["step"] == 2
    torch.manual_seed(0)
    resumed = train(LlamaLoRA(base, rank=2, alpha=4), examples, cfg, tmp_path / "b", log=lambda m: None)
    assert resumed["steps"] == 4
    assert np.allclose(resumed["history"], full["history"], rtol=1e-3, atol=1e-4)

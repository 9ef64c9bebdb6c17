"""A compact llama-family transformer in torch over a GGUF's own tensors, with LoRA (needs the
`train` extra). One model for every supported architecture (llama, qwen2): what differs is data —
the rotary layout (`HParams.rope_neox`), Q/K/V biases and a tied or separate output matrix (present
in the file or not), rms eps and rope theta (from its metadata).

Rotary embeddings follow llama.cpp: for llama (LLAMA_ROPE_TYPE_NORM) the GGUF converter permutes
Q and K so that each rotated pair is two *adjacent* dimensions (2i, 2i+1); for qwen2 (NEOX) the
pair is (i, i + head_dim/2), the two halves Hugging Face's code rotates. The base weights are the
dequantized quantized file (frozen, as in QLoRA); only the LoRA matrices train.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn

from .gguf_io import LORA_TARGETS, GGUFModel, HParams


class LoRALinear(nn.Module):
    """y = x W^T + (alpha / r) * (x A^T) B^T, with W frozen. A starts random, B at zero."""

    def __init__(self, weight: torch.Tensor, *, rank: int, alpha: float, bias: torch.Tensor | None = None):
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = nn.Parameter(bias, requires_grad=False) if bias is not None else None  # qwen2's q/k/v
        self.rank = rank
        self.alpha = alpha
        if rank > 0:
            n_out, n_in = weight.shape
            self.lora_a = nn.Parameter(torch.empty(rank, n_in))
            self.lora_b = nn.Parameter(torch.zeros(n_out, rank))
            nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
            self.scale = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        if w.dtype != x.dtype:  # frozen weight kept in bf16: the big product in bf16, the rest in fp32
            y = F.linear(x.to(w.dtype), w).to(x.dtype)
            if self.bias is not None:
                y = y + self.bias
        else:
            y = F.linear(x, w, self.bias)
        if self.rank > 0:
            y = y + F.linear(F.linear(x, self.lora_a), self.lora_b) * self.scale
        return y


def rms_norm(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope_tables(n_pos: int, head_dim: int, theta: float, device=None):
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64, device=device) / head_dim))
    ang = torch.arange(n_pos, dtype=torch.float64, device=device)[:, None] * inv[None, :]
    return torch.cos(ang).float(), torch.sin(ang).float()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, neox: bool = False) -> torch.Tensor:
    """x: (batch, heads, seq, head_dim). Rotate adjacent pairs (llama.cpp NORM mode, llama) or
    dimension i with i + head_dim/2 (NEOX mode, qwen2); the frequencies are the same."""
    c, s = cos[None, None], sin[None, None]
    if neox:
        half = x.shape[-1] // 2
        x0, x1 = x[..., :half], x[..., half:]
        return torch.cat((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1)
    return out.flatten(-2)


class Block(nn.Module):
    def __init__(self, t: dict, i: int, hp: HParams, rank: int, alpha: float):
        super().__init__()
        p = f"blk.{i}."
        self.attn_norm = nn.Parameter(t[p + "attn_norm.weight"], requires_grad=False)
        self.ffn_norm = nn.Parameter(t[p + "ffn_norm.weight"], requires_grad=False)
        self.proj = nn.ModuleDict({name: LoRALinear(t[p + name + ".weight"], rank=rank, alpha=alpha, bias=t.get(p + name + ".bias"))
                                   for name in LORA_TARGETS})
        self.hp = hp

    def forward(self, x, cos, sin, mask):
        hp = self.hp
        b, n, _ = x.shape
        h = rms_norm(x, self.attn_norm, hp.rms_eps)
        q = self.proj["attn_q"](h).view(b, n, hp.n_head, hp.head_dim).transpose(1, 2)
        k = self.proj["attn_k"](h).view(b, n, hp.n_head_kv, hp.head_dim).transpose(1, 2)
        v = self.proj["attn_v"](h).view(b, n, hp.n_head_kv, hp.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin, hp.rope_neox), apply_rope(k, cos, sin, hp.rope_neox)
        rep = hp.n_head // hp.n_head_kv
        if rep > 1:
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        if mask is None:  # causal only: torch's fused kernel, memory linear in the length
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + self.proj["attn_output"](a.transpose(1, 2).reshape(b, n, hp.n_embd))
        h = rms_norm(x, self.ffn_norm, hp.rms_eps)
        x = x + self.proj["ffn_down"](F.silu(self.proj["ffn_gate"](h)) * self.proj["ffn_up"](h))
        return x


def _right_padded(pad_mask: torch.Tensor) -> bool:
    """True when every row is real tokens then padding (a prefix of True), as the trainer batches."""
    m = pad_mask.bool()
    return bool((m[:, 1:] <= m[:, :-1]).all())


class LlamaLoRA(nn.Module):
    """The whole model. `forward(ids, attn_mask)` returns hidden states; `logits(h)` the head."""

    def __init__(self, base: GGUFModel, *, rank: int = 16, alpha: float = 32.0):
        super().__init__()
        t = {k: torch.tensor(np.asarray(v, dtype=np.float32)) for k, v in base.tensors.items()}
        hp = base.hparams
        self.hp = hp
        self.rank, self.alpha = rank, alpha
        self.tok_embd = nn.Parameter(t["token_embd.weight"], requires_grad=False)
        self.out_norm = nn.Parameter(t["output_norm.weight"], requires_grad=False)
        # tied embeddings when the file has no output.weight
        self.output = nn.Parameter(t["output.weight"], requires_grad=False) if "output.weight" in t else None
        self.blocks = nn.ModuleList(Block(t, i, hp, rank, alpha) for i in range(hp.n_layer))
        self._rope = None
        self.grad_checkpoint = False  # recompute blocks in backward instead of keeping their activations
        self.checkpoint_stride = 1  # with grad_checkpoint: every block (1), every other one (2), ...

    def _tables(self, n, device):
        if self._rope is None or self._rope[0].shape[0] < n:
            self._rope = rope_tables(max(n, 256), self.hp.head_dim, self.hp.rope_theta, device)
        return self._rope[0][:n], self._rope[1][:n]

    def forward(self, ids: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """ids (batch, seq) -> final hidden states (batch, seq, n_embd), causal, right-padded."""
        b, n = ids.shape
        x = F.embedding(ids, self.tok_embd)
        cos, sin = self._tables(n, ids.device)
        mask = None
        if pad_mask is not None and not _right_padded(pad_mask):  # keys that are padding are never attended to
            mask = torch.ones(n, n, dtype=torch.bool, device=ids.device).tril()[None, None] & pad_mask[:, None, None, :].bool()
        # Right padding needs no mask beyond the causal one: a real position only sees positions before
        # it, all real; the padded positions' outputs are never used. Without an explicit mask torch
        # runs its fused attention, which does not keep the (n x n) weights of every layer for backward.
        for i, blk in enumerate(self.blocks):
            if self.grad_checkpoint and torch.is_grad_enabled() and i % self.checkpoint_stride == 0:
                x = torch.utils.checkpoint.checkpoint(blk, x, cos, sin, mask, use_reentrant=False)
            else:
                x = blk(x, cos, sin, mask)
        return rms_norm(x, self.out_norm, self.hp.rms_eps)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        return F.linear(h, self.output if self.output is not None else self.tok_embd)

    def set_base_dtype(self, dtype: torch.dtype) -> None:
        """Keep the frozen projection weights in `dtype` (bf16 halves their memory and, on CPUs with
        AVX512_BF16 or AMX, runs their products at bf16 speed). The LoRA matrices, norms, the
        residual stream, embeddings and the output head stay fp32, so the loss is computed in fp32."""
        for blk in self.blocks:
            for lin in blk.proj.values():
                lin.weight.data = lin.weight.data.to(dtype)

    def lora_parameters(self):
        return [p for n, p in self.named_parameters() if "lora_" in n]

    def lora_state(self) -> dict:
        """GGUF tensor name -> (A, B) as numpy, for export."""
        out = {}
        for i, blk in enumerate(self.blocks):
            for name, lin in blk.proj.items():
                if lin.rank > 0:
                    out[f"blk.{i}.{name}.weight"] = (lin.lora_a.detach().cpu().numpy().copy(), lin.lora_b.detach().cpu().numpy().copy())
        return out

    def load_lora_state(self, state: dict) -> None:
        for i, blk in enumerate(self.blocks):
            for name, lin in blk.proj.items():
                key = f"blk.{i}.{name}.weight"
                if key in state:
                    a, b = state[key]
                    lin.lora_a.data.copy_(torch.as_tensor(a))
                    lin.lora_b.data.copy_(torch.as_tensor(b))

"""A tiny GGUF written by the test suite (gguf-py's GGUFWriter): valid header, metadata and
tensors, a few KB. For checks of the model store; llama.cpp is tested on the real model."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_tiny_gguf(path: Path, *, arch: str = "llama", with_tokenizer: bool = True, chat_template: bool = True) -> Path:
    import gguf

    w = gguf.GGUFWriter(str(path), arch)
    w.add_name("tiny-test")
    w.add_context_length(64)
    w.add_embedding_length(8)
    w.add_block_count(1)
    w.add_head_count(2)
    w.add_feed_forward_length(16)
    if with_tokenizer:
        w.add_tokenizer_model("gpt2")
        w.add_token_list(["<s>", "</s>", "a", "b"])
        w.add_bos_token_id(0)
        w.add_eos_token_id(1)
    if chat_template:
        w.add_chat_template("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    rng = np.random.default_rng(0)
    w.add_tensor("token_embd.weight", rng.standard_normal((4, 8), dtype=np.float32))
    w.add_tensor("output_norm.weight", np.ones(8, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path

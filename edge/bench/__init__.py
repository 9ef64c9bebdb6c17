"""Benchmarks: the raw llama.cpp baseline, and (later) the fine-tuning-versus-retrieval matrix."""

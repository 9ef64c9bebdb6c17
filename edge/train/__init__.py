"""Fine-tuning: dataset, LoRA training (torch, extra `train`), and GGUF export / merge / quantize
(numpy + gguf + llama.cpp; no torch needed to build or run a fine-tuned model)."""

"""Training data: validate a chat JSONL file, then tokenize it exactly as the runtime would.

Each line is `{"messages": [{"role": ..., "content": ...}, ...]}` ending with an assistant turn.
The prompt part is rendered by the same PromptBuilder (and chat template) the assistant uses;
the loss is computed only on the final assistant turn and its end-of-turn token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

ROLES = {"system", "user", "assistant"}


@dataclass
class Example:
    tokens: list[int]
    n_prompt: int  # the loss covers tokens[n_prompt:]

    def __len__(self) -> int:
        return len(self.tokens)


def validate_jsonl(path: str | Path, *, max_errors: int = 20) -> list[list[dict]]:
    """Every record's messages, or one UsageError naming the line numbers of the bad records."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    bad: list[str] = []
    out: list[list[dict]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"{path} is not UTF-8 text (byte {e.start})") from None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        why = None
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            why = f"not JSON ({e.msg})"
        else:
            msgs = rec.get("messages") if isinstance(rec, dict) else None
            if not isinstance(msgs, list) or not msgs:
                why = 'no "messages" list'
            elif not all(isinstance(m, dict) and m.get("role") in ROLES and isinstance(m.get("content"), str) for m in msgs):
                why = "a message lacks a role (system/user/assistant) or string content"
            elif msgs[-1]["role"] != "assistant" or not msgs[-1]["content"].strip():
                why = "does not end with a non-empty assistant message"
            elif not any(m["role"] == "user" for m in msgs):
                why = "has no user message"
            else:
                out.append(msgs)
        if why:
            bad.append(f"{n} ({why})")
    if bad:
        shown = ", ".join(bad[:max_errors]) + (f" and {len(bad) - max_errors} more" if len(bad) > max_errors else "")
        raise UsageError(f"{path}: {len(bad)} bad record(s) at line {shown}; nothing was trained")
    if not out:
        raise UsageError(f"{path} has no training records")
    return out


class Tokenizer:
    """The model's own tokenizer and chat template, without loading its weights."""

    def __init__(self, model_path: str | Path):
        from llama_cpp import Llama

        from ..llm import _quiet_stderr
        from ..prompt import PromptBuilder

        with _quiet_stderr(True):
            self.llm = Llama(str(model_path), vocab_only=True, verbose=False)
        def tok(s: str, *, special: bool = True, bos: bool = True) -> list[int]:
            # as Engine.tokenize: the builder parses special tokens in the template's text only
            return self.llm.tokenize(s.encode("utf-8"), add_bos=bos, special=special)

        from ..llm import split_special

        self.builder = PromptBuilder(template=self.llm.metadata.get("tokenizer.chat_template"), tokenize=tok,
                                     split_special=lambda s: split_special(self.llm, self.llm._model.vocab, s))
        self.eos = self.llm.token_eos()

    def example(self, messages: list[dict]) -> Example:
        p_tok = self.builder.tokens(messages[:-1], add_generation_prompt=True)
        # The answer as the model would generate it after the prompt: plain text, then end of turn.
        a_tok = self.llm.tokenize(messages[-1]["content"].strip().encode("utf-8"), add_bos=False, special=False)
        return Example(p_tok + a_tok + [self.eos], len(p_tok))

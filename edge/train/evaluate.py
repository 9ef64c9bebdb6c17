"""Score answers on the held-out evaluation set: does the answer contain the expected strings?"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from ..grounding import ABSTENTIONS, is_abstention, norm  # noqa: F401 (norm: used here and by callers)

# One notion of a refusal and of equal text, shared with the answer check (edge/grounding.py): the
# benchmark and the check must not disagree on what an answer said. (Re-scoring the 1,640 answers of
# the last full benchmark gave the same 391 right answers with this module's former copies.)
REFUSALS = ABSTENTIONS


def correct(answer: str, item: dict, *, key: str = "contains") -> bool:
    if item["category"] == "unanswerable":
        return is_abstention(answer)
    a = norm(answer)
    return all(norm(c) in a for c in item[key])


def citations(answer: str) -> list[int]:
    return [int(n) for n in re.findall(r"\[(\d{1,2})\]", answer)]


def citation_valid(answer: str, item: dict, sources: list[dict], *, key: str = "contains") -> bool | None:
    """Do the cited passages hold the fact? None when nothing is cited or nothing is to be held."""
    cited = [n for n in citations(answer) if 1 <= n <= len(sources)]
    if not cited or item["category"] == "unanswerable":
        return None
    # the passage as the model was shown it (its excerpt, when it was focused on the question)
    shown = [s.get("excerpt") or s["text"] for s in sources]
    return any(all(norm(c) in norm(sources[n - 1].get("heading", "") + "\n" + shown[n - 1]) for c in item[key]) for n in cited)


def load_eval(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class ItemResult:
    id: str
    category: str
    question: str
    answer: str
    correct: bool
    correct_v2: bool | None
    citation_valid: bool | None
    timings: dict

    def to_dict(self) -> dict:
        return asdict(self)


def run_eval(assistant, items: list[dict], *, rag: bool, progress=None) -> list[ItemResult]:
    """Ask every item (a fresh conversation each) and score it."""
    out = []
    for it in items:
        assistant.reset()
        ans = assistant.ask(it["question"], rag=rag)
        d = ans.to_dict()
        out.append(ItemResult(
            it["id"], it["category"], it["question"], ans.text, correct(ans.text, it),
            correct(ans.text, it, key="contains_v2") if "contains_v2" in it else None,
            citation_valid(ans.text, it, d["sources"]) if rag else None, d["timings"],
        ))
        if progress:
            progress(1)
    return out


def summarize(results: list[ItemResult]) -> dict:
    cats: dict[str, list[ItemResult]] = {}
    for r in results:
        cats.setdefault(r.category, []).append(r)
    summary = {"all": round(sum(r.correct for r in results) / max(1, len(results)), 4), "n": len(results)}
    for c, rs in sorted(cats.items()):
        summary[c] = round(sum(r.correct for r in rs) / len(rs), 4)
        if c == "changed":
            summary["changed_new_value"] = round(sum(bool(r.correct_v2) for r in rs) / len(rs), 4)
    cv = [r.citation_valid for r in results if r.citation_valid is not None]
    summary["citations"] = len(cv)
    summary["citation_valid"] = round(sum(cv) / len(cv), 4) if cv else None
    return summary

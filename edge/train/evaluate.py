"""Score answers on the held-out evaluation set: does the answer contain the expected strings?"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from ..grounding import ABSTENTIONS, canon, is_abstention, norm  # noqa: F401 (norm: used here and by callers)

# One notion of a refusal and of equal text, shared with the answer check (edge/grounding.py): the
# benchmark and the check must not disagree on what an answer said. (Re-scoring the 1,640 answers of
# the last full benchmark gave the same 391 right answers with this module's former copies.)
REFUSALS = ABSTENTIONS


_CITATION = re.compile(r"\[\d{1,2}\]")
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")


def _forms(expected: str) -> list[tuple[str, bool]]:
    """The ways an answer may write an expected value, each with whether it must stand apart from
    the text around it (`strict`): as given; a quoted string's text without its quotes when that
    text is at least 3 characters and holds a letter or digit (`'qmark'`: qmark, but not in
    'qmark+'; not `'T'` or `','`, which unquoted would match almost anything); a whole number up to
    twelve as a word and such a word as a number (3 and three)."""
    e = expected.strip()
    forms = [(e, e.casefold() in _NUMBER_WORDS)]  # "one" is not in "none"
    if len(e) >= 2 and e[0] == e[-1] and e[0] in "'\"`":
        inner = e[1:-1].strip()
        if len(inner) >= 3 and any(ch.isalnum() for ch in inner):
            forms.append((inner, True))
    low = e.casefold()
    if low.isdigit() and int(low) < len(_NUMBER_WORDS):
        forms.append((_NUMBER_WORDS[int(low)], True))
    elif low in _NUMBER_WORDS:
        forms.append((str(_NUMBER_WORDS.index(low)), False))
    return forms


def holds(text: str, expected: str) -> bool:
    """Does `text` state `expected`? Compared as `norm` compares (spacing inside the value ignored),
    with citation markers ([1]) not part of the text, and a number as a whole number: "1" is not in
    "10", "0.1", "v1", "-1" or "[1]" (see _forms for the other ways a value may be written)."""
    t = canon(_CITATION.sub(" ", text))
    for form, strict in _forms(expected):
        w = re.sub(r"\s+", "", canon(form))
        if not w:
            continue
        pat = r"\s*".join(re.escape(ch) for ch in w)
        if strict:
            pat = r"(?<![\w+\-./*])" + pat + r"(?![\w+\-/*])(?!\.\w)"
        else:
            if w[0].isdigit():  # not inside a longer number, nor after a minus sign ("1" is not "-1")
                pat = r"(?<![0-9a-z])(?<![0-9][.,])(?<!(?<![0-9a-z)\]])-)" + pat
            if w[-1].isdigit():
                pat += r"(?![0-9a-z])(?![.,][0-9])"
        if re.search(pat, t):
            return True
    return False


def correct(answer: str, item: dict, *, key: str = "contains") -> bool:
    """Right when a question the documents do not answer is declined, and otherwise when the answer
    states every expected value (`holds`) and does not decline."""
    if item["category"] == "unanswerable":
        return is_abstention(answer)
    return not is_abstention(answer) and all(holds(answer, c) for c in item[key])


def citations(answer: str) -> list[int]:
    return [int(n) for n in re.findall(r"\[(\d{1,2})\]", answer)]


def citation_valid(answer: str, item: dict, sources: list[dict], *, key: str = "contains") -> bool | None:
    """Do the cited passages hold the fact? None when nothing is cited or nothing is to be held."""
    cited = [n for n in citations(answer) if 1 <= n <= len(sources)]
    if not cited or item["category"] == "unanswerable":
        return None
    # the passage as the model was shown it (its excerpt, when it was focused on the question)
    shown = [s.get("excerpt") or s["text"] for s in sources]
    return any(all(holds(sources[n - 1].get("heading", "") + "\n" + shown[n - 1], c) for c in item[key]) for n in cited)


def load_eval(path: str | Path) -> list[dict]:
    """The question bank, scored by the values its questions ask for.

    The bank's `contains` strings were cut from the manual's sentences and are often longer than the
    value asked for ("14 days of delivery" for "within what time ...?", an error code the question
    itself names), so a right, short answer ("14 days [2]") was scored wrong. `eval_values.jsonl` beside
    the bank (reviewed by hand; every value is a substring of the original string) gives the value
    labels: they become `contains` (and `contains_v2`), and the original strings are kept as
    `contains_strict` (`contains_v2_strict`), which the benchmark also reports."""
    path = Path(path)
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    vpath = path.with_name(path.stem + "_values.jsonl")
    if vpath.is_file():
        values = {v["id"]: v for v in (json.loads(line) for line in vpath.read_text(encoding="utf-8").splitlines() if line.strip())}
        for it in items:
            v = values.get(it["id"])
            if v is None:
                continue
            it["contains_strict"], it["contains"] = it["contains"], v["value"]
            if "contains_v2" in it and "value_v2" in v:
                it["contains_v2_strict"], it["contains_v2"] = it["contains_v2"], v["value_v2"]
    return items


def correct_strict(answer: str, item: dict, *, key: str = "contains") -> bool:
    """`correct` by the bank's original strings (the value labels' strict form, where there is one)."""
    return correct(answer, item, key=f"{key}_strict" if f"{key}_strict" in item else key)


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

"""The answer check: does a passage the answer cites hold what the answer asserts?

A small model answering from retrieved passages is most useful when it copies exact values (a
torque, an option name, a part number) and cites where they came from, and most harmful when it
invents one. After an answer, `check_answer` pulls out the spans that can be checked literally —
numbers with their units, option names, identifiers that mix letters and digits, quoted strings —
and looks for each in the passages the answer cites (`[n]`). Spans that the question itself
contains are not claims of the answer and are not checked. An answer with no checkable span is
judged by how many of its content words the cited passages contain.

Verdicts: `grounded` is True only for an answer that cites a passage and whose claims that passage
holds; False for one that cites nothing (nothing vouches for it: the unsupported spans are then
those no passage holds at all), cites a passage that was not given, or asserts what its passages
do not hold; None when there is nothing to judge — no passages were given, or the answer declines
("The documents don't say."), which asserts nothing a passage could hold or contradict.

This is a lexical check, not entailment: it catches the common failures of small readers (a value
from another passage, from memory, or from the sample manual it was trained on) and says which
span is unsupported; it cannot tell a right value put in a wrong sentence.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Sequence

# Phrases with which an answer declines (the reader is trained to say "The documents don't say.").
ABSTENTIONS = (
    "don't say", "doesn't say", "does not say", "do not say", "don't know", "do not know", "not mentioned",
    "no information", "not specified", "not stated", "doesn't mention", "don't mention", "does not mention",
    "do not mention", "not provided", "do not contain", "don't contain", "does not contain", "doesn't contain",
)

# Words too common to count as support when an answer has no checkable span.
_STOP = frozenset(
    """a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having he
    her here hers him his how i if in into is it its itself just me more most my no nor not now of off on once
    only or other our ours out over own same she should so some such than that the their theirs them then there
    these they this those through to too under until up use used using very was we were what when where which
    while who whom why will with would you your yours yes must may might shall need needs""".split()
)

_UNITS = (
    r"N·m|N⋅m|Nm|kWh|Wh|kW|mW|W|kVA|VA|mAh|Ah|mA|A|kV|mV|V|Hz|kHz|MHz|GHz|°C|°F|ºC|K|%|mm²|mm|cm|km|m²|m³|m|"
    r"kg|mg|g|t|lb|oz|ml|mL|l|L|s|ms|µs|us|min|h|hrs?|hours?|minutes?|seconds?|days?|weeks?|months?|years?|"
    r"bar|psi|kPa|Pa|MPa|dB|dBm|lux|lm|rpm|KB|MB|GB|TB|KiB|MiB|GiB|kB|B|bytes?|bits?|px|pt|in|ft|mph|km/h|"
    r"m/s|cal/cm²|Ω|kΩ|MΩ|µF|nF|pF|µH|mH"
)
_NUMBER = re.compile(
    r"(?<![\w.])(?P<num>[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?|[-+]?\d+(?:\.\d+)?)"
    r"(?:\s?(?P<unit>" + _UNITS + r"))?(?![\w])"
)
_OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][A-Za-z0-9_-]*)")
# identifiers that mix letters and digits, or carry inner punctuation: CV-FUS-0200, E-315, v2.3.1, UTF-8
_IDENT = re.compile(r"(?<![\w-])((?=[\w./:-]*\d)(?=[\w./:-]*[A-Za-z])[A-Za-z0-9][\w./:-]*[A-Za-z0-9])(?![\w-])")
_QUOTED = re.compile(r"[\"“`']([^\"”`'\n]{2,80})[\"”`']")
_CITE = re.compile(r"\[(\d{1,2})\]")


def norm(s: str) -> str:
    """Compare loosely on form, strictly on content: NFKC, case, spacing, the N·m dot, dashes,
    thousands separators."""
    s = unicodedata.normalize("NFKC", s).casefold()
    s = s.replace("’", "'").replace("·", "").replace("⋅", "").replace("–", "-").replace("—", "-").replace("−", "-")
    s = re.sub(r"(?<=\d),(?=\d{3}\b)", "", s)
    return re.sub(r"\s+", "", s)


def is_abstention(answer: str) -> bool:
    a = answer.casefold().replace("’", "'")
    return any(p in a for p in ABSTENTIONS)


def citations(answer: str) -> list[int]:
    """The passage numbers an answer cites, in order of first appearance."""
    out: list[int] = []
    for m in _CITE.finditer(answer):
        n = int(m.group(1))
        if n not in out:
            out.append(n)
    return out


@dataclass(frozen=True)
class Span:
    text: str
    kind: str  # number | option | ident | quoted
    value: float | None = None
    unit: str = ""


def extract_spans(answer: str) -> list[Span]:
    """The checkable spans of an answer, without its citation markers."""
    text = _CITE.sub(" ", answer)
    spans: list[Span] = []
    taken: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= x or a >= y for x, y in taken)

    for m in _QUOTED.finditer(text):
        inner = m.group(1).strip()
        if len(inner) >= 2 and not inner.isspace():
            spans.append(Span(inner, "quoted"))
            taken.append(m.span())
    for m in _OPTION.finditer(text):
        if free(*m.span()):
            spans.append(Span(m.group(1), "option"))
            taken.append(m.span())
    for m in _IDENT.finditer(text):
        if free(*m.span(1)) and not _NUMBER.fullmatch(m.group(1)):
            spans.append(Span(m.group(1), "ident"))
            taken.append(m.span(1))
    for m in _NUMBER.finditer(text):
        if free(*m.span()):
            num = m.group("num")
            try:
                value = float(num.replace(",", ""))
            except ValueError:  # pragma: no cover - the pattern only matches numbers
                continue
            spans.append(Span(m.group(0), "number", value, m.group("unit") or ""))
            taken.append(m.span())
    return spans


def _numbers(text: str) -> list[tuple[float, str]]:
    out = []
    for m in _NUMBER.finditer(text):
        try:
            out.append((float(m.group("num").replace(",", "")), norm(m.group("unit") or "")))
        except ValueError:  # pragma: no cover
            pass
    return out


def _supported(span: Span, pool: str, pool_norm: str, pool_numbers: list[tuple[float, str]]) -> bool:
    if span.kind == "number" and span.value is not None:
        # the same quantity, however written: "9 N·m" against "9.0 N·m", "1,500" against "1500";
        # never a digit run inside a longer number ("7316" is not in "17316")
        unit = norm(span.unit)
        return any(v == span.value and (not unit or u == unit or not u and unit in pool_norm) for v, u in pool_numbers)
    if span.kind in ("option", "ident"):
        # whole tokens only: "--force" is not "--force-reset"
        pat = r"(?<![\w-])" + re.escape(unicodedata.normalize("NFKC", span.text).casefold()) + r"(?![\w-])"
        return re.search(pat, pool) is not None
    return norm(span.text) in pool_norm


def _content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z][a-z0-9'-]{2,}", unicodedata.normalize("NFKC", text).casefold()) if w not in _STOP}


@dataclass
class Check:
    """The verdict on one answer. `grounded` is None when the answer was given no passages."""

    grounded: bool | None
    cited: list[int] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    abstained: bool = False
    reason: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


WORD_SUPPORT = 0.75  # share of an answer's content words the passages must hold when it has no checkable span


def check_answer(answer: str, passages: Sequence[str], *, question: str = "") -> Check:
    """Check `answer` against the texts of the passages it was given (numbered from 1)."""
    if not passages:
        return Check(None, reason="no passages were given")
    answer = answer.strip()
    cited = citations(answer)
    bad_refs = [n for n in cited if not 1 <= n <= len(passages)]
    if bad_refs:
        return Check(False, cited, [], [f"[{n}]" for n in bad_refs], reason=f"cites passage {bad_refs[0]}, but only {len(passages)} were given")
    if not answer:
        return Check(False, cited, reason="empty answer")
    if is_abstention(answer) and not extract_spans(answer):
        return Check(None, cited, abstained=True, reason="the answer declines; it asserts nothing to check")
    pool = [passages[n - 1] for n in cited] if cited else list(passages)
    pool_text = "\n".join(pool)
    pool_norm = norm(pool_text)
    pool_numbers = _numbers(pool_text)
    q_norm = norm(question)
    spans = [s for s in extract_spans(answer) if not (q_norm and norm(s.text) in q_norm)]
    where = "the cited passages" if cited else "any passage"
    if spans:
        pool_fold = unicodedata.normalize("NFKC", pool_text).casefold()
        unsupported = [s.text for s in spans if not _supported(s, pool_fold, pool_norm, pool_numbers)]
        checked = [s.text for s in spans]
        if not cited:
            held = len(spans) - len(unsupported)
            return Check(False, cited, checked, unsupported,
                         reason=f"cites no passage ({held} of {len(spans)} spans are in some passage)")
        ok = not unsupported
        reason = f"every checked span is in {where}" if ok else f"{len(unsupported)} of {len(spans)} spans are not in {where}"
        return Check(ok, cited, checked, unsupported, reason=reason)
    words = _content_words(_CITE.sub(" ", answer)) - _content_words(question)
    if not cited:
        return Check(False, cited, sorted(words), sorted(words - _content_words(pool_text)), reason="cites no passage")
    if not words:
        return Check(True, cited, reason="nothing checkable beyond the question's own words; the citation is valid")
    held = _content_words(pool_text)
    missing = sorted(words - held)
    share = 1 - len(missing) / len(words)
    ok = share >= WORD_SUPPORT
    return Check(ok, cited, sorted(words), [] if ok else missing,
                 reason=f"{share:.0%} of the answer's content words are in {where}")

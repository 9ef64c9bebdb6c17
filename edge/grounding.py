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

A value that is in the cited passage may still answer another question: a small reader often copies
*a* value from the passage it cites, but the wrong one. When the question is known, more tests
ask whether the value stands where the passages speak of what was asked. They compare the
question's key words — its content words, leaving out stop words and the words every question is
made of, such as "what", "default" or "value" — lightly stemmed, identifiers whole and by their parts
(`max_help_position`: max, help, position):

- the kind of quantity: a question that asks for a quantity by name ("what torque", "which
  voltage", "how long") is not answered by a value in a unit of another kind (32 A for a time),
  nor by checkable spans none of which is a number (an error code for a time);
- a count of things ("32 clamps") does not answer a question for a quantity by name ("what is the
  mass"), though a multiple of one ("2.5 times their height") may;
- two values: a question for a range ("between which temperatures", "what range"), for two
  things ("..., and how long must I wait?", "the values of lo and hi") is not answered by a single
  checkable span, nor one for two quantities named together ("rated in voltage and current") by
  values of one kind;
- the kind named by a word of several kinds ("which cable size": an area, a length, data or a
  volume, never a current), or by a unit the question names ("... in days");
- the code asked about: when the question names a code (error E-327) that no given passage
  mentions while they name others of its shape (E-315, E-401), the answer is about another one;
- an exception: "which exception does ... raise" is answered by an exception's name (ValueError,
  struct.error) or one the cited passage raises;
- the named field: when the question names a key that the cited passage sets (`rename=False`), an
  answer that gives the value another key has there (`None`) is not grounded;
- the row a number picks: when the question gives a number that a cited line holds ("for a
  35-degree tilt", "the 16 mm² conductor"), a numeric answer must stand on such a line (numbers inside
  names such as SV-480 do not count), and in the same part of it when the line lists several
  ("1,420 mm for 25°, 1,330 mm for 35°");
- the column: when the question names exactly one value column of a table ("under Winter Mode"),
  a value from that table must be in that column of its row;
- the line: each value must stand, in a cited passage, on a line (a table row is read with its
  column heads) that shares a key word of the question;
- the competing value: a value with a unit is not grounded when a passage gives another value of
  the same kind on a line that matches the question better (key words weighted by how few lines of
  the given passages hold them) than every cited line that holds the answer's value.

This is a lexical check, not entailment: it catches the common failures of small readers (a value
from another passage, from memory, from the sample manual it was trained on, or from a line about
something else) and says which span is unsupported and why; it cannot tell which of two values in
one sentence answers the question, nor whether an answer is complete.
"""

from __future__ import annotations

import math
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

# Alternatives are tried in order, so a unit comes before any unit it starts with ("km/h" before "km").
_UNITS = (
    r"N·m|N⋅m|Nm|kWh|Wh|kW|mW|W|kVA|VA|mAh|Ah|mA|kA|A|kV|mV|V|kHz|MHz|GHz|Hz|°C|°F|ºC|K|%|km/h|m/s|mm²|mm|cm|km|m²|m³|m|"
    r"kg|mg|g|t|lb|oz|ml|mL|l|L|ms|µs|us|min|s|h|hrs?|hours?|minutes?|seconds?|days?|weeks?|months?|years?|"
    r"bar|psi|kPa|Pa|MPa|dBm|dB|lux|lm|rpm|KB|MB|GB|TB|KiB|MiB|GiB|kB|B|bytes?|bits?|px|pt|in|ft|mph|"
    r"cal/cm²|kΩ|MΩ|Ω|µF|nF|pF|µH|mH|°"
)
_NUMBER = re.compile(
    r"(?<![\w.])(?P<num>[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?|[-+]?\d+(?:\.\d+)?)"
    r"(?:\s?(?P<unit>" + _UNITS + r"))?(?![\w])(?!\.\d)"  # not the head of a version, 2.4 of 2.4.1
)
_OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][A-Za-z0-9_-]*)")
# identifiers that mix letters and digits, or carry inner punctuation: CV-FUS-0200, E-315, v2.3.1, UTF-8
_IDENT = re.compile(r"(?<![\w-])((?=[\w./:-]*\d)(?=[\w./:-]*[A-Za-z])[A-Za-z0-9][\w./:-]*[A-Za-z0-9])(?![\w-])")
# a version of three or more numbers (4.2.0): one value, whole, not the number 4.2
_VERSION = re.compile(r"(?<![\w.-])(\d+(?:\.\d+){2,})(?![\w-])(?!\.\d)")
_QUOTED = re.compile(r"[\"“`']([^\"”`'\n]{2,80})[\"”`']")
_CITE = re.compile(r"\[(\d{1,2})\]")


def canon(s: str) -> str:
    """As `norm` compares (NFKC, case, the N·m dot, dashes, thousands separators), but keeping the
    spaces, so that where a value starts and ends can still be seen."""
    s = unicodedata.normalize("NFKC", s).casefold()
    s = s.replace("’", "'").replace("·", "").replace("⋅", "").replace("–", "-").replace("—", "-").replace("−", "-")
    return re.sub(r"(?<=\d),(?=\d{3}\b)", "", s)


def norm(s: str) -> str:
    """Compare loosely on form, strictly on content: `canon`, and spacing ignored."""
    return re.sub(r"\s+", "", canon(s))


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
    for m in _VERSION.finditer(text):
        if free(*m.span(1)):
            spans.append(Span(m.group(1), "ident"))
            taken.append(m.span(1))
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
        return _holds_token(span.text, pool)
    return norm(span.text) in pool_norm


def _content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z][a-z0-9'-]{2,}", unicodedata.normalize("NFKC", text).casefold()) if w not in _STOP}


# --- where a value stands: the tests that need the question -------------------------------------

# Words every question is made of; they say what kind of answer is wanted, not what it is about.
_QUESTION_FRAME = frozenset(
    """what which how many much long often default defaults value values number kind sort type way happen
    happens get gets give gives given take takes set called named name mean means explain describe define tell
    apply applies applied required require""".split()
)

# The kind of quantity a unit measures (short units that are also words or letters, such as in, t, l
# and B, are left out: "6 in the cabinet" is not a length).
_UNIT_KIND = {norm(u): kind for kind, units in {
    "voltage": "v mv kv", "current": "a ma ka", "power": "w kw mw va kva", "energy": "wh kwh",
    "charge": "ah mah", "frequency": "hz khz mhz ghz", "temperature": "°c °f ºc",
    "length": "mm cm km m ft", "area": "mm² m²", "volume": "m³ ml", "mass": "kg mg g lb oz",
    "time": "ms µs s min h hr hrs hour hours minute minutes second seconds day days week weeks month months year years",
    "pressure": "bar psi kpa pa mpa", "resistance": "Ω kΩ MΩ", "torque": "N·m", "speed": "rpm mph km/h m/s",
    "data": "kb mb gb tb kib mib gib byte bytes bit bits", "ratio": "%", "angle": "°",
}.items() for u in units.split()}

# Words that name a quantity when a question asks for one ("what torque", "which voltage").
_KIND_WORDS = {w: kind for kind, words in {
    "voltage": "voltage voltages", "current": "current currents amperage", "power": "power wattage",
    "energy": "energy", "temperature": "temperature temperatures",
    "length": "length distance height width spacing clearance thickness diameter dimensions",
    "mass": "weight mass", "time": "time duration interval period timeout delay", "pressure": "pressure",
    "resistance": "resistance impedance", "torque": "torque", "frequency": "frequency", "speed": "speed",
    "ratio": "percentage percent soc efficiency", "angle": "angle tilt slope",
}.items() for w in words.split()}
# Words that name one of several kinds of quantity: a "size" is an area (a conductor), a length, an
# amount of data or a volume, but never a current.
_KINDS_OF_WORD = {"size": {"area", "length", "data", "volume"}, "capacity": {"energy", "charge", "data", "volume"},
                  "storage": {"energy", "charge", "data"}, "cross-section": {"area"}}
_HOW = {"long": {"time", "length"}, "often": {"time"}, "frequently": {"time"}, "soon": {"time"}, "heavy": {"mass"},
        "hot": {"temperature"}, "cold": {"temperature"}, "warm": {"temperature"}, "far": {"length"}, "high": {"length"},
        "tall": {"length"}, "wide": {"length"}, "deep": {"length"}, "fast": {"speed"}}
# where the noun phrase after "what"/"which" ends
_PHRASE_END = frozenset(
    """is are was were be been does do did can could should must may might will would has have had of for in on at to
    from with by during before after between when while if within under over into per than that which who whose where""".split()
)


def _a(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _kind_of_unit(unit: str) -> str | None:
    return _UNIT_KIND.get(norm(unit)) if unit else None


def _asked_kinds(question: str) -> set[str]:
    """The kinds of quantity a question asks for by name: in the noun phrase after "what"/"which"
    ("what clamp torque applies" → torque; "the changeover time of" → time), or "how long/often/...".
    Quantity words elsewhere in the question ("... restores power to loads") do not count."""
    q = re.sub(r"\bstate[- ]of[- ]charge\b|\bcharge level\b", "soc", unicodedata.normalize("NFKC", question).casefold())
    ws = re.findall(r"[a-z]+(?:-[a-z]+)*", q)  # "per-cell voltage": one word, not the phrase-ending "per"
    kinds: set[str] = set()
    for i, w in enumerate(ws):
        if w == "how" and i + 1 < len(ws) and ws[i + 1] in _HOW:
            kinds |= _HOW[ws[i + 1]]
        elif w in ("what", "which", "how"):
            j = i + 1
            while j < len(ws) and ws[j] in ("is", "are", "was", "were", "the", "a", "an", "s", "much", "many"):
                j += 1
            while j < len(ws) and ws[j] not in _PHRASE_END:
                # "current" before another noun means "present" (the current firmware release)
                adjective = ws[j] == "current" and j + 1 < len(ws) and ws[j + 1] not in _PHRASE_END
                if ws[j] in _KIND_WORDS and not adjective:
                    kinds.add(_KIND_WORDS[ws[j]])
                kinds |= _KINDS_OF_WORD.get(ws[j], set())
                if ws[j] == "soc":  # "state of charge" was one noun: the phrase ends with it
                    break
                j += 1
    # a unit the question names ("... log in days?"): a value in it answers
    for m in re.finditer(r"\bin ([a-z°²³/]+)", q):
        kind = _kind_of_unit(m.group(1))
        if kind and len(m.group(1)) > 1:
            kinds.add(kind)
    return kinds


def _stem(w: str) -> str:
    """Light stemming, the same on both sides: plural, -ed, -ing, a final e, a doubled final letter
    (voltages/voltage, rated/rate, installed/install, spacing/space, shipped/ship)."""
    for suffix in ("ing", "ed", "es", "s"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3 and not (suffix == "s" and w.endswith("ss")):
            w = w[: -len(suffix)]
            break
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    if len(w) > 3 and w[-1] == w[-2] and w[-1].isalpha():
        w = w[:-1]
    return w


def _key_words(text: str, *, question: bool = False) -> dict[str, str]:
    """Stemmed content words, each with the word it came from; an identifier counts whole and by
    its parts (`lru_cache`: lru, cache; `TextWrapper`: text, wrapper; `CV-MON-0007`: cv, mon)."""
    out: dict[str, str] = {}
    for m in re.finditer(r"[A-Za-z0-9][A-Za-z0-9_.\-]*[A-Za-z0-9]|[A-Za-z]", unicodedata.normalize("NFKC", text)):
        tok = m.group(0)
        parts = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", tok)
        for w in [tok.casefold()] + ([p.casefold() for p in parts] if len(parts) > 1 else []):
            if len(w) < 2 or w.isdigit() or w in _STOP or (question and w in _QUESTION_FRAME):
                continue
            out.setdefault(_stem(w), w)
    return out


def _lines(passages: Sequence[str]) -> list[tuple[str, str]]:
    """The lines of the passages, each with its context: a table row with its table's first row
    (the column heads: "| Battery module terminals | M8 | 9.0 N·m |" is about a torque when the
    table begins "| Connection | Thread | Torque |")."""
    out = []
    for p in passages:
        head = None
        for ln in p.split("\n"):
            t = ln.strip()
            if not t or t == "…":
                continue
            if not t.startswith("|"):
                head = None
            elif head is None:
                head = t
            out.append((ln, t if head is None or head == t else head + "\n" + t))
    return out


def _holds_token(token: str, folded: str) -> bool:
    """Whether `folded` (NFKC, casefolded text) holds `token` whole: "--force" is not "--force-reset"."""
    pat = r"(?<![\w-])" + re.escape(unicodedata.normalize("NFKC", token).casefold()) + r"(?![\w-])"
    return re.search(pat, folded) is not None


def _holds(span: Span, line: str) -> bool:
    return _supported(span, unicodedata.normalize("NFKC", line).casefold(), norm(line), _numbers(line))


# name=value, as in signatures, configuration and code
_FIELD = re.compile(r"(?<![\w.])([A-Za-z_][A-Za-z0-9_]*) ?= ?('[^'\n]*'|\"[^\"\n]*\"|\([^()\n]*\)|[^\s,;()\[\]{}|=]+)")


def _same_value(a: str, b: str) -> bool:
    a, b = a.strip("'\"`"), b.strip("'\"`")
    try:
        return float(a.replace(",", "")) == float(b.replace(",", ""))
    except ValueError:
        return norm(a) == norm(b)


# a name that holds a number (SV-480, CV-GND-1500, MU-7): not a quantity the question gives
_NAME_WITH_NUMBER = re.compile(r"(?<![\w-])[A-Za-z][\w.]*-[\w.-]*\d[\w.-]*")

# where a line that lists values splits into its parts
_CLAUSE = re.compile(r",\s+|;\s*|\s+and\s+")


def _cells(row: str) -> list[str]:
    return [c.strip() for c in row.strip().strip("|").split("|")]


def _column_mismatch(span: "Span", held_ctx: list[str], qwords: set[str]) -> str | None:
    """A table row read with its column heads: when the question names exactly one of the value
    columns ("under Winter Mode" with heads Setting | Standard | Winter Mode), the value must be in
    that column of its row."""
    for ctx in held_ctx:
        if "\n" not in ctx:
            continue
        head, row = ctx.split("\n", 1)
        heads, cells = _cells(head), _cells(row)
        if len(heads) != len(cells) or len(heads) < 3 or set(row.replace("|", "").strip()) <= set("-: "):
            continue
        named = [j for j in range(1, len(heads)) if set(_key_words(heads[j])) & qwords]
        if len(named) != 1:
            continue
        j = named[0]
        if _holds(span, cells[j]):
            return None
        if any(_holds(span, cells[i]) for i in range(1, len(cells))):
            return f"'{span.text}' is in the row, but under '{heads[[i for i in range(1, len(cells)) if _holds(span, cells[i])][0]]}', not '{heads[j]}'"
    return None


# a question for an exception, and the names exceptions have (ValueError, struct.error, KeyboardInterrupt)
_ASKS_EXCEPTION = re.compile(r"\b(?:which|what)\s+(?:[\w-]+\s+){0,2}?(?:exception|error)s?\b.*\braise", re.I | re.S)
_EXCEPTION_NAME = re.compile(r"(?:Error|Exception|Warning|Exit|Interrupt|\.error)$")

# words after a number that make it a multiple of a quantity, not a count ("2.5 times their height")
_RELATIVE = frozenset({"times", "fold", "x", "percent", "per"})

# a question that asks for two values: a range, or a second question joined by "and"
_TWO = re.compile(r"\bbetween (?:which|what)\b|\b(?:what|which)\s+(?:[\w-]+\s+){0,3}?range\b|"
                  r"\band\s+(?:how (?:long|many|much|far|often|big|high|low)|(?:what|which) (?:is|are) the)\b|"
                  r"\bvalues (?:of|for) [\w.]+ and [\w.]+", re.I)
# two quantities named together ("rated in voltage and current"): the answer must give both kinds
_KIND_WORD = "|".join(sorted(_KIND_WORDS, key=len, reverse=True))
_TWO_KINDS = re.compile(rf"\b({_KIND_WORD}) and (?:the )?({_KIND_WORD})\b", re.I)


def _placement(answer: str, spans: list[Span], question: str, passages: Sequence[str], cited: list[int]) -> tuple[list[str], str] | None:
    """Why the answer's values, though in the cited passages, do not answer the question — the
    spans at fault and a reason — or None when nothing speaks against them."""
    said = _CITE.sub(" ", answer)  # the answer without its citation markers
    # 0. the thing the question names by a code (error E-327), which no given passage mentions while
    # they name others of its kind (E-315, E-330): the answer is about another one
    text = unicodedata.normalize("NFKC", "\n".join(passages))
    everything = text.casefold()
    for m in _IDENT.finditer(question):
        ident = m.group(1).casefold()
        if _NUMBER.fullmatch(ident) or "." in ident or _holds_token(ident, everything):
            continue
        shape = re.sub(r"\d+", "#", ident)
        siblings = sorted({t.group(1) for t in _IDENT.finditer(text) if re.sub(r"\d+", "#", t.group(1).casefold()) == shape})
        if siblings:
            return [s.text for s in spans] or [said.strip()], \
                f"no passage mentions {m.group(1)}, which the question asks about (they name {', '.join(siblings[:3])})"

    # 1. the kind of quantity asked for by name
    asked = _asked_kinds(question)
    kinds = {k for s in spans if s.kind == "number" for k in [_kind_of_unit(s.unit)] if k}
    if asked and spans and not any(s.kind == "number" for s in spans):
        return [s.text for s in spans], f"the question asks for {_a(' or '.join(sorted(asked)))}, but the answer gives no quantity"
    if asked and kinds and not kinds & asked:
        bad = [s.text for s in spans if _kind_of_unit(s.unit)]
        given = " or ".join(sorted(kinds))
        return bad, f"'{bad[0]}' is {_a(given)} value, but the question asks for {_a(' or '.join(sorted(asked)))}"

    # the question asks for two values (a range, or "... and how long ..."); one is half an answer
    if spans and _TWO.search(question) and len({s.text for s in spans} | {m.group(0) for m in _FIELD.finditer(answer)}) < 2:
        return [s.text for s in spans], "the question asks for two values, but the answer gives one"
    m = _TWO_KINDS.search(question)
    if m and spans:
        both = {_KIND_WORDS[m.group(1).casefold()], _KIND_WORDS[m.group(2).casefold()]}
        if len(both) == 2 and not both <= kinds:
            missing = " and ".join(sorted(both - kinds))
            return [s.text for s in spans], f"the question asks for {' and '.join(_a(k) for k in sorted(both))}, but the answer gives no {missing}"
    # a count of things ("32 clamps") where a quantity is asked for by name ("what is the mass")
    if asked and not kinds:
        for s in spans:
            if s.kind == "number" and not s.unit:
                after = re.match(r"\s*([A-Za-z]+)", said[said.find(s.text) + len(s.text):])
                if (after and after.group(1).casefold() not in _STOP | _RELATIVE
                        and _kind_of_unit(after.group(1)) is None):
                    return [s.text], (f"'{s.text} {after.group(1)}' counts {after.group(1)}, but the question asks for "
                                      f"{_a(' or '.join(sorted(asked)))}")

    pool = "\n".join(passages[n - 1] for n in cited)
    # an exception asked for ("which exception does X raise"): the answer must name one — a name
    # such as ValueError, or one the cited passage raises
    if _ASKS_EXCEPTION.search(question):
        raised = {m.group(1).casefold() for m in re.finditer(r"\braise[sd]?\s+(?:an?\s+|the\s+)?([\w.]+)", pool)}
        names = [n.rstrip(".") for n in re.findall(r"[A-Za-z_][\w.]*", said)]
        if names and not any(_EXCEPTION_NAME.search(n) or n.casefold() in raised for n in names):
            return [said.strip()], "the question asks for an exception, but the answer names none"

    # 2. a key the question names, set in the cited passage to another value than the answer's
    q_names = {t.casefold() for t in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", question)}
    fields = [(m.group(1), m.group(2)) for m in _FIELD.finditer(pool)]
    named = [(k, v) for k, v in fields if k.casefold() in q_names]
    values = [s.text for s in spans]
    if not values:
        m = re.fullmatch(r"(?:[A-Za-z_]\w* ?= ?)?([^\s=]+?)\.?", said.strip())
        values = [m.group(1)] if m else []
    if named and values and not any(_same_value(a, v) for a in values for _, v in named):
        elsewhere = [(k, v) for k, v in fields if k.casefold() not in q_names and any(_same_value(a, v) for a in values)]
        if elsewhere:
            k, v = named[0]
            return values, f"the cited passage gives {k}={v}; {values[0]} is the value of {elsewhere[0][0]}"

    # 3. and 4. the line a value stands on
    asked_words = _key_words(question, question=True)
    qwords = set(asked_words)
    if not qwords or not spans:
        return None
    lines = _lines(passages)
    line_words = [set(_key_words(ctx)) for _, ctx in lines]
    weight = {w: math.log(1 + len(lines) / df) for w in qwords if (df := sum(w in lw for lw in line_words))}

    def score(words: set[str]) -> float:
        return sum(weight.get(w, 0.0) for w in qwords & words)

    def words_of(stems) -> str:
        return ", ".join(f"'{asked_words[w]}'" for w in sorted(stems, key=lambda w: (-weight.get(w, 0.0), w))[:3])

    cited_lines = _lines([passages[n - 1] for n in cited])
    # numbers the question gives ("for a 35-degree tilt", "the 16 mm² conductor") that a cited line
    # holds: they pick the row, so the answer's value must stand on such a line
    q_values = {v for v, _ in _numbers(_NAME_WITH_NUMBER.sub(" ", question))}
    anchors = {v for v in q_values if any(v in {x for x, _ in _numbers(ctx)} for _, ctx in cited_lines)}
    for s in spans:
        held_ctx = [ctx for ln, ctx in cited_lines if _holds(s, ln)]
        held_words = [set(_key_words(ctx)) for ctx in held_ctx]
        if not held_words:  # spread over lines: the literal test above is all there is
            continue
        if anchors and s.kind == "number" and s.value not in q_values:
            given = next(m.group(0) for m in _NUMBER.finditer(_NAME_WITH_NUMBER.sub(" ", question))
                         if float(m.group("num").replace(",", "")) in anchors)
            if not any(anchors & {x for x, _ in _numbers(ctx)} for ctx in held_ctx):
                return [s.text], f"'{s.text}' is in the cited passage, but not on a line about {given}, which the question gives"
            # a list on one line ("1,480 mm for 15°, 1,420 mm for 25°, 1,330 mm for 35°"): the same clause
            clauses = [c for ln, _ in cited_lines if _holds(s, ln) and not ln.strip().startswith("|")
                       for c in _CLAUSE.split(ln) if _numbers(c)]
            if len(clauses) > 1 and any(anchors & {x for x, _ in _numbers(c)} for c in clauses) and not any(
                    _holds(s, c) and anchors & {x for x, _ in _numbers(c)} for c in clauses):
                return [s.text], f"'{s.text}' is on the line about {given}, but in another part of it"
        column = _column_mismatch(s, held_ctx, qwords)
        if column:
            return [s.text], column
        if not any(lw & qwords for lw in held_words):
            return [s.text], f"'{s.text}' is in the cited passage, but not where it speaks of {words_of(qwords)}"
        kind = _kind_of_unit(s.unit) if s.kind == "number" else None
        if kind is None:
            continue
        # another value of the same kind, on a line that matches the question better
        best, rival, rival_words = max(score(lw) for lw in held_words), None, set()
        for (ln, _), lw in zip(lines, line_words):
            if _holds(s, ln) or score(lw) <= best + 1e-9:
                continue
            other = [m.group(0) for m in _NUMBER.finditer(ln) if m.group("unit") and _kind_of_unit(m.group("unit")) == kind
                     and float(m.group("num").replace(",", "")) != s.value]
            if other:
                best, rival, rival_words = score(lw), other[0], lw
        if rival is not None:
            extra = qwords & rival_words - set().union(*held_words)
            where = f"where they speak of {words_of(extra)}" if extra else "on a line closer to the question"
            return [s.text], f"'{s.text}' is in the cited passage, but {where} the passages give {rival}"
    return None


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
        if unsupported:
            return Check(False, cited, checked, unsupported, reason=f"{len(unsupported)} of {len(spans)} spans are not in {where}")
        wrong = _placement(answer, spans, question, passages, cited) if question.strip() else None
        if wrong:
            return Check(False, cited, checked, wrong[0], reason=wrong[1])
        return Check(True, cited, checked, [], reason=f"every checked span is in {where}")
    words = _content_words(_CITE.sub(" ", answer)) - _content_words(question)
    if not cited:
        return Check(False, cited, sorted(words), sorted(words - _content_words(pool_text)), reason="cites no passage")
    if not words:
        if not re.sub(r"[\W_]+", "", _CITE.sub(" ", answer)):
            return Check(False, cited, reason="the answer is a citation and nothing else")
        return Check(None, cited, reason="nothing checkable beyond the question's own words")
    held = _content_words(pool_text)
    missing = sorted(words - held)
    share = 1 - len(missing) / len(words)
    ok = share >= WORD_SUPPORT
    if ok and question.strip():
        wrong = _placement(answer, [], question, passages, cited)
        if wrong:
            return Check(False, cited, sorted(words), wrong[0], reason=wrong[1])
    return Check(ok, cited, sorted(words), [] if ok else missing,
                 reason=f"{share:.0%} of the answer's content words are in {where}")

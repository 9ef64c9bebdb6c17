"""Settings: defaults < config file < environment (EDGE_*) < command-line flags.

One dataclass, whose fields carry their help text. The config file is TOML at
`$EDGE_HOME/config.toml`; each environment variable is `EDGE_` + the field name in
upper case (`EDGE_THREADS=2`). `EDGE_HOME` itself is read only from the environment.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .paths import user_path
from .errors import UsageError

# The system prompts a model gets when the user sets none (`system_prompt = ""`). Short, because
# every token is prefill time on a small CPU and a small model reads a short instruction better;
# one for questions with retrieved passages, one without.
READER_REFUSAL = "The documents don't say."
READER_SYSTEM_PROMPT = (
    "Answer the question from the numbered passages. Copy the exact value and cite the passage like [1]. "
    "Only if no passage answers it, say: " + READER_REFUSAL
)
CHAT_SYSTEM_PROMPT = "You are edge, a concise offline assistant. Answer briefly and accurately."
# The prompt the shipped LoRA adapter (build/make_dataset.py) was trained with: a model fine-tuned on
# it is asked with it, in both modes.
DEFAULT_SYSTEM_PROMPT = (
    "You are edge, a concise offline assistant. Answer briefly and accurately. "
    "When numbered context passages are given, answer only from them and cite them like [1]; "
    "if they do not contain the answer, say that the documents don't say."
)


def _help(text: str, *, lo=None, hi=None, choices=None, **kw):
    """A field with its help text and, for `validate`, its allowed range or values."""
    return field(metadata={"help": text, "lo": lo, "hi": hi, "choices": choices}, **kw)


def default_home() -> Path:
    env = os.environ.get("EDGE_HOME")
    if env:
        return user_path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("edge", appauthor=False))


# Bounds checked by `validate` (flags, config file and environment alike). A context below
# MIN_CTX cannot hold the default system prompt and a question; llama.cpp's own limit is the
# model's, far above MAX_CTX for the models edge runs on small computers.
MIN_CTX = 128
MAX_CTX = 131_072
MAX_K = 100  # passages or search results: more never fit a small model's context


@dataclass
class Settings:
    """Everything a run of edge can be told. See `edge doctor --json` for the values in force."""

    model: str = _help("Model to answer with (a name from `edge models list`).", default="")
    threads: int = _help("CPU threads for llama.cpp; 0 means the number of physical cores.", default=0, lo=0, hi=1024)
    thread_policy: str = _help("adaptive: decode with fewer threads while other programs keep cores busy (threads is "
                               "then the most); fixed: always `threads`.", default="adaptive", choices=("adaptive", "fixed"))
    n_ctx: int = _help("Context window in tokens.", default=2048, lo=MIN_CTX, hi=MAX_CTX)
    n_batch: int = _help("Prompt-processing batch size in tokens.", default=512, lo=1, hi=MAX_CTX)
    max_tokens: int = _help("Most tokens to generate for one answer.", default=512, lo=1, hi=MAX_CTX)
    temperature: float = _help("Sampling temperature; 0 is greedy and deterministic.", default=0.0, lo=0.0, hi=2.0)
    top_p: float = _help("Nucleus sampling threshold.", default=0.95, lo=0.0, hi=1.0)
    top_k: int = _help("Top-k sampling (0 = off).", default=40, lo=0, hi=1_000_000)
    repeat_penalty: float = _help("Penalty for repeated tokens (1.0 = off).", default=1.1, lo=0.1, hi=10.0)
    seed: int = _help("Random seed for sampling.", default=42, lo=0, hi=2**32 - 1)
    system_prompt: str = _help("System prompt given to the model; empty = the default for the model and mode.", default="")
    use_mmap: bool = _help("Memory-map the model file.", default=True)
    rag: bool = _help("Answer from the document index by default.", default=False)
    index: str = _help("Path of the document index (default: $EDGE_HOME/index.db).", default="")
    top_k_chunks: int = _help("How many retrieved passages to give the model.", default=4, lo=1, hi=MAX_K)
    ttft_budget_s: float = _help("Time to first token (with retrieval) the default model must keep on this device; the largest "
                                 "size within it is chosen.", default=3.0, lo=0.05, hi=600.0)
    passage_words: int = _help("Words of each retrieved passage shown to the model, on average: the lines that bear on the "
                               "question (0 = whole passages).", default=48, lo=0, hi=10_000)
    decline_below: float = _help("With retrieval, a fine-tuned reader may say \"The documents don't say.\" only when it gives "
                                 "that answer at least this probability at its first word; below, it answers with the most likely "
                                 "other start (0 = as the model decides).", default=0.0, lo=0.0, hi=1.0)
    embed_threads: int = _help("Threads for the embedding model; 0 means physical cores.", default=0, lo=0, hi=1024)
    embedder: str = _help("Embedding model of a new index: minilm (all-MiniLM-L6-v2, ONNX, int8 products), minilm-float (the "
                          "same model with float products, as indexes made before 2026-12-04 were) or nomic "
                          "(nomic-embed-text-v1.5, llama.cpp; `edge models pull nomic-embed-text-v1.5-f16` first). An index "
                          "keeps the one it was made with: another needs a new index.", default="minilm",
                          choices=("minilm", "minilm-float", "nomic"))
    quant: str = _help("Quantization of the default model when none is named: q8_0 or q4_0 (default: by RAM).", default="",
                       choices=("", "q8_0", "q4_0"))
    watch: list[str] = _help("Folders or files `edge chat` keeps indexed while it runs, as `edge index watch` does (`--watch` "
                             "overrides it, `--no-watch` turns it off): a list in config.toml, separated by ':' in EDGE_WATCH.",
                             default_factory=list)

    home: Path = field(default_factory=default_home, metadata={"help": "Data directory ($EDGE_HOME)."})

    # -- derived paths -------------------------------------------------------------------
    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def config_path(self) -> Path:
        return self.home / "config.toml"

    @property
    def index_path(self) -> Path:
        return user_path(self.index) if self.index else self.home / "index.db"

    @property
    def n_threads(self) -> int:
        return self.threads if self.threads > 0 else performance_cores()

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["home"] = str(self.home)
        return d


_FILE_KEYS = {f.name for f in fields(Settings)} - {"home"}


def _coerce(name: str, raw, typ) -> object:
    try:
        if typ in (bool, "bool"):
            if isinstance(raw, bool):
                return raw
            s = str(raw).strip().lower()
            if s in ("1", "true", "yes", "on"):
                return True
            if s in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if typ in (int, "int"):
            return int(raw)
        if typ in (float, "float"):
            return float(raw)
        if typ in (list, "list[str]"):
            # a TOML list of paths, or one string of them separated like $PATH (the environment)
            items = raw.split(os.pathsep) if isinstance(raw, str) else raw
            if not isinstance(items, (list, tuple)) or not all(isinstance(x, str) for x in items):
                raise ValueError(raw)
            return [x for x in items if x.strip()]
        return str(raw)
    except (TypeError, ValueError):
        want = "a list of paths" if typ in (list, "list[str]") else getattr(typ, "__name__", typ)
        raise UsageError(f"setting {name!r}: cannot use {raw!r} (expected {want})") from None


def ram_bytes() -> int | None:
    """Total RAM, from /proc/meminfo (or sysconf)."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return None


GIB = 2**30


def device_defaults(ram: int | None = None) -> dict:
    """Defaults that suit this machine, chosen from its RAM (a Raspberry Pi has 1 to 16 GB).

    The answer's memory is the model plus its KV cache and batch buffers: about 0.45 GB for the
    Q8_0 model with a 2048-token context and 512-token batches (see `edge bench`). Boards of
    2 GB or less get the smaller, faster Q4_0 file, a 1024-token context on 1 GB, and smaller
    batches, leaving room for the OS and the index.
    """
    ram = ram_bytes() if ram is None else ram
    if not ram:
        return {}
    if ram <= 1.5 * GIB:
        return {"n_ctx": 1024, "n_batch": 128, "quant": "q4_0"}
    if ram <= 2.5 * GIB:
        return {"n_ctx": 2048, "n_batch": 256, "quant": "q4_0"}
    return {"n_ctx": 2048, "n_batch": 512, "quant": "q8_0"}


def validate(settings: Settings, *, sources: dict[str, str] | None = None) -> list[str]:
    """Every setting outside its allowed range or values, as one line each naming the setting,
    the value, what is allowed and (from `sources`) where the value came from. Empty if all is
    well. The one check for flags, the config file, the environment (and any API)."""
    problems = []
    sources = sources or {}
    for f in fields(Settings):
        v = getattr(settings, f.name)
        lo, hi, choices = f.metadata.get("lo"), f.metadata.get("hi"), f.metadata.get("choices")
        bad = ""
        if isinstance(v, float) and v != v:  # NaN passes every comparison
            bad = "not a number"
        elif lo is not None and v < lo or hi is not None and v > hi:
            bad = f"must be between {lo} and {hi}" if hi is not None else f"must be at least {lo}"
        elif choices is not None and v not in choices:
            bad = "must be one of " + ", ".join(repr(c) for c in choices if c) + (" or empty" if "" in choices else "")
        if bad:
            where = sources.get(f.name)
            problems.append(f"setting {f.name} = {v!r} {bad}" + (f" (from {where})" if where else ""))
    return problems


def load_settings(*, problems: list[str] | None = None, **overrides) -> Settings:
    """Build the settings in force: defaults < this machine's (device_defaults) < config file
    < EDGE_* < `overrides` (flags), then check them with `validate`.

    Overrides whose value is None are ignored, so argparse defaults of None fall through. A bad
    value, or an unknown key in the config file, raises UsageError naming it; with a `problems`
    list (`edge doctor`) each is appended there instead and the default is kept, so the caller
    can still report everything else.
    """
    s = Settings()
    for k, v in device_defaults().items():
        setattr(s, k, v)
    types = {f.name: f.type for f in fields(Settings)}
    sources: dict[str, str] = {}
    found: list[str] = []

    def problem(msg: str) -> None:
        if problems is None:
            raise UsageError(msg)
        found.append(msg)

    def put(k: str, raw, where: str) -> None:
        try:
            setattr(s, k, _coerce(k, raw, types[k]))
            sources[k] = where
        except UsageError as e:
            problem(f"{e} (from {where})")

    path = s.config_path
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise UsageError(f"config file {path} is not valid TOML: {e}") from None
        except OSError as e:
            raise UsageError(f"cannot read config file {path}: {e.strerror or e}") from None
        for k, v in data.items():
            if k in _FILE_KEYS:
                put(k, v, str(path))
            else:
                near = difflib.get_close_matches(k, sorted(_FILE_KEYS), n=1)
                problem(f"unknown setting {k!r} in {path}" + (f" (did you mean {near[0]!r}?)" if near else "")
                        + "; `edge doctor --json` lists the settings")
    for k in _FILE_KEYS:
        env = os.environ.get("EDGE_" + k.upper())
        if env is not None and env != "":
            put(k, env, f"EDGE_{k.upper()}")
    for k, v in overrides.items():
        if v is None:
            continue
        if k not in types:
            raise TypeError(f"unknown setting {k}")
        if k == "home":
            s.home = Path(v)
        else:
            put(k, v, "the command line")
    bad = validate(s, sources=sources)
    if bad and problems is None:
        raise UsageError(bad[0] + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""))
    if bad:
        defaults = Settings()
        for f in fields(Settings):
            if validate_one(s, f.name):
                setattr(s, f.name, getattr(defaults, f.name))
    if problems is not None:
        problems.extend(found + bad)
    return s


def validate_one(settings: Settings, name: str) -> str:
    """The problem with one setting, or ''."""
    probe = Settings(**{name: getattr(settings, name)}) if name != "home" else Settings()
    got = [p for p in validate(probe) if p.startswith(f"setting {name} ")]
    return got[0] if got else ""


def save_settings(settings: Settings, keys: list[str]) -> Path:
    """Remember `keys` of `settings` in the config file, keeping what else it holds."""
    path = settings.config_path
    data: dict = {}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            data = {}
    for k in keys:
        data[k] = getattr(settings, k)
    bad = [p for k in keys for p in [validate_one(settings, k)] if p]
    if bad:
        raise UsageError(bad[0])
    lines = [f"{k} = {_toml_value(v)}" for k, v in sorted(data.items()) if k in _FILE_KEYS]
    private_dir(path.parent, tighten_existing=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def private_dir(path: Path, *, tighten_existing: bool = False) -> Path:
    """Create `path` (and any missing parents) readable by its owner only (0700): the data
    directory holds conversations and an index of private documents. With `tighten_existing`
    (the data directory itself, never a folder the user chose for an index) an existing
    directory that we own and others can read is tightened too."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:  # made meanwhile by another process
            pass
    if tighten_existing:
        tighten(path, 0o700)
    return path


def tighten(path: Path, mode: int) -> None:
    """chmod `path` to `mode` if we own it and it grants more than that; never fails."""
    try:
        st = os.stat(path)
        if st.st_uid == os.getuid() and (st.st_mode & 0o777) & ~mode:
            os.chmod(path, (st.st_mode & 0o777) & mode)
    except (OSError, AttributeError):  # read-only media, another owner, no getuid (Windows)
        pass


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    s = str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{s}"'


def performance_cores() -> int:
    """Physical cores, less the slow ones of a big.LITTLE CPU: llama.cpp runs at the pace of its
    slowest thread, so efficiency cores would hold the others back. Cores are told apart by their
    highest clock (cpufreq); where that is not readable, all physical cores count."""
    n = physical_cores()
    try:
        freqs = []
        for d in Path("/sys/devices/system/cpu").glob("cpu[0-9]*"):
            f = d / "cpufreq" / "cpuinfo_max_freq"
            if f.is_file():
                freqs.append(int(f.read_text().strip()))
    except (OSError, ValueError):
        return n
    if not freqs or len(set(freqs)) == 1:
        return n
    fast = sum(1 for f in freqs if f == max(freqs))
    return max(1, min(n, fast))


def physical_cores() -> int:
    """Physical cores (not hyper-threads): what llama.cpp runs fastest on."""
    try:
        seen = set()
        phys = core = None
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("physical id"):
                    phys = line.split(":")[1].strip()
                elif line.startswith("core id"):
                    core = line.split(":")[1].strip()
                elif not line.strip():
                    if core is not None:
                        seen.add((phys, core))
                    phys = core = None
        if core is not None:
            seen.add((phys, core))
        if seen:
            return len(seen)
    except OSError:
        pass
    return max(1, os.cpu_count() or 1)

"""Settings: defaults < config file < environment (EDGE_*) < command-line flags.

One dataclass, whose fields carry their help text. The config file is TOML at
`$EDGE_HOME/config.toml`; each environment variable is `EDGE_` + the field name in
upper case (`EDGE_THREADS=2`). `EDGE_HOME` itself is read only from the environment.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import UsageError

DEFAULT_SYSTEM_PROMPT = (
    "You are edge, a concise offline assistant. Answer briefly and accurately. "
    "When numbered context passages are given, answer only from them and cite them like [1]; "
    "if they do not contain the answer, say that the documents don't say."
)


def _help(text: str, **kw):
    return field(metadata={"help": text}, **kw)


def default_home() -> Path:
    env = os.environ.get("EDGE_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("edge", appauthor=False))


@dataclass
class Settings:
    """Everything a run of edge can be told. See `edge doctor --json` for the values in force."""

    model: str = _help("Model to answer with (a name from `edge models list`).", default="")
    threads: int = _help("CPU threads for llama.cpp; 0 means the number of physical cores.", default=0)
    thread_policy: str = _help("adaptive: decode with fewer threads while other programs keep cores busy (threads is "
                               "then the most); fixed: always `threads`.", default="adaptive")
    n_ctx: int = _help("Context window in tokens.", default=2048)
    n_batch: int = _help("Prompt-processing batch size in tokens.", default=512)
    max_tokens: int = _help("Most tokens to generate for one answer.", default=512)
    temperature: float = _help("Sampling temperature; 0 is greedy and deterministic.", default=0.0)
    top_p: float = _help("Nucleus sampling threshold.", default=0.95)
    top_k: int = _help("Top-k sampling (0 = off).", default=40)
    repeat_penalty: float = _help("Penalty for repeated tokens (1.0 = off).", default=1.1)
    seed: int = _help("Random seed for sampling.", default=42)
    system_prompt: str = _help("System prompt given to the model.", default=DEFAULT_SYSTEM_PROMPT)
    use_mmap: bool = _help("Memory-map the model file.", default=True)
    rag: bool = _help("Answer from the document index by default.", default=False)
    index: str = _help("Path of the document index (default: $EDGE_HOME/index.db).", default="")
    top_k_chunks: int = _help("How many retrieved passages to give the model.", default=4)
    embed_threads: int = _help("Threads for the embedding model; 0 means physical cores.", default=0)
    quant: str = _help("Quantization of the default model when none is named: q8_0 or q4_0 (default: by RAM).", default="")

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
        return Path(self.index).expanduser() if self.index else self.home / "index.db"

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
        return str(raw)
    except (TypeError, ValueError):
        raise UsageError(f"setting {name!r}: cannot use {raw!r} (expected {getattr(typ, '__name__', typ)})") from None


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


def load_settings(**overrides) -> Settings:
    """Build the settings in force: defaults < this machine's (device_defaults) < config file
    < EDGE_* < `overrides` (flags).

    Overrides whose value is None are ignored, so argparse defaults of None fall through.
    """
    s = Settings()
    for k, v in device_defaults().items():
        setattr(s, k, v)
    types = {f.name: f.type for f in fields(Settings)}
    path = s.config_path
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise UsageError(f"config file {path} is not valid TOML: {e}") from None
        for k, v in data.items():
            if k in _FILE_KEYS:
                setattr(s, k, _coerce(k, v, types[k]))
    for k in _FILE_KEYS:
        env = os.environ.get("EDGE_" + k.upper())
        if env is not None and env != "":
            setattr(s, k, _coerce(k, env, types[k]))
    for k, v in overrides.items():
        if v is None:
            continue
        if k not in types:
            raise TypeError(f"unknown setting {k}")
        setattr(s, k, _coerce(k, v, types[k]) if k != "home" else Path(v))
    if s.thread_policy not in ("adaptive", "fixed"):
        raise UsageError(f"setting 'thread_policy': {s.thread_policy!r} is not adaptive or fixed")
    return s


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
    lines = [f"{k} = {_toml_value(v)}" for k, v in sorted(data.items()) if k in _FILE_KEYS]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
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

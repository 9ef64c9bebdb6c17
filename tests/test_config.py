import pytest

from edge.config import load_settings, save_settings
from edge.errors import UsageError
from tests.conftest import CPU_PROXIES


@pytest.fixture(autouse=True)
def _no_cpu_proxies(monkeypatch):
    """These tests check how settings are layered: nothing set outside may take part."""
    for k in CPU_PROXIES:
        monkeypatch.delenv(k, raising=False)


def test_precedence_defaults_file_env_flags(_isolated_home, monkeypatch):
    assert load_settings().max_tokens == 512
    _isolated_home.mkdir(parents=True)
    (_isolated_home / "config.toml").write_text("max_tokens = 100\ntemperature = 0.5\n")
    assert load_settings().max_tokens == 100
    monkeypatch.setenv("EDGE_MAX_TOKENS", "200")
    s = load_settings()
    assert s.max_tokens == 200 and s.temperature == 0.5
    assert load_settings(max_tokens=300, temperature=None).max_tokens == 300


def test_bad_values_are_one_clear_error(_isolated_home, monkeypatch):
    monkeypatch.setenv("EDGE_THREADS", "many")
    with pytest.raises(UsageError, match="threads"):
        load_settings()
    monkeypatch.delenv("EDGE_THREADS")
    _isolated_home.mkdir(parents=True)
    (_isolated_home / "config.toml").write_text("max_tokens = [")
    with pytest.raises(UsageError, match="TOML"):
        load_settings()


def test_save_round_trips(_isolated_home):
    s = load_settings(temperature=0.7, system_prompt='Say "hi"\nthen stop')
    save_settings(s, ["temperature", "system_prompt"])
    s2 = load_settings()
    assert s2.temperature == 0.7 and s2.system_prompt == 'Say "hi"\nthen stop'


def test_device_defaults_follow_ram():
    from edge.config import GIB, device_defaults

    assert device_defaults(1 * GIB) == {"n_ctx": 1024, "n_batch": 128, "quant": "q4_0"}  # Pi 4 / Pi 3 with 1 GB
    assert device_defaults(2 * GIB)["quant"] == "q4_0"
    assert device_defaults(4 * GIB) == {"n_ctx": 2048, "n_batch": 512, "quant": "q8_0"}
    assert device_defaults(8 * GIB)["quant"] == "q8_0"


def test_device_defaults_sit_under_the_config_file(_isolated_home, monkeypatch):
    import edge.config as config

    monkeypatch.setattr(config, "ram_bytes", lambda: 1 * config.GIB)
    s = load_settings()
    assert (s.n_ctx, s.n_batch, s.quant) == (1024, 128, "q4_0")
    _isolated_home.mkdir(parents=True, exist_ok=True)
    (_isolated_home / "config.toml").write_text('n_ctx = 4096\nquant = "q8_0"\n')
    s = load_settings()
    assert (s.n_ctx, s.n_batch, s.quant) == (4096, 128, "q8_0")
    assert load_settings(n_ctx=512).n_ctx == 512


def test_performance_cores_leave_out_slow_cores(monkeypatch, tmp_path):
    import edge.config as config

    for i, f in enumerate([2_400_000, 2_400_000, 1_800_000, 1_800_000]):  # two big, two little
        d = tmp_path / f"cpu{i}" / "cpufreq"
        d.mkdir(parents=True)
        (d / "cpuinfo_max_freq").write_text(f"{f}\n")
    real_path = config.Path
    monkeypatch.setattr(config, "Path", lambda p: real_path(tmp_path) if p == "/sys/devices/system/cpu" else real_path(p))
    monkeypatch.setattr(config, "physical_cores", lambda: 4)
    assert config.performance_cores() == 2
    for i in range(4):
        (tmp_path / f"cpu{i}" / "cpufreq" / "cpuinfo_max_freq").write_text("1800000\n")  # a Pi: all alike
    assert config.performance_cores() == 4

import pytest

from edge.config import load_settings, save_settings
from edge.errors import UsageError


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

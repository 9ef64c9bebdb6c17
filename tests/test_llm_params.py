"""How edge asks llama.cpp to load a model: extra buffer types (AMX, repacking) follow the CPU and the override."""

from __future__ import annotations

import pytest

from edge import llm


@pytest.mark.parametrize("amx,env,expected", [(True, "", False), (False, "", True), (True, "1", True), (False, "0", False)])
def test_extra_buffer_types_follow_amx_and_the_override(monkeypatch, amx, env, expected):
    monkeypatch.setattr(llm, "cpu_lists_amx", lambda: amx)
    monkeypatch.setenv("EDGE_LLAMA_EXTRA_BUFTS", env)
    assert llm.extra_buffer_types() is expected


def test_model_params_sets_the_field_only_while_held(monkeypatch):
    import llama_cpp.llama_cpp as ll

    monkeypatch.setattr(llm, "extra_buffer_types", lambda: False)
    before = ll.llama_model_default_params
    assert before().use_extra_bufts is True  # llama.cpp's own default
    with llm.model_params():
        assert ll.llama_model_default_params().use_extra_bufts is False
    assert ll.llama_model_default_params is before
    with pytest.raises(RuntimeError):
        with llm.model_params():
            raise RuntimeError("a failed load")
    assert ll.llama_model_default_params is before  # restored after an error too

"""Paths as people type them: a `~user` that does not exist is a path like any other, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

from edge.paths import user_path


def test_a_tilde_path_expands_and_an_unknown_user_is_left_as_typed(monkeypatch):
    monkeypatch.setenv("HOME", "/home/someone")
    assert user_path("~/docs") == Path("/home/someone/docs")
    assert user_path("~~~") == Path("~~~")  # pathlib's expanduser raised RuntimeError here
    assert user_path("~no-such-user-here/x.md") == Path("~no-such-user-here/x.md")
    assert user_path(Path("plain/x.md")) == Path("plain/x.md")
    assert user_path(os.fsencode("~/b").decode()) == Path("/home/someone/b")

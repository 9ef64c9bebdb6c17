"""Paths as people type them."""

from __future__ import annotations

import os
from pathlib import Path


def user_path(p: str | os.PathLike) -> Path:
    """`p` with a leading `~` or `~user` expanded, and left as it is when that user does not exist
    (as the shell does; pathlib's `expanduser` raises instead, so `edge index sync '~nobody'`
    ended in a traceback)."""
    return Path(os.path.expanduser(os.fspath(p)))

"""Atomic file writes: a crash mid-write leaves the previous good file, never a partial one.

Every output carbonledger writes (ledger, quarantine, summary, reports) goes through here:
write to a temporary file in the target directory, flush, then ``os.replace`` onto the target.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd


def _default_file_mode() -> int:
    """The mode a plain ``open()`` would give a new file: 0666 less the process umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and move the result onto ``path`` atomically.

    ``mkstemp`` creates its file 0600; the result gets the mode an ordinary write would
    have given it, so reports stay readable by the team that shares the output folder.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, _default_file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: Path, text: str) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, data: Mapping[str, Any]) -> Path:
    return write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_parquet(path: Path, frame: pd.DataFrame) -> Path:
    return write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False, compression="zstd"))


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    return write_atomic(path, lambda tmp: frame.to_csv(tmp, index=False))

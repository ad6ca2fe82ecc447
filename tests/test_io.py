"""Atomic writes: the target is replaced whole or not at all, with an ordinary file mode."""

from __future__ import annotations

import os
import stat

import pytest

from carbonledger.io import write_atomic, write_text


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / "summary.json"
    write_text(target, "good\n")

    def crash(tmp):
        tmp.write_text("half a fi")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(target, crash)
    assert target.read_text() == "good\n"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_written_files_get_the_umask_mode_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_text(tmp_path / "report.html", "<html></html>")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644

"""The ordered worker map: results in order, and large Arrow buffers passed through a spool folder
in shared memory instead of the pipe, with nothing left behind."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from carbonledger import parallel


def _table(n: int) -> tuple[pa.Table, np.ndarray]:
    """A job result with large Arrow buffers (spooled) and a NumPy array (kept in the pickle)."""
    values = np.arange(n * 50_000, (n + 1) * 50_000, dtype=np.int64)
    return pa.table({"n": values, "text": pa.array([f"t{n}"] * len(values)).dictionary_encode()}), values.copy()


@pytest.fixture
def spool_root(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "_SHARED_MEMORY", tmp_path)
    monkeypatch.setattr(parallel, "_MIN_SPOOL_FREE_BYTES", 0)
    return tmp_path


def test_results_come_back_in_order_through_the_spool_and_the_spool_is_removed(spool_root):
    results = list(parallel.ordered_map(_table, range(6), workers=2))
    for n, (table, array) in enumerate(results):
        expected, expected_array = _table(n)
        assert table.equals(expected)
        np.testing.assert_array_equal(array, expected_array)
        array[0] = -1                       # NumPy arrays travel in the pickle: still writable here
    assert list(spool_root.iterdir()) == []


def test_a_spooled_value_is_mapped_back_and_its_file_removed(spool_root):
    table, _ = _table(3)
    shipped = parallel._ship(table, spool_root)
    assert isinstance(shipped, parallel._Spooled)
    assert len(shipped.pickled) < 10_000 < table.nbytes       # only the small rest went into the pickle
    assert all(start % 64 == 0 for start, _ in shipped.spans)
    assert parallel._receive(shipped).equals(table)
    assert list(spool_root.iterdir()) == []


def test_small_values_and_values_without_arrow_buffers_are_not_spooled(spool_root):
    for value in ({"a": 1}, pa.table({"n": [1, 2, 3]})):
        shipped = parallel._ship(value, spool_root)
        assert shipped.path is None and parallel._receive(shipped) == value
    assert list(spool_root.iterdir()) == []


def test_without_a_shared_memory_folder_values_are_pickled_as_before(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "_SHARED_MEMORY", tmp_path / "absent")
    assert parallel._spool_folder() is None
    results = list(parallel.ordered_map(_table, range(3), workers=2))
    assert [table.equals(_table(n)[0]) for n, (table, _) in enumerate(results)] == [True] * 3


def test_a_shared_memory_folder_without_room_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "_SHARED_MEMORY", tmp_path)
    monkeypatch.setattr(parallel, "_MIN_SPOOL_FREE_BYTES", 1 << 62)
    assert parallel._spool_folder() is None


def _fails_on_two(n: int) -> pa.Table:
    if n == 2:
        raise ValueError("job 2 failed")
    return _table(n)[0]


def test_a_failing_job_raises_in_order_and_leaves_no_spool_files(spool_root):
    results = parallel.ordered_map(_fails_on_two, range(5), workers=2)
    assert next(results).equals(_table(0)[0])
    assert next(results).equals(_table(1)[0])
    with pytest.raises(ValueError, match="job 2 failed"):
        next(results)
    results.close()
    assert list(spool_root.iterdir()) == []


def test_spool_folders_of_processes_no_longer_running_are_removed(spool_root):
    dead = spool_root / f"{parallel._SPOOL_PREFIX}999999999-abc"
    dead.mkdir()
    (dead / "left").write_bytes(b"x" * 100)
    alive = spool_root / f"{parallel._SPOOL_PREFIX}1-abc"          # pid 1 runs
    alive.mkdir()
    folder = parallel._spool_folder()
    assert folder is not None and folder.name.startswith(f"{parallel._SPOOL_PREFIX}")
    assert not dead.exists() and alive.exists()


def test_a_spool_that_fills_up_sends_the_value_through_the_pipe(spool_root, monkeypatch):
    table, _ = _table(1)

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(parallel.tempfile, "mkstemp", full)
    assert parallel._ship(table, spool_root) is table

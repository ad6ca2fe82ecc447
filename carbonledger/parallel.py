"""An ordered map over forked worker processes, with a bounded number of jobs in flight.

Batches of a large billing month are read in this process, handed to worker processes for the
CPU-heavy part (converting and accounting), and their results come back in input order, so what
is written does not depend on the number of workers. At most ``workers + 1`` jobs are in flight, so
memory stays bounded by the batch size. Workers are forked: the task (with whatever large,
read-only state it closes over, such as the grid and the hardware catalogue) is inherited, not
pickled; only jobs and results cross the process boundary, so they must pickle cheaply (Arrow
tables, small dataclasses). Without ``fork`` (not Linux), inside a daemonic process (a Celery
prefork worker may not start children), with one worker, or with a single job, everything runs in
this process.

Batch work allocates and frees the same few hundred MB over and over. By default glibc hands every
large freed block straight back to the kernel, so each batch faults in fresh zeroed pages again (a
third of a streamed estimate's CPU went to the kernel); :func:`keep_freed_memory` makes this
process and its workers keep freed memory for the next batch instead.

Jobs and results carry tens of MB of Arrow data each. Pickled through the pool's pipe, every
byte is copied four times (into the pickle, through the pipe twice, out of the pickle) into
freshly faulted pages. Where a shared-memory folder (``/dev/shm``) has room, Arrow buffers travel
out of band instead (pickle protocol 5): the sender writes them once into a spool file there,
the receiver maps the file and reads the buffers where they lie, and the file is removed at once
(the mapping lives on until the last array using it is freed). Only the small rest of the pickle
goes through the pipe. Without such a folder everything is pickled as before.

What does not belong here: what the jobs do (``estimate``, ``staging``).
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import mmap
import multiprocessing as mp
import os
import pickle
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa

Job = TypeVar("Job")
Result = TypeVar("Result")

_TASK: Callable[[Any], Any] | None = None
#: glibc ``mallopt`` parameters and the values :func:`keep_freed_memory` sets.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP_FREED_BYTES, _OWN_MAPPING_BYTES = 1 << 30, 256 << 20
_WORKER_NICENESS = 5
#: Where spool files are written (memory-backed) and the free space it must have to be used.
_SHARED_MEMORY = Path("/dev/shm")
_MIN_SPOOL_FREE_BYTES = 1 << 30
#: Arrow buffers smaller than this stay in the pickle.
_MIN_SPOOLED_BYTES = 1 << 16
_ALIGNMENT_BYTES = 64
_SPOOL: Path | None = None
_SPOOL_PREFIX = "carbonledger-spool-"


def default_workers() -> int:
    """Worker processes for batch work: the CPUs this process may use, at most 4 (each holds a batch)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(4, cpus))


def ordered_map(task: Callable[[Job], Result], jobs: Iterable[Job], workers: int | None = None) -> Iterator[Result]:
    """``task(job)`` for every job, in order, computed by ``workers`` forked processes (default
    :func:`default_workers`). An exception in a task is raised here, for its job, in order."""
    global _TASK, _SPOOL
    workers = workers or default_workers()
    keep_freed_memory()
    jobs = iter(jobs)
    head = list(itertools.islice(jobs, 2))
    if workers <= 1 or len(head) < 2 or "fork" not in mp.get_all_start_methods() or _daemonic():
        for job in itertools.chain(head, jobs):
            yield task(job)
        return
    if _TASK is not None:
        raise RuntimeError("ordered_map is already running in this process (nested parallel maps are not supported)")
    _TASK = task                      # inherited by the forked workers
    spool = _SPOOL = _spool_folder()
    try:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"), initializer=_yield_to_parent) as pool:
            in_flight: deque[Future[Any]] = deque()
            for job in itertools.chain(head, jobs):
                in_flight.append(pool.submit(_run, _ship(job, spool)))
                if len(in_flight) > workers:
                    yield _receive(in_flight.popleft().result())
            while in_flight:
                yield _receive(in_flight.popleft().result())
    finally:
        _TASK = _SPOOL = None
        if spool is not None:
            shutil.rmtree(spool, ignore_errors=True)


def keep_freed_memory() -> None:
    """Keep up to 1 GiB of freed memory in this process for reuse, and give only blocks over 256 MiB
    their own mapping (glibc; elsewhere nothing changes). A batch reuses what the previous one freed
    instead of faulting in new pages; peak memory grows a little (1M-row CSV.gz estimate: 1.64 →
    1.83 GiB for the process tree)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, _OWN_MAPPING_BYTES)
    mallopt(_M_TRIM_THRESHOLD, _KEEP_FREED_BYTES)


def _daemonic() -> bool:
    """Inside a daemonic process (a Celery prefork worker, say) no child processes may be started."""
    return bool(getattr(mp.current_process(), "daemon", False)) or _billiard_daemon()


def _billiard_daemon() -> bool:
    try:
        import billiard
    except ImportError:
        return False
    return bool(getattr(billiard.current_process(), "daemon", False))


def _run(shipped: Any) -> Any:
    if _TASK is None:
        raise RuntimeError("worker process started without its task")
    return _ship(_TASK(_receive(shipped)), _SPOOL)


@dataclass(frozen=True)
class _Spooled:
    """An object pickled with its large Arrow buffers in a spool file: ``pickled`` is the rest,
    ``spans`` each buffer's (offset, size) in the file (no file where it had none: all in ``pickled``)."""

    pickled: bytes
    path: str | None
    spans: tuple[tuple[int, int], ...]


def _spool_folder() -> Path | None:
    """A fresh folder for this map's spool files in shared memory, or None where there is none with room.

    The folder is named after this process; folders of processes that no longer run (killed before
    they could remove theirs) are removed first, so a killed run does not hold memory for good."""
    try:
        if not _SHARED_MEMORY.is_dir():
            return None
        for stale in _SHARED_MEMORY.glob(f"{_SPOOL_PREFIX}*"):
            if not _running(stale.name[len(_SPOOL_PREFIX):].split("-", 1)[0]):
                shutil.rmtree(stale, ignore_errors=True)
        if _free_bytes(_SHARED_MEMORY) >= _MIN_SPOOL_FREE_BYTES:
            return Path(tempfile.mkdtemp(prefix=f"{_SPOOL_PREFIX}{os.getpid()}-", dir=_SHARED_MEMORY))
    except OSError:
        pass
    return None


def _running(pid: str) -> bool:
    """Whether a process with this id runs (a folder name that is not a number counts as running: left alone)."""
    if not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _free_bytes(folder: Path) -> int:
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


def _ship(value: Any, spool: Path | None) -> Any:
    """``value`` ready to cross to the other process: as it is (pickled by the pool), or spooled."""
    if spool is None:
        return value
    buffers: list[pickle.PickleBuffer] = []

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:
        view = buffer.raw()
        if isinstance(view.obj, pa.Buffer) and view.nbytes >= _MIN_SPOOLED_BYTES:
            buffers.append(buffer)
            return False
        return True                     # in the pickle: small buffers, and NumPy arrays (they stay writable)

    pickled = pickle.dumps(value, protocol=5, buffer_callback=out_of_band)
    if not buffers:
        return _Spooled(pickled, None, ())        # already pickled: the pool passes the bytes on
    spans = []
    path = None
    try:
        fd, path = tempfile.mkstemp(dir=spool)
        with os.fdopen(fd, "wb") as handle:
            for buffer in buffers:
                view = buffer.raw()
                handle.write(bytes(-handle.tell() % _ALIGNMENT_BYTES))    # each buffer 64-byte aligned, as Arrow's own
                spans.append((handle.tell(), view.nbytes))
                handle.write(view)
    except OSError:             # shared memory filled up meanwhile (or went away): this one goes through the pipe
        if path is not None:
            with contextlib.suppress(OSError):
                os.unlink(path)
        return value
    return _Spooled(pickled, path, tuple(spans))


def _receive(shipped: Any) -> Any:
    """What :func:`_ship` sent: spooled buffers are mapped from their file (then removed), not copied."""
    if not isinstance(shipped, _Spooled):
        return shipped
    if shipped.path is None:
        return pickle.loads(shipped.pickled)
    try:
        with open(shipped.path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            mapped = mmap.mmap(handle.fileno(), size, flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0),
                               prot=mmap.PROT_READ) if size else b""
    finally:
        os.unlink(shipped.path)
    view = memoryview(mapped)
    return pickle.loads(shipped.pickled, buffers=[view[start:start + size] for start, size in shipped.spans])


def _yield_to_parent() -> None:
    """Workers run niced: the parent, which reads and writes in order, is the serial stage."""
    os.nice(_WORKER_NICENESS)

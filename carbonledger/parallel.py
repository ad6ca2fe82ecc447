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

What does not belong here: what the jobs do (``estimate``, ``staging``).
"""

from __future__ import annotations

import ctypes
import itertools
import multiprocessing as mp
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")

_TASK: Callable[[Any], Any] | None = None
#: glibc ``mallopt`` parameters and the values :func:`keep_freed_memory` sets.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP_FREED_BYTES, _OWN_MAPPING_BYTES = 1 << 30, 256 << 20
_WORKER_NICENESS = 5


def default_workers() -> int:
    """Worker processes for batch work: the CPUs this process may use, at most 4 (each holds a batch)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(4, cpus))


def ordered_map(task: Callable[[Job], Result], jobs: Iterable[Job], workers: int | None = None) -> Iterator[Result]:
    """``task(job)`` for every job, in order, computed by ``workers`` forked processes (default
    :func:`default_workers`). An exception in a task is raised here, for its job, in order."""
    global _TASK
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
    try:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"), initializer=_yield_to_parent) as pool:
            in_flight: deque[Future[Result]] = deque()
            for job in itertools.chain(head, jobs):
                in_flight.append(pool.submit(_run, job))
                if len(in_flight) > workers:
                    yield in_flight.popleft().result()
            while in_flight:
                yield in_flight.popleft().result()
    finally:
        _TASK = None


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


def _run(job: Any) -> Any:
    if _TASK is None:
        raise RuntimeError("worker process started without its task")
    return _TASK(job)


def _yield_to_parent() -> None:
    """Workers run niced: the parent, which reads and writes in order, is the serial stage."""
    os.nice(_WORKER_NICENESS)

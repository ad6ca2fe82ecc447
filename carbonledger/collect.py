"""``carbonledger collect``: sample NVML GPU power and energy counters into an nvidia-smi-style CSV.

For teams without telemetry: run it on a GPU node next to the workload, then pass the file to
``carbonledger estimate --telemetry``. Each sample writes one row per GPU:

``timestamp, hostname, instance_id, name, index, uuid, power.draw [W], total_energy_consumption [mJ]``

``timestamp`` is UTC with an offset (so the reader needs no time zone); power is NVML's
``nvmlDeviceGetPowerUsage`` (mW → W); energy is ``nvmlDeviceGetTotalEnergyConsumption`` (mJ since
driver load, Volta and newer; empty where unsupported), which the reader prefers to integrating
power. The file is appended to (header once), so restarts continue one log.
Without nvidia-ml-py, without a driver or without a GPU, :class:`CollectorUnavailable` says so.
What does not belong here: reading the file back (``connectors.telemetry.nvidia_smi``).
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

HEADER = ["timestamp", "hostname", "instance_id", "name", "index", "uuid", "power.draw [W]", "total_energy_consumption [mJ]"]


class CollectorUnavailable(Exception):
    """No GPU can be sampled here (library, driver or device missing); not an error for the CLI."""


@dataclass(frozen=True)
class _Gpu:
    handle: object
    index: int
    name: str
    uuid: str


def collect(
    out: Path,
    *,
    interval_s: float = 1.0,
    duration_s: float | None = None,
    instance_id: str | None = None,
    nvml: ModuleType | None = None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc),
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Sample every GPU every ``interval_s`` for ``duration_s`` (None: until interrupted); rows written.

    Samples are taken at 0, interval, 2 x interval, ... up to ``duration_s`` inclusive.
    """
    lib = nvml or _load_nvml()
    gpus = _open(lib)
    host = socket.gethostname()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    new_file = not out.exists() or out.stat().st_size == 0
    rows = 0
    samples = None if duration_s is None else int(duration_s // interval_s) + 1
    taken = 0
    try:
        with open(out, "a", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            if new_file:
                writer.writerow(HEADER)
            while samples is None or taken < samples:
                if taken:
                    sleep(interval_s)
                stamp = now().isoformat(timespec="milliseconds")
                for gpu in gpus:
                    writer.writerow([stamp, host, instance_id or "", gpu.name, gpu.index, gpu.uuid,
                                     _power_w(lib, gpu.handle), _energy_mj(lib, gpu.handle)])
                    rows += 1
                handle.flush()
                taken += 1
    except KeyboardInterrupt:
        pass
    finally:
        lib.nvmlShutdown()
    return rows


def _load_nvml() -> ModuleType:
    try:
        return importlib.import_module("pynvml")
    except ImportError:
        raise CollectorUnavailable("nvidia-ml-py is not installed (pip install nvidia-ml-py); nothing to sample") from None


def _open(lib: ModuleType) -> list[_Gpu]:
    try:
        lib.nvmlInit()
    except lib.NVMLError as exc:
        raise CollectorUnavailable(f"no NVIDIA driver available ({exc}); nothing to sample on this machine") from None
    count = lib.nvmlDeviceGetCount()
    if count == 0:
        lib.nvmlShutdown()
        raise CollectorUnavailable("the NVIDIA driver reports no GPU; nothing to sample on this machine")
    gpus = []
    for i in range(count):
        handle = lib.nvmlDeviceGetHandleByIndex(i)
        gpus.append(_Gpu(handle, i, _text(lib.nvmlDeviceGetName(handle)), _text(lib.nvmlDeviceGetUUID(handle))))
    return gpus


def _power_w(lib: ModuleType, handle: object) -> str:
    try:
        return f"{lib.nvmlDeviceGetPowerUsage(handle) / 1000.0:.3f}"
    except lib.NVMLError:
        return "[N/A]"


def _energy_mj(lib: ModuleType, handle: object) -> str:
    try:
        return str(int(lib.nvmlDeviceGetTotalEnergyConsumption(handle)))
    except lib.NVMLError:
        return ""


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

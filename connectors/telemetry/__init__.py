"""On-node power telemetry → one canonical telemetry frame: ``read_telemetry(paths, fmt="auto")``.

Formats (``fmt``): ``codecarbon`` (``emissions.csv``), ``dcgm`` (DCGM exporter scrapes or Prometheus
query-API JSON), ``nvidia-smi`` (``--query-gpu ... --format=csv`` logs, with or without units, and
``carbonledger collect`` output), ``kepler`` (0.9.x and ≥ 0.10), ``scaphandre`` (JSON or
Prometheus). ``auto`` detects each file from its content (CSV header, JSON shape, metric names).
Directories are read recursively (``*.csv``, ``*.json``, ``*.prom``, ``*.txt``, ``*.metrics``).

The **telemetry frame**: one row per measurement interval and component, energy measured on the node.

| Column | Type | Meaning |
|---|---|---|
| ``timestamp_utc`` | datetime, UTC | Start of the interval |
| ``interval_s`` | float | Length of the interval, seconds; it covers [timestamp_utc, timestamp_utc + interval_s) |
| ``energy_kwh`` | float | IT energy measured over the interval, kWh, **before PUE** (CodeCarbon's PUE removed) |
| ``power_w`` | float | Mean power over the interval, W (= energy / interval) |
| ``component`` | string | ``gpu`` (accelerators) or ``host`` (CPU and memory without accelerators) |
| ``host`` | string | Host / node name (DCGM ``Hostname``, Kepler ``node_name``, scrape target, collector) |
| ``instance_id`` | string | Cloud instance / VM id, where the source has it |
| ``gpu_uuid``, ``gpu_model`` | string | GPU identity (``GPU-…``; model name) for GPU rows |
| ``project`` | string | Project (CodeCarbon ``project_name``, a ``project`` column or label) |
| ``pod``, ``namespace`` | string | Kubernetes pod holding the GPU at the interval's end (DCGM) |
| ``cloud_provider``, ``cloud_region`` | string | Where the source says it ran (CodeCarbon) |
| ``source_format``, ``source_file``, ``source_row`` | string, string, int | The reader, the file and the 1-based row / line (the sample ending the interval) |

Nothing is silently dropped: every unusable row, sample gap, skewed or duplicate sample is in
``TelemetryRead.problems`` (``source_format``, ``source_file``, ``source_row``, ``reason``).
Naive local timestamps (CodeCarbon, nvidia-smi) are read in ``local_tz``; ``clock_offsets_s``
corrects a host whose clock runs ahead (positive) or behind; ``labels`` fills identity columns a
source lacks (e.g. ``{"host": "gpu-node-7"}`` for an nvidia-smi log or Scaphandre JSON).
What does not belong here: matching telemetry to the bill (``footprint.reconcile``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from carbonledger.errors import InputFormatError, UsageError
from connectors.telemetry import codecarbon, dcgm, frame, kepler, nvidia_smi, prometheus, scaphandre
from connectors.telemetry.frame import TELEMETRY_COLUMNS, TelemetryRead

TELEMETRY_FORMATS = ("auto", "codecarbon", "dcgm", "nvidia-smi", "kepler", "scaphandre")
#: Default longest interval between power samples that is still integrated, seconds.
DEFAULT_MAX_GAP_S = 300.0
_SUFFIXES = {".csv", ".json", ".prom", ".txt", ".metrics"}

__all__ = ["TELEMETRY_COLUMNS", "TELEMETRY_FORMATS", "TelemetryRead", "detect_format", "read_telemetry"]


def read_telemetry(
    paths: Sequence[Path | str] | Path | str,
    fmt: str = "auto",
    *,
    local_tz: str = "UTC",
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    labels: Mapping[str, str] | None = None,
    clock_offsets_s: Mapping[str, float] | None = None,
) -> TelemetryRead:
    """Read telemetry files (or directories of them) into the canonical frame (see the module doc)."""
    if fmt not in TELEMETRY_FORMATS:
        raise UsageError(f"unknown telemetry format {fmt!r}; expected one of {', '.join(TELEMETRY_FORMATS)}")
    unknown = set(labels or {}) - set(frame.IDENTITY_COLUMNS)
    if unknown:
        raise UsageError(f"telemetry labels {sorted(unknown)} are not identity columns ({', '.join(frame.IDENTITY_COLUMNS)})")
    files = _expand([paths] if isinstance(paths, (str, Path)) else paths)
    parts = [_read_one(f, fmt, local_tz=local_tz, max_gap_s=max_gap_s) for f in files]
    result = TelemetryRead.concat(parts)
    samples = result.samples
    for column, value in (labels or {}).items():
        samples[column] = samples[column].fillna(value).astype("string")
    if clock_offsets_s:
        offset = samples["host"].map(dict(clock_offsets_s)).astype("float64").fillna(0.0)
        samples["timestamp_utc"] = samples["timestamp_utc"] - pd.to_timedelta(offset, unit="s")
    return TelemetryRead(samples, result.problems)


def detect_format(path: Path) -> str:
    """The telemetry format of one file, from its content."""
    path = Path(path)
    head = path.read_text(encoding="utf-8", errors="replace")[:65536].lstrip()
    if head.startswith("["):
        return "scaphandre"
    if head.startswith("{"):
        return _family(prometheus.metric_names(path, prometheus.load_json(path)), path)
    first = head.splitlines()[0] if head else ""
    columns = {c.strip() for c in nvidia_smi.header_names(first)}
    if {"energy_consumed", "duration"} <= columns:
        return "codecarbon"
    if "timestamp" in columns and (columns & {*nvidia_smi.POWER_FIELDS, nvidia_smi.ENERGY_FIELD}):
        return "nvidia-smi"
    if first.startswith("#") or prometheus.metric_names(path, None):
        return _family(prometheus.metric_names(path, None), path)
    raise InputFormatError(str(path), "not a telemetry format carbonledger reads (CodeCarbon CSV, nvidia-smi CSV, "
                           "DCGM/Kepler/Scaphandre Prometheus text or JSON, Scaphandre JSON)")


def _family(metrics: set[str], path: Path) -> str:
    if any(m.startswith(("DCGM_FI_", "dcgm_")) for m in metrics):
        return "dcgm"
    if any(m.startswith("kepler_") for m in metrics):
        return "kepler"
    if any(m.startswith("scaph_") for m in metrics):
        return "scaphandre"
    raise InputFormatError(str(path), "Prometheus data without DCGM_FI_*, dcgm_*, kepler_* or scaph_* metrics")


def _read_one(path: Path, fmt: str, *, local_tz: str, max_gap_s: float) -> TelemetryRead:
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "codecarbon":
        return codecarbon.read(path, local_tz=local_tz)
    if fmt == "nvidia-smi":
        return nvidia_smi.read(path, local_tz=local_tz, max_gap_s=max_gap_s)
    opening = path.read_text(encoding="utf-8", errors="replace").lstrip()[:1]
    if fmt == "scaphandre" and opening == "[":
        return scaphandre.read_json(path, max_gap_s=max_gap_s)
    document = prometheus.load_json(path) if opening == "{" else None
    if fmt == "dcgm":
        return dcgm.read(path, max_gap_s=max_gap_s, document=document)
    if fmt == "kepler":
        return kepler.read(path, document=document)
    return scaphandre.read_prometheus(path, max_gap_s=max_gap_s, document=document)


def _expand(paths: Sequence[Path | str]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in _SUFFIXES))
        elif p.is_file():
            files.append(p)
        else:
            raise UsageError(f"telemetry input {p} does not exist")
    if not files:
        raise UsageError(f"no telemetry files found in {', '.join(map(str, paths))}")
    return files

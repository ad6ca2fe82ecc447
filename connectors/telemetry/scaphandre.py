"""Scaphandre host power: its JSON exporter output and its Prometheus metrics.

* **JSON** (``scaphandre json -f file``): one array of reports, closed only when the run ends, so
  a missing final ``]`` (or a trailing comma) is repaired. ``host.consumption`` (µW) at
  ``host.timestamp`` (UTC epoch seconds) is integrated; ``host`` is null on the first report of a
  run (reported). ``source_row`` is the 1-based report number.
* **Prometheus**: ``scaph_host_energy_microjoules`` (counter, µJ) when present, else
  ``scaph_host_power_microwatts`` (µW) integrated. Host = ``hostname``/``node``, else the target.

Everything is component ``host`` (RAPL: CPU packages and memory, not GPUs). The JSON carries no
host name: pass it with ``read_telemetry(..., labels={"host": ...})``.
What does not belong here: per-process attribution (``consumers``), which the bill cannot match.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from carbonledger.errors import InputFormatError
from connectors.telemetry import frame, prometheus
from connectors.telemetry.labels import host_of

FORMAT = "scaphandre"
ENERGY_METRIC = "scaph_host_energy_microjoules"
POWER_METRIC = "scaph_host_power_microwatts"
_KEY = ("host",)


def load_reports(path: Path) -> list:
    """The report array of a Scaphandre JSON file, repairing the ``]`` a still-running export lacks."""
    text = Path(path).read_text(encoding="utf-8").strip()
    for candidate in (text, text.rstrip(",") + "]"):
        try:
            document = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(document, list):
            return document
    raise InputFormatError(str(path), "expected a Scaphandre JSON array of reports ('[{\"host\": ...}, ...]')")


def read_json(path: Path, *, max_gap_s: float, reports: list | None = None) -> frame.TelemetryRead:
    """Host power intervals of a Scaphandre JSON file."""
    reports = load_reports(path) if reports is None else reports
    flat = pd.json_normalize(reports)
    flat.index = pd.RangeIndex(1, len(flat) + 1)
    consumption = pd.to_numeric(flat.get("host.consumption", pd.Series(index=flat.index, dtype="float64")), errors="coerce")
    seconds = pd.to_numeric(flat.get("host.timestamp", pd.Series(index=flat.index, dtype="float64")), errors="coerce")
    ok = consumption.notna() & seconds.notna() & (consumption >= 0)
    points = pd.DataFrame({
        "timestamp_utc": pd.to_datetime(seconds[ok], unit="s", utc=True),
        "value": consumption[ok] / 1e6,
        "component": "host", "host": pd.NA,
        "source_format": FORMAT, "source_file": str(path), "source_row": flat.index[ok].astype("int64"),
    })
    report = frame.problems(FORMAT, str(path), flat.index[~ok], "report has no host consumption (µW) and timestamp")
    intervals, skew = frame.gauge_intervals(points, _KEY, max_gap_s)
    return frame.TelemetryRead(frame.conform(intervals), frame.conform_problems(pd.concat([report, skew], ignore_index=True)))


def read_prometheus(path: Path, *, max_gap_s: float, document: object | None = None) -> frame.TelemetryRead:
    """Host energy intervals from Scaphandre's Prometheus metrics (text scrape or query-API JSON)."""
    metrics = (ENERGY_METRIC, POWER_METRIC)
    if document is None:
        points, report = prometheus.read_text(path, FORMAT, metrics)
    else:
        points, report = prometheus.read_json(path, FORMAT, metrics, document)
    points = points.assign(component="host", host=host_of(points, ["hostname", "node"]))
    counted_hosts = points.loc[points["metric"] == ENERGY_METRIC, "host"].fillna("")
    energy_pts = points.loc[points["metric"] == ENERGY_METRIC]
    power_pts = points.loc[(points["metric"] == POWER_METRIC) & ~points["host"].fillna("").isin(counted_hosts)]
    energy, skew_e = frame.counter_intervals(energy_pts, _KEY, 1.0 / (frame.J_PER_KWH * 1e6))
    power, skew_p = frame.gauge_intervals(power_pts.assign(value=power_pts["value"] / 1e6), _KEY, max_gap_s)
    return frame.TelemetryRead(
        frame.conform(pd.concat([energy, power], ignore_index=True)),
        frame.conform_problems(pd.concat([report, skew_e, skew_p], ignore_index=True)),
    )

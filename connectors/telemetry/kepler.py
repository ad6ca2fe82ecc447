"""Kepler node energy, both metric generations, from Prometheus scrapes or query-API JSON.

The generation is detected from the metric names present:

* **≥ 0.10**: ``kepler_node_cpu_joules_total`` of ``zone="package"`` (RAPL zones overlap, so only
  the package zone is used; ``psys`` when a node has no package zone) summed over sockets
  (``path``) → component ``host``; ``kepler_node_gpu_joules_total`` per ``gpu_uuid`` → ``gpu``.
  Host = ``node_name``.
* **0.9.x and older**: ``kepler_node_package_joules_total`` + ``kepler_node_dram_joules_total``
  (every ``mode``: dynamic + idle) → ``host``; ``kepler_node_gpu_joules_total`` → ``gpu``.
  Host = ``node_name``, else ``instance``.

All counters are joules and reset when Kepler restarts (``increase()`` semantics, see ``frame``).
Container, pod and process series are not read: node series are what the bill can be matched to.
What does not belong here: parsing the exposition format (``prometheus``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from connectors.telemetry import frame, prometheus
from connectors.telemetry.labels import first_label, host_of

FORMAT = "kepler"
NEW_CPU = "kepler_node_cpu_joules_total"
NODE_GPU = "kepler_node_gpu_joules_total"
LEGACY_HOST = ("kepler_node_package_joules_total", "kepler_node_dram_joules_total")
KWH_PER_J = 1.0 / frame.J_PER_KWH
_KEY = ("host", "metric", "zone", "path", "package", "mode", "gpu_uuid")


def read(path: Path, *, document: object | None = None) -> frame.TelemetryRead:
    """Node CPU-package (or package + DRAM) and GPU energy intervals of a Kepler scrape file."""
    metrics = (NEW_CPU, NODE_GPU, *LEGACY_HOST)
    if document is None:
        points, report = prometheus.read_text(path, FORMAT, metrics)
    else:
        points, report = prometheus.read_json(path, FORMAT, metrics, document)
    for label in ("zone", "path", "package", "mode"):
        points[label] = first_label(points, [label])
    points = points.assign(
        host=host_of(points, ["node_name"]),
        gpu_uuid=first_label(points, ["gpu_uuid", "gpu"]),
        gpu_model=first_label(points, ["gpu_name"]),
        component=pd.Series(np.where(points["metric"] == NODE_GPU, "gpu", "host"), index=points.index, dtype="string"),
    )
    if (points["metric"] == NEW_CPU).any():
        cpu = points["metric"] == NEW_CPU
        has_package = points.loc[cpu, "zone"].eq("package").groupby(points.loc[cpu, "host"].fillna("")).transform("any")
        wanted_zone = has_package.map({True: "package", False: "psys"})
        keep = ~cpu | (points["zone"] == wanted_zone.reindex(points.index))
        points = points.loc[keep.fillna(False)]
    intervals, skew = frame.counter_intervals(points, _KEY, KWH_PER_J)
    return frame.TelemetryRead(frame.conform(intervals), frame.conform_problems(pd.concat([report, skew], ignore_index=True)))

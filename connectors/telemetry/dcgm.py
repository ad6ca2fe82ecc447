"""NVIDIA DCGM exporter: GPU energy from Prometheus scrapes or query-API JSON.

Per GPU (host + UUID), the ``DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION`` counter (mJ since driver load;
resets on reload) is differenced when present; otherwise the ``DCGM_FI_DEV_POWER_USAGE`` gauge (W)
is integrated. Never both for one GPU. Legacy 1.x names (``dcgm_total_energy_consumption``,
``dcgm_power_usage``) are read the same way. Labels: ``Hostname``/``hostname`` (else the scrape
target), ``UUID``/``uuid``/``gpu_uuid``, ``modelName``/``model_name``, and the Kubernetes
``pod``/``namespace`` of the pod that held the GPU at the interval's end. A GPU's series is keyed
by host and UUID only, so the counter stays continuous when the pod labels change.

What does not belong here: parsing the exposition format (``prometheus``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from connectors.telemetry import frame, prometheus
from connectors.telemetry.labels import first_label, host_of

FORMAT = "dcgm"
ENERGY_METRICS = ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "dcgm_total_energy_consumption")
POWER_METRICS = ("DCGM_FI_DEV_POWER_USAGE", "dcgm_power_usage")
KWH_PER_MJ = 1.0 / 3.6e9
_KEY = ("host", "gpu_uuid")


def read(path: Path, *, max_gap_s: float, document: object | None = None) -> frame.TelemetryRead:
    """Telemetry intervals of every GPU in a DCGM scrape file (``document`` set for query-API JSON)."""
    metrics = ENERGY_METRICS + POWER_METRICS
    if document is None:
        points, report = prometheus.read_text(path, FORMAT, metrics)
    else:
        points, report = prometheus.read_json(path, FORMAT, metrics, document)
    points = identify(points)
    is_energy = points["metric"].isin(ENERGY_METRICS)
    counted = points.loc[is_energy]
    by_counter = pd.MultiIndex.from_frame(counted[list(_KEY)].astype("string").fillna(""))
    gpu = pd.MultiIndex.from_frame(points[list(_KEY)].astype("string").fillna(""))
    power_only = ~is_energy & ~gpu.isin(by_counter)
    energy, skew_e = frame.counter_intervals(counted, _KEY, KWH_PER_MJ)
    power, skew_p = frame.gauge_intervals(points.loc[power_only], _KEY, max_gap_s)
    return frame.TelemetryRead(
        frame.conform(pd.concat([energy, power], ignore_index=True)),
        frame.conform_problems(pd.concat([report, skew_e, skew_p], ignore_index=True)),
    )


def identify(points: pd.DataFrame) -> pd.DataFrame:
    """Canonical identity columns from DCGM's label spellings."""
    return points.assign(
        component="gpu",
        host=host_of(points, ["Hostname", "hostname", "node", "kubernetes_node"]),
        instance_id=first_label(points, ["instance_id", "vm_id"]),
        gpu_uuid=first_label(points, ["UUID", "uuid", "gpu_uuid"]).fillna(first_label(points, ["pci_bus_id", "gpu"])),
        gpu_model=first_label(points, ["modelName", "model_name"]),
        pod=first_label(points, ["pod", "exported_pod"]),
        namespace=first_label(points, ["namespace", "exported_namespace"]),
    )

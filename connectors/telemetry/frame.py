"""The canonical telemetry frame, the problem report, and the series arithmetic every reader shares.

Readers turn their format into *points* (one measured value per row: a counter reading or a power
sample, with identity columns and ``source_row``), then call :func:`counter_intervals` or
:func:`gauge_intervals` here, which turn the points of each series into measurement intervals:

* counters (energy since boot/start) are differenced with Prometheus ``increase()`` semantics: a
  drop means the counter reset (driver reload, exporter restart), so the interval's energy is the
  new reading itself;
* gauges (power) are integrated with the trapezoid rule; an interval longer than ``max_gap_s`` is a
  gap and is **not** integrated (reported instead: the power during a gap is unknown);
* clock skew: within a series, a sample whose timestamp is not after the latest earlier sample (in
  file order) is skipped and reported; for a counter its energy still lands in the next interval.
* duplicate samples (same series, same time) are collapsed to the first and reported.

What does not belong here: file parsing (the per-format modules) and matching to the bill
(``footprint.reconcile``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

_TS = "datetime64[ns, UTC]"
J_PER_KWH = 3.6e6

#: Canonical telemetry columns and dtypes; documented in the package docstring.
TELEMETRY_COLUMNS: dict[str, str] = {
    "timestamp_utc": _TS,
    "interval_s": "float64",
    "energy_kwh": "float64",
    "power_w": "float64",
    "component": "string",
    "host": "string",
    "instance_id": "string",
    "gpu_uuid": "string",
    "gpu_model": "string",
    "project": "string",
    "pod": "string",
    "namespace": "string",
    "cloud_provider": "string",
    "cloud_region": "string",
    "source_format": "string",
    "source_file": "string",
    "source_row": "int64",
}
#: Identity columns readers may fill (everything but time, energy and provenance).
IDENTITY_COLUMNS: tuple[str, ...] = (
    "component", "host", "instance_id", "gpu_uuid", "gpu_model", "project", "pod", "namespace",
    "cloud_provider", "cloud_region",
)
PROBLEM_COLUMNS: dict[str, str] = {
    "source_format": "string", "source_file": "string", "source_row": "Int64", "reason": "string",
}
#: Components a telemetry interval measures: accelerators, or the host without accelerators (CPU, memory).
COMPONENTS = ("gpu", "host")


@dataclass(frozen=True)
class TelemetryRead:
    """Telemetry intervals in the canonical frame, plus every row or sample that could not be used."""

    samples: pd.DataFrame
    problems: pd.DataFrame

    @staticmethod
    def concat(parts: Sequence["TelemetryRead"]) -> "TelemetryRead":
        samples = [p.samples for p in parts if len(p.samples)]
        problems = [p.problems for p in parts if len(p.problems)]
        return TelemetryRead(
            conform(pd.concat(samples, ignore_index=True)) if samples else empty(),
            conform_problems(pd.concat(problems, ignore_index=True)) if problems else empty_problems(),
        )


def empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=d) for c, d in TELEMETRY_COLUMNS.items()})


def empty_problems() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=d) for c, d in PROBLEM_COLUMNS.items()})


def conform(frame: pd.DataFrame) -> pd.DataFrame:
    """Exactly the canonical columns, in order, with their dtypes (missing identity columns are null)."""
    out = {}
    for name, dtype in TELEMETRY_COLUMNS.items():
        missing = np.nan if dtype == "float64" else pd.NA
        series = frame[name] if name in frame.columns else pd.Series(missing, index=frame.index)
        if dtype == _TS:
            out[name] = pd.to_datetime(series, utc=True).astype(_TS)
        elif dtype == "string":
            text = series.astype("string").str.strip()
            out[name] = text.mask(text == "")
        else:
            out[name] = series.astype(dtype)
    return pd.DataFrame(out).reset_index(drop=True)


def conform_problems(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({c: frame[c].astype(d) for c, d in PROBLEM_COLUMNS.items()}).reset_index(drop=True)


def problems(fmt: str, path: str, rows: pd.Series | Sequence[int | None], reasons: pd.Series | str) -> pd.DataFrame:
    """A problem frame: one line per unusable row (``rows`` 1-based; None for a whole-file problem)."""
    rows = pd.Series(rows, dtype="Int64").reset_index(drop=True)
    if isinstance(reasons, str):
        reasons = pd.Series(reasons, index=rows.index)
    return conform_problems(pd.DataFrame({
        "source_format": fmt, "source_file": str(path), "source_row": rows, "reason": reasons.reset_index(drop=True),
    }))


def localise(naive: pd.Series, tz: str) -> tuple[pd.Series, pd.Series]:
    """UTC timestamps from naive local ones; returns (timestamps, reason) with reason set where it fails.

    Ambiguous wall-clock times (the repeated hour when DST ends) are resolved from the order of the
    samples when possible; otherwise they, and non-existent times (the skipped hour), are reported.
    """
    reason = pd.Series(pd.NA, index=naive.index, dtype="string")
    if tz.upper() == "UTC":
        return naive.dt.tz_localize("UTC"), reason
    try:
        local = naive.dt.tz_localize(tz, ambiguous="infer", nonexistent="NaT")
    except Exception:  # pytz/zoneinfo raise various errors when the order cannot resolve the repeated hour
        local = naive.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    failed = local.isna() & naive.notna()
    reason[failed] = "local time " + naive[failed].astype("string") + f" is ambiguous or does not exist in time zone {tz}"
    return local.dt.tz_convert("UTC"), reason


def number_with_unit(text: pd.Series) -> pd.Series:
    """Floats from values such as ``312.45 W``, ``95 %``, `` 81000 MiB`` or ``312.45``; NaN where not a number."""
    stripped = text.astype("string").str.strip()
    number = stripped.str.extract(r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?:[A-Za-z%]+)?$", expand=False)
    return pd.to_numeric(number, errors="coerce").astype("float64")


def _order(points: pd.DataFrame, key: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Points of each series in file order, with skewed and duplicate samples removed (and reported)."""
    pts = points.copy()
    pts["_key"] = pts[list(key)].astype("string").fillna("").groupby(list(key), sort=False).ngroup() if key else 0
    file_start = pts.groupby("source_file")["timestamp_utc"].transform("min")
    pts = pts.assign(_file_start=file_start).sort_values(["_key", "_file_start", "source_file", "source_row"], kind="stable")
    ns = pts["timestamp_utc"].astype("int64")
    prev_max = ns.groupby(pts["_key"].to_numpy()).cummax().groupby(pts["_key"].to_numpy()).shift()
    duplicate = pts.duplicated(["_key", "timestamp_utc"], keep="first").to_numpy()
    skewed = (ns < prev_max).to_numpy() & ~duplicate
    reason = pd.Series(pd.NA, index=pts.index, dtype="string")
    reason[duplicate] = "duplicate sample: same series and time as an earlier one; kept the first"
    reason[skewed] = (
        "timestamp " + pts["timestamp_utc"][skewed].astype("string")
        + " is before an earlier sample of the same series (clock skew): sample skipped"
    )
    bad = duplicate | skewed
    report = pts.loc[bad, ["source_format", "source_file", "source_row"]].assign(reason=reason[bad])
    return pts.loc[~bad], report


def counter_intervals(points: pd.DataFrame, key: Sequence[str], kwh_per_unit: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Intervals from cumulative energy counters (``value`` in a unit of ``kwh_per_unit`` kWh), resets handled."""
    pts, report = _order(points, key)
    group = pts["_key"].to_numpy()
    prev_value = pts["value"].groupby(group).shift()
    prev_time = pts["timestamp_utc"].groupby(group).shift()
    delta = pts["value"] - prev_value
    reset = delta < 0
    increase = delta.where(~reset, pts["value"])
    out = pts.assign(
        timestamp_utc=prev_time,
        interval_s=(pts["timestamp_utc"] - prev_time).dt.total_seconds(),
        energy_kwh=increase * kwh_per_unit,
    ).loc[prev_value.notna()]
    out["power_w"] = out["energy_kwh"] * J_PER_KWH / out["interval_s"]
    return out.drop(columns=["_key", "_file_start", "value"]), conform_problems(report)


def gauge_intervals(points: pd.DataFrame, key: Sequence[str], max_gap_s: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Intervals from power samples (``value`` in W), trapezoid rule; gaps over ``max_gap_s`` reported, not integrated."""
    pts, report = _order(points, key)
    group = pts["_key"].to_numpy()
    prev_value = pts["value"].groupby(group).shift()
    prev_time = pts["timestamp_utc"].groupby(group).shift()
    interval_s = (pts["timestamp_utc"] - prev_time).dt.total_seconds()
    mean_w = (pts["value"] + prev_value) / 2.0
    has_prev = prev_value.notna()
    gap = has_prev & (interval_s > max_gap_s)
    gap_report = pts.loc[gap, ["source_format", "source_file", "source_row"]].assign(
        reason="gap of " + interval_s[gap].round(1).astype("string")
        + f" s since the previous sample of this series (limit {max_gap_s:g} s): power not integrated across it"
    )
    keep = has_prev & ~gap
    out = pts.assign(timestamp_utc=prev_time, interval_s=interval_s, power_w=mean_w,
                     energy_kwh=mean_w * interval_s / J_PER_KWH).loc[keep]
    return out.drop(columns=["_key", "_file_start", "value"]), conform_problems(pd.concat([report, gap_report]))

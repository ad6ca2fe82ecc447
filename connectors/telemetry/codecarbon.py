"""CodeCarbon ``emissions.csv`` (2.x, 3.0–3.1 and 3.2+ headers, and per-task files), by column name.

* Time: ``timestamp`` is **naive local time** when the row was written (the run end for its last
  row); ``local_tz`` supplies the host's zone. A timestamp with an offset is taken as written.
* Rows are **cumulative per run**: CodeCarbon writes the run's totals so far at each flush, so the
  rows of one ``run_id`` are differenced (sorted by ``duration``); a run's first row covers
  [timestamp − duration, timestamp). Rows without a ``run_id`` stand alone.
* Energy: ``energy_consumed`` (kWh) includes CodeCarbon's own ``pue`` (default 1.0; files without
  the column are taken as 1.0), so IT energy = energy_consumed / pue: carbonledger applies the
  region's PUE itself, once. Each interval is split into a ``gpu`` and a ``host`` (CPU + RAM) part
  in proportion to ``gpu_energy`` : ``cpu_energy + ram_energy``.
* Identity: ``project_name``, ``cloud_provider``, ``cloud_region``, ``gpu_model`` without its
  ``N x `` count prefix. CodeCarbon records no host name or instance id.

What does not belong here: emissions (CodeCarbon's ``emissions`` uses its own intensity; carbonledger
recomputes from energy).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from carbonledger.errors import InputFormatError
from connectors.telemetry import frame

FORMAT = "codecarbon"
REQUIRED = ("timestamp", "duration", "energy_consumed", "cpu_energy", "gpu_energy", "ram_energy")


def read(path: Path, *, local_tz: str) -> frame.TelemetryRead:
    """Telemetry intervals (a gpu and a host part per row) of a CodeCarbon emissions file."""
    raw = pd.read_csv(path, dtype="string", keep_default_na=False)
    raw.columns = [c.strip() for c in raw.columns]
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise InputFormatError(str(path), f"not a CodeCarbon emissions file: missing column(s) {', '.join(missing)}")
    raw.index = pd.RangeIndex(1, len(raw) + 1)
    stamp = raw["timestamp"].str.strip()
    has_zone = stamp.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True).fillna(False)
    aware = pd.to_datetime(stamp.where(has_zone), utc=True, errors="coerce", format="ISO8601")
    naive = pd.to_datetime(stamp.where(~has_zone), errors="coerce", format="ISO8601")
    local, reason = frame.localise(naive, local_tz)
    end = aware.fillna(local)
    reason[end.isna() & reason.isna()] = "timestamp " + stamp[end.isna() & reason.isna()].fillna("") + " is not an ISO date-time"

    nums = {c: pd.to_numeric(raw[c].str.strip(), errors="coerce") for c in REQUIRED[1:]}
    pue = pd.to_numeric(raw["pue"].str.strip(), errors="coerce") if "pue" in raw.columns else pd.Series(1.0, index=raw.index)
    for name, values in (*nums.items(), ("pue", pue)):
        bad = reason.isna() & (values.isna() | (values < 0))
        reason[bad] = name + " " + _text(raw, name, bad) + " is not a non-negative number"
    bad_pue = reason.isna() & (pue < 1.0)
    reason[bad_pue] = "pue " + pue[bad_pue].astype("string") + " is below 1"

    ok = reason.isna()
    run = raw["run_id"].str.strip() if "run_id" in raw.columns else pd.Series("", index=raw.index, dtype="string")
    run = run.mask(run == "", "row:" + pd.Series(raw.index.astype(str), index=raw.index))
    rows = pd.DataFrame({"run": run, "end": end, "pue": pue, **nums}).loc[ok].sort_values(["run", "duration"], kind="stable")
    previous = rows.groupby("run")[list(nums)].shift().fillna(0.0)
    delta = rows[list(nums)] - previous
    went_back = (delta < -1e-12).any(axis=1)
    reason[went_back[went_back].index] = "totals decrease from the run's previous row: not a cumulative CodeCarbon row"
    delta, rows = delta.loc[~went_back], rows.loc[~went_back]

    it_kwh = delta["energy_consumed"] / rows["pue"]
    parts = delta["cpu_energy"] + delta["gpu_energy"] + delta["ram_energy"]
    gpu_share = (delta["gpu_energy"] / parts).where(parts > 0, 0.0)
    base = pd.DataFrame({
        "timestamp_utc": rows["end"] - pd.to_timedelta(delta["duration"], unit="s"),
        "interval_s": delta["duration"],
        "host": None,
        "project": _identity(raw, "project_name", rows.index),
        "gpu_model": _identity(raw, "gpu_model", rows.index).str.replace(r"^\s*\d+\s*x\s*", "", regex=True),
        "cloud_provider": _identity(raw, "cloud_provider", rows.index).str.lower(),
        "cloud_region": _identity(raw, "cloud_region", rows.index),
        "source_format": FORMAT,
        "source_file": str(path),
        "source_row": rows.index.astype("int64"),
    }, index=rows.index)
    gpu = base.assign(component="gpu", energy_kwh=it_kwh * gpu_share)
    host = base.assign(component="host", energy_kwh=it_kwh * (1.0 - gpu_share))
    samples = pd.concat([gpu, host], ignore_index=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        samples["power_w"] = (samples["energy_kwh"] * frame.J_PER_KWH / samples["interval_s"]).where(samples["interval_s"] > 0)
    bad = reason.notna()
    return frame.TelemetryRead(frame.conform(samples), frame.problems(FORMAT, str(path), raw.index[bad], reason[bad]))


def _identity(raw: pd.DataFrame, name: str, index: pd.Index) -> pd.Series:
    if name not in raw.columns:
        return pd.Series(pd.NA, index=index, dtype="string")
    return raw.loc[index, name].str.strip()


def _text(raw: pd.DataFrame, name: str, mask: pd.Series) -> pd.Series:
    if name not in raw.columns:
        return pd.Series("(missing)", index=mask[mask].index, dtype="string")
    return "'" + raw.loc[mask, name].fillna("") + "'"

"""``nvidia-smi --query-gpu=... --format=csv`` logs (with or without ``nounits``), and the collector's output.

Columns are found by name: header names are stripped of spaces and of a bracketed unit
(``power.draw [W]`` → ``power.draw``); values are stripped of spaces and of an appended unit
(``312.45 W``). A header is required (``noheader`` logs cannot be read by name).

* time: ``timestamp`` as ``YYYY/MM/DD HH:MM:SS.mmm`` is **local** (``local_tz``); a timestamp with
  an offset or ``Z`` (the ``carbonledger collect`` output) is taken as written;
* power: ``power.draw.average``, else ``power.draw``, else ``power.draw.instant`` (W), integrated
  per GPU; ``[N/A]``/``[Not Supported]`` samples are reported;
* energy: ``total_energy_consumption [mJ]`` (NVML's counter, written by ``carbonledger collect``)
  is differenced instead of integrating power when a GPU has it;
* identity: ``uuid`` (else ``pci.bus_id``, else ``index``), ``name`` as the model, and optional
  ``hostname``, ``instance_id``, ``project`` columns (the collector writes the first two).

What does not belong here: sampling NVML (``carbonledger.collect``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from carbonledger.errors import InputFormatError
from connectors.telemetry import frame

FORMAT = "nvidia-smi"
POWER_FIELDS = ("power.draw.average", "power.draw", "power.draw.instant")
ENERGY_FIELD = "total_energy_consumption"
KWH_PER_MJ = 1.0 / 3.6e9
_KEY = ("host", "gpu_uuid")


def header_names(header_line: str) -> list[str]:
    """Field names of an nvidia-smi CSV header, stripped of spaces and bracketed units."""
    return [re.sub(r"\s*\[[^\]]*\]\s*$", "", name).strip() for name in header_line.split(",")]


def read(path: Path, *, local_tz: str, max_gap_s: float) -> frame.TelemetryRead:
    """Telemetry intervals of every GPU in an nvidia-smi CSV log."""
    raw = pd.read_csv(path, dtype="string", skipinitialspace=True, keep_default_na=False)
    raw.columns = header_names(",".join(raw.columns))
    raw.index = pd.RangeIndex(1, len(raw) + 1)
    power_field = next((f for f in POWER_FIELDS if f in raw.columns), None)
    if "timestamp" not in raw.columns or (power_field is None and ENERGY_FIELD not in raw.columns):
        raise InputFormatError(str(path), "expected an nvidia-smi CSV header with 'timestamp' and 'power.draw' "
                               f"(or '{ENERGY_FIELD}'); found {', '.join(raw.columns)} (was the log written with noheader?)")
    stamp = raw["timestamp"].str.strip()
    has_zone = stamp.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True).fillna(False)
    aware = pd.to_datetime(stamp.where(has_zone), utc=True, errors="coerce", format="ISO8601")
    naive = pd.to_datetime(stamp.where(~has_zone).str.replace("/", "-"), errors="coerce", format="ISO8601")
    local, zone_reason = frame.localise(naive, local_tz)
    when = aware.fillna(local)
    reason = zone_reason.copy()
    reason[when.isna() & reason.isna()] = "timestamp " + stamp[when.isna() & reason.isna()].fillna("") + " is not YYYY/MM/DD HH:MM:SS.mmm"
    identity = pd.DataFrame({
        "component": "gpu",
        "host": _column(raw, "hostname", "host"),
        "instance_id": _column(raw, "instance_id"),
        "gpu_uuid": _column(raw, "uuid").fillna(_column(raw, "pci.bus_id")).fillna(_column(raw, "index")),
        "gpu_model": _column(raw, "name"),
        "project": _column(raw, "project"),
        "timestamp_utc": when,
        "source_row": raw.index.astype("int64"),
        "source_format": FORMAT,
        "source_file": str(path),
    }, index=raw.index)
    energy = frame.number_with_unit(raw[ENERGY_FIELD]) if ENERGY_FIELD in raw.columns else pd.Series(float("nan"), index=raw.index)
    power = frame.number_with_unit(raw[power_field]) if power_field else pd.Series(float("nan"), index=raw.index)
    gpu_key = pd.MultiIndex.from_frame(identity[list(_KEY)].astype("string").fillna(""))
    counted = gpu_key.isin(gpu_key[energy.notna().to_numpy()])
    value = energy.where(counted, power)
    field = pd.Series(power_field or ENERGY_FIELD, index=raw.index).where(~counted, ENERGY_FIELD)
    bad_value = value.isna() & reason.isna()
    reason[bad_value] = field[bad_value] + " is not a number (" + _values_at(raw, field[bad_value]) + ")"
    ok = reason.isna()
    points = identity.assign(value=value)
    report = frame.problems(FORMAT, str(path), raw.index[~ok], reason[~ok])
    by_counter, skew_c = frame.counter_intervals(points.loc[ok & counted], _KEY, KWH_PER_MJ)
    by_power, skew_p = frame.gauge_intervals(points.loc[ok & ~counted], _KEY, max_gap_s)
    return frame.TelemetryRead(
        frame.conform(pd.concat([by_counter, by_power], ignore_index=True)),
        frame.conform_problems(pd.concat([report, skew_c, skew_p], ignore_index=True)),
    )


def _column(raw: pd.DataFrame, *names: str) -> pd.Series:
    for name in names:
        if name in raw.columns:
            text = raw[name].str.strip()
            return text.mask(text.isin(["", "[N/A]", "[Not Supported]"]))
    return pd.Series(pd.NA, index=raw.index, dtype="string")


def _values_at(raw: pd.DataFrame, fields: pd.Series) -> pd.Series:
    """The raw text of each row's field named in ``fields`` (one vectorised pick per distinct field)."""
    out = pd.Series("", index=fields.index, dtype="string")
    for name in fields.unique():
        rows = fields.index[fields == name]
        out[rows] = raw.loc[rows, name].fillna("")
    return out

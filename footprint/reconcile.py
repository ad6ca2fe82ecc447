"""Reconciliation: measured telemetry against the billed, modelled ledger (pure pandas).

``reconcile(ledger, telemetry, modelled_gpu_it_kwh=...)`` returns the ledger with measured energy
in place of modelled energy where telemetry covers a billed resource, and what did not match.

**Matching.** Only ``modelled`` lines (compute with a hardware profile, PUE and intensity) take
part. A telemetry interval is matched, in this order, by:

1. ``instance_id`` = the line's ``ResourceId`` (compared by its last path segment, lower-case, so
   an ARN ``…:instance/i-0abc`` or an Azure ``…/virtualMachines/vm-1`` id matches ``i-0abc``/``vm-1``);
2. ``host`` = the ``ResourceId`` or a host tag of the line (``host``, ``hostname``, ``name``,
   ``node``, ``nodename``, ``kubernetes.io/hostname``), compared without domain (``ip-10-0-0-7.ec2.internal`` → ``ip-10-0-0-7``);
3. ``project`` = the line's ``x_Project`` (telemetry with neither instance nor host, e.g. CodeCarbon).

and by time: intervals are split at UTC hour boundaries and each hour goes to the matched lines
whose charge period contains it. Several lines of one key and hour share its energy in proportion
to their modelled energy of that component (so a CPU-only line takes no GPU telemetry), or to their
time in the hour when none has any.

**Replacement.** Per line and component (``gpu``; ``host`` = CPU and memory), coverage = the
measured share of the line's time (for GPUs also × GPUs seen / ``x_GpuCount``). The component's
IT energy becomes measured + modelled × (1 − coverage); components without telemetry stay
modelled. Then, once each: facility energy = IT × ``x_Pue``; CO2e = energy × ``x_CarbonIntensity``
/ 1000 (market-based scaled by the same factor). The range collapses to the measured energy ±
``measurement_uncertainty`` plus the model range of any unmeasured remainder.
``x_EstimateBasis = "measured"``.

**Calibration.** Per component, factor = measured / modelled IT energy over the covered part of
matched lines, per (instance type, project), else per instance type, when at least
``min_calibration_hours`` instance-hours were measured. Unmatched modelled lines of the same kind
get IT energy × factor (range scaled alike), ``x_EstimateBasis = "calibrated"`` and the factor in
``x_EstimateNote``.

Rows, costs and every billing column are untouched: the control totals of the ledger are unchanged.
What does not belong here: reading telemetry (``connectors.telemetry``), the power model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from carbonledger import schema
from connectors.tags import first_tag_value, normalise_tag_key

NS_PER_HOUR = 3_600_000_000_000
#: Default relative uncertainty of measured energy (NVML/DCGM power readings: ±5 % order of magnitude).
DEFAULT_MEASUREMENT_UNCERTAINTY = 0.05
DEFAULT_MIN_CALIBRATION_HOURS = 1.0
HOST_TAG_KEYS = tuple(normalise_tag_key(k) for k in ("host", "hostname", "name", "node", "nodename", "kubernetes.io/hostname"))
COMPONENTS = ("gpu", "host")
BASIS_MEASURED = "measured"
BASIS_CALIBRATED = "calibrated"


@dataclass(frozen=True)
class Reconciled:
    """The reconciled ledger and what the reconciliation found.

    * ``summary``: JSON-ready totals (``telemetry_energy_kwh``, ``telemetry_matched_kwh``,
      ``telemetry_unmatched_kwh``, line counts, measured / modelled ratio, unmeasured GPU hours);
    * ``comparison``: per matched key, UTC hour and component: modelled vs measured IT kWh, ratio;
    * ``unmatched_telemetry``: telemetry energy per source, host/instance/project and hour that no line took;
    * ``unmeasured_gpu``: billed GPU lines (or the part of them) without telemetry, in GPU-hours;
    * ``calibration``: the factors derived and where they were applied.
    """

    ledger: pd.DataFrame
    summary: dict[str, Any]
    comparison: pd.DataFrame
    unmatched_telemetry: pd.DataFrame
    unmeasured_gpu: pd.DataFrame
    calibration: pd.DataFrame


def reconcile(
    ledger: pd.DataFrame,
    telemetry: pd.DataFrame,
    *,
    modelled_gpu_it_kwh: pd.Series,
    measurement_uncertainty: float = DEFAULT_MEASUREMENT_UNCERTAINTY,
    min_calibration_hours: float = DEFAULT_MIN_CALIBRATION_HOURS,
) -> Reconciled:
    """Measured energy into the ledger (see the module doc); ``modelled_gpu_it_kwh`` is the
    accelerator part of each line's modelled ``x_ItEnergyKwh`` (index-aligned with ``ledger``)."""
    schema.validate(ledger, schema.LEDGER_COLUMNS, "ledger entering reconciliation")
    lines = _lines(ledger, modelled_gpu_it_kwh)
    hourly = _telemetry_hours(telemetry)
    line_keys = _line_keys(lines)
    hourly = _resolve_keys(hourly, line_keys)
    matched_keys = hourly.loc[hourly["ns"].notna(), ["ns", "key"]].drop_duplicates()
    candidates = line_keys.merge(matched_keys, on=["ns", "key"])
    line_hours = _line_hours(lines.loc[candidates["line"].unique()]).merge(candidates, on="line")
    pairs = _allocate(hourly, line_hours, lines)

    measured, coverage = _per_line(pairs, lines)
    model = {"gpu": lines["gpu_it_kwh"], "host": lines["x_ItEnergyKwh"] - lines["gpu_it_kwh"]}
    has = {c: measured[c].notna() for c in COMPONENTS}
    is_measured = has["gpu"] | has["host"]
    measured_kwh = sum(measured[c].fillna(0.0) for c in COMPONENTS)

    factors = _calibration(lines, model, measured, coverage, has, min_calibration_hours)
    calibrated_factor = {c: _factor_for(lines, factors, c).where(~is_measured) for c in COMPONENTS}
    is_calibrated = ~is_measured & (calibrated_factor["gpu"].notna() | calibrated_factor["host"].notna())
    new = {
        c: pd.Series(np.where(has[c], measured[c].fillna(0.0) + model[c] * (1.0 - coverage[c]),
                              model[c] * calibrated_factor[c].fillna(1.0)), index=lines.index)
        for c in COMPONENTS
    }
    out = _rewrite(ledger, lines, new, model, measured_kwh, is_measured, is_calibrated,
                   measurement_uncertainty, coverage, has, calibrated_factor, pairs)
    schema.validate(out, schema.LEDGER_COLUMNS, "reconciled ledger")
    comparison = _comparison(pairs)
    unmatched = _unmatched(hourly, pairs)
    unmeasured = _unmeasured_gpu(lines, coverage)
    total = float(telemetry["energy_kwh"].sum())
    matched_total = float(pairs["measured_it_kwh"].sum()) if len(pairs) else 0.0
    covered_model = float(comparison["modelled_it_kwh"].sum()) if len(comparison) else 0.0
    summary = {
        # rounded to 1e-9 kWh (1 J is 2.8e-7 kWh) so that float noise does not show as a difference
        "telemetry_energy_kwh": round(total, 9),
        "telemetry_matched_kwh": round(matched_total, 9),
        "telemetry_unmatched_kwh": round(float(unmatched["energy_kwh"].sum()), 9),
        "telemetry_rows": int(len(telemetry)),
        "lines_measured": int(is_measured.sum()),
        "lines_calibrated": int(is_calibrated.sum()),
        "measured_over_modelled": matched_total / covered_model if covered_model else None,
        "unmeasured_gpu_hours": float(unmeasured["unmeasured_gpu_hours"].sum()) if len(unmeasured) else 0.0,
        "measurement_uncertainty": measurement_uncertainty,
        "calibration_factors": json.loads(factors.to_json(orient="records")) if len(factors) else [],
    }
    return Reconciled(out, summary, comparison, unmatched, unmeasured, factors)


# --- keys ---------------------------------------------------------------------------------------

def resource_key(values: pd.Series) -> pd.Series:
    """Last path segment (and last ``:`` part) of an id or host, lower-case, without domain."""
    text = values.astype("string").str.strip().str.lower().str.rstrip("/")
    last = text.str.split("/").str[-1].str.split(":").str[-1]
    short = last.str.split(".").str[0]
    return short.mask(short == "")


def _lines(ledger: pd.DataFrame, gpu_it_kwh: pd.Series) -> pd.DataFrame:
    """The modelled compute lines (not storage or network) with their numeric period and modelled GPU share."""
    modelled = ledger["x_EstimateBasis"] == "modelled"
    if "x_UsageKind" in ledger.columns:
        modelled &= ledger["x_UsageKind"] == "compute"
    lines = ledger.loc[modelled].copy()
    lines["gpu_it_kwh"] = gpu_it_kwh.reindex(lines.index).fillna(0.0).clip(upper=lines["x_ItEnergyKwh"])
    lines["start_ns"] = lines["ChargePeriodStart"].array.as_unit("ns").asi8
    lines["end_ns"] = lines["ChargePeriodEnd"].array.as_unit("ns").asi8
    lines["duration_s"] = (lines["end_ns"] - lines["start_ns"]) / 1e9
    return lines.loc[lines["duration_s"] > 0]


def _line_keys(lines: pd.DataFrame) -> pd.DataFrame:
    """(line, ns, key): resource keys from ResourceId and host tags, project keys from x_Project."""
    rid = pd.DataFrame({"line": lines.index, "ns": "resource", "key": resource_key(lines["ResourceId"]).to_numpy()})
    host = pd.DataFrame({"line": lines.index, "ns": "resource", "key": resource_key(host_tag(lines["Tags"])).to_numpy()})
    project = pd.DataFrame({"line": lines.index, "ns": "project",
                            "key": lines["x_Project"].astype("string").str.strip().str.lower().to_numpy()})
    keys = pd.concat([rid, host, project], ignore_index=True).dropna(subset=["key"])
    return keys.drop_duplicates().astype({"ns": "string", "key": "string"})


def host_tag(tags: pd.Series) -> pd.Series:
    """The first host-like tag value of each line (tags parsed once per distinct Tags string)."""
    return first_tag_value(tags, HOST_TAG_KEYS)


def _resolve_keys(hourly: pd.DataFrame, keys: pd.DataFrame) -> pd.DataFrame:
    """Each telemetry hour's match: instance id, else host, else project (``ns``/``key``/``match_by``)."""
    resources = set(keys.loc[keys["ns"] == "resource", "key"])
    projects = set(keys.loc[keys["ns"] == "project", "key"])
    instance = resource_key(hourly["instance_id"])
    host = resource_key(hourly["host"])
    project = hourly["project"].astype("string").str.strip().str.lower()
    by_instance = instance.isin(resources).fillna(False)
    by_host = ~by_instance & host.isin(resources).fillna(False)
    by_project = ~by_instance & ~by_host & project.isin(projects).fillna(False)
    hourly["match_by"] = pd.Series(pd.NA, index=hourly.index, dtype="string")
    hourly.loc[by_instance, "match_by"] = "instance_id"
    hourly.loc[by_host, "match_by"] = "host"
    hourly.loc[by_project, "match_by"] = "project"
    hourly["ns"] = hourly["match_by"].map({"instance_id": "resource", "host": "resource", "project": "project"}).astype("string")
    hourly["key"] = instance.where(by_instance, host.where(by_host, project.where(by_project))).astype("string")
    return hourly


# --- time ---------------------------------------------------------------------------------------

def _split_hours(start_ns: np.ndarray, end_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each [start, end) cut at UTC hours: (row of the piece, hour start ns, piece length ns)."""
    first = start_ns // NS_PER_HOUR
    last = np.maximum((end_ns - 1) // NS_PER_HOUR, first)
    count = (last - first + 1).astype(np.int64)
    row = np.repeat(np.arange(len(start_ns)), count)
    offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    hour = (first[row] + offset) * NS_PER_HOUR
    length = np.minimum(end_ns[row], hour + NS_PER_HOUR) - np.maximum(start_ns[row], hour)
    return row, hour, np.maximum(length, 0)


def _telemetry_hours(telemetry: pd.DataFrame) -> pd.DataFrame:
    """Telemetry energy and covered seconds per series and UTC hour."""
    start = telemetry["timestamp_utc"].array.as_unit("ns").asi8
    interval_ns = (telemetry["interval_s"].to_numpy(dtype="float64") * 1e9).astype(np.int64)
    row, hour, length = _split_hours(start, start + interval_ns)
    share = np.where(interval_ns[row] > 0, length / np.maximum(interval_ns[row], 1), 1.0)
    ident = ["component", "host", "instance_id", "gpu_uuid", "project", "source_format", "source_file"]
    pieces = telemetry[ident].iloc[row].reset_index(drop=True).astype("string")
    pieces["hour_ns"] = hour
    pieces["energy_kwh"] = telemetry["energy_kwh"].to_numpy(dtype="float64")[row] * share
    pieces["covered_s"] = length / 1e9
    grouped = pieces.fillna({c: "" for c in ident}).groupby(ident + ["hour_ns"], as_index=False)[["energy_kwh", "covered_s"]].sum()
    return grouped.replace({c: {"": pd.NA} for c in ident}).astype({c: "string" for c in ident})


def _line_hours(lines: pd.DataFrame) -> pd.DataFrame:
    """Each line cut at UTC hours, with its seconds and modelled IT energy in each hour."""
    row, hour, length = _split_hours(lines["start_ns"].to_numpy(), lines["end_ns"].to_numpy())
    seconds = length / 1e9
    out = pd.DataFrame({"line": lines.index.to_numpy()[row], "hour_ns": hour, "line_s": seconds})
    frac = seconds / lines["duration_s"].to_numpy()[row]
    for c, total in (("gpu", lines["gpu_it_kwh"]), ("host", lines["x_ItEnergyKwh"] - lines["gpu_it_kwh"])):
        out[f"model_{c}_kwh"] = total.to_numpy()[row] * frac
    return out


def _allocate(hourly: pd.DataFrame, line_hours: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    """Matched telemetry (per key, hour, component) shared among the lines of that key and hour."""
    matched = hourly.loc[hourly["ns"].notna()]
    per_key = matched.groupby(["ns", "key", "match_by", "hour_ns", "component"], as_index=False).agg(
        energy_kwh=("energy_kwh", "sum"), gpus=("gpu_uuid", "nunique"),
        sources=("source_format", lambda s: ",".join(sorted(set(s.dropna())))),
    )
    series_cover = matched.groupby(["ns", "key", "hour_ns", "component", "gpu_uuid", "host", "instance_id", "source_file"],
                                   dropna=False, as_index=False)["covered_s"].sum()
    cover = series_cover.groupby(["ns", "key", "hour_ns", "component"], as_index=False)["covered_s"].max()
    per_key = per_key.merge(cover, on=["ns", "key", "hour_ns", "component"])
    pairs = per_key.merge(line_hours, on=["ns", "key", "hour_ns"])
    if pairs.empty:
        return pairs.assign(measured_it_kwh=pd.Series(dtype="float64"), model_kwh=pd.Series(dtype="float64"),
                            cover_s=pd.Series(dtype="float64"))
    pairs["model_kwh"] = np.where(pairs["component"] == "gpu", pairs["model_gpu_kwh"], pairs["model_host_kwh"])
    # shared by the component's modelled energy (a CPU-only line takes no GPU telemetry); by time if none has any
    group = [pairs[g] for g in ("ns", "key", "hour_ns", "component")]
    by_model = pairs["model_kwh"].groupby(group).transform("sum") > 0
    weight = pairs["model_kwh"].where(by_model, pairs["line_s"])
    pairs = pairs.loc[weight > 0]
    weight = weight.loc[pairs.index]
    pairs["measured_it_kwh"] = pairs["energy_kwh"] * weight / weight.groupby([pairs[g] for g in ("ns", "key", "hour_ns", "component")]).transform("sum")
    gpu_count = lines["x_GpuCount"].reindex(pairs["line"]).to_numpy()
    seen = np.where((pairs["component"] == "gpu") & (gpu_count > 0) & (pairs["gpus"] > 0),
                    np.minimum(pairs["gpus"] / np.where(gpu_count > 0, gpu_count, 1.0), 1.0), 1.0)
    pairs["cover_s"] = np.minimum(pairs["covered_s"], pairs["line_s"]) * seen
    return pairs


def _per_line(pairs: pd.DataFrame, lines: pd.DataFrame) -> tuple[dict[str, pd.Series], dict[str, pd.Series]]:
    """Measured kWh (NaN where none) and coverage fraction (0..1) per line and component."""
    measured, coverage, index = {}, {}, lines.index
    for c in COMPONENTS:
        part = pairs.loc[pairs["component"] == c] if len(pairs) else pairs
        by_line = part.groupby("line")[["measured_it_kwh", "cover_s"]].sum() if len(part) else pd.DataFrame(columns=["measured_it_kwh", "cover_s"])
        measured[c] = by_line["measured_it_kwh"].reindex(index).astype("float64")
        covered_s = by_line["cover_s"].reindex(index).astype("float64").fillna(0.0)
        coverage[c] = (covered_s / lines["duration_s"]).clip(0.0, 1.0)
    return measured, coverage


# --- calibration ----------------------------------------------------------------------------------

def _calibration(lines: pd.DataFrame, model: dict[str, pd.Series], measured: dict[str, pd.Series],
                 coverage: dict[str, pd.Series], has: dict[str, pd.Series], min_hours: float) -> pd.DataFrame:
    """Factors measured / modelled per component and (instance type, project) or instance type."""
    frames = []
    for c in COMPONENTS:
        cov = coverage[c]
        base = pd.DataFrame({
            "x_InstanceType": lines["x_InstanceType"], "x_Project": lines["x_Project"],
            "measured_kwh": measured[c].fillna(0.0), "modelled_kwh": model[c] * cov,
            "measured_hours": lines["x_UsageHours"].fillna(0.0) * cov,
        }).loc[has[c]]
        for keys, level in ((["x_InstanceType", "x_Project"], "instance_type+project"), (["x_InstanceType"], "instance_type")):
            g = base.groupby(keys, dropna=False, as_index=False)[["measured_kwh", "modelled_kwh", "measured_hours"]].sum()
            g = g.loc[(g["measured_hours"] >= min_hours) & (g["modelled_kwh"] > 0)]
            frames.append(g.assign(component=c, level=level, factor=g["measured_kwh"] / g["modelled_kwh"]))
    if not frames or all(f.empty for f in frames):
        return pd.DataFrame(columns=["component", "level", "x_InstanceType", "x_Project", "factor", "measured_kwh", "modelled_kwh", "measured_hours"])
    out = pd.concat([f for f in frames if len(f)], ignore_index=True)
    return out[["component", "level", "x_InstanceType", "x_Project", "factor", "measured_kwh", "modelled_kwh", "measured_hours"]]


def _factor_for(lines: pd.DataFrame, factors: pd.DataFrame, component: str) -> pd.Series:
    """The factor each line gets for ``component``: (type, project) level, else type level; NaN if none."""
    mine = factors.loc[factors["component"] == component]
    keyed = lines[["x_InstanceType", "x_Project"]].reset_index()
    both = keyed.merge(mine.loc[mine["level"] == "instance_type+project", ["x_InstanceType", "x_Project", "factor"]],
                       on=["x_InstanceType", "x_Project"], how="left").set_index("index")["factor"].astype("float64")
    by_type = keyed.merge(mine.loc[mine["level"] == "instance_type", ["x_InstanceType", "factor"]],
                          on="x_InstanceType", how="left").set_index("index")["factor"].astype("float64")
    return both.fillna(by_type).reindex(lines.index).astype("float64")


# --- outputs ---------------------------------------------------------------------------------------

def _rewrite(ledger: pd.DataFrame, lines: pd.DataFrame, new: dict[str, pd.Series], model: dict[str, pd.Series],
             measured_kwh: pd.Series, is_measured: pd.Series, is_calibrated: pd.Series, u: float,
             coverage: dict[str, pd.Series], has: dict[str, pd.Series], factor: dict[str, pd.Series],
             pairs: pd.DataFrame) -> pd.DataFrame:
    """The ledger with the reconciled lines' energy, emissions, power, basis and note rewritten.

    Where the ledger splits IT energy by component (``x_GpuEnergyKwh``, ``x_CpuEnergyKwh``,
    ``x_MemoryEnergyKwh``), the GPU share becomes the new GPU energy and CPU and memory are scaled
    with the new host energy, so the shares still add up to ``x_ItEnergyKwh``.
    """
    out = ledger.copy()
    idx = lines.index[is_measured | is_calibrated]
    if len(idx) == 0:
        return out
    old = lines.loc[idx]
    it = new["gpu"].loc[idx] + new["host"].loc[idx]
    if "x_GpuEnergyKwh" in out.columns:
        host_scale = (new["host"].loc[idx] / model["host"].loc[idx].where(model["host"].loc[idx] > 0)).fillna(1.0)
        out.loc[idx, "x_GpuEnergyKwh"] = new["gpu"].loc[idx]
        for column in ("x_CpuEnergyKwh", "x_MemoryEnergyKwh"):
            out.loc[idx, column] = old[column] * host_scale
    central = old["x_EnergyKwh"].where(old["x_EnergyKwh"] > 0)
    low_ratio = (old["x_EnergyKwhLow"] / central).fillna(1.0)
    high_ratio = (old["x_EnergyKwhHigh"] / central).fillna(1.0)
    meas = measured_kwh.loc[idx].where(is_measured.loc[idx], 0.0)
    rest = it - meas
    it_low = meas * (1.0 - u) + rest * low_ratio
    it_high = meas * (1.0 + u) + rest * high_ratio
    pue = old["x_Pue"].fillna(1.0)
    intensity = old["x_CarbonIntensity"].fillna(0.0)
    market_ratio = (old["x_Co2eKgMarket"] / old["x_Co2eKg"].where(old["x_Co2eKg"] > 0)).fillna(1.0)
    out.loc[idx, "x_ItEnergyKwh"] = it
    for suffix, value in (("", it), ("Low", it_low), ("High", it_high)):
        out.loc[idx, f"x_EnergyKwh{suffix}"] = value * pue
        out.loc[idx, f"x_Co2eKg{suffix}"] = value * pue * intensity / 1000.0
    out.loc[idx, "x_Co2eKgMarket"] = out.loc[idx, "x_Co2eKg"] * market_ratio
    hours = old["x_UsageHours"].where(old["x_UsageHours"] > 0)
    out.loc[idx, "x_PowerW"] = (it * 1000.0 / hours).fillna(old["x_PowerW"])
    out.loc[idx, "x_EstimateBasis"] = np.where(is_measured.loc[idx], BASIS_MEASURED, BASIS_CALIBRATED)
    out.loc[idx, "x_EstimateNote"] = _notes(lines.loc[idx], is_measured.loc[idx], coverage, has, factor, pairs, u)
    return out


def _notes(lines: pd.DataFrame, is_measured: pd.Series, coverage: dict[str, pd.Series], has: dict[str, pd.Series],
           factor: dict[str, pd.Series], pairs: pd.DataFrame, u: float) -> pd.Series:
    """Why each reconciled line has its basis: coverage and source, or the calibration factor."""
    parts = []
    for c in COMPONENTS:
        pct = (coverage[c].reindex(lines.index) * 100).round(0).astype("Int64").astype("string")
        covered = c + " measured for " + pct + "% of the period"
        modelled = pd.Series(f"{c} modelled", index=lines.index, dtype="string")
        parts.append(covered.where(has[c].reindex(lines.index), modelled))
    how = pairs.groupby("line").agg(by=("match_by", lambda s: "/".join(sorted(set(s)))),
                                    src=("sources", lambda s: ",".join(sorted(set(",".join(s).split(","))))))
    how = how.reindex(lines.index)
    measured_note = ("telemetry (" + how["src"].fillna("?") + ", matched by " + how["by"].fillna("?") + "): "
                     + parts[0] + ", " + parts[1] + f"; PUE and grid intensity applied once; ±{u:.0%} measurement uncertainty")
    fac = {c: factor[c].reindex(lines.index) for c in COMPONENTS}
    fac_text = {c: (c + " x " + fac[c].round(3).astype("string")).fillna(f"{c} x 1 (no factor)") for c in COMPONENTS}
    calibrated_note = ("calibrated from telemetry of " + lines["x_InstanceType"].astype("string").fillna("?")
                       + " lines: modelled IT energy " + fac_text["gpu"] + ", " + fac_text["host"])
    return measured_note.where(is_measured, calibrated_note).astype("string")


def _comparison(pairs: pd.DataFrame) -> pd.DataFrame:
    """Modelled vs measured IT energy per matched key, UTC hour and component."""
    cols = ["match_by", "key", "hour_utc", "component", "lines", "modelled_it_kwh", "measured_it_kwh", "measured_over_modelled", "covered_s"]
    if pairs.empty:
        return pd.DataFrame(columns=cols)
    pairs = pairs.assign(modelled_covered=pairs["model_kwh"] * np.where(pairs["line_s"] > 0, pairs["cover_s"] / pairs["line_s"], 0.0))
    g = pairs.groupby(["match_by", "key", "hour_ns", "component"], as_index=False).agg(
        lines=("line", "nunique"), modelled_it_kwh=("modelled_covered", "sum"),
        measured_it_kwh=("measured_it_kwh", "sum"), covered_s=("covered_s", "max"))
    g["measured_over_modelled"] = g["measured_it_kwh"] / g["modelled_it_kwh"].where(g["modelled_it_kwh"] > 0)
    g["hour_utc"] = pd.to_datetime(g["hour_ns"], unit="ns", utc=True)
    return g[cols]


def _unmatched(hourly: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Telemetry energy no ledger line took: unknown host/instance/project, or outside any billed hour."""
    taken = pairs[["ns", "key", "hour_ns", "component"]].drop_duplicates().assign(taken=True) if len(pairs) else None
    h = hourly if taken is None else hourly.merge(taken, on=["ns", "key", "hour_ns", "component"], how="left")
    left = h.loc[h["taken"].isna()] if taken is not None else h
    reason = np.where(left["ns"].isna(), "no billed resource with this instance id, host or project",
                      "resource matched but no billed line covers this hour")
    out = left.assign(reason=reason, hour_utc=pd.to_datetime(left["hour_ns"], unit="ns", utc=True))
    keys = ["source_format", "host", "instance_id", "project", "component", "hour_utc", "reason"]
    return out.groupby(keys, dropna=False, as_index=False)["energy_kwh"].sum()


def _unmeasured_gpu(lines: pd.DataFrame, coverage: dict[str, pd.Series]) -> pd.DataFrame:
    """Billed GPU-hours with no telemetry (whole lines, or the uncovered part of measured ones)."""
    gpu_lines = lines.loc[lines["x_GpuCount"] > 0]
    uncovered = 1.0 - coverage["gpu"].reindex(gpu_lines.index)
    hours = gpu_lines["x_UsageHours"].fillna(0.0) * gpu_lines["x_GpuCount"] * uncovered
    out = gpu_lines[["ResourceId", "x_InstanceType", "x_GpuModel", "x_Project", "ProviderName", "RegionId",
                     "ChargePeriodStart", "ChargePeriodEnd", "BilledCost", "BillingCurrency"]].assign(
        unmeasured_gpu_hours=hours, uncovered_fraction=uncovered)
    return out.loc[hours > 0].reset_index(names="line")

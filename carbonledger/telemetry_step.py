"""The ``--telemetry`` step of ``carbonledger estimate``: read telemetry, reconcile the accounted ledger, write the findings.

``apply_telemetry`` takes an :class:`~carbonledger.engine.Accounted` result and returns a new one
whose ledger carries measured and calibrated energy (same rows, same cost: the control totals are
re-checked) and whose summary gains ``telemetry_energy_kwh``, ``telemetry_matched_kwh``,
``telemetry_unmatched_kwh`` and a ``reconciliation`` block. ``write_findings`` writes the
reconciliation frames as CSV next to the ledger. ``estimate_with_telemetry`` is
``engine.estimate`` with this step between accounting and writing.
What does not belong here: the matching rules (``footprint.reconcile``), the readers (``connectors.telemetry``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import pandas as pd

from carbonledger.config import Config, Source
from carbonledger.controls import ControlTotals, TieOutError
from carbonledger.engine import Accounted, Outputs, account, read_sources, write_outputs
from connectors.telemetry import TelemetryRead, read_telemetry
from footprint.energy import PowerModel
from footprint.hardware import HardwareCatalogue
from footprint.summary import summarise
from footprint.reconcile import Reconciled, reconcile

log = logging.getLogger("carbonledger")

#: CSV files ``write_findings`` writes, by ``Reconciled`` attribute (plus ``telemetry_problems.csv``).
FINDINGS = {
    "comparison": "reconciliation_comparison.csv",
    "unmatched_telemetry": "telemetry_unmatched.csv",
    "unmeasured_gpu": "gpu_hours_without_telemetry.csv",
    "calibration": "calibration_factors.csv",
}


def modelled_gpu_it_kwh(ledger: pd.DataFrame, model: PowerModel, catalogue: HardwareCatalogue) -> pd.Series:
    """The accelerator part of each modelled line's IT energy, kWh (the power model with and without GPUs).

    Used when the ledger has no ``x_GpuEnergyKwh`` column (that column, where the ledger has it, is the same figure).
    """
    hw = catalogue.lookup(ledger["ProviderName"], ledger["x_InstanceType"])
    with_gpu = model.instance_power_w(hw, ledger["x_WorkloadClass"])["power_w"]
    without_gpu = model.instance_power_w(hw.assign(x_GpuCount=0.0), ledger["x_WorkloadClass"])["power_w"]
    gpu_w = (with_gpu - without_gpu).fillna(0.0).clip(lower=0.0)
    modelled = ledger["x_EstimateBasis"] == "modelled"
    return (gpu_w * ledger["x_UsageHours"].fillna(0.0) / 1000.0).where(modelled, 0.0)


def apply_telemetry(
    result: Accounted,
    telemetry: TelemetryRead,
    config: Config | None = None,
) -> tuple[Accounted, Reconciled]:
    """The accounted result with telemetry reconciled into its ledger and summary."""
    config = config or Config()
    if "x_GpuEnergyKwh" in result.ledger.columns:
        gpu_kwh = result.ledger["x_GpuEnergyKwh"].fillna(0.0)
    else:
        gpu_kwh = modelled_gpu_it_kwh(result.ledger, PowerModel.default().with_overrides(config.power_model), HardwareCatalogue.bundled())
    rec = reconcile(result.ledger, telemetry.samples, modelled_gpu_it_kwh=gpu_kwh)
    before, after = ControlTotals.of(result.ledger), ControlTotals.of(rec.ledger)
    if before != after:
        raise TieOutError(f"control totals changed in reconciliation: {before} before, {after} after")
    summary = {**result.summary, **summarise(rec.ledger, result.quarantine, result.tie_out)}
    summary.update({k: rec.summary[k] for k in ("telemetry_energy_kwh", "telemetry_matched_kwh", "telemetry_unmatched_kwh")})
    summary["reconciliation"] = {**rec.summary, "telemetry_problems": int(len(telemetry.problems))}
    return replace(result, ledger=rec.ledger, summary=summary), rec


def write_findings(rec: Reconciled, telemetry: TelemetryRead, out_dir: Path) -> list[Path]:
    """The reconciliation frames and the telemetry problems as CSV files in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for attribute, name in {**FINDINGS, "problems": "telemetry_problems.csv"}.items():
        frame = telemetry.problems if attribute == "problems" else getattr(rec, attribute)
        path = out_dir / name
        tmp = path.with_suffix(".csv.tmp")
        frame.to_csv(tmp, index=False)
        tmp.replace(path)
        written.append(path)
    return written


def estimate_with_telemetry(
    inputs: Sequence[Path | str],
    fmt: str,
    out_dir: Path,
    telemetry_paths: Sequence[Path | str],
    config: Config | None = None,
    *,
    report: bool = True,
    telemetry_format: str = "auto",
    local_tz: str = "UTC",
    labels: Mapping[str, str] | None = None,
) -> tuple[Accounted, Outputs]:
    """``carbonledger estimate --telemetry``: account the billing files, reconcile telemetry, write everything."""
    config = config or Config()
    batch = read_sources([Source(Path(p), fmt) for p in inputs], config.project_tag_keys)
    result = account(batch, config)
    result.tie_out.check("estimate")
    telemetry = read_telemetry(telemetry_paths, telemetry_format, local_tz=local_tz, labels=labels)
    log.info("read %d telemetry intervals (%d problems); reconciling", len(telemetry.samples), len(telemetry.problems))
    result, rec = apply_telemetry(result, telemetry, config)
    outputs = write_outputs(result, out_dir, report=report, pages=report, policy=config.policy)
    write_findings(rec, telemetry, out_dir)
    return result, outputs

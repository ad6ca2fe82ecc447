"""The demo scenario end to end: ``estimate --telemetry`` on a training run, calibration, region audit and policy."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import FIXTURES

from carbonledger.cli import main
from carbonledger.errors import EXIT_INPUT
from connectors.telemetry import read_telemetry
from footprint.audit import load_policy, policy_violations, region_audit

SCENARIO = FIXTURES / "telemetry" / "scenario"
# DCGM counters of 8 GPUs at 350 W, 5-minute scrapes 10:00-12:00; GPU 0's driver reloads before the
# 11:00 scrape, losing 45 000 J of the 10:55-11:00 interval (the counter then reads 6e7 mJ).
MEASURED_10H_KWH = (8 * 12 * 105_000 - 45_000) / 3.6e6
MEASURED_11H_KWH = 8 * 12 * 105_000 / 3.6e6


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("scenario")
    code = main(["-q", "estimate", str(SCENARIO / "bill_focus.csv"), "--out", str(out), "--no-report",
                 "--telemetry", str(SCENARIO / "telemetry")])
    return code, out


def test_estimate_with_telemetry_writes_measured_ledger_and_findings(run):
    code, out = run
    assert code == 0
    ledger = pd.read_parquet(out / "ledger.parquet")
    assert ledger["x_EstimateBasis"].tolist() == ["measured", "measured", "calibrated", "measured", "non_usage"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tie_out_ok"] and summary["rows_ledger"] == 5 and summary["cost_ledger"] == pytest.approx(108.5408)
    codecarbon_kwh = 0.25
    assert summary["telemetry_energy_kwh"] == pytest.approx(MEASURED_10H_KWH + MEASURED_11H_KWH + codecarbon_kwh)
    assert summary["telemetry_matched_kwh"] == pytest.approx(summary["telemetry_energy_kwh"])
    assert summary["telemetry_unmatched_kwh"] == 0.0
    assert summary["reconciliation"]["lines_calibrated"] == 1
    comparison = pd.read_csv(out / "reconciliation_comparison.csv")
    gpu = comparison[(comparison["key"] == "gpu-node-7")].sort_values("hour_utc")
    assert gpu["measured_it_kwh"].tolist() == pytest.approx([MEASURED_10H_KWH, MEASURED_11H_KWH])
    # measured is ~1.55x the model's default-utilisation GPU power for this training run
    assert (gpu["measured_over_modelled"] > 1.5).all()
    unmeasured = pd.read_csv(out / "gpu_hours_without_telemetry.csv")
    assert unmeasured["ResourceId"].str.endswith("i-0def000000000000").tolist() == [True]
    assert unmeasured["unmeasured_gpu_hours"].tolist() == [8.0]
    for name in ("calibration_factors.csv", "telemetry_unmatched.csv", "telemetry_problems.csv"):
        assert (out / name).exists()


def test_scenario_region_mismatch_and_policy_violation_are_caught(run):
    _, out = run
    ledger = pd.read_parquet(out / "ledger.parquet")
    telemetry = read_telemetry(SCENARIO / "telemetry").samples
    audit = region_audit(ledger, telemetry).set_index("resource_key")
    assert audit.loc["i-0def000000000000", "mismatch_detail"] == "tags says aws:us-west-2 (bill: aws:us-east-1)"
    assert audit.loc["vision-trainer-1", "mismatch_detail"] == "telemetry says gcp:europe-west1 (bill: gcp:us-central1)"
    assert not audit.loc["i-0abc123def4567890", "mismatch"]
    violations = policy_violations(ledger, load_policy(SCENARIO / "policy.yaml"))
    hard = violations[violations["severity"] == "violation"]
    assert hard[["x_Project", "region", "rule"]].values.tolist() == [["vision", "gcp:us-central1", "residency"]]
    assert hard["x_Co2eKg"].iloc[0] == pytest.approx(ledger.loc[3, "x_Co2eKg"])


def test_estimate_with_a_bad_telemetry_file_exits_3(tmp_path, capsys):
    code = main(["-q", "estimate", str(SCENARIO / "bill_focus.csv"), "--out", str(tmp_path), "--no-report",
                 "--telemetry", str(SCENARIO / "bill_focus.csv")])
    assert code == EXIT_INPUT
    assert "not a telemetry format" in capsys.readouterr().err


def test_report_has_reconciliation_and_audit_sections_with_a_policy(tmp_path, capsys):
    import re

    from carbonledger.cli import main

    scenario = Path(__file__).resolve().parent / "fixtures" / "telemetry" / "scenario"
    (tmp_path / "config.yaml").write_text(f"policy: {scenario / 'policy.yaml'}\n")
    out = tmp_path / "out"
    assert main(["estimate", str(scenario / "bill_focus.csv"), "--telemetry", str(scenario / "telemetry"),
                 "--config", str(tmp_path / "config.yaml"), "--out", str(out)]) == 0
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", (out / "report.html").read_text()))
    assert "Reconciliation with telemetry" in text and "matched to billed lines" in text
    assert "tags says aws:us-west-2 (bill: aws:us-east-1)" in text
    assert "vision gcp:us-central1 residency violation" in text
    for name in ("tie_out_by_source", "region_audit", "policy_violations"):
        assert (out / f"{name}.csv").is_file()

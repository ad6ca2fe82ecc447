"""The installed ``carbonledger`` command: outputs, JSON shapes and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES

from carbonledger.cli import main
from carbonledger.errors import EXIT_INPUT, EXIT_USAGE

CARBONLEDGER = Path(sys.executable).with_name("carbonledger")


def run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_entry_point_is_installed():
    done = subprocess.run([str(CARBONLEDGER), "--help"], capture_output=True, text=True, check=True)
    for command in ("demo", "run", "estimate", "hardware", "workload"):
        assert command in done.stdout


def test_hardware_json(capsys):
    data = run_json(capsys, ["hardware", "p4d.24xlarge", "--provider", "aws", "--json"])
    assert data["provider"] == "aws" and data["instance_type"] == "p4d.24xlarge"
    assert data["gpu_count"] == 8 and data["vcpus"] == 96 and data["memory_gib"] == 1152
    assert "A100" in data["gpu_model"] and data["gpu_tdp_w"] == 400
    assert data["source"]


def test_unknown_hardware_exits_2_with_a_message(capsys):
    assert main(["hardware", "zz9.mega", "--provider", "aws"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "zz9.mega" in err and "Traceback" not in err


def test_workload_with_given_intensity(capsys):
    data = run_json(capsys, ["workload", "--accelerator", "V100", "--count", "1", "--hours", "100",
                             "--avg-power-w", "300", "--pue", "1.0", "--intensity", "566.3", "--json"])
    assert data["energy_kwh"] == pytest.approx(30.0)
    assert data["co2e_kg"] == pytest.approx(16.989)  # METHOD.md §12 worked check: 16.99 kg
    assert data["pue"] == 1.0 and data["intensity_g_per_kwh"] == 566.3


def test_workload_with_region_uses_its_pue_and_hourly_intensity(capsys):
    data = run_json(capsys, ["workload", "--accelerator", "A100", "--count", "8", "--days", "1",
                             "--region", "gcp:us-central1", "--start", "2022-03-01T00:00:00Z", "--json"])
    assert data["pue"] > 1.0
    assert data["intensity_basis"].startswith("hourly")
    assert data["energy_kwh"] == pytest.approx(24 * 8 * data["power_w_per_accelerator"] * data["pue"] / 1000)
    assert data["co2e_kg"] == pytest.approx(data["energy_kwh"] * data["intensity_g_per_kwh"] / 1000)


def test_workload_unknown_region_is_a_usage_error(capsys):
    assert main(["workload", "--accelerator", "A100", "--count", "1", "--hours", "1", "--region", "gcp:mars-1"]) == EXIT_USAGE
    assert "mars-1" in capsys.readouterr().err


def test_estimate_writes_outputs(tmp_path, capsys):
    sample = FIXTURES / "billing" / "focus_1.0_sample_1000rows.csv"
    assert main(["estimate", str(sample), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "ties out" in out
    for name in ("ledger.parquet", "quarantine.parquet", "summary.json", "report.html"):
        assert (tmp_path / name).exists(), name
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["rows_in"] == 1000


def test_estimate_on_a_non_billing_file_exits_3(tmp_path, capsys):
    bad = tmp_path / "notes.csv"
    bad.write_text("a,b\n1,2\n")
    assert main(["estimate", str(bad), "--out", str(tmp_path / "out")]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "notes.csv" in err and "Traceback" not in err


def test_bad_date_is_rejected_by_argparse(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "--date", "2026-13-01"])
    assert exc.value.code == 2

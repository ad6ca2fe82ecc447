"""The engine end to end without Dagster: files in, ledger/quarantine/summary out, totals tied."""

from __future__ import annotations

import json
from decimal import Decimal

import pandas as pd
import pytest
from conftest import FIXTURES

from carbonledger import schema
from carbonledger.config import Config
from carbonledger.estimate import estimate

SUMMARY_KEYS = {
    "rows_in", "rows_ledger", "rows_quarantined", "cost_in", "cost_ledger", "cost_quarantined", "currency",
    "energy_kwh", "co2e_kg", "co2e_kg_market", "embodied_co2e_kg", "coverage_cost_fraction", "unmapped",
}


def _check_outputs(out_dir, summary):
    ledger = pd.read_parquet(out_dir / "ledger.parquet")
    quarantine = pd.read_parquet(out_dir / "quarantine.parquet")
    written = json.loads((out_dir / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(written)
    assert written["rows_in"] == written["rows_ledger"] + written["rows_quarantined"]
    assert len(ledger) == written["rows_ledger"] and len(quarantine) == written["rows_quarantined"]
    for cur, totals in written["cost_by_currency"].items():
        assert Decimal(totals["in"]) == Decimal(totals["ledger"]) + Decimal(totals["quarantined"]), cur
    assert written["co2e_kg"] == pytest.approx(ledger["x_Co2eKg"].sum())
    assert list(ledger.columns) == schema.names(schema.LEDGER_COLUMNS)
    assert summary["rows_in"] == written["rows_in"]
    return ledger, quarantine, written


@pytest.mark.parametrize("sample", [
    "focus_1.0_sample_1000rows.csv",
    "aws_cur_legacy_koku-local-1_first2000rows.csv",
    "aws_cur_legacy_2023-06-01_koku.csv",
])
def test_real_samples_tie_out(tmp_path, sample):
    result, outputs = estimate([FIXTURES / "billing" / sample], "auto", tmp_path, Config(), report=False)
    ledger, _, written = _check_outputs(tmp_path, result.summary)
    assert written["rows_in"] > 0


def test_focus_sample_gpu_rows_are_modelled(tmp_path):
    result, _ = estimate([FIXTURES / "billing" / "focus_1.0_sample_1000rows.csv"], "focus", tmp_path, Config(), report=False)
    gpu = result.ledger[result.ledger["x_InstanceType"] == "g5.4xlarge"]
    assert len(gpu) >= 1
    assert (gpu["x_EstimateBasis"] == "modelled").all()
    assert (gpu["x_GpuModel"].str.contains("A10G")).all()
    assert (gpu["x_EnergyKwh"] > 0).all()


def test_demo_data_ties_out_and_writes_the_report(tmp_path):
    config = Config.demo(out_dir=tmp_path)
    result, outputs = estimate([s.path for s in config.sources], "auto", tmp_path, config)
    ledger, _, written = _check_outputs(tmp_path, result.summary)
    assert written["currency"] == "mixed"
    assert written["co2e_kg"] > 0 and written["energy_kwh"] > 0
    assert written["coverage_cost_fraction"] > 0.9
    assert outputs.report is not None and outputs.report.html.exists()
    assert {"aws", "gcp", "azure"} <= set(ledger["ProviderName"].unique())


def test_no_sources_is_a_clear_error(tmp_path):
    from carbonledger.errors import UsageError

    with pytest.raises(UsageError, match="no billing sources"):
        estimate([], "auto", tmp_path, Config())


def test_configured_ppa_lowers_market_based_only_where_it_applies(tmp_path):
    (tmp_path / "ppas.csv").write_text(
        "provider,region,start,end,instrument,covered_fraction,g_per_kwh,source\n"
        "aws,us-east-1,2026-11-01,2026-12-01,wind PPA,0.5,0,contract 2026-001\n")
    (tmp_path / "config.yaml").write_text("grid:\n  contractual_instruments: ppas.csv\n")
    config = Config.load(tmp_path / "config.yaml")
    demo = Config.demo()
    plain, _ = estimate([s.path for s in demo.sources], "auto", tmp_path / "plain", report=False)
    with_ppa, _ = estimate([s.path for s in demo.sources], "auto", tmp_path / "ppa", config, report=False)
    before, after = plain.ledger, with_ppa.ledger
    covered = (after["ProviderName"] == "aws") & (after["RegionId"] == "us-east-1") & (after["x_EnergyKwh"] > 0)
    assert covered.any()
    pd.testing.assert_series_equal(after["x_Co2eKg"], before["x_Co2eKg"])           # location-based untouched
    assert after.loc[covered, "x_Co2eKgMarket"].to_numpy() == pytest.approx(0.5 * before.loc[covered, "x_Co2eKg"].to_numpy())
    assert after.loc[covered, "x_MarketBasis"].str.contains("wind PPA").all()
    pd.testing.assert_series_equal(after.loc[~covered, "x_Co2eKgMarket"], before.loc[~covered, "x_Co2eKgMarket"])


def test_a_restated_azure_day_in_fewer_parts_drops_the_earlier_parts(tmp_path, monkeypatch):
    import datetime as dt

    from carbonledger import engine
    from carbonledger.config import AzureSource, Source

    day = dt.date(2026, 11, 3)
    day_dir = tmp_path / "azure-cache" / day.isoformat()
    day_dir.mkdir(parents=True)
    for part in ("part_0.csv", "part_1.csv"):             # the first delivery of the day came in two parts
        (day_dir / part).write_text("old\n")

    def restated(scope, start, end, target, **kwargs):     # the restatement comes back in one part
        (target / "part_0.csv").write_text("new\n")
        return [target / "part_0.csv"]

    monkeypatch.setattr(engine, "fetch_cost_details", restated)
    source = Source(tmp_path / "azure-cache", "azure", "costs", azure=AzureSource(scope="/subscriptions/x"))
    assert engine._fetch_day(source, day) == [day_dir / "part_0.csv"]
    assert sorted(p.name for p in day_dir.iterdir()) == ["part_0.csv"]

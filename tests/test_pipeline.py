"""The Dagster pipeline in-process: definitions load, a partition materialises and ties out."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import dagster as dg
import pandas as pd

from carbonledger.cli import main
from carbonledger.config import Config
from intensity import GridData
from pipelines.assets import INTENSITY_CHECK, TIE_OUT_CHECK, build_assets
from pipelines.definitions import DAILY_JOB, build_definitions
from pipelines.resources import CarbonLedgerConfig
from pipelines.runner import run_days


def test_definitions_load_with_schedule_and_blocking_check():
    defs = build_definitions()
    job = defs.resolve_job_def(DAILY_JOB)
    assert job.partitions_def is not None
    schedule = defs.resolve_schedule_def(f"{DAILY_JOB}_schedule")
    assert schedule.cron_schedule == "0 6 * * *"
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {"raw_billing__aws_cur", "raw_billing__focus", "core_carbon__ledger", "core_grid__hourly_intensity", "out_carbon__daily_report", "out_carbon__period_report"}
    checks = defs.resolve_asset_graph().asset_check_keys
    assert any(c.name == TIE_OUT_CHECK for c in checks)


def test_one_partition_materialises_in_process_and_ties_out(tmp_path):
    assets = [a for a in build_assets(dt.date(2026, 11, 1), Config.demo().sources) if a.partitions_def is not None]
    resource = CarbonLedgerConfig(out_dir=str(tmp_path))
    result = dg.materialize(assets, partition_key="2026-11-03", resources={"carbonledger": resource},
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == TIE_OUT_CHECK]
    assert check.passed
    day = tmp_path / "daily" / "2026-11-03"
    ledger = pd.read_parquet(day / "ledger.parquet")
    summary = json.loads((day / "summary.json").read_text())
    assert len(ledger) == summary["rows_ledger"] > 0
    assert summary["rows_in"] == summary["rows_ledger"] + summary["rows_quarantined"]
    starts = ledger["ChargePeriodStart"]
    assert (starts >= pd.Timestamp("2026-11-03", tz="UTC")).all() and (starts < pd.Timestamp("2026-11-04", tz="UTC")).all()
    [intensity] = [e for e in result.get_asset_check_evaluations() if e.check_name == INTENSITY_CHECK]
    assert intensity.passed, intensity.metadata["problems"].value
    hourly = result.output_for_node("core_grid__hourly_intensity")
    assert len(hourly) == 24 and set(hourly.columns) == set(ledger["x_GridZone"].dropna()) & set(GridData.bundled().hourly_zones)
    [report] = [m for m in result.get_asset_materialization_events() if m.asset_key.path[-1] == "out_carbon__daily_report"]
    preview = report.materialization.metadata["preview"].value
    assert preview.startswith("### Day 2026-11-03") and f"{summary['rows_in']:,} rows in" in preview and "ties out" in preview
    # the demo data is 2026: intensity comes from the matching hour of 2022, flagged as a proxy
    modelled = ledger[ledger["x_EstimateBasis"] == "modelled"]
    assert set(modelled["x_IntensityBasis"]) <= {"hourly_proxy_year", "annual_zone"}


def test_run_days_writes_daily_and_period_outputs_that_tie_out(tmp_path):
    days = [dt.date(2026, 11, 1), dt.date(2026, 11, 2)]
    period = run_days(days, out_dir=tmp_path)
    assert period.tie_out.ok
    daily_rows = sum(json.loads((tmp_path / "daily" / d.isoformat() / "summary.json").read_text())["rows_in"] for d in days)
    assert period.summary["rows_in"] == daily_rows
    for cur, totals in period.summary["cost_by_currency"].items():
        assert Decimal(totals["in"]) == Decimal(totals["ledger"]) + Decimal(totals["quarantined"])
    assert (tmp_path / "report.html").exists()
    assert (tmp_path / ".dagster").is_dir()


def test_cli_run_and_rerun_are_identical(tmp_path, capsys):
    argv = ["run", "--date", "2026-11-05", "--out", str(tmp_path)]
    assert main(argv) == 0
    first = pd.read_parquet(tmp_path / "daily" / "2026-11-05" / "ledger.parquet")
    assert main(argv) == 0
    second = pd.read_parquet(tmp_path / "daily" / "2026-11-05" / "ledger.parquet")
    pd.testing.assert_frame_equal(first, second)
    assert "ties out" in capsys.readouterr().out


def test_cli_run_before_start_date_is_a_usage_error(tmp_path, capsys):
    assert main(["run", "--date", "2020-01-01", "--out", str(tmp_path)]) == 2
    assert "start_date" in capsys.readouterr().err


def _write_focus_day(path, day: str, cost: str) -> None:
    header = "ChargePeriodStart,ChargePeriodEnd,BilledCost,BillingCurrency,ChargeCategory,ProviderName,RegionId\n"
    path.write_text(header + f"{day}T05:00:00Z,{day}T06:00:00Z,{cost},USD,Usage,AWS,us-east-1\n")


def test_delivery_sensor_requests_exactly_the_days_of_new_or_restated_files(tmp_path):
    exports = tmp_path / "exports"
    exports.mkdir()
    _write_focus_day(exports / "a.csv", "2026-11-02", "1.00")
    config_file = tmp_path / "carbonledger.yaml"
    config_file.write_text(f"start_date: 2026-11-01\nout_dir: {tmp_path / 'out'}\nsources:\n  - path: {exports}\n    name: focus_files\n")
    defs = build_definitions(str(config_file))
    sensor = defs.resolve_sensor_def("billing_delivery_sensor")
    resources = {"carbonledger": CarbonLedgerConfig(config_path=str(config_file))}
    with dg.DagsterInstance.ephemeral() as instance:
        def tick(cursor):
            context = dg.build_sensor_context(cursor=cursor, instance=instance, resources=resources, definitions=defs)
            return sensor.evaluate_tick(context)

        first = tick(None)
        assert first.run_requests == [] and "baseline" in first.skip_message
        assert tick(first.cursor).skip_message == "no new, changed or removed billing files"
        _write_focus_day(exports / "b.csv", "2026-11-04", "2.00")            # a new delivery
        _write_focus_day(exports / "a.csv", "2026-11-03", "3.50")            # a.csv restated: its line moves day
        second = tick(first.cursor)
        # 11-02 lost its line, 11-03 gained one, 11-04 is new
        assert sorted(r.partition_key for r in second.run_requests) == ["2026-11-02", "2026-11-03", "2026-11-04"]
        assert all(r.job_name in (None, DAILY_JOB) for r in second.run_requests)
        assert tick(second.cursor).run_requests == []                       # same files again: nothing
        (exports / "b.csv").unlink()                                         # a withdrawn file
        assert [r.partition_key for r in tick(second.cursor).run_requests] == ["2026-11-04"]

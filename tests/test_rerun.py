"""Identical re-runs and crash atomicity (issue 9, Faults).

* ``carbonledger estimate`` run twice on the same inputs, and one Dagster partition materialised twice
  in-process, give identical ledgers and quarantines (frame equality: values, row order, dtypes) and
  identical ``summary.json`` files. ``summary.json`` carries no run timestamp (checked: no value in
  it is the time of the run), so the whole file is compared.
* A run that crashes while writing (the quarantine parquet, the report, the workbook) leaves every
  output of the previous good run byte for byte, and no ``.*.tmp`` file anywhere.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from carbonledger import io
from carbonledger.cli import main
from carbonledger.config import Config
from pipelines.assets import build_assets
from pipelines.resources import CarbonLedgerConfig

BILLING = Path(__file__).resolve().parent / "fixtures" / "billing"
FOCUS = BILLING / "focus_1.0_sample_1000rows.csv"
CUR = BILLING / "aws_cur_legacy_koku-local-1_first2000rows.csv"
GCP = BILLING / "gcp_billing_export_2022-08-01_koku.csv"
DAY = "2026-11-03"


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path → bytes)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def temporaries(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob(".*.tmp"))


def assert_same_outputs(first: Path, second: Path) -> None:
    for name in ("ledger.parquet", "quarantine.parquet"):
        a, b = pd.read_parquet(first / name), pd.read_parquet(second / name)
        assert len(a) > 0 or name == "quarantine.parquet"
        pd.testing.assert_frame_equal(a, b, check_dtype=True, check_exact=True)   # row order included
        assert a.dtypes.to_dict() == b.dtypes.to_dict()
    s1 = json.loads((first / "summary.json").read_text(encoding="utf-8"))
    s2 = json.loads((second / "summary.json").read_text(encoding="utf-8"))
    assert s1 == s2


def test_summary_has_no_run_timestamp(tmp_path, capsys):
    """What makes 'identical apart from a run timestamp' moot: no summary value is today's date or the run time."""
    before = dt.datetime.now(dt.timezone.utc)
    assert main(["-q", "estimate", str(FOCUS), "--out", str(tmp_path), "--no-report"]) == 0
    capsys.readouterr()
    text = (tmp_path / "summary.json").read_text(encoding="utf-8")
    today = before.date().isoformat()
    assert today not in text and before.strftime("%Y-%m-%dT%H") not in text
    keys = json.loads(text).keys()
    assert not [k for k in keys if any(w in k.lower() for w in ("generated", "run_at", "timestamp", "created"))]


def test_estimate_twice_on_the_same_inputs_is_identical(tmp_path, capsys):
    inputs = [str(FOCUS), str(CUR), str(GCP)]
    for out in ("first", "second"):
        assert main(["-q", "estimate", *inputs, "--out", str(tmp_path / out)]) == 0
    capsys.readouterr()
    assert_same_outputs(tmp_path / "first", tmp_path / "second")
    # the extracts and audit tables too: every CSV byte for byte
    first, second = snapshot(tmp_path / "first"), snapshot(tmp_path / "second")
    csvs = sorted(name for name in first if name.endswith(".csv"))
    assert "by_project.csv" in csvs and "tie_out_by_source.csv" in csvs
    assert [name for name in csvs if first[name] != second.get(name)] == []
    # re-running into the same directory replaces it with the same ledger
    assert main(["-q", "estimate", *inputs, "--out", str(tmp_path / "first")]) == 0
    assert_same_outputs(tmp_path / "first", tmp_path / "second")
    assert temporaries(tmp_path) == []


def daily_assets() -> list[dg.AssetsDefinition]:
    return [a for a in build_assets(dt.date(2026, 11, 1), Config.demo().sources) if a.partitions_def is not None]


def materialise(out: Path, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return dg.materialize(daily_assets(), partition_key=DAY, resources={"carbonledger": CarbonLedgerConfig(out_dir=str(out))},
                          instance=instance, raise_on_error=False)


def test_same_dagster_partition_twice_in_process_is_identical(tmp_path):
    with dg.DagsterInstance.ephemeral() as instance:
        first = materialise(tmp_path / "a", instance)
        second = materialise(tmp_path / "b", instance)
        third = materialise(tmp_path / "a", instance)           # the same partition again, over its own outputs
    assert first.success and second.success and third.success
    day = Path("daily") / DAY
    assert_same_outputs(tmp_path / "a" / day, tmp_path / "b" / day)
    in_memory = [r.output_for_node("core_carbon__ledger").ledger for r in (first, second, third)]
    pd.testing.assert_frame_equal(in_memory[0], in_memory[1])
    pd.testing.assert_frame_equal(in_memory[0], in_memory[2])
    pd.testing.assert_frame_equal(in_memory[0], pd.read_parquet(tmp_path / "a" / day / "ledger.parquet"))
    assert temporaries(tmp_path) == []


# --- crash atomicity ----------------------------------------------------------------------------------------

class Crash(RuntimeError):
    """The injected failure."""


def crash_on_call(real: Callable, n: int) -> Callable:
    """``real``, except that its ``n``-th call writes half a file and raises :class:`Crash`."""
    calls = {"n": 0}

    def wrapper(path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            def half(tmp: Path) -> None:
                tmp.write_bytes(b"PAR1 half a parquet")
                raise Crash(f"disk full while writing {Path(path).name}")
            return io.write_atomic(path, half)
        return real(path, *args, **kwargs)

    return wrapper


def _crash_second_parquet(monkeypatch) -> None:
    monkeypatch.setattr(io, "write_parquet", crash_on_call(io.write_parquet, 2))   # ledger ok, quarantine crashes


def _crash_report(monkeypatch) -> None:
    real = io.write_text

    def report_crashes(path, text):
        if Path(path).name == "report.html":
            raise Crash("template error while rendering the report")
        return real(path, text)
    monkeypatch.setattr(io, "write_text", report_crashes)


def _crash_workbook(monkeypatch) -> None:
    import reports.builder

    def boom(tmp, tables):
        Path(tmp).write_bytes(b"PK half a workbook")
        raise Crash("openpyxl failed")
    monkeypatch.setattr(reports.builder, "_write_workbook", boom)


@pytest.mark.parametrize("inject", [_crash_second_parquet, _crash_report, _crash_workbook],
                         ids=["second-parquet", "report", "workbook"])
def test_a_crash_mid_write_leaves_the_previous_outputs_and_no_temporaries(tmp_path, monkeypatch, capsys, inject):
    out = tmp_path / "out"
    assert main(["-q", "estimate", str(FOCUS), "--out", str(out)]) == 0
    good = snapshot(out)
    assert {"ledger.parquet", "quarantine.parquet", "summary.json", "report.html", "breakdowns.xlsx"} <= set(good)
    inject(monkeypatch)
    with pytest.raises(Crash):
        main(["-q", "estimate", str(CUR), "--out", str(out)])      # other inputs: every file would change
    assert snapshot(out) == good
    assert temporaries(tmp_path) == []
    assert json.loads(good["summary.json"])["rows_in"] == 1000   # still the focus run's summary
    monkeypatch.undo()
    capsys.readouterr()


def test_a_crash_on_the_first_run_leaves_no_files(tmp_path, monkeypatch):
    _crash_second_parquet(monkeypatch)
    with pytest.raises(Crash):
        main(["-q", "estimate", str(FOCUS), "--out", str(tmp_path / "out")])
    assert [p for p in (tmp_path / "out").rglob("*") if p.is_file()] == []


def test_a_crashed_partition_rerun_keeps_its_previous_good_outputs(tmp_path, monkeypatch):
    with dg.DagsterInstance.ephemeral() as instance:
        assert materialise(tmp_path, instance).success
        day = tmp_path / "daily" / DAY
        good = snapshot(day)
        assert "ledger.parquet" in good and "report.html" in good
        _crash_report(monkeypatch)
        failed = materialise(tmp_path, instance)
    assert not failed.success
    [failure] = [e for e in failed.all_events if e.is_step_failure]
    assert failure.step_key == "out_carbon__daily_report"
    assert snapshot(day) == good
    assert temporaries(tmp_path) == []

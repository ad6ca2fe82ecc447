"""Noticing deliveries: snapshots, the days a file covers (one column read), restatement bookkeeping."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from conftest import FIXTURES
from carbonledger.config import DEMO_DATA_DIR, Source
from carbonledger.errors import InputFormatError
from connectors import read_billing
from connectors.changes import DeliveryState, charge_days, snapshot

CUR = DEMO_DATA_DIR / "aws-cur"
CUR_PART = next(CUR.rglob("*-1.csv.gz"))


def test_charge_days_of_a_cur_part_equals_the_days_of_its_rows():
    days = charge_days(CUR_PART)
    rows = read_billing([CUR_PART]).billing["ChargePeriodStart"]
    assert days == set(rows.dt.floor("D").dt.date)
    assert min(days) == dt.date(2026, 11, 1)


def test_charge_days_reads_parquet_and_names_a_file_without_a_start_column(tmp_path):
    frame = pd.DataFrame({"ChargePeriodStart": ["2026-11-05T23:00:00Z", "bad"], "BilledCost": ["1", "2"]})
    frame.to_parquet(tmp_path / "focus.parquet")
    assert charge_days(tmp_path / "focus.parquet", "focus") == {dt.date(2026, 11, 5)}
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputFormatError, match="other.csv.*no charge-period start column"):
        charge_days(tmp_path / "other.csv")


def test_snapshot_follows_the_manifest_to_the_latest_assembly_only():
    files = snapshot([CUR])
    assert sorted(p.rsplit("/", 1)[-1] for p in files) == ["lumenwave-hourly-1.csv.gz", "lumenwave-hourly-2.csv.gz"]
    assert all(size > 0 and mtime > 0 for size, mtime in files.values())
    assert snapshot([CUR / "not-there"]) == {}


def test_unchanged_files_are_not_reread_and_changes_mark_old_and_new_days(tmp_path, monkeypatch):
    header = "ChargePeriodStart,ChargePeriodEnd,BilledCost,BillingCurrency,ChargeCategory,ProviderName\n"
    (tmp_path / "a.csv").write_text(header + "2026-11-02T01:00:00Z,2026-11-02T02:00:00Z,1,USD,Usage,AWS\n")
    sources = [Source(tmp_path, "focus", "exports")]
    first = DeliveryState.scan(sources)
    assert list(first.days.values()) == [["2026-11-02"]]
    import connectors.changes as changes
    monkeypatch.setattr(changes, "charge_days", lambda *a: pytest.fail("an unchanged file was re-read"))
    again = DeliveryState.scan(sources, DeliveryState.from_json(first.to_json()))
    assert again == first and again.changed_since(first) == {}
    monkeypatch.undo()
    (tmp_path / "a.csv").write_text(header + "2026-11-09T01:00:00Z,2026-11-09T02:00:00Z,1,USD,Usage,AWS\n")
    restated = DeliveryState.scan(sources, first)
    assert sorted(restated.changed_since(first)) == ["2026-11-02", "2026-11-09"]


def test_charge_days_of_a_gcp_json_lines_export():
    jsonl = next((FIXTURES / "billing" / "gcp").glob("*.jsonl*"))
    rows = read_billing([jsonl]).billing["ChargePeriodStart"]
    assert charge_days(jsonl) == set(rows.dt.floor("D").dt.date)

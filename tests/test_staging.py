"""Day splits of file sources (carbonledger.staging): a partition reads only its day, and reads
exactly what selecting its day from the whole source gives (rows, order, quarantine, control totals)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd
import pytest

from carbonledger import engine, staging
from carbonledger.config import Config, Source
from conftest import FIXTURES

CUR = FIXTURES / "billing" / "aws_cur_legacy_koku-local-1_first2000rows.csv"


def whole_day(source: Source, day: dt.date, keys) -> engine.ReadResult:
    return engine.select_day(engine.read_sources([source], keys), day)


def assert_same(staged, whole) -> None:
    pd.testing.assert_frame_equal(staged.billing, whole.billing)
    pd.testing.assert_frame_equal(staged.quarantine, whole.quarantine)
    assert staged.inputs == whole.inputs
    assert staged.files == whole.files


def messy_cur(tmp_path: Path) -> Path:
    """The CUR sample with a ragged row, an unreadable start (quarantined, undated) and a bad cost."""
    lines = CUR.read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0].rstrip("\r\n").split(",")
    start = header.index("lineItem/UsageStartDate")
    cost = header.index("lineItem/UnblendedCost")
    rows = [line.rstrip("\r\n").split(",") for line in lines[1:]]
    assert all(len(r) == len(header) for r in rows[:12])    # the rows edited below have no quoted commas
    rows[4][start] = "not a time"
    rows[9][cost] = "twelve"
    text = lines[0] + "".join(",".join(r) + "\n" for r in rows)
    path = tmp_path / "cur.csv"
    path.write_text(text + "a,ragged,row\n", encoding="utf-8")
    return path


def test_every_demo_day_reads_the_same_rows_as_the_whole_source(tmp_path):
    config = Config.demo()
    days = pd.date_range("2026-10-31", "2026-11-08", freq="D").date
    for source in config.sources:
        if source.azure or source.bigquery or source.s3:
            continue
        for day in days:
            staged = engine.read_source_day(source, day, config.project_tag_keys, staging_dir=tmp_path / "staging")
            assert_same(staged, whole_day(source, day, config.project_tag_keys))


@pytest.mark.parametrize("batch_rows", [7, 100_000])
def test_quarantined_rows_land_on_the_same_day_in_the_same_order(tmp_path, batch_rows):
    path = messy_cur(tmp_path)
    source = Source(path, "aws-cur")
    keys = Config().project_tag_keys
    whole = engine.read_sources([source], keys)
    assert len(whole.quarantine) >= 3                       # ragged, unreadable start, bad cost
    days = sorted(set(whole.billing["ChargePeriodStart"].dt.date))
    seen_rows = 0
    for day in days:
        staged = staging.source_day([path], "aws-cur", day, keys, tmp_path / "staging", batch_rows=batch_rows)
        assert_same(staged, whole_day(source, day, keys))
        seen_rows += staged.inputs.rows
    assert seen_rows == whole.inputs.rows                   # every row in exactly one day


def test_a_new_version_of_the_file_makes_a_new_split_and_removes_the_old(tmp_path):
    path = tmp_path / "cur.csv"
    path.write_bytes(CUR.read_bytes())
    keys = Config().project_tag_keys
    root = tmp_path / "staging"
    day = dt.date(2018, 6, 20)
    first = staging.source_day([path], "aws-cur", day, keys, root)
    versions = [p for p in root.iterdir() if p.is_dir()]
    assert len(versions) == 1
    lines = CUR.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:500]), encoding="utf-8")          # a restatement with fewer lines
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    second = staging.source_day([path], "aws-cur", day, keys, root)
    assert [p for p in root.iterdir() if p.is_dir()] != versions and len([p for p in root.iterdir() if p.is_dir()]) == 1
    assert second.inputs.rows <= first.inputs.rows
    assert_same(second, whole_day(Source(path, "aws-cur"), day, keys))


def test_a_day_without_rows_is_empty_and_ties_out(tmp_path):
    staged = staging.source_day([CUR], "aws-cur", dt.date(2030, 1, 1), Config().project_tag_keys, tmp_path / "s")
    assert staged.inputs.rows == 0 and staged.billing.empty and staged.quarantine.empty
    assert list(staged.billing.columns) == list(engine.schema.names(engine.schema.BILLING_COLUMNS))


def test_days_whose_writer_was_closed_continue_in_a_new_part_in_order(tmp_path, monkeypatch):
    limited = staging._DayWriters.__init__.__defaults__
    monkeypatch.setattr(staging._DayWriters.__init__, "__defaults__", (1,))   # one open writer at a time
    path = messy_cur(tmp_path)
    keys = Config().project_tag_keys
    source = Source(path, "aws-cur")
    for day in sorted(set(engine.read_sources([source], keys).billing["ChargePeriodStart"].dt.date))[:5]:
        staged = staging.source_day([path], "aws-cur", day, keys, tmp_path / "staging", batch_rows=5)
        assert_same(staged, whole_day(source, day, keys))
    assert limited != (1,)
    assert any(len(list(d.glob("billing-*.parquet"))) > 1 for d in (tmp_path / "staging").glob("*/day=*"))


def cur_parquet(tmp_path: Path, *, unreadable_start: bool = False) -> Path:
    """The CUR sample as Parquet, with a bad cost and an unknown line item type (quarantined, dated);
    with ``unreadable_start``, one row's start is not a time (quarantined, undated)."""
    frame = pd.read_csv(CUR, dtype=str, keep_default_na=False)
    frame.loc[9, "lineItem/UnblendedCost"] = "twelve"
    frame.loc[11, "lineItem/LineItemType"] = "Mystery"
    if unreadable_start:
        frame.loc[4, "lineItem/UsageStartDate"] = "not a time"
    path = tmp_path / "cur.parquet"
    frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("batch_rows", [300, None])
def test_a_parquet_cur_day_is_read_from_its_dated_rows_without_a_split(tmp_path, batch_rows):
    path = cur_parquet(tmp_path)
    source = Source(path, "aws-cur")
    keys = Config().project_tag_keys
    whole = engine.read_sources([source], keys)
    days = sorted(set(whole.billing["ChargePeriodStart"].dt.date) | set(whole.quarantine["ChargePeriodStart"].dt.date))
    seen_rows = 0
    for day in [*days, dt.date(2030, 1, 1)]:
        staged = staging.source_day([path], "auto", day, keys, tmp_path / "staging", batch_rows=batch_rows)
        assert_same(staged, whole_day(source, day, keys))
        seen_rows += staged.inputs.rows
    assert seen_rows == whole.inputs.rows and len(whole.quarantine) == 2
    assert not any(p.is_dir() for p in (tmp_path / "staging").glob("*"))     # no split was needed


def test_a_parquet_cur_with_an_undated_row_is_split_so_the_row_finds_its_day(tmp_path):
    path = cur_parquet(tmp_path, unreadable_start=True)
    source = Source(path, "aws-cur")
    keys = Config().project_tag_keys
    whole = engine.read_sources([source], keys)
    days = sorted(set(whole.billing["ChargePeriodStart"].dt.date))
    for day in days:
        assert_same(staging.source_day([path], "aws-cur", day, keys, tmp_path / "staging"), whole_day(source, day, keys))
    assert sum(staging.source_day([path], "aws-cur", day, keys, tmp_path / "staging").inputs.rows for day in days) \
        == whole.inputs.rows
    assert any(p.is_dir() for p in (tmp_path / "staging").glob("*"))          # the undated row needed the split


def test_reading_a_day_without_a_split_removes_the_splits_of_earlier_deliveries(tmp_path):
    path = cur_parquet(tmp_path, unreadable_start=True)
    keys = Config().project_tag_keys
    root = tmp_path / "staging"
    day = dt.date(2018, 6, 20)
    staging.source_day([path], "aws-cur", day, keys, root)                  # undated row: split
    assert any(p.is_dir() for p in root.iterdir())
    cur_parquet(tmp_path)                                                     # the next delivery dates every row
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    staged = staging.source_day([path], "aws-cur", day, keys, root)
    assert not any(p.is_dir() for p in root.iterdir())
    assert_same(staged, whole_day(Source(path, "aws-cur"), day, keys))

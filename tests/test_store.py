"""The partitioned Parquet ledger store, on a local path and on S3 (a local moto server)."""

from __future__ import annotations

import datetime as dt
import uuid

import boto3
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest
from demo_days import accounted_day

from carbonledger import schema
from carbonledger.store import PART_NAME, LedgerStore

pytestmark = pytest.mark.usefixtures("aws_env")   # conftest: test credentials, no profile or config file

DAY1, DAY2, DAY3 = dt.date(2026, 11, 1), dt.date(2026, 11, 2), dt.date(2026, 11, 3)


def _quarantine(day: dt.date, rows: int) -> pd.DataFrame:
    return schema.conform(pd.DataFrame({
        "x_SourceFormat": ["focus"] * rows, "x_SourceFile": ["focus.csv"] * rows, "x_SourceRow": range(1, rows + 1),
        "x_Reason": ["BilledCost: not a number"] * rows, "BilledCost": [None] * rows, "BillingCurrency": ["USD"] * rows,
        "ChargePeriodStart": [pd.Timestamp(day, tz="UTC")] * rows, "x_RawRecord": ['{"BilledCost": "x"}'] * rows,
    }), schema.QUARANTINE_COLUMNS)


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> LedgerStore:
    if request.param == "local":
        return LedgerStore(str(tmp_path / "store"))
    endpoint = request.getfixturevalue("endpoint")
    bucket = f"ledger-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return LedgerStore(f"s3://{bucket}/carbon/v1", endpoint_url=endpoint, region="us-east-1")


def _files(store: LedgerStore) -> list[str]:
    fs, root = store.filesystem()
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    return sorted(i.path.removeprefix(root + "/") for i in infos if i.type == pafs.FileType.File)


def test_days_are_hive_partitions_read_back_as_one_frame(store):
    one, two = accounted_day(DAY1), accounted_day(DAY2)
    written = store.write_day(DAY1, one.ledger, _quarantine(DAY1, 2))
    store.write_day(DAY2, two.ledger, one.quarantine)
    assert written.rows == {"quarantine": 2, "ledger": len(one.ledger)}
    assert written.files["ledger"].endswith(f"ledger/day=2026-11-01/{PART_NAME}")
    assert written.files["ledger"].startswith("s3://" if store.is_s3 else "/")
    assert _files(store) == [f"{t}/day={d}/{PART_NAME}" for t in ("ledger", "quarantine") for d in ("2026-11-01", "2026-11-02")]

    both = store.read(DAY1, DAY2)
    schema.validate(both, schema.LEDGER_COLUMNS, "the stored ledger")
    expected = pd.concat([one.ledger, two.ledger], ignore_index=True)
    pd.testing.assert_frame_equal(both, expected)
    pd.testing.assert_frame_equal(store.read(DAY2, DAY3), two.ledger.reset_index(drop=True))
    quarantine = store.read(DAY1, DAY3, "quarantine")
    schema.validate(quarantine, schema.QUARANTINE_COLUMNS, "the stored quarantine")
    assert len(quarantine) == 2
    # any Hive-aware reader sees a ``day`` partition column
    fs, root = store.filesystem()
    days = ds.dataset(f"{root}/ledger", filesystem=fs, partitioning="hive").to_table(columns=["day"]).column("day")
    assert len(days) == len(one.ledger) + len(two.ledger)


def test_rewriting_a_day_replaces_it_identically_and_leaves_no_temporary_files(store):
    day = accounted_day(DAY1)
    store.write_day(DAY1, day.ledger, _quarantine(DAY1, 3))
    first = store.read(DAY1, DAY1)
    fs, root = store.filesystem()
    first_bytes = fs.open_input_file(f"{root}/ledger/day=2026-11-01/{PART_NAME}").read()
    store.write_day(DAY1, day.ledger, _quarantine(DAY1, 3))
    pd.testing.assert_frame_equal(store.read(DAY1, DAY1), first)
    assert fs.open_input_file(f"{root}/ledger/day=2026-11-01/{PART_NAME}").read() == first_bytes
    # a restated day with fewer rows replaces, never appends
    store.write_day(DAY1, day.ledger.iloc[:10], _quarantine(DAY1, 0))
    assert len(store.read(DAY1, DAY1)) == 10 and store.read(DAY1, DAY1, "quarantine").empty
    assert _files(store) == [f"{t}/day=2026-11-01/{PART_NAME}" for t in ("ledger", "quarantine")]


def test_leftovers_in_a_partition_are_removed_by_the_next_write(store):
    fs, root = store.filesystem()
    day = accounted_day(DAY1)
    store.write_day(DAY1, day.ledger, day.quarantine)
    for stray in (f"{root}/ledger/day=2026-11-01/.{PART_NAME}.dead.tmp", f"{root}/ledger/day=2026-11-01/part-1.parquet"):
        with fs.open_output_stream(stray) as out:
            out.write(b"left by a crashed writer")
    store.write_day(DAY1, day.ledger, day.quarantine)
    assert _files(store) == [f"{t}/day=2026-11-01/{PART_NAME}" for t in ("ledger", "quarantine")]
    assert len(store.read(DAY1, DAY1)) == len(day.ledger)


def test_a_failed_local_write_keeps_the_previous_partition(tmp_path, monkeypatch):
    """(On S3 an upload that fails never completes, so the old object stays by the service's guarantee.)"""
    store = LedgerStore(str(tmp_path / "store"))
    day = accounted_day(DAY1)
    store.write_day(DAY1, day.ledger, day.quarantine)
    before = store.read(DAY1, DAY1)

    def broken(table, where, **kwargs):
        fs = kwargs["filesystem"]
        with fs.open_output_stream(where) as out:      # a partial file, then the crash
            out.write(b"PAR1")
        raise OSError("disk full")

    monkeypatch.setattr("carbonledger.store.pq.write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        store.write_day(DAY1, day.ledger.iloc[:5], day.quarantine)
    monkeypatch.undo()
    pd.testing.assert_frame_equal(store.read(DAY1, DAY1), before)
    assert not [f for f in _files(store) if f.endswith(".tmp")]


def test_an_empty_store_reads_as_an_empty_canonical_frame(store):
    empty = store.read(DAY1, DAY3)
    assert empty.empty and list(empty.columns) == schema.names(schema.LEDGER_COLUMNS)


def test_a_frame_outside_the_schema_is_refused_before_anything_is_written(store):
    day = accounted_day(DAY1)
    with pytest.raises(schema.SchemaError, match="the ledger of 2026-11-01"):
        store.write_day(DAY1, day.ledger.drop(columns=["x_Co2eKg"]), day.quarantine)
    assert _files(store) == []

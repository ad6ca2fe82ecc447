"""Atomic writes (the target is replaced whole or not at all, with an ordinary file mode) and Parquet written from text dictionaries."""

from __future__ import annotations

import os
import stat

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from carbonledger.io import TextDictionaryWriter, arrow_schema, arrow_table, write_atomic, write_text


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / "summary.json"
    write_text(target, "good\n")

    def crash(tmp):
        tmp.write_text("half a fi")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(target, crash)
    assert target.read_text() == "good\n"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_written_files_get_the_umask_mode_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_text(tmp_path / "report.html", "<html></html>")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def ledger_like_frame() -> pd.DataFrame:
    notes = ["power model x instance-hours x PUE", None, "Tax line: no energy consumed"]
    return pd.DataFrame({
        "ChargePeriodStart": pd.to_datetime(["2026-10-01T00:00Z", "2026-10-01T01:00Z", "2026-10-02T00:00Z"] * 2, utc=True),
        "x_Project": pd.array(["vision", "speech", None] * 2, dtype="string"),
        "x_EstimateNote": pd.array(notes * 2, dtype="string"),
        "x_Co2eKg": [1.5, 0.0, np.nan] * 2,
        "x_IntensityYear": pd.array([2022, None, 2022] * 2, dtype="Int64"),
    })


def test_text_dictionary_writer_files_read_back_as_plain_text_exactly(tmp_path):
    frame = ledger_like_frame()
    schema = arrow_schema(frame.iloc[:0])
    writer = TextDictionaryWriter(tmp_path / "ledger.parquet", schema, ["x_Project"])
    writer.write_table(arrow_table(frame.iloc[:4], schema))
    writer.write_table(pa.Table.from_pandas(frame.iloc[4:], schema=schema, preserve_index=False))  # plain strings too
    writer.close()
    assert pq.read_schema(tmp_path / "ledger.parquet").equals(schema, check_metadata=True)
    back = pd.read_parquet(tmp_path / "ledger.parquet")
    pd.testing.assert_frame_equal(back, frame)
    # the same file as if the strings had been written: what DuckDB and other readers see
    pq.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False), tmp_path / "plain.parquet")
    assert pq.read_table(tmp_path / "ledger.parquet").equals(pq.read_table(tmp_path / "plain.parquet"))


def test_text_dictionary_writer_keeps_statistics_for_filters_not_for_notes(tmp_path):
    frame = ledger_like_frame()
    schema = arrow_schema(frame.iloc[:0])
    writer = TextDictionaryWriter(tmp_path / "ledger.parquet", schema, ["x_Project"])
    writer.write_table(arrow_table(frame, schema))
    writer.close()
    group = pq.ParquetFile(tmp_path / "ledger.parquet").metadata.row_group(0)
    has_min_max = {group.column(i).path_in_schema: group.column(i).statistics is not None
                   and group.column(i).statistics.has_min_max for i in range(group.num_columns)}
    assert has_min_max == {"ChargePeriodStart": True, "x_Project": True, "x_EstimateNote": False,
                           "x_Co2eKg": True, "x_IntensityYear": True}
    assert group.column(1).statistics.min == "speech" and group.column(1).statistics.max == "vision"

"""Streamed reading and accounting (issue 3: large files in batches; issue 8: bounded memory).

A file read in batches of any size gives exactly the rows, row numbers, quarantine and control
totals of the file read in one batch; ``carbonledger estimate`` streamed in small batches writes
the same ledger, quarantine and summary as with one batch.
"""

from __future__ import annotations

import gzip
import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from carbonledger import io
from carbonledger.config import Config
from carbonledger.estimate import estimate
from connectors.rawfile import iter_raw, read_raw, text_table
from connectors.reader import iter_billing, read_billing
from tests.conftest import FIXTURES, assert_ties_out

BILLING = FIXTURES / "billing"
CUR = BILLING / "aws_cur_legacy_koku-local-1_first2000rows.csv"
FOCUS = BILLING / "focus_1.0_sample_1000rows.csv"


def ragged_copy(source: Path, target: Path, *, bad_rows: list[int], gz: bool = False) -> Path:
    """``source`` with the given 1-based data rows replaced by a record with one field too many, and a
    quoted value spanning two lines in the row after the first bad one."""
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    header, data = lines[0], lines[1:]
    for row in bad_rows:
        data[row - 1] = data[row - 1].rstrip("\r\n") + ",extra\n"
    text = header + "".join(data)
    (gzip.open(target, "wt", encoding="utf-8") if gz else open(target, "w", encoding="utf-8")).write(text)
    return target


@pytest.mark.parametrize("batch_rows", [1, 7, 500, 10_000])
def test_csv_batches_number_rows_as_the_whole_file(tmp_path, batch_rows):
    path = ragged_copy(CUR, tmp_path / "cur.csv", bad_rows=[1, 8, 9, 500, 2000])
    whole = read_raw(path)
    batches = list(iter_raw(path, batch_rows))
    assert [r.row for r in whole.ragged] == [1, 8, 9, 500, 2000]
    assert np.array_equal(np.concatenate([b.source_rows for b in batches]), whole.source_rows)
    assert [r.row for b in batches for r in b.ragged] == [1, 8, 9, 500, 2000]
    assert pa.concat_tables([b.table for b in batches]).equals(whole.table)
    # each batch's rows and ragged rows are consecutive numbers, in order
    for batch in batches:
        numbers = np.sort(np.concatenate([batch.source_rows, [r.row for r in batch.ragged]]))
        assert np.array_equal(numbers, np.arange(numbers[0], numbers[0] + len(numbers))) if len(numbers) else True


@pytest.mark.parametrize("batch_rows", [3, 333])
def test_parquet_and_json_lines_batches_cover_the_file_in_order(tmp_path, batch_rows):
    frame = pd.read_csv(FOCUS, dtype=str)
    parquet = tmp_path / "focus.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), parquet, row_group_size=100)
    jsonl = tmp_path / "focus.jsonl"
    jsonl.write_text("".join(json.dumps({k: v for k, v in row.items() if isinstance(v, str)}) + "\n"
                             for row in frame.to_dict("records")), encoding="utf-8")
    for path in (parquet, jsonl):
        batches = list(iter_raw(path, batch_rows))
        assert all(b.table.num_rows <= batch_rows for b in batches)
        assert np.array_equal(np.concatenate([b.source_rows for b in batches]), np.arange(1, len(frame) + 1))


def test_parquet_batches_travel_with_the_files_types_and_become_text_where_used(tmp_path):
    frame = pd.read_csv(FOCUS, dtype=str)
    frame["BilledCost"] = pd.to_numeric(frame["BilledCost"])
    parquet = tmp_path / "focus.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), parquet)
    batch = next(iter_raw(parquet, 100))
    assert batch.rows_read == 100                     # counting rows does not convert
    shipped = pickle.loads(pickle.dumps(batch))       # as a worker process receives it
    assert pa.types.is_floating(shipped._table.schema.field("BilledCost").type)
    expected = text_table(pa.Table.from_pandas(frame.iloc[:100], preserve_index=False))
    assert shipped.table.equals(expected) and batch.table.equals(expected)
    assert shipped.table.schema.field("BilledCost").type == pa.string()


@pytest.mark.parametrize("gz", [False, True])
def test_read_billing_in_small_batches_equals_one_batch(tmp_path, gz):
    path = ragged_copy(CUR, tmp_path / ("cur.csv.gz" if gz else "cur.csv"), bad_rows=[3, 1000], gz=gz)
    small = read_billing([path], batch_rows=97)
    one = read_billing([path], batch_rows=1_000_000)
    pd.testing.assert_frame_equal(small.billing, one.billing)
    pd.testing.assert_frame_equal(small.quarantine, one.quarantine)
    assert small.inputs == one.inputs
    assert small.quarantine["x_SourceRow"].tolist()[:1] == [3]
    assert_ties_out(small)


def test_iter_billing_batches_add_up_to_the_file(tmp_path):
    batches = list(iter_billing([CUR], batch_rows=300))
    assert len(batches) == 7                                   # 2,000 rows
    assert sum(b.inputs.rows for b in batches) == 2000
    assert all(len(b.billing) + len(b.quarantine) == b.inputs.rows for b in batches)


def test_streamed_estimate_writes_what_one_batch_writes(tmp_path):
    inputs = [CUR, FOCUS]
    small, _ = estimate(inputs, "auto", tmp_path / "small", Config(), report=False, batch_rows=150)
    one, _ = estimate(inputs, "auto", tmp_path / "one", Config(), report=False, batch_rows=1_000_000)
    pd.testing.assert_frame_equal(small.ledger, one.ledger)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "small" / "quarantine.parquet"),
                                  pd.read_parquet(tmp_path / "one" / "quarantine.parquet"))
    a, b = small.summary, one.summary
    floats = [k for k, v in a.items() if isinstance(v, float)]
    assert {k: v for k, v in a.items() if k not in floats and k not in ("top_projects", "top_regions", "energy_kwh_by_kind")} \
        == {k: v for k, v in b.items() if k not in floats and k not in ("top_projects", "top_regions", "energy_kwh_by_kind")}
    for key in floats:                                  # float sums added batch by batch: equal to rounding
        assert a[key] == pytest.approx(b[key], rel=1e-12), key
    assert [p["name"] for p in a["top_projects"]] == [p["name"] for p in b["top_projects"]]
    assert a["rows_in"] == 3000 and a["tie_out_ok"]


def test_streamed_estimate_of_an_empty_result_writes_readable_files(tmp_path):
    header = CUR.read_text(encoding="utf-8").splitlines()[0]
    empty = tmp_path / "empty.csv"
    empty.write_text(header + "\n", encoding="utf-8")
    result, outputs = estimate([empty], "aws-cur", tmp_path / "out", Config(), report=False)
    assert result.summary["rows_in"] == 0
    assert len(pd.read_parquet(outputs.ledger)) == 0 and len(pd.read_parquet(outputs.quarantine)) == 0


def test_parquet_appender_replaces_the_file_only_when_the_block_succeeds(tmp_path):
    target = tmp_path / "frame.parquet"
    first = pd.DataFrame({"a": pd.array(["x", None], dtype="string"), "b": [1.0, 2.0]})
    io.write_parquet(target, first)
    with pytest.raises(RuntimeError), io.ParquetAppender(target, first.iloc[:0]) as sink:
        sink.append(first)
        raise RuntimeError("crash after one batch")
    pd.testing.assert_frame_equal(pd.read_parquet(target), first)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frame.parquet"]
    with io.ParquetAppender(target, first.iloc[:0]) as sink:
        sink.append(first)
        sink.append(first)
    pd.testing.assert_frame_equal(pd.read_parquet(target), pd.concat([first, first], ignore_index=True))


def test_worker_processes_write_exactly_what_one_process_writes(tmp_path):
    inputs = [CUR, FOCUS]
    alone, _ = estimate(inputs, "auto", tmp_path / "alone", Config(), report=False, batch_rows=400, workers=1)
    forked, _ = estimate(inputs, "auto", tmp_path / "forked", Config(), report=False, batch_rows=400, workers=2)
    pd.testing.assert_frame_equal(alone.ledger, forked.ledger)
    assert alone.summary == forked.summary          # same batches, same order: the same sums to the last bit
    assert (tmp_path / "alone" / "summary.json").read_bytes() == (tmp_path / "forked" / "summary.json").read_bytes()


def test_an_input_error_in_a_worker_names_the_file_and_leaves_no_outputs(tmp_path):
    from carbonledger.errors import InputFormatError

    frame = pd.read_csv(CUR, dtype=str)
    broken = tmp_path / "cur.csv"
    frame.drop(columns=["lineItem/UnblendedCost"]).to_csv(broken, index=False)
    with pytest.raises(InputFormatError, match=r"cur\.csv.*lineItem/UnblendedCost"):
        estimate([broken], "aws-cur", tmp_path / "out", Config(), report=False, batch_rows=300, workers=2)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def _double_all_in(queue) -> None:
    from carbonledger.parallel import ordered_map

    queue.put(list(ordered_map(lambda x: 2 * x, range(5), workers=2)))


def test_ordered_map_works_inside_a_daemonic_process_such_as_a_celery_worker():
    import multiprocessing as mp

    context = mp.get_context("fork")
    queue = context.Queue()
    worker = context.Process(target=_double_all_in, args=(queue,), daemon=True)
    worker.start()
    assert queue.get(timeout=60) == [0, 2, 4, 6, 8]      # in that process: a daemon may not start children
    worker.join(timeout=60)
    assert worker.exitcode == 0

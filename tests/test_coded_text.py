"""Coded text columns (pandas categoricals of distinct texts): every reader helper gives on them what
it gives on plain Arrow text, and a CUR Parquet file read coded gives what its CSV gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from carbonledger import schema
from connectors import read_billing
from connectors.rawfile import RawTable, _categorical, iter_raw
from connectors.values import (
    Memo, Problems, coded_text, constant_text, first_present, is_coded, on_uniques, parse_number, parse_timestamp,
    prefixed, stripped, where_text,
)
from tests.conftest import FIXTURES

_TEXT = pd.StringDtype("pyarrow")
VALUES = [" a ", "b", None, "", "b", "c  ", "a", None, "NULL"]


def _plain(values=VALUES) -> pd.Series:
    return pd.Series(values, dtype=_TEXT)


def _coded(values=VALUES) -> pd.Series:
    codes, uniques = pd.factorize(pd.Series(values, dtype=object))
    return coded_text(codes, np.asarray(uniques, dtype=object), pd.RangeIndex(len(values)))


def _same(coded: pd.Series, plain: pd.Series) -> None:
    assert is_coded(coded)
    assert coded.astype(object).where(coded.notna(), None).tolist() == plain.astype(object).where(plain.notna(), None).tolist()


def test_coded_text_merges_repeated_and_null_texts():
    column = coded_text(np.array([0, 1, 2, -1, 3]), np.array(["x", "y", "x", None], dtype=object), pd.RangeIndex(5))
    assert list(column.cat.categories) == ["x", "y"]
    assert column.cat.codes.tolist() == [0, 1, 0, -1, -1]


@pytest.mark.parametrize("helper", [stripped, lambda s: prefixed("account:", s),
                                    lambda s: on_uniques(s, lambda t: t.str.upper())])
def test_text_helpers_give_on_codes_what_they_give_on_plain_text(helper):
    _same(helper(_coded()), helper(_plain()))


def test_where_and_first_present_mix_coded_and_plain_columns():
    rows = pd.Series([True, False] * 4 + [True])
    _same(where_text(_coded(), rows), where_text(_plain(), rows))
    other = ["z"] * len(VALUES)
    _same(first_present(stripped(_coded()), _plain(other)), first_present(stripped(_plain()), _plain(other)))
    _same(first_present(stripped(_plain()), _coded(other)), first_present(stripped(_plain()), _plain(other)))


def test_numbers_and_timestamps_parse_the_same_from_codes():
    numbers = [" 1.5", "x", None, "2", "1e40", "2"]
    coded_problems, plain_problems = Problems(pd.RangeIndex(6)), Problems(pd.RangeIndex(6))
    pd.testing.assert_series_equal(parse_number(_coded(numbers), "cost", coded_problems),
                                   parse_number(_plain(numbers), "cost", plain_problems))
    pd.testing.assert_series_equal(coded_problems.reasons, plain_problems.reasons)
    stamps = ["2026-10-01T00:00:00Z", "yesterday", None, "2026-10-01T00:00:00Z"]
    coded_problems, plain_problems = Problems(pd.RangeIndex(4)), Problems(pd.RangeIndex(4))
    pd.testing.assert_series_equal(parse_timestamp(_coded(stamps), "start", coded_problems),
                                   parse_timestamp(_plain(stamps), "start", plain_problems))
    pd.testing.assert_series_equal(coded_problems.reasons, plain_problems.reasons)


def test_a_memo_transforms_each_value_once_across_batches():
    seen: list[str] = []

    def upper(texts: pd.Series) -> pd.Series:
        seen.extend(texts)
        return texts.str.upper()

    memo = Memo()
    first = on_uniques(_coded(["a", "b", "a"]), upper, memo=memo)
    second = on_uniques(_plain(["b", "c", None]), upper, memo=memo)
    assert sorted(seen) == ["a", "b", "c"]
    assert first.astype(object).tolist() == ["A", "B", "A"]
    assert second.astype(object).where(second.notna(), None).tolist() == ["B", "C", None]


def test_conform_turns_codes_into_the_canonical_text_sharing_one_object_per_value():
    frame = pd.DataFrame({"ProviderName": constant_text("aws", pd.RangeIndex(3)), "x_Team": _coded(["t", None, "t"])})
    columns = tuple(c for c in schema.BILLING_COLUMNS if c.name in ("ProviderName", "x_Team"))
    out = schema.conform(frame, columns)
    assert [str(out[c].dtype) for c in out] == ["string", "string"]
    assert out["x_Team"].isna().tolist() == [False, True, False]
    assert out["x_Team"].array[0] is out["x_Team"].array[2]


def test_dictionary_chunks_with_repeated_values_and_nulls_become_one_set_of_codes():
    chunks = [pa.DictionaryArray.from_arrays(pa.array([0, 1, None, 2], pa.int32()), pa.array(["x", "y", "x"])),
              pa.DictionaryArray.from_arrays(pa.array([1, 0], pa.int32()), pa.array(["z", None]))]
    column = _categorical(pa.chunked_array(chunks))
    assert column.astype(object).where(column.notna(), None).tolist() == ["x", "y", None, "x", None, "z"]
    assert list(column.cat.categories) == ["x", "y", "z"]


def test_a_cur_parquet_file_read_coded_gives_what_its_csv_gives(tmp_path):
    csv = FIXTURES / "billing" / "aws_cur_legacy_koku-local-1_first2000rows.csv"
    frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
    frame.iloc[0, frame.columns.get_loc("lineItem/UsageType")] = "  " + frame.iloc[0]["lineItem/UsageType"] + " "
    frame.iloc[1, frame.columns.get_loc("product/location")] = "NULL"
    frame.to_csv(tmp_path / "cur.csv", index=False)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, tmp_path / "cur.parquet")               # plain text columns, stored with dictionaries
    raw: RawTable = next(iter_raw(tmp_path / "cur.parquet"))
    assert any(pa.types.is_dictionary(t) for t in raw.coded.schema.types)
    from_csv = read_billing([tmp_path / "cur.csv"], "aws-cur")
    from_parquet = read_billing([tmp_path / "cur.parquet"], "aws-cur")
    columns = [c for c in from_csv.billing.columns if c not in ("x_SourceFile",)]
    pd.testing.assert_frame_equal(from_parquet.billing[columns], from_csv.billing[columns])
    assert from_parquet.inputs == from_csv.inputs


def test_a_timestamp_is_read_alone_whatever_values_sit_beside_it():
    # pandas, parsing an offset value and a naive one together, reads the naive one in the other's
    # offset; each value must be read as if alone, whichever batch or dictionary it comes in
    stamps = ["2018-06-20T01:00:00-04:00", "2018-06-20 00:00:00", "2018-06-20T00:00:00Z", "2018-06-20"]
    expected = pd.to_datetime(["2018-06-20 05:00", "2018-06-20 00:00", "2018-06-20 00:00", "2018-06-20 00:00"], utc=True)
    for column in (_plain(stamps), _coded(stamps)):
        parsed = parse_timestamp(column, "start", Problems(column.index))
        assert parsed.tolist() == expected.tolist()
    unused_offset = coded_text(np.array([0]), np.array(["2018-06-20 00:00:00", "2018-06-20T01:00:00-04:00"], dtype=object),
                               pd.RangeIndex(1))
    assert unused_offset.cat.categories.size == 2                 # a dictionary value no line has
    assert parse_timestamp(unused_offset, "start", Problems(unused_offset.index)).tolist() == [expected[1]]

"""Reading one billing file into raw text columns: CSV, gzip-compressed CSV and Parquet.

Every value is read as text (the literal ``NULL`` and empty fields become nulls) so the format
converters decide how each column is parsed and can quarantine what does not parse. A CSV record
whose field count differs from the header is not fatal: it is set aside as a :class:`RaggedRow`
with its 1-based data row number. Parquet columns are cast to text; ``map<string, string>``
columns (FOCUS ``Tags`` in AWS Parquet exports) become JSON object strings.

What does not belong here: which format a file is (``detect``), what columns mean (``focus``,
``aws_cur``), which files to read (``discover``).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.parquet as pq

from carbonledger.errors import InputFormatError

#: Field values read as null.
NULL_LITERALS = ("", "NULL")

_TEXT = pd.StringDtype("pyarrow")


@dataclass(frozen=True)
class RaggedRow:
    """A CSV record with more or fewer fields than the header."""

    row: int
    expected_fields: int
    actual_fields: int
    text: str


@dataclass
class RawTable:
    """One file's data rows as text columns, with each row's 1-based data row number."""

    path: str
    table: pa.Table
    source_rows: np.ndarray
    ragged: list[RaggedRow] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return self.table.column_names

    @property
    def rows_read(self) -> int:
        """All data rows of the file, the ragged ones included."""
        return self.table.num_rows + len(self.ragged)

    def text_frame(self, columns: list[str]) -> pd.DataFrame:
        """The named columns (those present) as a frame of pandas text, indexed 0..n-1."""
        present = [c for c in dict.fromkeys(columns) if c in self.table.column_names]
        if not present:
            return pd.DataFrame(index=pd.RangeIndex(self.table.num_rows))
        return self.table.select(present).to_pandas(types_mapper=lambda _: _TEXT)

    def raw_records(self, positions: np.ndarray) -> list[str]:
        """JSON of the raw rows at ``positions`` (meant for the few quarantined rows)."""
        rows = self.table.take(pa.array(positions, type=pa.int64())).to_pylist()
        return [json.dumps(row, ensure_ascii=False) for row in rows]


def is_parquet(path: Path) -> bool:
    return path.name.lower().endswith(".parquet")


def read_header(path: Path) -> list[str]:
    """Column names of a billing file, without reading its data."""
    if is_parquet(path):
        try:
            return list(pq.read_schema(path).names)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputFormatError(path, f"not a readable Parquet file ({exc})") from exc
    try:
        with _open_text(path) as text:
            header = next(csv.reader(text), None)
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError, csv.Error) as exc:
        raise InputFormatError(path, f"not a CSV text file: {exc}") from exc
    if not header or all(not name.strip() for name in header):
        raise InputFormatError(path, "empty file: expected a CSV header row naming the columns")
    if any("\x00" in name for name in header):
        raise InputFormatError(path, "not a CSV text file: the header contains NUL bytes")
    return header


def read_raw(path: Path) -> RawTable:
    """Read a CSV (``.csv``, ``.csv.gz``) or Parquet file as text columns."""
    if is_parquet(path):
        return _read_parquet(path)
    return _read_csv(path, read_header(path))


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _read_csv(path: Path, header: list[str]) -> RawTable:
    # Fast pass: multi-threaded, rows split at line ends. A quoted value spanning lines, or a
    # ragged row, shows up there as a parse error or a ragged row; the file is then read again
    # single-threaded with newlines allowed in values, which is also the only way Arrow reports
    # ragged rows' numbers.
    try:
        table, ragged = _arrow_csv(path, header, careful=False)
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError):
        table, ragged = None, []
    if table is None or ragged:
        table, ragged = _arrow_csv(path, header, careful=True)
    bad_rows = np.array([r.row for r in ragged], dtype=np.int64)
    all_rows = np.arange(1, table.num_rows + len(ragged) + 1, dtype=np.int64)
    source_rows = np.setdiff1d(all_rows, bad_rows, assume_unique=True)
    return RawTable(str(path), table, source_rows, ragged)


def _arrow_csv(path: Path, header: list[str], *, careful: bool) -> tuple[pa.Table, list[RaggedRow]]:
    ragged: list[RaggedRow] = []

    def set_aside(row: pv.InvalidRow) -> str:
        # Arrow numbers records from 1 with the header as record 1 (None when multi-threaded).
        number = -1 if row.number is None else row.number - 1
        ragged.append(RaggedRow(number, row.expected_columns, row.actual_columns, row.text))
        return "skip"

    options = dict(
        read_options=pv.ReadOptions(column_names=header, skip_rows=1, use_threads=not careful),
        parse_options=pv.ParseOptions(newlines_in_values=careful, invalid_row_handler=set_aside),
        convert_options=pv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            null_values=list(NULL_LITERALS),
            strings_can_be_null=True,
        ),
    )
    try:
        return pv.read_csv(path, **options), ragged
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        if not careful:
            raise
        raise InputFormatError(path, f"cannot be parsed as CSV: {exc}") from exc


def _read_parquet(path: Path) -> RawTable:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputFormatError(path, f"not a readable Parquet file ({exc})") from exc
    columns, names = [], []
    for name, column in zip(table.column_names, table.columns):
        text = _as_text(column)
        if text is not None:
            columns.append(text)
            names.append(name)
    text_table = pa.table(columns, names=names) if names else pa.table({})
    rows = np.arange(1, table.num_rows + 1, dtype=np.int64)
    return RawTable(str(path), text_table, rows)


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """A Parquet column as nullable text; None for nested types other than string maps."""
    kind = column.type
    if pa.types.is_map(kind):
        text = pa.chunked_array([_map_to_json(chunk) for chunk in column.chunks], type=pa.string())
    elif pa.types.is_nested(kind):
        return None
    else:
        text = pc.cast(column, pa.string())
    is_null_literal = pc.is_in(text, value_set=pa.array(NULL_LITERALS, type=pa.string()))
    return pc.if_else(pc.fill_null(is_null_literal, False), pa.scalar(None, pa.string()), text)


def _map_to_json(chunk: pa.MapArray) -> pa.Array:
    """``map<string, string>`` → JSON object text, vectorised; JSON quoting is done per unique key/value."""
    offsets = chunk.offsets.to_numpy()
    start, stop = int(offsets[0]), int(offsets[-1])
    keys = _json_quoted(pc.cast(chunk.keys.slice(start, stop - start), pa.string()))
    values = _json_quoted(pc.cast(chunk.items.slice(start, stop - start), pa.string()))
    entries = pc.binary_join_element_wise(keys, values, ": ")
    lists = pa.ListArray.from_arrays(pa.array(offsets - start, type=pa.int32()), entries, mask=chunk.is_null())
    body = pc.binary_join(lists, ", ")
    return pc.binary_join_element_wise("{", body, "}", "")


def _json_quoted(text: pa.Array) -> pa.Array:
    encoded = text.dictionary_encode()
    quoted = pa.array([json.dumps(v, ensure_ascii=False) for v in encoded.dictionary.to_pylist()], type=pa.string())
    return pc.fill_null(pc.take(quoted, encoded.indices), "null")

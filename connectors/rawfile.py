"""Reading one billing file into raw text columns: CSV, Parquet and JSON lines (CSV and JSON also gzipped).

Every value is read as text (the literal ``NULL`` and empty fields become nulls) so the format
converters decide how each column is parsed and can quarantine what does not parse. A CSV record
whose field count differs from the header is not fatal: it is set aside as a :class:`RaggedRow`
with its 1-based data row number.

Typed and nested columns (Parquet, newline-delimited JSON, BigQuery results as Arrow) go through
:func:`text_table`: scalars are cast to text; struct fields become columns with dotted names
(``service`` → ``service.id``, ``service.description``), as in flattened CSV exports; lists and
maps become JSON text (``map<string, string>`` such as FOCUS ``Tags`` in AWS Parquet exports → a
JSON object; GCP's ``labels`` list of ``{key, value}`` structs → a JSON array of objects). JSON
quoting is done once per unique leaf value, the rest is vectorised Arrow.

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
import pyarrow.json as pj
import pyarrow.parquet as pq

from carbonledger.errors import InputFormatError

#: Field values read as null.
NULL_LITERALS = ("", "NULL")
#: File name endings read as newline-delimited JSON (one object per line).
JSON_LINES_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".json", ".json.gz")

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


def is_json_lines(path: Path) -> bool:
    return path.name.lower().endswith(JSON_LINES_SUFFIXES)


def read_header(path: Path) -> list[str]:
    """Column names of a billing file, without reading its data (struct fields dotted, as read_raw names them).

    For JSON lines these are the keys of the first record.
    """
    if is_parquet(path):
        try:
            return _flat_names(pq.read_schema(path))
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputFormatError(path, f"not a readable Parquet file ({exc})") from exc
    if is_json_lines(path):
        return _json_lines_header(path)
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
    """Read a CSV (``.csv``, ``.csv.gz``), Parquet or JSON lines (:data:`JSON_LINES_SUFFIXES`) file as text columns."""
    if is_parquet(path):
        return _read_parquet(path)
    if is_json_lines(path):
        return _read_json_lines(path)
    return _read_csv(path, read_header(path))


def text_table(table: pa.Table) -> pa.Table:
    """A typed, possibly nested table as flat nullable text columns (see the module docstring)."""
    columns: list[pa.ChunkedArray] = []
    names: list[str] = []
    for name, column in zip(table.column_names, table.columns):
        for flat_name, flat in _flattened(name, column):
            columns.append(_as_text(flat))
            names.append(flat_name)
    return pa.table(columns, names=names) if names else pa.table({})


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
    rows = np.arange(1, table.num_rows + 1, dtype=np.int64)
    return RawTable(str(path), text_table(table), rows)


def _json_lines_header(path: Path) -> list[str]:
    try:
        with _open_text(path) as text:
            first = next((line for line in text if line.strip()), None)
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError) as exc:
        raise InputFormatError(path, f"not a JSON lines text file: {exc}") from exc
    if first is None:
        raise InputFormatError(path, "empty file: expected newline-delimited JSON, one object per line")
    try:
        record = json.loads(first)
    except ValueError as exc:
        raise InputFormatError(path, f"row 1 is not JSON ({exc}); expected one JSON object per line", row=1) from exc
    if not isinstance(record, dict):
        raise InputFormatError(
            path, "row 1 is not a JSON object; expected newline-delimited JSON (one object per line, not an array)",
            row=1,
        )
    return _dotted_keys(record)


def _dotted_keys(record: dict, prefix: str = "") -> list[str]:
    names: list[str] = []
    for key, value in record.items():
        if isinstance(value, dict) and value:
            names.extend(_dotted_keys(value, f"{prefix}{key}."))
        else:
            names.append(f"{prefix}{key}")
    return names


def _read_json_lines(path: Path) -> RawTable:
    _json_lines_header(path)
    try:
        table = pj.read_json(path)
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        raise InputFormatError(
            path, f"cannot be read as newline-delimited JSON with one type per field ({exc})"
        ) from exc
    rows = np.arange(1, table.num_rows + 1, dtype=np.int64)
    return RawTable(str(path), text_table(table), rows)


def _flat_names(schema: pa.Schema) -> list[str]:
    names: list[str] = []

    def walk(name: str, kind: pa.DataType) -> None:
        if pa.types.is_struct(kind):
            for child in kind:
                walk(f"{name}.{child.name}", child.type)
        else:
            names.append(name)

    for schema_field in schema:
        walk(schema_field.name, schema_field.type)
    return names


def _flattened(name: str, column: pa.ChunkedArray) -> list[tuple[str, pa.ChunkedArray]]:
    """Struct columns split into one column per leaf field (dotted names, parent nulls kept); others as they are."""
    if not pa.types.is_struct(column.type):
        return [(name, column)]
    children = column.flatten() if column.num_chunks else [
        pa.chunked_array([], type=child.type) for child in column.type
    ]
    return [pair for child, values in zip(column.type, children) for pair in _flattened(f"{name}.{child.name}", values)]


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A non-struct column as nullable text: lists and maps as JSON, ``NULL`` literals as nulls."""
    if pa.types.is_nested(column.type):
        return pa.chunked_array([_json_text(chunk) for chunk in column.chunks], type=pa.string())
    text = pc.cast(column, pa.string())
    is_null_literal = pc.is_in(text, value_set=pa.array(NULL_LITERALS, type=pa.string()))
    return pc.if_else(pc.fill_null(is_null_literal, False), pa.scalar(None, pa.string()), text)


def _json_text(array: pa.Array) -> pa.Array:
    """Any Arrow array as JSON text per element (null where the element is null), vectorised."""
    kind = array.type
    if pa.types.is_map(kind):
        return _map_to_json(array)
    if pa.types.is_struct(kind):
        entries = [
            pc.binary_join_element_wise(json.dumps(child.name, ensure_ascii=False) + ": ",
                                        pc.fill_null(_json_text(values), "null"), "")
            for child, values in zip(kind, array.flatten())
        ]
        body = pc.binary_join_element_wise(*entries, ", ") if entries else pa.array([""] * len(array), pa.string())
        text = pc.binary_join_element_wise("{", body, "}", "")
        return pc.if_else(array.is_null(), pa.scalar(None, pa.string()), text)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        offsets = array.offsets.to_numpy()
        start, stop = int(offsets[0]), int(offsets[-1])
        items = pc.fill_null(_json_text(array.values.slice(start, stop - start)), "null")
        lists = pa.ListArray.from_arrays(pa.array(offsets - start, type=pa.int32()), items, mask=array.is_null())
        return pc.binary_join_element_wise("[", pc.binary_join(lists, ", "), "]", "")
    return _json_scalars(array)


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


def _json_scalars(array: pa.Array) -> pa.Array:
    """Scalar values as JSON (numbers and booleans bare, everything else a JSON string), nulls stay null."""
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), pa.string())
    encoded = array.dictionary_encode()
    dictionary = encoded.dictionary.to_pylist()
    bare = pa.types.is_integer(array.type) or pa.types.is_floating(array.type) or pa.types.is_boolean(array.type)
    texts = [json.dumps(v) if bare else json.dumps(str(v), ensure_ascii=False) for v in dictionary]
    return pc.take(pa.array(texts, type=pa.string()), encoded.indices)

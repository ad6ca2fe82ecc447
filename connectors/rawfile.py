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
quoting is done once per unique leaf value, dictionary-encoded and numeric columns are cast once
per distinct value, the rest is vectorised Arrow.

What does not belong here: which format a file is (``detect``), what columns mean (``focus``,
``aws_cur``), which files to read (``discover``).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.json as pj
import pyarrow.parquet as pq

from carbonledger.errors import InputFormatError
from connectors.values import categorical, coded_text

#: Field values read as null.
NULL_LITERALS = ("", "NULL")
#: File name endings read as newline-delimited JSON (one object per line).
JSON_LINES_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".json", ".json.gz")

_TEXT = pd.StringDtype("pyarrow")
#: Rows per batch when a text file (CSV, JSON lines) is streamed: a batch's raw text and its ledger
#: lines fit in a few hundred MB.
DEFAULT_BATCH_ROWS = 100_000
#: Rows per batch when a Parquet file is streamed: its text arrives coded (a code per line), so a
#: batch costs less memory per row, and larger batches spread each batch's fixed costs (its
#: dictionaries, per-column steps) over more rows (10M-row month on 2 cores: 31.8 s at 100k, 27.1 s
#: at 200k, 27.2 s at 250k, with more memory).
PARQUET_BATCH_ROWS = 200_000
_CSV_BLOCK_BYTES = 16 << 20


@dataclass(frozen=True)
class RaggedRow:
    """A CSV record with more or fewer fields than the header."""

    row: int
    expected_fields: int
    actual_fields: int
    text: str


class RawTable:
    """One file's data rows as text columns, with each row's 1-based data row number.

    A batch read from a typed file (Parquet) may hold the file's own columns until it is first
    used: they are converted to text (:func:`text_table`) then. A streamed read hands such
    batches to worker processes unconverted, so the conversion runs in the workers, in parallel,
    rather than in the process that reads the file. Dictionary-encoded and numeric columns stay
    *coded* (an Arrow dictionary of their distinct texts) until plain text is asked for:
    :meth:`coded_frame` hands them to a converter as pandas categoricals, so its per-value work
    runs once per distinct value and no line's text is copied.
    """

    def __init__(self, path: str, table: pa.Table, source_rows: np.ndarray, ragged: list[RaggedRow] | None = None,
                 *, typed: bool = False) -> None:
        self.path = path
        self.source_rows = source_rows
        self.ragged = ragged if ragged is not None else []
        self._table = table
        self._typed = typed
        self._plain: pa.Table | None = None

    @property
    def coded(self) -> pa.Table:
        """The rows as flat, nullable text columns, repeated values possibly as Arrow dictionaries."""
        if self._typed:
            self._table, self._typed = text_table(self._table, coded=True), False
        return self._table

    @property
    def table(self) -> pa.Table:
        """The rows as flat, nullable plain text columns."""
        if self._plain is None:
            coded = self.coded
            self._plain = coded.cast(pa.schema([pa.field(f.name, pa.string()) for f in coded.schema])) \
                if any(pa.types.is_dictionary(f.type) for f in coded.schema) else coded
        return self._plain

    @property
    def columns(self) -> list[str]:
        """The text columns' names (struct fields dotted), without converting a batch still in its file's types."""
        return _flat_names(self._table.schema) if self._typed else self._table.column_names

    @property
    def rows_read(self) -> int:
        """All data rows of the file, the ragged ones included."""
        return self._table.num_rows + len(self.ragged)

    def text_frame(self, columns: list[str]) -> pd.DataFrame:
        """The named columns (those present) as a frame of pandas text, indexed 0..n-1."""
        present = [c for c in dict.fromkeys(columns) if c in self.columns]
        if not present:
            return pd.DataFrame(index=pd.RangeIndex(self.coded.num_rows))
        return self.table.select(present).to_pandas(types_mapper=lambda _: _TEXT)

    def coded_frame(self, columns: list[str]) -> pd.DataFrame:
        """The named columns (those present), indexed 0..n-1: coded columns as pandas categoricals of
        their distinct texts (see ``connectors.values``), the others as pandas text."""
        present = [c for c in dict.fromkeys(columns) if c in self.columns]
        index = pd.RangeIndex(self.coded.num_rows)
        frame = {name: _categorical(self.coded[name]) if pa.types.is_dictionary(self.coded.schema.field(name).type)
                 else pd.Series(self.coded[name].to_pandas(types_mapper=lambda _: _TEXT).array, index=index)
                 for name in present}
        return pd.DataFrame(frame, index=index)

    def rows(self, positions: np.ndarray) -> "RawTable":
        """The rows at ``positions`` (in that order), with their row numbers (not for CSV files with ragged rows)."""
        if self.ragged:
            raise ValueError(f"{self.path}: rows of a batch with ragged rows cannot be taken apart")
        return RawTable(self.path, self._table.take(pa.array(positions, type=pa.int64())), self.source_rows[positions],
                        typed=self._typed)

    def select(self, names: list[str]) -> "RawTable":
        """Only the named top-level columns (those present), unconverted where the batch still holds its file's types."""
        present = [n for n in names if n in self._table.column_names]
        return RawTable(self.path, self._table.select(present), self.source_rows, self.ragged, typed=self._typed)

    def raw_records(self, positions: np.ndarray) -> list[str]:
        """JSON of the raw rows at ``positions`` (meant for the few quarantined rows)."""
        rows = self.coded.take(pa.array(positions, type=pa.int64())).to_pylist()
        return [json.dumps(row, ensure_ascii=False) for row in rows]


def _categorical(column: pa.ChunkedArray) -> pd.Series:
    """A dictionary-encoded text column as a pandas categorical (distinct texts, nulls as code -1).

    A dictionary normally holds distinct texts; where chunks carry different dictionaries, or a
    dictionary repeats a value or holds a null, the dictionaries are mapped onto one set of
    distinct texts first.
    """
    index = pd.RangeIndex(len(column))
    if column.num_chunks == 1:
        chunk = column.chunk(0)
        dictionary = chunk.dictionary
        if dictionary.null_count == 0 and pc.count_distinct(dictionary).as_py() == len(dictionary):
            codes = chunk.indices.cast(pa.int32()).fill_null(-1).to_numpy(zero_copy_only=False)
            return categorical(codes, dictionary.to_numpy(zero_copy_only=False), index)
    texts: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    offset = 0
    for chunk in column.chunks:
        values = chunk.dictionary.to_numpy(zero_copy_only=False)
        indices = chunk.indices.cast(pa.int64()).fill_null(-1 - offset).to_numpy(zero_copy_only=False)
        texts.append(values)
        codes.append(indices + offset)
        offset += len(values)
    return coded_text(np.concatenate(codes) if codes else np.empty(0, dtype=np.int64),
                      np.concatenate(texts) if texts else np.empty(0, dtype=object), index)


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
    """Read a whole CSV (``.csv``, ``.csv.gz``), Parquet or JSON lines (:data:`JSON_LINES_SUFFIXES`) file as text columns."""
    return concat_raw(path, list(iter_raw(path)))


def default_batch_rows(path: Path) -> int:
    """Rows per streamed batch of a file: :data:`PARQUET_BATCH_ROWS` for Parquet, else :data:`DEFAULT_BATCH_ROWS`."""
    return PARQUET_BATCH_ROWS if is_parquet(Path(path)) else DEFAULT_BATCH_ROWS


def iter_raw(path: Path, batch_rows: int | None = None) -> Iterator[RawTable]:
    """The file as consecutive batches of about ``batch_rows`` data rows (text columns), streamed
    (default: :func:`default_batch_rows`).

    A Parquet file is read by record batches and a CSV file by blocks, so only one batch of raw
    text is in memory at a time; a JSON lines file is parsed whole (its types are inferred over the
    file) and handed out in slices. Row numbers (``source_rows``, ragged rows) count from the start
    of the file, so a batch's rows are numbered exactly as a whole-file read numbers them.
    """
    batch_rows = default_batch_rows(path) if batch_rows is None else batch_rows
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
    if is_parquet(path):
        yield from _parquet_batches(path, batch_rows)
    elif is_json_lines(path):
        whole = _read_json_lines(path)
        for start in range(0, max(whole.table.num_rows, 1), batch_rows):
            yield RawTable(whole.path, whole.table.slice(start, batch_rows), whole.source_rows[start:start + batch_rows])
    else:
        yield from _csv_batches(path, read_header(path), batch_rows)


def concat_raw(path: Path, batches: list[RawTable]) -> RawTable:
    """Consecutive batches of one file as one table."""
    if len(batches) == 1:
        return batches[0]
    if all(b._typed for b in batches):     # one file's batches share its types: converted later, once
        return RawTable(str(path), pa.concat_tables([b._table for b in batches]),
                        np.concatenate([b.source_rows for b in batches]), typed=True)
    return RawTable(str(path), pa.concat_tables([b.table for b in batches]),
                    np.concatenate([b.source_rows for b in batches]), [r for b in batches for r in b.ragged])


def text_table(table: pa.Table, *, coded: bool = False) -> pa.Table:
    """A typed, possibly nested table as flat nullable text columns (see the module docstring).

    With ``coded``, dictionary-encoded and numeric columns come out as dictionaries of their
    distinct texts instead of one text per row.
    """
    columns: list[pa.ChunkedArray] = []
    names: list[str] = []
    for name, column in zip(table.column_names, table.columns):
        for flat_name, flat in _flattened(name, column):
            columns.append(_as_text(flat, coded=coded))
            names.append(flat_name)
    return pa.table(columns, names=names) if names else pa.table({})


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _csv_batches(path: Path, header: list[str], batch_rows: int) -> Iterator[RawTable]:
    # Single-threaded streaming with newlines allowed in quoted values: Arrow then reports each
    # ragged record with its number (records from 1, the header being record 1), and reading is
    # as fast as the multi-threaded whole-file parse (gzip inflation dominates).
    ragged: list[RaggedRow] = []

    def set_aside(row: pv.InvalidRow) -> str:
        ragged.append(RaggedRow(row.number - 1, row.expected_columns, row.actual_columns, row.text))
        return "skip"

    options = dict(
        read_options=pv.ReadOptions(column_names=header, skip_rows=1, use_threads=False, block_size=_CSV_BLOCK_BYTES),
        parse_options=pv.ParseOptions(newlines_in_values=True, invalid_row_handler=set_aside),
        convert_options=pv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            null_values=list(NULL_LITERALS),
            strings_can_be_null=True,
        ),
    )
    schema = pa.schema([(name, pa.string()) for name in header])
    numbering = _RowNumbering()
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    try:
        with pv.open_csv(path, **options) as reader:
            for block in reader:
                pending.append(block)
                pending_rows += block.num_rows
                if pending_rows >= batch_rows:
                    table = pa.Table.from_batches(pending, schema)
                    full = pending_rows - pending_rows % batch_rows
                    for start in range(0, full, batch_rows):
                        yield numbering.batch(path, table.slice(start, batch_rows), ragged)
                    pending, pending_rows = table.slice(full).to_batches(), pending_rows - full
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        raise InputFormatError(path, f"cannot be parsed as CSV: {exc}") from exc
    if pending_rows or numbering.unclaimed(ragged) or not numbering.batches:
        yield numbering.batch(path, pa.Table.from_batches(pending, schema), ragged)


class _RowNumbering:
    """Numbers the good rows of consecutive CSV batches from 1, skipping the ragged rows' numbers."""

    def __init__(self) -> None:
        self.next_row = 1
        self.batches = 0
        self._ragged_taken = 0

    def unclaimed(self, ragged: list[RaggedRow]) -> bool:
        return len(ragged) > self._ragged_taken

    def batch(self, path: Path, table: pa.Table, ragged: list[RaggedRow]) -> RawTable:
        # Arrow reports a block's ragged records before it hands out that block's rows, so every
        # ragged number inside this batch's span is known here; any later ones lie beyond it.
        waiting = sorted(ragged[self._ragged_taken:], key=lambda r: r.row)
        mine: list[RaggedRow] = []
        spans: list[np.ndarray] = []
        need = table.num_rows
        while need or (len(mine) < len(waiting) and waiting[len(mine)].row == self.next_row):
            if len(mine) < len(waiting) and waiting[len(mine)].row == self.next_row:
                mine.append(waiting[len(mine)])
                self.next_row += 1
                continue
            gap = waiting[len(mine)].row - self.next_row if len(mine) < len(waiting) else need
            take = min(gap, need)
            spans.append(np.arange(self.next_row, self.next_row + take, dtype=np.int64))
            self.next_row += take
            need -= take
        self._ragged_taken += len(mine)
        self.batches += 1
        rows = np.concatenate(spans) if spans else np.empty(0, dtype=np.int64)
        return RawTable(str(path), table, rows, mine)


def _parquet_batches(path: Path, batch_rows: int) -> Iterator[RawTable]:
    try:
        parquet = pq.ParquetFile(path, read_dictionary=_repeated_texts(pq.ParquetFile(path)))
        schema = parquet.schema_arrow
        first_row = 1
        for batch in parquet.iter_batches(batch_size=batch_rows):
            table = pa.Table.from_batches([batch], schema)
            yield RawTable(str(path), table, np.arange(first_row, first_row + batch.num_rows, dtype=np.int64), typed=True)
            first_row += batch.num_rows
        if first_row == 1:
            yield RawTable(str(path), text_table(schema.empty_table()), np.empty(0, dtype=np.int64))
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputFormatError(path, f"not a readable Parquet file ({exc})") from exc


#: A text column stored in more bytes per row than this (uncompressed) holds (nearly) unique values,
#: which Parquet writers store plain: it is read as plain text. A dictionary-encoded column costs a
#: code of a byte or two per row plus its small dictionary.
_MAX_CODED_BYTES_PER_ROW = 8


def _repeated_texts(parquet: pq.ParquetFile) -> list[str]:
    """Top-level text columns the file stores dictionary-encoded (judged by its first row group):
    read as dictionaries, each distinct value is decoded once and the converters work on the
    dictionary (:meth:`RawTable.coded_frame`); a near-unique column (line item ids) is cheaper
    read plain."""
    if parquet.metadata.num_row_groups == 0:
        return []
    first = parquet.metadata.row_group(0)
    chunks = {first.column(i).path_in_schema: first.column(i) for i in range(first.num_columns)}
    names = []
    for schema_field in parquet.schema_arrow:
        chunk = chunks.get(schema_field.name)
        if chunk is None or not (pa.types.is_string(schema_field.type) or pa.types.is_large_string(schema_field.type)):
            continue
        if chunk.has_dictionary_page and chunk.total_uncompressed_size < _MAX_CODED_BYTES_PER_ROW * max(first.num_rows, 1):
            names.append(schema_field.name)
    return names


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


def _as_text(column: pa.ChunkedArray, *, coded: bool = False) -> pa.ChunkedArray:
    """A non-struct column as nullable text: lists and maps as JSON, ``NULL`` literals as nulls.

    Dictionary-encoded and numeric columns (Parquet costs, quantities, repeated names) are cast
    once per distinct value and taken back by index (``coded``: kept as a dictionary of the
    texts); other columns are cast row by row.
    """
    if pa.types.is_nested(column.type):
        return pa.chunked_array([_json_text(chunk) for chunk in column.chunks], type=pa.string())
    kind = column.type
    if pa.types.is_dictionary(kind) or pa.types.is_integer(kind) or pa.types.is_floating(kind):
        encoded = [chunk if pa.types.is_dictionary(kind) else chunk.dictionary_encode() for chunk in column.chunks]
        if coded:
            return pa.chunked_array([pa.DictionaryArray.from_arrays(_as_int32(chunk.indices), _scalar_text(chunk.dictionary))
                                     for chunk in encoded], type=pa.dictionary(pa.int32(), pa.string()))
        return pa.chunked_array([pc.take(_scalar_text(chunk.dictionary), chunk.indices) for chunk in encoded],
                                type=pa.string())
    return _scalar_text(column)


def _as_int32(indices: pa.Array) -> pa.Array:
    return indices if indices.type == pa.int32() else pc.cast(indices, pa.int32())


def _scalar_text(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    text = pc.cast(values, pa.string())
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

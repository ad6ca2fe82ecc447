"""Handing a step's result to the next pipeline step: frames as Parquet, totals and summary as JSON.

A day's raw batch (:class:`~connectors.ReadResult`) and its accounting
(:class:`~carbonledger.engine.Accounted`) travel between the Dagster steps of a partition (and
between processes with the multiprocess or Celery executor). Pickling them costs seconds per
large day, because every text value is a Python object; here each frame is written as Parquet
with its text columns dictionary-encoded (a ledger repeats a few long provenance texts on every
line) and read back into the canonical dtypes, and the exact control totals, tie-out and summary
are JSON (decimals as strings, so nothing is rounded). A folder holds one result.

What does not belong here: the outputs users read (``engine.write_outputs``, ``io``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from carbonledger import io, schema
from carbonledger.controls import ControlTotals, TieOut
from carbonledger.engine import Accounted
from connectors import ReadResult

_META = "meta.json"


def save_batch(folder: Path, batch: ReadResult) -> None:
    """Write a raw batch: billing and quarantine frames, control totals, files."""
    with io.all_or_nothing():
        write_frame(folder / "billing.parquet", batch.billing, schema.BILLING_COLUMNS)
        write_frame(folder / "quarantine.parquet", batch.quarantine, schema.QUARANTINE_COLUMNS)
        io.write_json(folder / _META, {"inputs": _totals_json(batch.inputs), "files": batch.files})


def load_batch(folder: Path) -> ReadResult:
    meta = json.loads((folder / _META).read_text(encoding="utf-8"))
    return ReadResult(read_frame(folder / "billing.parquet", schema.BILLING_COLUMNS),
                      read_frame(folder / "quarantine.parquet", schema.QUARANTINE_COLUMNS),
                      _totals(meta["inputs"]), meta["files"])


def save_accounted(folder: Path, result: Accounted) -> None:
    """Write an accounted day: ledger and quarantine frames, tie-out, summary."""
    with io.all_or_nothing():
        write_frame(folder / "ledger.parquet", result.ledger, schema.LEDGER_COLUMNS)
        write_frame(folder / "quarantine.parquet", result.quarantine, schema.QUARANTINE_COLUMNS)
        tie_out = {f.name: _decimals_json(getattr(result.tie_out, f.name)) for f in fields(TieOut)}
        io.write_json(folder / _META, {"tie_out": tie_out, "summary": result.summary})


def load_accounted(folder: Path) -> Accounted:
    meta = json.loads((folder / _META).read_text(encoding="utf-8"))
    tie_out = TieOut(**{name: _decimals(value) for name, value in meta["tie_out"].items()})
    return Accounted(read_frame(folder / "ledger.parquet", schema.LEDGER_COLUMNS),
                     read_frame(folder / "quarantine.parquet", schema.QUARANTINE_COLUMNS), tie_out, meta["summary"])


def write_frame(path: Path, frame: pd.DataFrame, columns: tuple[schema.Column, ...]) -> None:
    """A canonical frame as Parquet, text dictionary-encoded (read it with :func:`read_frame`)."""
    table = io.arrow_table(frame, io.arrow_schema(schema.empty(columns)))
    io.write_atomic(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


def read_frame(path: Path, columns: tuple[schema.Column, ...]) -> pd.DataFrame:
    """A frame written by :func:`write_frame`, in the canonical dtypes; each distinct text is one
    Python object shared by its rows (not one object per row)."""
    table = pq.read_table(path)
    values: dict[str, Any] = {}
    for name, column in zip(table.column_names, table.columns):
        if pa.types.is_dictionary(column.type):
            chunk = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
            texts = np.array([*chunk.dictionary.to_pylist(), pd.NA], dtype=object)
            codes = chunk.indices.fill_null(len(texts) - 1).to_numpy(zero_copy_only=False)
            values[name] = pd.arrays.StringArray(texts[codes]) if len(codes) else pd.array([], dtype="string")
        else:
            values[name] = column.to_pandas()
    return schema.conform(pd.DataFrame(values, index=pd.RangeIndex(table.num_rows)), columns)


def _totals_json(totals: ControlTotals) -> dict[str, Any]:
    return {key: _decimals_json(value) for key, value in asdict(totals).items()}


def _totals(data: dict[str, Any]) -> ControlTotals:
    return ControlTotals(**{key: _decimals(value) for key, value in data.items()})


def _decimals_json(value: Any) -> Any:
    return {k: str(v) for k, v in value.items()} if isinstance(value, dict) else value


def _decimals(value: Any) -> Any:
    return {k: Decimal(v) for k, v in value.items()} if isinstance(value, dict) else value

"""Shared pieces of the synthetic billing-month generators (``generate_*_month.py``).

What belongs here is what every generator does the same way: the month and hour grid, projects
and teams, the catalogue lookups (instance types with a CPU power model, regions with an hourly
grid zone), dictionary-encoded Arrow columns, JSON text built column-wise from Arrow arrays (for
JSON lines and for the JSON-in-a-cell fields of CSV exports), the Parquet / CSV.gz / JSONL.gz
writers and the common command line (``--rows --out --format --seed``). What each format's
columns mean stays in its generator. Everything is vectorised: no Python loop runs per line item
(loops run per resource, per catalogue entry or per distinct value at most).
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
MONTH_START = pd.Timestamp("2026-10-01", tz="UTC")
HOURS_IN_MONTH = 31 * 24
PROJECTS = [f"proj-{i:03d}" for i in range(120)]
TEAMS = [f"team-{i:02d}" for i in range(25)]
WORKLOADS = ["training", "inference", "interactive"]


def dictionary(indices: np.ndarray, values: Sequence[str] | np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """A dictionary-encoded string column (nulls where ``null`` is set)."""
    idx = pa.array(indices.astype(np.int32), mask=null)
    return pa.DictionaryArray.from_arrays(idx, pa.array(list(values), pa.string()))


def line_ids(rows: int, prefix: str = "li-") -> pa.Array:
    """Unique line ids (``<prefix><n>``) built in Arrow, not Python."""
    numbers = pc.cast(pa.array(np.arange(rows, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(prefix, numbers, "")


def hour_stamps(fmt: str = "%Y-%m-%dT%H:%M:%SZ") -> list[str]:
    """The month's hour boundaries (HOURS_IN_MONTH + 1 of them) as text."""
    starts = MONTH_START + pd.to_timedelta(np.arange(HOURS_IN_MONTH + 1), unit="h")
    return starts.strftime(fmt).tolist()


def hour_timestamps(hours: np.ndarray) -> pa.Array:
    """Hour offsets into the month as a ``timestamp[us, UTC]`` column."""
    micros = MONTH_START.value // 1000 + hours.astype(np.int64) * 3_600_000_000
    return pa.array(micros, pa.timestamp("us", tz="UTC"))


def hourly_grid_zones() -> set[str]:
    """Grid zones with bundled hourly intensity."""
    return set(pq.read_schema(ROOT / "intensity/data/hourly_lifecycle_2022.parquet").names)


def grid_regions(provider: str) -> pd.DataFrame:
    """The provider's regions (``region``, ``location``, ``country``, ``grid_zone``) whose grid zone has
    bundled hourly intensity, sorted by region, so every row of a generated file can be priced."""
    regions = pd.read_csv(ROOT / "intensity/data/regions.csv")
    chosen = regions[(regions["provider"] == provider) & regions["grid_zone"].isin(hourly_grid_zones())]
    return chosen[["region", "location", "country", "grid_zone"]].sort_values("region").reset_index(drop=True)


def catalogue(provider: str) -> pd.DataFrame:
    """The provider's instance types in ``footprint/data/instances.csv`` with a CPU power model for
    (one of) their microarchitectures (``instance_type``, ``vcpus``, ``memory_gib``, ``gpu_model``,
    ``gpu_count``)."""
    inst = pd.read_csv(ROOT / "footprint/data/instances.csv")
    known = set(pd.read_csv(ROOT / "footprint/data/cpu_power.csv")["microarchitecture"])
    modelled = inst["cpu_microarch"].fillna("").map(lambda text: any(p.strip() in known for p in text.split(";")))
    chosen = inst[(inst["provider"] == provider) & modelled]
    return chosen.assign(gpu_count=chosen["gpu_count"].fillna(0)).reset_index(drop=True)


def known_gpus() -> set[str]:
    """GPU models with a power profile."""
    return set(pd.read_csv(ROOT / "footprint/data/gpus.csv")["gpu_model"])


# --- JSON text, column-wise --------------------------------------------------------------------------
# Generated text never contains quotes, backslashes or control characters, so a string is quoted by
# concatenation; dictionary values (few) go through json.dumps.

def json_text(array: pa.Array) -> pa.Array:
    """Each element as JSON text (``null`` for nulls): structs as objects, lists as arrays,
    timestamps as BigQuery's ``"YYYY-MM-DD HH:MM:SS UTC"``."""
    kind = array.type
    if pa.types.is_dictionary(kind):
        values = pa.array([json.dumps(v, ensure_ascii=False) for v in array.dictionary.to_pylist()], pa.string())
        return pc.fill_null(pc.take(values, array.indices), "null")
    if pa.types.is_struct(kind):
        parts: list[pa.Array | str] = ["{"]
        for n, child in enumerate(kind):
            parts += [("" if n == 0 else ", ") + json.dumps(child.name) + ": ", json_text(array.field(n))]
        parts.append("}")
        return pc.if_else(array.is_null(), "null", _join(parts))
    if pa.types.is_list(kind):
        offsets = array.offsets.to_numpy()
        start, stop = int(offsets[0]), int(offsets[-1])
        items = json_text(array.values.slice(start, stop - start))
        lists = pa.ListArray.from_arrays(pa.array(offsets - start, pa.int32()), items)
        return pc.if_else(array.is_null(), "null", pc.binary_join_element_wise("[", pc.binary_join(lists, ", "), "]", ""))
    if pa.types.is_timestamp(kind):
        return pc.fill_null(_join(['"', pc.strftime(_seconds(array), "%Y-%m-%d %H:%M:%S UTC"), '"']), "null")
    if pa.types.is_string(kind):
        return pc.fill_null(_join(['"', array, '"']), "null")
    if pa.types.is_boolean(kind):
        return pc.fill_null(pc.if_else(array, "true", "false"), "null")
    return pc.fill_null(pc.cast(array, pa.string()), "null")


def _seconds(array: pa.Array) -> pa.Array:
    """Timestamps truncated to whole seconds (so strftime's %S has no fraction)."""
    return array.cast(pa.timestamp("s", tz=array.type.tz), safe=False)


def _join(parts: list[pa.Array | str]) -> pa.Array:
    """Element-wise concatenation of arrays and constant strings."""
    return pc.binary_join_element_wise(*parts, "")


def json_lines(table: pa.Table) -> pa.Array:
    """One JSON object per row of ``table`` (nested fields as nested JSON)."""
    struct = pa.StructArray.from_arrays([c.combine_chunks() for c in table.columns], names=table.column_names)
    return json_text(struct)


def flattened(table: pa.Table, timestamp_format: str = "%Y-%m-%d %H:%M:%S UTC") -> pa.Table:
    """``table`` as a flattened export: struct fields as dotted columns, lists as JSON text,
    timestamps as text, dictionary columns as plain text."""
    names: list[str] = []
    columns: list[pa.Array] = []

    def walk(name: str, array: pa.Array) -> None:
        if pa.types.is_struct(array.type):
            for n, child in enumerate(array.type):
                walk(f"{name}.{child.name}", array.field(n))
        elif pa.types.is_list(array.type):
            names.append(name)
            columns.append(pc.if_else(array.is_null(), None, json_text(array)))
        elif pa.types.is_timestamp(array.type):
            names.append(name)
            columns.append(pc.strftime(_seconds(array), timestamp_format))
        elif pa.types.is_dictionary(array.type):
            names.append(name)
            columns.append(array.cast(array.type.value_type))
        else:
            names.append(name)
            columns.append(array)

    for name, column in zip(table.column_names, table.columns):
        walk(name, column.combine_chunks())
    return pa.table(columns, names=names)


# --- writers ---------------------------------------------------------------------------------------

def write_parquet(table: pa.Table, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd", row_group_size=1_000_000)
    return path


def write_csv_gz(table: pa.Table, path: Path) -> Path:
    """CSV, gzip level 1, dictionary columns written as their text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    plain = table.cast(pa.schema([pa.field(f.name, pa.string() if pa.types.is_dictionary(f.type) else f.type)
                                  for f in table.schema]))
    with gzip.open(path, "wb", compresslevel=1) as raw:
        pacsv.write_csv(plain, raw)
    return path


#: Rows converted to text at a time (Arrow string arrays have 32-bit offsets: keep each batch < 2 GiB).
TEXT_BATCH_ROWS = 250_000


def write_text_csv_gz(table: pa.Table, path: Path, to_text: Callable[[pa.Table], pa.Table]) -> Path:
    """CSV, gzip level 1, of ``to_text(batch)`` for each batch of rows (e.g. :func:`flattened`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb", compresslevel=1) as raw:
        writer = None
        for start in range(0, max(table.num_rows, 1), TEXT_BATCH_ROWS):
            batch = to_text(table.slice(start, TEXT_BATCH_ROWS))
            if writer is None:
                writer = pacsv.CSVWriter(raw, batch.schema)
            writer.write_table(batch)
        if writer is not None:
            writer.close()
    return path


def write_json_lines_gz(table: pa.Table, path: Path) -> Path:
    """Newline-delimited JSON (nested records), gzip level 1, written from Arrow string buffers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb", compresslevel=1) as raw:
        for start in range(0, table.num_rows, TEXT_BATCH_ROWS):
            lines = pc.binary_join_element_wise(json_lines(table.slice(start, TEXT_BATCH_ROWS)), "\n", "")
            offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset:lines.offset + len(lines) + 1]
            raw.write(memoryview(lines.buffers()[2])[int(offsets[0]):int(offsets[-1])])
    return path


# --- command line ---------------------------------------------------------------------------------

def main(description: str, generate: Callable[[int, int], pa.Table],
         write: Callable[[pa.Table, Path, str], Path], formats: Sequence[str]) -> None:
    """``--rows --out --format --seed``: generate, write and report sizes and times."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/data"))
    parser.add_argument("--format", choices=list(formats), default=formats[0])
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    started = time.perf_counter()
    table = generate(args.rows, args.seed)
    generated = time.perf_counter()
    path = write(table, args.out, args.format)
    print(f"{path}: {table.num_rows:,} rows, {path.stat().st_size / 2**20:,.1f} MiB "
          f"(generate {generated - started:.1f} s, write {time.perf_counter() - generated:.1f} s)")

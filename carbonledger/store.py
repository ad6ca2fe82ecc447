"""The ledger store: every day's ledger and quarantine as partitions of Hive-partitioned Parquet datasets.

Layout under the store's root (a local directory or ``s3://bucket/prefix``)::

    <root>/ledger/day=YYYY-MM-DD/part-0.parquet
    <root>/quarantine/day=YYYY-MM-DD/part-0.parquet

so Athena, Spark, DuckDB or ``pyarrow.dataset`` read it as two tables partitioned by ``day``. All I/O goes
through pyarrow's filesystem layer (``LocalFileSystem`` / ``S3FileSystem``, credentials from the standard
AWS chain).

**Overwrite semantics.** Writing a day replaces that day's partition of each table, atomically and
idempotently: the same ledger written twice leaves the same rows.

* Local: the file is written under a temporary name in the partition directory (``.part-0.parquet.<id>.tmp``,
  which dataset readers skip) and renamed onto ``part-0.parquet``; a reader sees the old file or the new.
* S3: there is no rename, but one object PUT is atomic: the new ``part-0.parquet`` replaces the old one
  whole once its upload completes (a failed upload leaves the old object).

Then any other file in the partition (a temporary file left by a crashed writer, parts of another layout)
is deleted. Each table's partition is replaced atomically; the ledger and quarantine of one day are two
replacements, quarantine first. One writer per partition at a time (Dagster runs one run per partition).

What does not belong here: the warehouse (``carbonledger.warehouse``), the per-run report folders
(``carbonledger.engine.write_outputs``), and any Dagster wiring.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from carbonledger import schema

#: Table name -> its canonical schema.
TABLES: dict[str, tuple[schema.Column, ...]] = {"ledger": schema.LEDGER_COLUMNS, "quarantine": schema.QUARANTINE_COLUMNS}
PART_NAME = "part-0.parquet"
_PARTITIONING = ds.partitioning(pa.schema([("day", pa.string())]), flavor="hive")


@dataclass(frozen=True)
class StoredDay:
    """Where one day was written: the partition file of each table and its row count."""

    day: dt.date
    files: dict[str, str]
    rows: dict[str, int]


@dataclass(frozen=True)
class LedgerStore:
    """A ledger store at ``root``: a local directory or ``s3://bucket/prefix`` (``endpoint_url``/``region``
    for S3-compatible stores and tests)."""

    root: str
    endpoint_url: str | None = None
    region: str | None = None

    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3://")

    def filesystem(self) -> tuple[pafs.FileSystem, str]:
        """The pyarrow filesystem and the root path within it."""
        if self.is_s3:
            fs = pafs.S3FileSystem(endpoint_override=self.endpoint_url, region=self.region)
            return fs, self.root.removeprefix("s3://").rstrip("/")
        return pafs.LocalFileSystem(), str(self.root).rstrip("/")

    def uri(self, path: str) -> str:
        """A filesystem path as the user sees it (``s3://`` prefix on S3)."""
        return f"s3://{path}" if self.is_s3 else path

    def write_day(self, day: dt.date, ledger: pd.DataFrame, quarantine: pd.DataFrame) -> StoredDay:
        """Replace ``day``'s partition of the ledger and quarantine tables (module docstring: semantics)."""
        fs, root = self.filesystem()
        frames = {"quarantine": quarantine, "ledger": ledger}
        for table, frame in frames.items():
            schema.validate(frame, TABLES[table], f"the {table} of {day.isoformat()}")
        files, rows = {}, {}
        for table, frame in frames.items():
            path = self._replace_partition(fs, f"{root}/{table}/day={day.isoformat()}",
                                           pa.Table.from_pandas(frame, preserve_index=False))
            files[table], rows[table] = self.uri(path), len(frame)
        return StoredDay(day, files, rows)

    def _replace_partition(self, fs: pafs.FileSystem, partition: str, table: pa.Table) -> str:
        target = f"{partition}/{PART_NAME}"
        if self.is_s3:
            pq.write_table(table, target, filesystem=fs, compression="zstd")
        else:
            tmp = f"{partition}/.{PART_NAME}.{uuid.uuid4().hex}.tmp"
            fs.create_dir(partition, recursive=True)
            try:
                pq.write_table(table, tmp, filesystem=fs, compression="zstd")
                fs.move(tmp, target)
            except BaseException:
                if fs.get_file_info(tmp).type != pafs.FileType.NotFound:
                    fs.delete_file(tmp)
                raise
        for info in fs.get_file_info(pafs.FileSelector(partition)):
            if info.path != target and info.type == pafs.FileType.File:
                fs.delete_file(info.path)
        return target

    def read(self, start: dt.date, end: dt.date, table: str = "ledger") -> pd.DataFrame:
        """The rows of ``table`` (``ledger`` or ``quarantine``) of the days ``start`` .. ``end`` (inclusive),
        in day order, as one frame in the canonical schema."""
        columns = TABLES[table]
        fs, root = self.filesystem()
        path = f"{root}/{table}"
        if fs.get_file_info(path).type == pafs.FileType.NotFound:
            return schema.empty(columns)
        dataset = ds.dataset(path, filesystem=fs, format="parquet", partitioning=_PARTITIONING)
        in_range = (ds.field("day") >= start.isoformat()) & (ds.field("day") <= end.isoformat())
        names = [c for c in schema.names(columns) if c in dataset.schema.names]
        arrow = dataset.to_table(columns=["day", *names], filter=in_range)
        arrow = arrow.sort_by([("day", "ascending")]).drop_columns(["day"])
        frame = arrow.to_pandas() if arrow.num_rows else schema.empty(columns)
        return schema.conform(frame, columns).reset_index(drop=True)

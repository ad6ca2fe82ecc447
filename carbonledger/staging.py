"""File billing sources split by UTC day, once per version of their files: a daily partition reads only its day.

A month of hourly billing arrives as one file or a few, and each of the month's daily partitions
needs one day of it; reading the whole month for each of them costs a month's read per day.
Instead, the first partition that needs a version of a source's files streams them once
(``connectors.iter_billing``, batch by batch, so memory stays bounded) and writes each day's
canonical billing rows and quarantined rows as Parquet parts under
``<root>/<source>/<version>/day=<YYYY-MM-DD>/``; every partition of that version then reads its
day's parts only. Batches are converted in worker processes (``carbonledger.parallel``) and
appended to their days' parts in input order. The version hashes the files' paths, sizes and modification times, the format,
the project tag keys and this layout, so a new or restated delivery (or a changed config) makes a
new split, and the previous split of the source is removed.

A Parquet file whose rows can be dated before conversion (AWS CUR: the usage start column, read
exactly as the converter reads it; :func:`connectors.reader.row_days`) needs no split: each
partition decodes the files, keeps its day's rows and converts only those, so the first day of a
new delivery costs about what any other day costs. A file with a row whose start cannot be read
is split as above (such a quarantined row belongs to the first day of its file's billing rows,
which only converting the whole file tells).

Rows go to days exactly as :func:`carbonledger.engine.select_day` assigns them (by
``ChargePeriodStart``; quarantined rows without one go to the first day of their file's billing
rows) and come back in the same order, so a partition reads the same rows, quarantine and control
totals either way. A split is built in a temporary directory and renamed into place; an
exclusive lock per source makes concurrent partitions (multiprocess or Celery executors) wait for
one build instead of repeating it.

What does not belong here: reading formats (``connectors``), accounting (``engine``).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import logging
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from carbonledger import io, schema
from carbonledger.controls import ControlTotals
from connectors import ReadResult
from connectors.discover import billing_files
from carbonledger.parallel import ordered_map
from connectors.rawfile import RawTable, concat_raw, is_parquet
from connectors.reader import combine_batches, raw_batches, read_batch, row_days

log = logging.getLogger("carbonledger")

#: Changes whenever what a split holds, or how, changes (old splits are then rebuilt).
_LAYOUT = "1"
_MANIFEST = "split.json"


def source_day(paths: Sequence[Path], fmt: str, day: dt.date, project_tag_keys: Sequence[str], root: Path, *,
               batch_rows: int | None = None) -> ReadResult:
    """One UTC day of a file source: its billing rows, quarantined rows and the day's control totals.

    ``root`` is the source's own staging directory; ``batch_rows`` the streaming batch of a split."""
    files = billing_files([Path(p) for p in paths])
    version = _version(files, fmt, project_tag_keys)
    split = root / version
    if not (split / _MANIFEST).is_file():
        direct = _day_without_split(files, fmt, day, project_tag_keys, batch_rows)
        if direct is not None:
            if root.is_dir():           # splits of earlier deliveries: superseded
                with _locked(root):
                    _remove_other_versions(root, version)
            return direct
        with _locked(root):
            if not (split / _MANIFEST).is_file():
                _build(files, fmt, project_tag_keys, root, version, batch_rows)
    manifest = json.loads((split / _MANIFEST).read_text(encoding="utf-8"))
    billing, quarantine = _read_day(split / f"day={day.isoformat()}", manifest["files"])
    inputs = ControlTotals.of(billing) + ControlTotals.of(quarantine)
    return ReadResult(billing, quarantine, inputs, manifest["files"])


def _day_without_split(files: Sequence[Path], fmt: str, day: dt.date, project_tag_keys: Sequence[str],
                       batch_rows: int | None) -> ReadResult | None:
    """The day read straight from Parquet files whose rows can be dated before conversion
    (``connectors.reader.row_days``): each batch is dated from its start column alone and only the
    day's rows are converted, so a day costs one decode of the files, not a conversion of the month.
    None where that does not apply (a text file, another format, a row without a readable start);
    the split is built then."""
    if not files or not all(is_parquet(f) for f in files):
        return None
    wanted = np.datetime64(day, "D")
    rows: dict[str, list[RawTable]] = {str(f): [] for f in files}
    formats: dict[str, str] = {}
    for raw, file_fmt in raw_batches(list(files), fmt, batch_rows=batch_rows):
        days = row_days(raw, file_fmt)
        if days is None:
            log.info("%s: rows cannot all be dated before conversion; splitting the source by day instead", raw.path)
            return None
        rows[raw.path].append(raw.rows(np.flatnonzero(days == wanted)))
        formats[raw.path] = file_fmt
    # every Parquet file yields at least one batch, so each file gives one result, in order
    return combine_batches([read_batch(concat_raw(Path(path), batches), formats[path], project_tag_keys)
                            for path, batches in rows.items()])


def _version(files: Sequence[Path], fmt: str, project_tag_keys: Sequence[str]) -> str:
    stats = [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in files]
    text = json.dumps({"layout": _LAYOUT, "format": fmt, "tags": list(project_tag_keys), "files": stats})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(files: Sequence[Path], fmt: str, project_tag_keys: Sequence[str], root: Path, version: str,
           batch_rows: int | None) -> None:
    log.info("splitting %d billing file(s) by day into %s", len(files), root / version)
    building = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=root))
    try:
        _write_parts(files, fmt, project_tag_keys, building, batch_rows)
        building.rename(root / version)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    _remove_other_versions(root, version)


def _remove_other_versions(root: Path, version: str) -> None:
    """Remove the splits of earlier versions of this source's files (superseded by ``version``)."""
    for old in root.iterdir():
        if old.is_dir() and old.name != version:
            shutil.rmtree(old, ignore_errors=True)


@dataclass(frozen=True)
class _SplitBatch:
    """One batch of a file, converted and cut by day (Arrow, text dictionary-encoded)."""

    file: str
    billing: dict[str, pa.Table]
    quarantine: dict[str, pa.Table]
    undated: pa.Table
    first_day: str | None


def _write_parts(files: Sequence[Path], fmt: str, project_tag_keys: Sequence[str], target: Path,
                 batch_rows: int | None) -> None:
    """Every day's rows appended to that day's parts, batch by batch (converted in worker processes);
    quarantined rows without a day go to the first day of their file's billing rows once it is known."""
    schemas = {"billing": io.arrow_schema(schema.empty(schema.BILLING_COLUMNS)),
               "quarantine": io.arrow_schema(schema.empty(schema.QUARANTINE_COLUMNS))}
    first_day: dict[str, str] = {}
    undated: dict[str, list[pa.Table]] = {}
    jobs = raw_batches(list(files), fmt, batch_rows=batch_rows)
    with _DayWriters(target, schemas) as writers:
        for batch in ordered_map(lambda job: _split(job, project_tag_keys, schemas), jobs):
            for kind, by_day in (("billing", batch.billing), ("quarantine", batch.quarantine)):
                for day, table in by_day.items():
                    writers.write(kind, day, table)
            if batch.first_day is not None:
                first_day[batch.file] = min(first_day.get(batch.file, batch.first_day), batch.first_day)
            if batch.undated.num_rows:
                undated.setdefault(batch.file, []).append(batch.undated)
        for file, tables in undated.items():
            if file in first_day:
                writers.write("quarantine", first_day[file], pa.concat_tables(tables))
            else:
                log.warning("%s: %d quarantined row(s) have no readable charge period and the file has no billing "
                            "rows to date them by; no daily partition holds them (an estimate over the file does)",
                            file, sum(t.num_rows for t in tables))
    io.write_json(target / _MANIFEST, {"files": [str(f) for f in files]})


def _split(job: tuple[RawTable, str], project_tag_keys: Sequence[str], schemas: dict[str, pa.Schema]) -> _SplitBatch:
    raw, fmt = job
    batch = read_batch(raw, fmt, project_tag_keys)
    billing_days = _days(batch.billing["ChargePeriodStart"])
    quarantine_days = _days(batch.quarantine["ChargePeriodStart"])

    def by_day(frame: pd.DataFrame, days: pd.Series, kind: str) -> dict[str, pa.Table]:
        known = days.notna()
        return {day.date().isoformat(): io.arrow_table(rows, schemas[kind])
                for day, rows in frame.loc[known].groupby(days[known], sort=True)}

    return _SplitBatch(
        file=raw.path,
        billing=by_day(batch.billing, billing_days, "billing"),
        quarantine=by_day(batch.quarantine, quarantine_days, "quarantine"),
        undated=io.arrow_table(batch.quarantine.loc[quarantine_days.isna()], schemas["quarantine"]),
        first_day=billing_days.min().date().isoformat() if billing_days.notna().any() else None,
    )


def _days(starts: pd.Series) -> pd.Series:
    return starts.dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize()


class _DayWriters:
    """One open Parquet writer per (kind, day) of a split being built. Beyond ``limit`` open writers
    the least recently used is closed; a later batch of its day starts the day's next part file."""

    def __init__(self, target: Path, schemas: dict[str, pa.Schema], limit: int = 128) -> None:
        self._target, self._schemas, self._limit = target, schemas, limit
        self._open: OrderedDict[tuple[str, str], io.TextDictionaryWriter] = OrderedDict()
        self._parts: dict[tuple[str, str], int] = {}

    def __enter__(self) -> "_DayWriters":
        return self

    def write(self, kind: str, day: str, table: pa.Table) -> None:
        key = (kind, day)
        writer = self._open.get(key)
        if writer is None:
            if len(self._open) >= self._limit:
                self._open.popitem(last=False)[1].close()
            part = self._parts[key] = self._parts.get(key, 0) + 1
            folder = self._target / f"day={day}"
            folder.mkdir(exist_ok=True)
            writer = io.TextDictionaryWriter(folder / f"{kind}-{part:06d}.parquet", self._schemas[kind],
                                             schema.FILTER_TEXT_COLUMNS)
            self._open[key] = writer
        self._open.move_to_end(key)
        writer.write_table(table)

    def __exit__(self, *exc: object) -> None:
        for writer in self._open.values():
            writer.close()
        self._open.clear()


def _read_day(day_dir: Path, files: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    billing = _read_parts(sorted(day_dir.glob("billing-*.parquet")), schema.BILLING_COLUMNS)
    quarantine = _read_parts(sorted(day_dir.glob("quarantine-*.parquet")), schema.QUARANTINE_COLUMNS)
    if len(quarantine):     # the order of a whole-source read: by file, then row
        order = quarantine["x_SourceFile"].map({f: i for i, f in enumerate(files)})
        quarantine = quarantine.iloc[pd.DataFrame({"f": order, "r": quarantine["x_SourceRow"]})
                                     .sort_values(["f", "r"], kind="stable").index].reset_index(drop=True)
    return billing, quarantine


def _read_parts(parts: list[Path], columns: tuple[schema.Column, ...]) -> pd.DataFrame:
    if not parts:
        return schema.empty(columns)
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)

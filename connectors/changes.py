"""Noticing new and restated billing deliveries: file fingerprints, what changed, and the days it touches.

A source's *snapshot* maps each billing file it resolves to (``discover.billing_files``: directories,
CUR manifests with only their latest assembly) to ``[size, mtime_ns]``. Comparing two snapshots
gives the files that are new or rewritten; :func:`charge_days` reads only the charge-period-start
column of such a file (not the whole export) to find the UTC days whose ledgers must be rebuilt.
A restated month (a new CUR assembly) shows up as new files covering every day of that month.

:class:`DeliveryState` keeps both (per source: snapshot; per file: its days) between two looks, so
a restatement that moves lines *off* a day, or a deleted file, still re-runs the days it covered.

What does not belong here: reading billing rows (``reader``), scheduling runs (``pipelines``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.parquet as pq

from carbonledger.config import Source
from carbonledger.errors import InputFormatError
from connectors.detect import format_of_columns
from connectors.discover import billing_files
from connectors.rawfile import is_json_lines, is_parquet, read_header, read_raw

#: Snapshot of one source: file path → [size in bytes, modification time in ns].
Snapshot = dict[str, list[int]]

#: The column holding each line's charge period start, per format (first present wins).
_START_COLUMNS: dict[str, tuple[str, ...]] = {
    "focus": ("ChargePeriodStart",),
    "aws-cur": ("lineItem/UsageStartDate", "line_item_usage_start_date"),
    "aws-cur2": ("line_item_usage_start_date",),
    "gcp": ("usage_start_time",),
    "azure": ("Date", "date", "UsageDateTime", "usageDateTime"),
}


def snapshot(paths: Sequence[str | Path]) -> Snapshot:
    """Fingerprints of every billing file the paths resolve to (an empty snapshot if none exist yet)."""
    existing = [Path(p) for p in paths if Path(p).exists()]
    if not existing:
        return {}
    files = billing_files(existing)
    return {str(f): [f.stat().st_size, f.stat().st_mtime_ns] for f in files}


def changed_files(previous: Mapping[str, Sequence[int]], current: Mapping[str, Sequence[int]]) -> list[str]:
    """Files in ``current`` that are new or whose size or modification time differs, sorted."""
    return sorted(path for path, state in current.items() if list(previous.get(path, [])) != list(state))


def charge_days(path: str | Path, fmt: str = "auto") -> set[dt.date]:
    """The UTC days on which the lines of a billing file start (unreadable timestamps are ignored).

    Reads one column. Raises :class:`InputFormatError` when the file has no known start column.
    """
    path = Path(path)
    header = read_header(path)
    fmt = format_of_columns(header) if fmt == "auto" else fmt
    column = next((c for c in _START_COLUMNS.get(fmt or "", ()) if c in header), None)
    if column is None:
        raise InputFormatError(path, f"no charge-period start column found (format {fmt or 'unknown'}; "
                                     f"expected one of {', '.join(c for cs in _START_COLUMNS.values() for c in cs)})")
    values = _read_column(path, column)
    starts = pd.to_datetime(values, utc=True, errors="coerce", format="mixed").dropna()
    return set(starts.dt.floor("D").dt.date.unique())


def _read_column(path: Path, column: str) -> pd.Series:
    if is_parquet(path):
        table = pq.read_table(path, columns=[column])
    elif is_json_lines(path):      # nested records: flattened by the raw reader, then one column kept
        table = read_raw(path).table.select([column])
    else:
        table = pv.read_csv(
            path,
            read_options=pv.ReadOptions(block_size=1 << 24),
            parse_options=pv.ParseOptions(invalid_row_handler=lambda row: "skip"),
            convert_options=pv.ConvertOptions(include_columns=[column], column_types={column: pa.string()},
                                              strings_can_be_null=True),
        )
    return table.column(column).to_pandas().astype("string")


@dataclass(frozen=True)
class DeliveryState:
    """What the billing sources held at one look: each source's snapshot and each file's ISO days."""

    files: dict[str, Snapshot]
    days: dict[str, list[str]]

    @classmethod
    def scan(cls, sources: Sequence[Source], previous: "DeliveryState | None" = None) -> "DeliveryState":
        """Look at the sources now; files unchanged since ``previous`` keep their days without re-reading."""
        files = {source.name: snapshot([source.path]) for source in sources}
        days: dict[str, list[str]] = {}
        for source in sources:
            before = previous.files.get(source.name, {}) if previous else {}
            changed = set(changed_files(before, files[source.name]))
            for path in files[source.name]:
                if previous is not None and path not in changed and path in previous.days:
                    days[path] = previous.days[path]
                else:
                    days[path] = sorted(d.isoformat() for d in charge_days(path, source.format))
        return cls(files, days)

    def changed_since(self, previous: "DeliveryState") -> dict[str, list[str]]:
        """ISO day → the files that make it stale: days a new or rewritten file covers now or covered
        before, and days of files that disappeared."""
        changed = {path for name, snap in self.files.items() for path in changed_files(previous.files.get(name, {}), snap)}
        changed |= set(previous.days) - set(self.days)
        stale: dict[str, list[str]] = {}
        for path in sorted(changed):
            for day in sorted(set(previous.days.get(path, [])) | set(self.days.get(path, []))):
                stale.setdefault(day, []).append(path)
        return stale

    def state_of(self, path: str) -> list[int] | None:
        """The snapshot entry of ``path`` (None once it is gone)."""
        return next((snap[path] for snap in self.files.values() if path in snap), None)

    def to_json(self) -> str:
        return json.dumps({"files": self.files, "days": self.days}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "DeliveryState":
        data = json.loads(text)
        return cls(data["files"], data["days"])

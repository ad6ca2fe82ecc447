"""Noticing new and restated billing deliveries: file fingerprints, what changed, and the days it touches.

A source's *snapshot* maps each billing file it resolves to (``discover.billing_files``: directories,
CUR manifests with only their latest assembly) to ``[size, mtime_ns]``. Comparing two snapshots
gives the files that are new or rewritten; :func:`charge_days` reads only the charge-period-start
column of such a file (not the whole export) to find the UTC days whose ledgers must be rebuilt.
A restated month (a new CUR assembly) shows up as new files covering every day of that month.

:class:`DeliveryState` keeps both (per source: snapshot; per file: its days) between two looks, so
a restatement that moves lines *off* a day, or a deleted file, still re-runs the days it covered.

Sources read one day at a time from a remote service (``bigquery://``, ``azure://``) have no
files to fingerprint (their cache is written by the pipeline itself, and watching it would
re-run every day the pipeline fetches). For them :func:`remote_days` asks the service for a
per-day fingerprint over a lookback window: BigQuery's (latest ``export_time``, row count) per
usage day (``gcp_bigquery.export_days``), Azure's total cost per currency per day
(``azure_remote.daily_costs``). The state keeps each such source's window start and day →
fingerprint; a day whose fingerprint appeared, changed or vanished inside both the old and the
new window is stale. A source seen for the first time (or after its lookup failed every time so
far) records a baseline and makes nothing stale.

What does not belong here: reading billing rows (``reader``), scheduling runs (``pipelines``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.parquet as pq

from carbonledger.config import Source
from carbonledger.errors import CarbonLedgerError, InputFormatError
from connectors.azure_remote import Connection as AzureConnection
from connectors.azure_remote import daily_costs
from connectors.detect import format_of_columns
from connectors.discover import billing_files
from connectors.gcp_bigquery import export_days
from connectors.rawfile import is_json_lines, is_parquet, read_header, read_raw

#: Snapshot of one source: file path → [size in bytes, modification time in ns].
Snapshot = dict[str, list[int]]
#: One remote source's look: {"since": first ISO day watched, "days": {ISO day: JSON fingerprint}}.
RemoteLook = dict[str, Any]
#: Prefix of the keys that name a remote source (rather than a file) among a stale day's causes.
REMOTE_KEY = "remote:"

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


def is_remote(source: Source) -> bool:
    """True for a source read one day at a time from a service (BigQuery, Azure Cost Management)."""
    return source.bigquery is not None or source.azure is not None


def remote_days(source: Source, first: dt.date, last: dt.date) -> dict[str, Any]:
    """ISO day → fingerprint (JSON-able) of a remote source's days from ``first`` to ``last`` that have
    data: BigQuery ``[latest export_time, rows]``, Azure ``[[currency, total cost], ...]``."""
    if source.bigquery is not None:
        bq = source.bigquery
        found = export_days(bq.table, first, last, project=bq.project, api_endpoint=bq.api_endpoint)
        return {day.isoformat(): [stamp, rows] for day, (stamp, rows) in found.items()}
    if source.azure is not None:
        az = source.azure
        totals = daily_costs(az.scope, first, last, metric=az.metric, connection=AzureConnection(base_url=az.base_url))
        return {day.isoformat(): pairs for day, pairs in totals.items()}
    raise ValueError(f"source {source.name!r} is not a remote (BigQuery or Azure) source")


@dataclass(frozen=True)
class DeliveryState:
    """What the billing sources held at one look: each file source's snapshot and each file's ISO days,
    and each remote source's per-day fingerprints (``remote``). ``failures`` (not saved) names the
    remote sources whose look failed this time, with the error; they keep their previous look."""

    files: dict[str, Snapshot]
    days: dict[str, list[str]]
    remote: dict[str, RemoteLook] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def scan(cls, sources: Sequence[Source], previous: "DeliveryState | None" = None, *,
             window: tuple[dt.date, dt.date] | None = None) -> "DeliveryState":
        """Look at the sources now; files unchanged since ``previous`` keep their days without re-reading.

        Remote sources are asked for their days from ``window[0]`` to ``window[1]``; without a
        window (or an empty one) they are not looked at and keep their previous look.
        """
        remote_sources = [s for s in sources if is_remote(s)]
        sources = [s for s in sources if not is_remote(s)]
        files = {source.name: snapshot([source.path]) for source in sources}
        days: dict[str, list[str]] = {}
        remote: dict[str, RemoteLook] = {}
        failures: dict[str, str] = {}
        before = previous.remote if previous is not None else {}
        for source in remote_sources:
            if window is None or window[0] > window[1]:
                if source.name in before:
                    remote[source.name] = before[source.name]
                continue
            try:
                remote[source.name] = {"since": window[0].isoformat(), "days": remote_days(source, *window)}
            except CarbonLedgerError as exc:
                failures[source.name] = str(exc)
                if source.name in before:
                    remote[source.name] = before[source.name]
        for source in sources:
            before = previous.files.get(source.name, {}) if previous else {}
            changed = set(changed_files(before, files[source.name]))
            for path in files[source.name]:
                if previous is not None and path not in changed and path in previous.days:
                    days[path] = previous.days[path]
                else:
                    days[path] = sorted(d.isoformat() for d in charge_days(path, source.format))
        return cls(files, days, remote, failures)

    def changed_since(self, previous: "DeliveryState") -> dict[str, list[str]]:
        """ISO day → the files that make it stale: days a new or rewritten file covers now or covered
        before, and days of files that disappeared."""
        changed = {path for name, snap in self.files.items() for path in changed_files(previous.files.get(name, {}), snap)}
        changed |= set(previous.days) - set(self.days)
        stale: dict[str, list[str]] = {}
        for path in sorted(changed):
            for day in sorted(set(previous.days.get(path, [])) | set(self.days.get(path, []))):
                stale.setdefault(day, []).append(path)
        for name, look in sorted(self.remote.items()):
            old = previous.remote.get(name)
            if old is None:          # first look at this source: a baseline
                continue
            since = max(look["since"], old["since"])       # days both looks covered
            for day in sorted(set(look["days"]) | set(old["days"])):
                if day >= since and look["days"].get(day) != old["days"].get(day):
                    stale.setdefault(day, []).append(REMOTE_KEY + name)
        return dict(sorted(stale.items()))

    def state_of(self, path: str) -> list[int] | None:
        """The snapshot entry of ``path`` (None once it is gone)."""
        return next((snap[path] for snap in self.files.values() if path in snap), None)

    def fingerprint(self, day: str, causes: Sequence[str]) -> str:
        """A short hash of what ``day``'s causes (file paths, remote source keys) hold now: it changes
        whenever one of them changes again, so it makes a run key that re-runs each restatement."""
        states = {key: (self.remote.get(key.removeprefix(REMOTE_KEY), {}).get("days", {}).get(day)
                        if key.startswith(REMOTE_KEY) else self.state_of(key)) for key in causes}
        return hashlib.sha256(json.dumps(states, sort_keys=True).encode()).hexdigest()[:16]

    def to_json(self) -> str:
        return json.dumps({"files": self.files, "days": self.days, "remote": self.remote}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "DeliveryState":
        """A saved state; cursors written before remote sources were watched have no ``remote``."""
        data = json.loads(text)
        return cls(data["files"], data["days"], data.get("remote", {}))

"""Reading one day of a GCP billing export table from BigQuery into a RawTable (FORMATS.md §3.1).

:func:`read_billing_day` runs one parameterised query through ``google-cloud-bigquery`` and fetches
the result as Arrow over the REST API; ``rawfile.text_table`` flattens the RECORD fields to the
dotted names of a flattened CSV export (``service.description``, ``usage.amount``; ``labels``,
``system_labels`` and ``credits`` as JSON text), so ``gcp.convert_gcp`` reads it unchanged.

Which rows make "the day" (``by``):

* ``"partition"`` (default): the table's ingestion-time partition of the day
  (``_PARTITIONTIME`` in [day, day + 1)). Every exported row lies in exactly one partition, so
  reading each day's partition once reads every row once, late-exported rows included.
* ``"usage"``: rows whose ``usage_start_time`` lies in the UTC day (works on views and on tables
  partitioned by a column, which have no ``_PARTITIONTIME``).

:func:`export_days` is the delivery sensor's cheap look at the same table: one parameterised
aggregate query giving, per UTC usage day in a window, the latest ``export_time`` and the row
count. Google restates a day by *appending* rows with a later ``export_time`` (corrections,
late usage, credits exported days later), so a day whose ``(last export, rows)`` pair changed
has new rows to read. The query reads only ``usage_start_time`` and ``export_time`` (16 bytes a
row) and, on the export's ingestion-time partitioned tables, only partitions from a day before
the window on (a row is exported after its usage starts); a table without ``_PARTITIONTIME``
(a view, a column-partitioned copy) is queried again without that filter.

Credentials come from Application Default Credentials unless given. Failures (raised ``from None``:
the client's own exception text can carry the request URL, so it is kept out of error chains and
Dagster's event log) become
:class:`~carbonledger.errors.ConfigError` (no credentials, credentials refused, access denied) or
:class:`~carbonledger.errors.InputFormatError` (table missing, query rejected), naming the table,
never a token or key.

What does not belong here: what the columns mean (``gcp``), reading files (``rawfile``).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

import numpy as np
import pyarrow as pa
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import Credentials
from google.cloud import bigquery

from carbonledger.errors import ConfigError, InputFormatError
from connectors.rawfile import RawTable, text_table

#: Column the day is selected on, per ``by``.
DAY_COLUMNS = {"partition": "_PARTITIONTIME", "usage": "usage_start_time"}
# project (may be domain-scoped, "example.com:proj"), dataset, table; no backticks or spaces.
_TABLE_ID = re.compile(r"^[A-Za-z0-9.:_-]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_$-]+$")


def _check_table(table: str) -> None:
    if not _TABLE_ID.match(table):
        raise ConfigError(f"BigQuery billing table {table!r}: expected 'project.dataset.table'")


def day_query(table: str, by: Literal["partition", "usage"] = "partition") -> str:
    """The SQL selecting one day of ``table`` (``project.dataset.table``), with @start and @end parameters."""
    _check_table(table)
    if by not in DAY_COLUMNS:
        raise ConfigError(f"BigQuery day selection {by!r}: expected one of {', '.join(DAY_COLUMNS)}")
    column = DAY_COLUMNS[by]
    return f"SELECT * FROM `{table}` WHERE {column} >= @start AND {column} < @end"


def read_billing_day(
    table: str,
    day: dt.date,
    *,
    by: Literal["partition", "usage"] = "partition",
    project: str | None = None,
    credentials: Credentials | None = None,
    api_endpoint: str | None = None,
    location: str | None = None,
) -> RawTable:
    """One day of a billing export table as text columns, named like a flattened export.

    ``project`` is the project the query job runs (and is billed) in; by default the table's
    project. ``api_endpoint`` overrides the BigQuery REST endpoint (tests, private endpoints).
    """
    sql = day_query(table, by)
    source = f"bigquery:{table}/{day.isoformat()}"
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc)
    hint = "; with by='usage' the table need not be ingestion-time partitioned" if by == "partition" else ""
    arrow = _query(sql, table, source, start, start + dt.timedelta(days=1), hint, project=project,
                   credentials=credentials, api_endpoint=api_endpoint, location=location)
    return RawTable(source, text_table(arrow), np.arange(1, arrow.num_rows + 1, dtype=np.int64))


def export_days_query(table: str, *, prune: bool = True) -> str:
    """The SQL giving, per UTC usage day in [@start, @end), ``last_export_time`` and ``row_count``.

    ``prune`` adds a ``_PARTITIONTIME`` filter from the day before @start, so an ingestion-time
    partitioned export table is scanned only from there on.
    """
    _check_table(table)
    partitions = " AND _PARTITIONTIME >= TIMESTAMP_SUB(@start, INTERVAL 1 DAY)" if prune else ""
    return (f"SELECT DATE(usage_start_time) AS usage_day, MAX(export_time) AS last_export_time, "
            f"COUNT(*) AS row_count FROM `{table}` WHERE usage_start_time >= @start AND usage_start_time < @end"
            f"{partitions} GROUP BY usage_day ORDER BY usage_day")


def export_days(
    table: str,
    first: dt.date,
    last: dt.date,
    *,
    project: str | None = None,
    credentials: Credentials | None = None,
    api_endpoint: str | None = None,
    location: str | None = None,
) -> dict[dt.date, tuple[str, int]]:
    """Per UTC usage day from ``first`` to ``last`` (inclusive) that has rows: (latest export_time as
    ISO 8601 UTC text, row count). Days without rows are absent.

    Tries the partition-pruned query first; when BigQuery rejects it (no ``_PARTITIONTIME`` on a
    view or column-partitioned table; rejected queries are not billed) runs it without the filter.
    """
    source = f"bigquery:{table}/{first.isoformat()}..{last.isoformat()}"
    start = dt.datetime.combine(first, dt.time(), tzinfo=dt.timezone.utc)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)
    options = {"project": project, "credentials": credentials, "api_endpoint": api_endpoint, "location": location}
    try:
        arrow = _query(export_days_query(table), table, source, start, end, "", **options)
    except InputFormatError as exc:
        if "query rejected" not in str(exc):
            raise
        arrow = _query(export_days_query(table, prune=False), table, source, start, end, "", **options)
    days = arrow.column("usage_day").to_pylist()
    stamps = arrow.column("last_export_time").to_pylist()
    counts = arrow.column("row_count").to_pylist()
    return {day: (_iso_utc(stamp), int(count)) for day, stamp, count in zip(days, stamps, counts) if day is not None}


def _iso_utc(stamp: dt.datetime | None) -> str:
    """A BigQuery TIMESTAMP as ISO 8601 UTC text with microseconds ('' for null)."""
    if stamp is None:
        return ""
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return stamp.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def _query(
    sql: str, table: str, source: str, start: dt.datetime, end: dt.datetime, hint: str, *,
    project: str | None, credentials: Credentials | None, api_endpoint: str | None, location: str | None,
) -> pa.Table:
    """Run ``sql`` with TIMESTAMP parameters @start and @end; the result as Arrow, errors named by ``source``."""
    config = bigquery.QueryJobConfig(query_parameters=[
        bigquery.ScalarQueryParameter("start", "TIMESTAMP", start),
        bigquery.ScalarQueryParameter("end", "TIMESTAMP", end),
    ])
    try:
        client = bigquery.Client(
            project=project or table.rsplit(".", 2)[0], credentials=credentials, location=location,
            client_options={"api_endpoint": api_endpoint} if api_endpoint else None,
        )
        rows = client.query_and_wait(sql, job_config=config)
        return rows.to_arrow(create_bqstorage_client=False)
    except auth_exceptions.DefaultCredentialsError:
        raise ConfigError(
            f"{source}: no Google credentials found; set up Application Default Credentials "
            "(GOOGLE_APPLICATION_CREDENTIALS or 'gcloud auth application-default login')"
        ) from None
    except auth_exceptions.GoogleAuthError as exc:
        raise ConfigError(f"{source}: Google credentials were refused ({type(exc).__name__}); "
                          "check the service account or refresh the ADC login") from None
    except (api_exceptions.Unauthorized, api_exceptions.Forbidden) as exc:
        raise ConfigError(f"{source}: access denied ({exc.code}); the credentials need "
                          "bigquery.jobs.create in the job project and read access to the table") from None
    except api_exceptions.NotFound as exc:
        raise InputFormatError(source, f"table or dataset not found ({_first_message(exc)}); expected an "
                                       "existing billing export table 'project.dataset.table'") from None
    except api_exceptions.BadRequest as exc:
        raise InputFormatError(source, f"query rejected ({_first_message(exc)}){hint}") from None
    except (api_exceptions.GoogleAPICallError, api_exceptions.RetryError) as exc:
        # 429 and 5xx after the client's own bounded, backed-off retries (google.api_core's default retry)
        code = getattr(exc, "code", None) or type(exc).__name__
        raise InputFormatError(source, f"BigQuery kept failing ({code}); retries exhausted, run this day "
                                       "again later") from None


def _first_message(exc: api_exceptions.GoogleAPICallError) -> str:
    """The server's error message, without the request line the client puts before it (URLs may carry keys)."""
    message = str(exc.message or type(exc).__name__).splitlines()[0]
    return re.sub(r"^(?:GET|POST|PUT|PATCH|DELETE) \S+: ", "", message)

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

Credentials come from Application Default Credentials unless given. Failures become
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


def day_query(table: str, by: Literal["partition", "usage"] = "partition") -> str:
    """The SQL selecting one day of ``table`` (``project.dataset.table``), with @start and @end parameters."""
    if not _TABLE_ID.match(table):
        raise ConfigError(f"BigQuery billing table {table!r}: expected 'project.dataset.table'")
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
    config = bigquery.QueryJobConfig(query_parameters=[
        bigquery.ScalarQueryParameter("start", "TIMESTAMP", start),
        bigquery.ScalarQueryParameter("end", "TIMESTAMP", start + dt.timedelta(days=1)),
    ])
    try:
        client = bigquery.Client(
            project=project or table.rsplit(".", 2)[0], credentials=credentials, location=location,
            client_options={"api_endpoint": api_endpoint} if api_endpoint else None,
        )
        rows = client.query_and_wait(sql, job_config=config)
        arrow = rows.to_arrow(create_bqstorage_client=False)
    except auth_exceptions.DefaultCredentialsError as exc:
        raise ConfigError(
            f"{source}: no Google credentials found; set up Application Default Credentials "
            "(GOOGLE_APPLICATION_CREDENTIALS or 'gcloud auth application-default login')"
        ) from exc
    except auth_exceptions.GoogleAuthError as exc:
        raise ConfigError(f"{source}: Google credentials were refused ({type(exc).__name__}); "
                          "check the service account or refresh the ADC login") from exc
    except (api_exceptions.Unauthorized, api_exceptions.Forbidden) as exc:
        raise ConfigError(f"{source}: access denied ({exc.code}); the credentials need "
                          "bigquery.jobs.create in the job project and read access to the table") from exc
    except api_exceptions.NotFound as exc:
        raise InputFormatError(source, f"table or dataset not found ({_first_message(exc)}); expected an "
                                       "existing billing export table 'project.dataset.table'") from exc
    except api_exceptions.BadRequest as exc:
        hint = "; with by='usage' the table need not be ingestion-time partitioned" if by == "partition" else ""
        raise InputFormatError(source, f"query rejected ({_first_message(exc)}){hint}") from exc
    return RawTable(source, text_table(arrow), np.arange(1, arrow.num_rows + 1, dtype=np.int64))


def _first_message(exc: api_exceptions.GoogleAPICallError) -> str:
    """The server's error message, without the request line the client puts before it (URLs may carry keys)."""
    message = str(exc.message or type(exc).__name__).splitlines()[0]
    return re.sub(r"^(?:GET|POST|PUT|PATCH|DELETE) \S+: ", "", message)

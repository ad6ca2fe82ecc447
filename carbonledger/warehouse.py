"""Publishing to a Postgres warehouse: each day's ledger lines and the report's daily aggregates, for BI tools.

Tables in the configured schema (created on the first publish; columns the ledger gains later are added):

* ``ledger``: ``day`` and every ledger column, named in snake_case (``ChargePeriodStart`` →
  ``charge_period_start``, ``x_Co2eKg`` → ``x_co2e_kg``);
* ``daily_totals`` and ``daily_by_project``, ``daily_by_team``, ``daily_by_account``, ``daily_by_service``,
  ``daily_by_region``, ``daily_by_provider``, ``daily_by_gpu_model``, ``daily_by_basis``: ``day`` and the
  report's breakdown tables (``reports.tables.breakdowns``: keys, ``currency``, the summed measures, ``rows``).

**Replace per day, in one transaction.** A publish takes a transaction-scoped advisory lock on the schema
(publishes into one schema queue up), deletes the day's rows from every table and bulk-loads the new ones
with ``COPY``; then commits. Readers see the old day or the new one, never a mix; any failure rolls back and
leaves the previous rows. Publishing the same day twice leaves the same rows.

**Safety.** Values travel only as bound parameters or in COPY's data stream; identifiers (schema, tables,
columns) are quoted by SQLAlchemy's identifier preparer. The connection string is read from an environment
variable (never the config file) and is redacted from every error this module raises.

What does not belong here: the Parquet ledger store (``carbonledger.store``) and any Dagster wiring.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
from dataclasses import dataclass

import pandas as pd
import psycopg2
import pyarrow as pa
import pyarrow.csv as pa_csv
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from carbonledger import schema
from carbonledger.errors import CarbonLedgerError, ConfigError, redact
from reports.tables import breakdowns

LEDGER_TABLE = "ledger"
#: Rows per COPY statement: bounds the CSV buffer held in memory.
COPY_CHUNK_ROWS = 100_000
#: pandas dtype -> column type (timestamps, always UTC in the canonical schema, are ``timestamptz``).
_SQL_TYPES: dict[str, type[sa.types.TypeEngine]] = {
    "string": sa.Text, "object": sa.Text, "float64": sa.Double, "int64": sa.BigInteger, "Int64": sa.BigInteger,
    "bool": sa.Boolean, "boolean": sa.Boolean,
}


class WarehouseError(CarbonLedgerError):
    """The warehouse could not be reached or written (the message never holds the connection string)."""


@dataclass(frozen=True)
class Published:
    """What one publish wrote: the schema, the day and the rows per table."""

    schema: str
    day: dt.date
    rows: dict[str, int]


def connection_url(url_env: str) -> str:
    """The warehouse connection string from the environment variable ``url_env``."""
    url = os.environ.get(url_env, "")
    if not url:
        raise ConfigError(f"warehouse.url_env names the environment variable {url_env}, which is not set; "
                          "set it to the warehouse's postgresql:// connection string")
    return url


def sql_name(column: str) -> str:
    """A canonical column name in snake_case: ``ChargePeriodStart`` → ``charge_period_start``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", column).lower()


def day_tables(ledger: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The frames published for one day's ledger, by table name, with warehouse column names (no ``day``)."""
    schema.validate(ledger, schema.LEDGER_COLUMNS, "the ledger to publish")
    tables = {LEDGER_TABLE: ledger.rename(columns=sql_name).reset_index(drop=True)}
    for name, table in breakdowns(ledger).items():
        if name == "by_day":
            tables["daily_totals"] = table.drop(columns=["date"])
        else:
            tables[f"daily_{name}"] = table
    return tables


def publish_day(url: str, schema_name: str, day: dt.date, ledger: pd.DataFrame) -> Published:
    """Replace ``day``'s rows of every warehouse table in ``schema_name`` with ``ledger``'s, in one transaction."""
    frames = day_tables(ledger)
    secrets = _secrets(url)
    try:
        parsed = sa.engine.make_url(url)
        backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
        if (backend, driver) != ("postgresql", "psycopg2"):
            raise WarehouseError("the warehouse connection string must be postgresql:// (psycopg2 driver); "
                                 f"it names {backend}+{driver}")
        engine = sa.create_engine(parsed, poolclass=NullPool)
        try:
            with engine.begin() as conn:
                _publish(conn, schema_name, day, frames)
        finally:
            engine.dispose()
    except (sa.exc.SQLAlchemyError, psycopg2.Error, ValueError) as exc:
        raise WarehouseError(f"publishing {day.isoformat()} to warehouse schema {schema_name!r} failed: "
                             f"{redact(str(exc), *secrets)}") from None
    return Published(schema_name, day, {name: len(frame) for name, frame in frames.items()})


def _secrets(url: str) -> tuple[str, ...]:
    try:
        password = sa.engine.make_url(url).password
    except sa.exc.ArgumentError:
        password = None
    return (url, str(password)) if password else (url,)


def _publish(conn: sa.Connection, schema_name: str, day: dt.date, frames: dict[str, pd.DataFrame]) -> None:
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"carbonledger.warehouse:{schema_name}"})
    conn.execute(sa.schema.CreateSchema(schema_name, if_not_exists=True))
    metadata = sa.MetaData(schema=schema_name)
    tables = {name: _table(metadata, name, frame) for name, frame in frames.items()}
    metadata.create_all(conn)
    for name, table in tables.items():
        _add_missing_columns(conn, table)
        conn.execute(table.delete().where(table.c.day == day))
        copy_rows(conn, table, frames[name].assign(day=day))


def _table(metadata: sa.MetaData, name: str, frame: pd.DataFrame) -> sa.Table:
    columns = [sa.Column(column, _sql_type(dtype)) for column, dtype in frame.dtypes.items()]
    return sa.Table(name, metadata, sa.Column("day", sa.Date, nullable=False, index=True), *columns)


def _sql_type(dtype: object) -> sa.types.TypeEngine:
    if isinstance(dtype, pd.DatetimeTZDtype):
        return sa.DateTime(timezone=True)
    return _SQL_TYPES[str(dtype)]()


def _add_missing_columns(conn: sa.Connection, table: sa.Table) -> None:
    """Add the columns a newer ledger has and the existing table lacks (identifiers quoted, no values)."""
    existing = {c["name"] for c in sa.inspect(conn).get_columns(table.name, schema=table.schema)}
    preparer = conn.dialect.identifier_preparer
    for column in table.columns:
        if column.name not in existing:
            conn.execute(sa.text(f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN "
                                 f"{preparer.quote(column.name)} {column.type.compile(conn.dialect)}"))


def copy_rows(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """Bulk-load ``frame`` into ``table`` with COPY (CSV: strings quoted, nulls as unquoted empty fields)."""
    preparer = conn.dialect.identifier_preparer
    columns = ", ".join(preparer.quote(c) for c in frame.columns)
    statement = f"COPY {preparer.format_table(table)} ({columns}) FROM STDIN WITH (FORMAT csv)"
    cursor = conn.connection.dbapi_connection.cursor()
    for batch in pa.Table.from_pandas(frame, preserve_index=False).to_batches(max_chunksize=COPY_CHUNK_ROWS):
        buffer = io.BytesIO()
        pa_csv.write_csv(batch, buffer, pa_csv.WriteOptions(include_header=False))
        buffer.seek(0)
        cursor.copy_expert(statement, buffer)

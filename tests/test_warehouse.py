"""Publishing days to the Postgres warehouse, against the local server (127.0.0.1:5432, database ``test``).

Each test publishes into a schema of its own and drops it after; skipped with the reason when no server answers.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pandas as pd
import psycopg2
import pytest
import sqlalchemy as sa
from demo_days import accounted_day

from carbonledger import schema, warehouse
from carbonledger.errors import ConfigError
from carbonledger.warehouse import WarehouseError, publish_day, sql_name

#: Trust auth ignores the password; it is there to prove it never leaks.
URL = "postgresql://postgres:planted-pg-secret-7@127.0.0.1:5432/test"
DAY1, DAY2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)


@pytest.fixture
def engine() -> Iterator[sa.Engine]:
    try:
        psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test", connect_timeout=3).close()
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432 ({exc})")
    engine = sa.create_engine(URL)
    yield engine
    engine.dispose()


@pytest.fixture
def schema_name(engine) -> Iterator[str]:
    name = f"carbon_test_{uuid.uuid4().hex[:10]}"
    yield name
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))


def _table(engine: sa.Engine, schema_name: str, table: str) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = pd.read_sql_table(table, conn, schema=schema_name)
    frame["day"] = frame["day"].dt.date
    return frame.sort_values(list(frame.columns), kind="stable", ignore_index=True)


def test_a_day_lands_as_ledger_rows_and_aggregates_that_sum_to_it(engine, schema_name):
    day = accounted_day(DAY1)
    published = publish_day(URL, schema_name, DAY1, day.ledger)
    assert published.rows["ledger"] == len(day.ledger) > 0
    assert {"daily_totals", "daily_by_project", "daily_by_region", "daily_by_service"} <= set(published.rows)
    ledger = _table(engine, schema_name, "ledger")
    assert len(ledger) == len(day.ledger) and set(ledger["day"]) == {DAY1}
    assert list(ledger.columns) == ["day", *[sql_name(c) for c in schema.names(schema.LEDGER_COLUMNS)]]
    # values round-trip: nulls stay null, empty strings stay strings, floats are exact
    expected = day.ledger.rename(columns=sql_name).sort_values(["x_source_file", "x_source_row"], ignore_index=True)
    stored = ledger.sort_values(["x_source_file", "x_source_row"], ignore_index=True)
    for column in ("resource_id", "tags", "x_gpu_model", "x_project"):
        assert stored[column].isna().tolist() == expected[column].isna().tolist()
        assert stored[column].dropna().tolist() == expected[column].dropna().astype(str).tolist()
    for column in ("billed_cost", "x_energy_kwh", "x_co2e_kg"):
        assert stored[column].tolist() == expected[column].tolist()
    assert (stored["charge_period_start"] == expected["charge_period_start"]).all()
    by_project = _table(engine, schema_name, "daily_by_project")
    assert by_project["co2e_kg"].sum() == pytest.approx(day.ledger["x_Co2eKg"].sum())
    totals = _table(engine, schema_name, "daily_totals")
    assert totals["rows"].sum() == len(day.ledger)


def test_republishing_a_day_replaces_it_and_leaves_other_days(engine, schema_name):
    one, two = accounted_day(DAY1), accounted_day(DAY2)
    publish_day(URL, schema_name, DAY1, one.ledger)
    publish_day(URL, schema_name, DAY2, two.ledger)
    first = {t: _table(engine, schema_name, t) for t in ("ledger", "daily_by_region", "daily_totals")}
    publish_day(URL, schema_name, DAY1, one.ledger)
    for table, frame in first.items():
        pd.testing.assert_frame_equal(_table(engine, schema_name, table), frame)
    publish_day(URL, schema_name, DAY1, one.ledger.iloc[:7])       # a restated day with fewer lines
    counts = _table(engine, schema_name, "ledger")["day"].value_counts()
    assert counts[DAY1] == 7 and counts[DAY2] == len(two.ledger)


def test_a_failure_mid_publish_leaves_the_previous_rows(engine, schema_name, monkeypatch):
    day = accounted_day(DAY1)
    publish_day(URL, schema_name, DAY1, day.ledger)
    before = {t: _table(engine, schema_name, t) for t in ("ledger", "daily_by_project")}
    real_copy = warehouse.copy_rows

    def copy_then_fail(conn, table, frame):
        real_copy(conn, table, frame)
        if table.name == "daily_by_project":         # the ledger is already deleted and reloaded by now
            raise psycopg2.OperationalError(f"server closed the connection ({URL})")

    monkeypatch.setattr(warehouse, "copy_rows", copy_then_fail)
    with pytest.raises(WarehouseError) as failed:
        publish_day(URL, schema_name, DAY1, day.ledger.iloc[:3])
    assert "planted-pg-secret-7" not in str(failed.value) and URL not in str(failed.value)
    assert "server closed the connection" in str(failed.value)
    for table, frame in before.items():
        pd.testing.assert_frame_equal(_table(engine, schema_name, table), frame)


def test_a_ledger_with_a_new_column_adds_it_to_the_existing_table(engine, schema_name, monkeypatch):
    day = accounted_day(DAY1)
    publish_day(URL, schema_name, DAY1, day.ledger)
    real_tables = warehouse.day_tables

    def with_new_column(ledger):
        tables = real_tables(ledger)
        tables["ledger"] = tables["ledger"].assign(x_new_measure_kwh=1.5)
        return tables

    monkeypatch.setattr(warehouse, "day_tables", with_new_column)
    publish_day(URL, schema_name, DAY2, accounted_day(DAY2).ledger)
    ledger = _table(engine, schema_name, "ledger")
    assert set(ledger.loc[ledger["day"] == DAY2, "x_new_measure_kwh"]) == {1.5}
    assert ledger.loc[ledger["day"] == DAY1, "x_new_measure_kwh"].isna().all()


def test_hostile_schema_names_are_quoted_identifiers_not_sql(engine):
    name = f'carbon"; DROP TABLE x; -- {uuid.uuid4().hex[:6]}'
    try:
        published = publish_day(URL, name, DAY1, accounted_day(DAY1).ledger.iloc[:2])
        assert published.rows["ledger"] == 2
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM information_schema.schemata WHERE schema_name = :n"),
                                {"n": name}).scalar() == 1
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name.replace(chr(34), chr(34) * 2)}" CASCADE'))


def test_connection_problems_and_a_missing_variable_never_show_the_connection_string(monkeypatch):
    unreachable = "postgresql://postgres:planted-pg-secret-7@127.0.0.1:1/test"
    with pytest.raises(WarehouseError) as failed:
        publish_day(unreachable, "carbon", DAY1, accounted_day(DAY1).ledger)
    assert "planted-pg-secret-7" not in str(failed.value) and "127.0.0.1:1" not in str(failed.value)
    with pytest.raises(WarehouseError, match="psycopg2"):
        publish_day("mysql://u:planted-pg-secret-7@h/db", "carbon", DAY1, accounted_day(DAY1).ledger)
    monkeypatch.delenv("CARBONLEDGER_TEST_WAREHOUSE", raising=False)
    with pytest.raises(ConfigError, match="CARBONLEDGER_TEST_WAREHOUSE, which is not set"):
        warehouse.connection_url("CARBONLEDGER_TEST_WAREHOUSE")
    monkeypatch.setenv("CARBONLEDGER_TEST_WAREHOUSE", URL)
    assert warehouse.connection_url("CARBONLEDGER_TEST_WAREHOUSE") == URL

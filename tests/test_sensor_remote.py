"""The delivery sensor over BigQuery and Azure sources, against the local fakes of both services.

The fakes are the ones the connector tests use (``test_connectors_gcp.FakeBigQuery``, a local
BigQuery REST server; ``test_connectors_azure.FakeAzure``, scripted Cost Management responses on
127.0.0.1). Days are placed relative to today, since the sensor watches a window ending today.
"""

from __future__ import annotations

import copy
import datetime as dt
import json

import dagster as dg
import google.auth
import pytest
from google.auth.credentials import AnonymousCredentials
from test_connectors_azure import QUERY_PATH, SCOPE, FakeCredential, fake_azure, script_daily_costs  # noqa: F401
from test_connectors_gcp import TABLE, FakeBigQuery, jsonl_records

import connectors.azure_remote as azure_remote
from connectors.changes import REMOTE_KEY, DeliveryState
from pipelines.definitions import build_definitions
from pipelines.resources import CarbonLedgerConfig
from pipelines.sensors import DEFAULT_LOOKBACK_DAYS, LOOKBACK_ENV, lookback_days

TODAY = dt.datetime.now(dt.timezone.utc).date()


def day(offset: int) -> dt.date:
    return TODAY - dt.timedelta(days=offset)


def stamp(when: dt.date, hour: int) -> str:
    return f"{when.isoformat()} {hour:02d}:00:00 UTC"


def bq_rows(used: dt.date, exported: dt.date, count: int, export_hour: int = 2) -> list[tuple[dt.date, dict]]:
    """``count`` rows of the bundled export used on ``used`` and exported on ``exported``."""
    rows = []
    for n, record in enumerate(jsonl_records()[:count]):
        record = copy.deepcopy(record)
        record["usage_start_time"], record["usage_end_time"] = stamp(used, n % 23), stamp(used, n % 23 + 1)
        record["export_time"] = stamp(exported, export_hour)
        rows.append((exported, record))
    return rows


def ymd(when: dt.date) -> int:
    return int(when.strftime("%Y%m%d"))


@pytest.fixture()
def setup(tmp_path, monkeypatch, fake_azure):
    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (AnonymousCredentials(), "billing-proj"))
    monkeypatch.setattr(azure_remote, "DefaultAzureCredential", FakeCredential)
    table = bq_rows(day(3), day(2), 5) + bq_rows(day(2), day(1), 4) + bq_rows(day(50), day(49), 3)
    with FakeBigQuery({TABLE: table}) as bigquery:
        config = tmp_path / "carbonledger.yaml"
        config.write_text(
            f"start_date: {day(90).isoformat()}\nout_dir: {tmp_path / 'out'}\nsources:\n"
            f"  - path: bigquery://{TABLE}\n    name: gcp_billing\n    api_endpoint: {bigquery.endpoint}\n"
            f"    cache_dir: {tmp_path / 'cache-bq'}\n"
            f"  - path: azure://{SCOPE}\n    name: azure_costs\n    base_url: {fake_azure.url}\n"
            f"    cache_dir: {tmp_path / 'cache-az'}\n")
        defs = build_definitions(str(config))
        sensor = defs.resolve_sensor_def("billing_delivery_sensor")
        resources = {"carbonledger": CarbonLedgerConfig(config_path=str(config))}
        with dg.DagsterInstance.ephemeral() as instance:
            def tick(cursor):
                context = dg.build_sensor_context(cursor=cursor, instance=instance, resources=resources,
                                                  definitions=defs)
                return sensor.evaluate_tick(context)

            yield tick, bigquery, fake_azure, tmp_path


def test_remote_sources_rerun_exactly_the_restated_days(setup):
    tick, bigquery, azure, tmp_path = setup
    before = [[12.5, ymd(day(5)), "EUR"], [3.0, ymd(day(5)), "USD"], [4.0, ymd(day(4)), "EUR"]]
    after = [[12.75, ymd(day(5)), "EUR"], [3.0, ymd(day(5)), "USD"], [1.0, ymd(day(1)), "EUR"]]
    script_daily_costs(azure, before, before, after)

    first = tick(None)
    assert first.run_requests == [] and "baseline" in first.skip_message and "2 remote source(s)" in first.skip_message
    cursor = json.loads(first.cursor)
    assert cursor["remote"]["gcp_billing"]["days"] == {
        day(3).isoformat(): [f"{day(2).isoformat()}T02:00:00.000000+00:00", 5],
        day(2).isoformat(): [f"{day(1).isoformat()}T02:00:00.000000+00:00", 4]}   # day 50 is outside the window
    assert cursor["remote"]["gcp_billing"]["since"] == day(DEFAULT_LOOKBACK_DAYS).isoformat()
    assert cursor["remote"]["azure_costs"]["days"][day(5).isoformat()] == [["EUR", "12.5"], ["USD", "3.0"]]
    # one parameterised query per source per tick, over the lookback window
    [query] = [r[2] for r in bigquery.requests if r[0] == "POST"]
    assert "@start" in query["query"] and TABLE in query["query"]
    assert {p["name"]: p["parameterValue"]["value"][:10] for p in query["queryParameters"]} == \
        {"start": day(DEFAULT_LOOKBACK_DAYS).isoformat(), "end": (TODAY + dt.timedelta(days=1)).isoformat()}
    assert [p for m, p, _ in azure.requests if m == "POST"] and all(QUERY_PATH in p for m, p, _ in azure.requests)

    # nothing changed; the pipeline writing its cache of fetched days is not a delivery
    (tmp_path / "cache-bq").mkdir()
    (tmp_path / "cache-bq" / f"{day(3).isoformat()}.parquet").write_bytes(b"PAR1")
    second = tick(first.cursor)
    assert second.run_requests == [] and second.skip_message == "no new, changed or removed billing files"

    # BigQuery restates day 3 by appending a row with a later export_time, and day 1 gets its first rows;
    # a restatement of day 50, outside the lookback, is not looked at. Azure: day 5's EUR total changed,
    # day 4 was withdrawn, day 1 is new.
    bigquery.tables[TABLE] += bq_rows(day(3), day(0), 1, export_hour=1) + bq_rows(day(1), day(0), 2) \
        + bq_rows(day(50), day(0), 1)
    third = tick(second.cursor)
    requested = {r.partition_key: r for r in third.run_requests}
    assert sorted(requested) == sorted(d.isoformat() for d in (day(5), day(4), day(3), day(1)))
    assert all(r.tags.get("carbonledger/trigger") == "delivery" for r in third.run_requests)
    assert len({r.run_key for r in third.run_requests}) == 4
    causes = DeliveryState.from_json(third.cursor).changed_since(DeliveryState.from_json(second.cursor))
    assert causes[day(1).isoformat()] == [REMOTE_KEY + "azure_costs", REMOTE_KEY + "gcp_billing"]
    assert causes[day(3).isoformat()] == [REMOTE_KEY + "gcp_billing"]

    # the same data again: nothing
    assert tick(third.cursor).run_requests == []


def test_a_failing_remote_source_keeps_its_look_and_catches_up(setup):
    tick, bigquery, azure, _ = setup
    rows = [[4.0, ymd(day(4)), "EUR"]]
    script_daily_costs(azure, rows)
    first = tick(None)
    azure.add("POST", QUERY_PATH, (403, {}, {"error": {"code": "RBACAccessDenied", "message": "no"}}))
    bigquery.tables[TABLE] += bq_rows(day(3), day(0), 1)
    failed = tick(first.cursor)
    # BigQuery's change is requested; Azure's failure is named and its previous look kept
    assert [r.partition_key for r in failed.run_requests] == [day(3).isoformat()]
    assert json.loads(failed.cursor)["remote"]["azure_costs"] == json.loads(first.cursor)["remote"]["azure_costs"]
    quiet = tick(failed.cursor)
    assert quiet.run_requests == [] and "azure_costs not checked" in quiet.skip_message
    assert "HTTP 403" in quiet.skip_message
    script_daily_costs(azure, [[4.5, ymd(day(4)), "EUR"]])         # answers again, with day 4 restated meanwhile
    assert [r.partition_key for r in tick(quiet.cursor).run_requests] == [day(4).isoformat()]


def test_an_old_cursor_without_remote_looks_is_a_baseline_for_remote_sources(setup):
    tick, _, azure, _ = setup
    script_daily_costs(azure, [[4.0, ymd(day(4)), "EUR"]])
    old = json.dumps({"files": {}, "days": {}})
    result = tick(old)
    assert result.run_requests == [] and set(json.loads(result.cursor)["remote"]) == {"gcp_billing", "azure_costs"}


def test_lookback_days_from_argument_environment_or_default(monkeypatch):
    monkeypatch.delenv(LOOKBACK_ENV, raising=False)
    assert lookback_days() == DEFAULT_LOOKBACK_DAYS == 35
    assert lookback_days(10) == 10
    monkeypatch.setenv(LOOKBACK_ENV, "62")
    assert lookback_days() == 62
    monkeypatch.setenv(LOOKBACK_ENV, "a month")
    with pytest.raises(Exception, match="whole number of days"):
        lookback_days()

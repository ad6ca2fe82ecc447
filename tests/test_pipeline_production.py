"""Production wiring, in-process: store/warehouse/alerts config keys, the publishing assets, freshness checks
and the failure hook posting to a webhook (a local HTTP server started by the test; never the internet)."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
import sqlalchemy as sa

from carbonledger.config import DEMO_DATA_DIR, Config
from carbonledger.errors import ConfigError
from carbonledger.store import LedgerStore
from pipelines.definitions import DAILY_JOB, build_definitions
from pipelines.monitoring import FRESHNESS_SENSOR
from pipelines.publish import STORE_ASSET, WAREHOUSE_ASSET

PG_SECRET = "planted-pg-secret-9"
URL = f"postgresql://postgres:{PG_SECRET}@127.0.0.1:5432/test"
WAREHOUSE_ENV, ALERT_ENV = "CARBONLEDGER_TEST_WAREHOUSE_URL", "CARBONLEDGER_TEST_ALERT_URL"
DAY = "2026-11-02"


def _config(tmp_path: Path, **sections: str) -> Path:
    path = tmp_path / "carbonledger.yaml"
    path.write_text("\n".join([
        "start_date: 2026-11-01", f"out_dir: {tmp_path / 'out'}", "sources:",
        f"  - {{path: {DEMO_DATA_DIR / 'aws-cur'}, format: aws-cur}}",
        f"  - {{path: {DEMO_DATA_DIR / 'focus'}, format: focus}}",
        *sections.values(),
    ]) + "\n")
    return path


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:
    received: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/planted-webhook-token", received
    server.shutdown()
    server.server_close()


@pytest.fixture
def pg_schema() -> Iterator[str]:
    try:
        psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test", connect_timeout=3).close()
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432 ({exc})")
    name = f"carbon_test_{uuid.uuid4().hex[:10]}"
    yield name
    engine = sa.create_engine(URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    engine.dispose()


def _run_day(config_file: Path) -> tuple[dg.ExecuteInProcessResult, str]:
    """Run the daily job for DAY in-process; the result and the run's whole event log as text."""
    job = build_definitions(str(config_file)).resolve_job_def(DAILY_JOB)
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(partition_key=DAY, instance=instance, raise_on_error=False)
        events = "\n".join(dg.serialize_value(e) for e in instance.all_logs(result.run_id))
    return result, events


# --- config ------------------------------------------------------------------------------------------------

def test_config_reads_store_warehouse_and_alerts(tmp_path):
    config = Config.load(_config(tmp_path, store="store: {path: ledger-store}",
                                 warehouse=f"warehouse: {{url_env: {WAREHOUSE_ENV}, schema: bi_carbon}}",
                                 alerts=f"alerts: {{webhook_url_env: {ALERT_ENV}}}"))
    assert config.store.path == str(tmp_path / "ledger-store") and config.store.endpoint_url is None
    assert (config.warehouse.url_env, config.warehouse.schema) == (WAREHOUSE_ENV, "bi_carbon")
    assert config.secret_env_vars() == (WAREHOUSE_ENV, ALERT_ENV)
    s3 = Config.load(_config(tmp_path, store="store: {path: 's3://bucket/carbon/', endpoint_url: 'http://127.0.0.1:9000'}",
                             warehouse="warehouse: {}"))
    assert (s3.store.path, s3.store.endpoint_url) == ("s3://bucket/carbon", "http://127.0.0.1:9000")
    assert (s3.warehouse.url_env, s3.warehouse.schema) == ("CARBONLEDGER_WAREHOUSE_URL", "carbon")
    assert Config.load(_config(tmp_path)).store is None


@pytest.mark.parametrize(("section", "message"), [
    (f"warehouse: {{url: '{URL}'}}", "warehouse.url is not read"),
    (f"warehouse: {{url_env: '{URL}'}}", "warehouse.url_env must name an environment variable"),
    ("warehouse: {schema: 'Carbon; drop'}", "warehouse.schema 'Carbon; drop' must be lowercase"),
    ("warehouse: {tables: x}", "unknown key(s) warehouse.tables"),
    ("warehouse: postgres", "warehouse must be a mapping"),
    ("alerts: {webhook_url: 'https://hooks.example/planted-webhook-token'}", "alerts.webhook_url is not read"),
    ("alerts: {webhook_url_env: 'https://hooks.example/planted-webhook-token'}", "alerts.webhook_url_env must name"),
    ("store: {endpoint_url: 'http://x'}", "store.path is required"),
    ("store: {path: out, region: eu-west-1}", "store.endpoint_url and store.region apply only to an s3://"),
    ("store: {path: 'gs://bucket/x'}", "gs:// is not supported"),
    ("store: {path: 's3://'}", "names no bucket"),
])
def test_bad_sections_are_config_errors_naming_the_key_never_a_secret(tmp_path, section, message):
    with pytest.raises(ConfigError) as failed:
        Config.load(_config(tmp_path, section=section))
    assert message in str(failed.value)
    assert PG_SECRET not in str(failed.value) and "planted-webhook-token" not in str(failed.value)


# --- publishing assets -----------------------------------------------------------------------------------------

def test_publishing_assets_exist_only_when_configured_and_carry_freshness_checks(tmp_path):
    plain = build_definitions(str(_config(tmp_path)))
    plain_keys = {k.to_user_string() for k in plain.resolve_asset_graph().get_all_asset_keys()}
    assert not {STORE_ASSET, WAREHOUSE_ASSET} & plain_keys
    defs = build_definitions(str(_config(tmp_path, store="store: {path: s}", warehouse="warehouse: {}")))
    graph = defs.resolve_asset_graph()
    assert {STORE_ASSET, WAREHOUSE_ASSET} <= {k.to_user_string() for k in graph.get_all_asset_keys()}
    fresh = {c.asset_key.to_user_string() for c in graph.asset_check_keys if c.name == "freshness_check"}
    assert fresh == {"core_carbon__ledger", STORE_ASSET, WAREHOUSE_ASSET}
    assert defs.resolve_sensor_def(FRESHNESS_SENSOR) is not None
    job = defs.resolve_job_def(DAILY_JOB)
    assert {h.name for h in job.hook_defs} == {"alert_on_failure"}
    assert not any(name.startswith("freshness_check") for name in job.graph.node_names())


def test_daily_job_publishes_to_store_and_warehouse_without_leaking_the_connection_string(tmp_path, pg_schema, monkeypatch):
    monkeypatch.setenv(WAREHOUSE_ENV, URL)
    config_file = _config(tmp_path, store=f"store: {{path: {tmp_path / 'store'}}}",
                          warehouse=f"warehouse: {{url_env: {WAREHOUSE_ENV}, schema: {pg_schema}}}")
    result, events = _run_day(config_file)
    assert result.success
    assert PG_SECRET not in events and URL not in events
    ledger = LedgerStore(str(tmp_path / "store")).read(dt.date(2026, 11, 2), dt.date(2026, 11, 2))
    summary = json.loads((tmp_path / "out" / "daily" / DAY / "summary.json").read_text())
    assert len(ledger) == summary["rows_ledger"] > 0
    engine = sa.create_engine(URL)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f'SELECT count(*) FROM "{pg_schema}".ledger WHERE day = :day'), {"day": DAY}).scalar()
    engine.dispose()
    assert rows == summary["rows_ledger"]
    [published] = [m for m in result.get_asset_materialization_events() if m.asset_key.path[-1] == WAREHOUSE_ASSET]
    assert published.materialization.metadata["rows"].value["ledger"] == rows


# --- failure alerts ----------------------------------------------------------------------------------------------

def test_a_failed_step_posts_a_redacted_alert_to_the_webhook(tmp_path, webhook, monkeypatch):
    url, received = webhook
    monkeypatch.setenv(ALERT_ENV, url)
    monkeypatch.setenv(WAREHOUSE_ENV, URL)
    config_file = _config(tmp_path, warehouse=f"warehouse: {{url_env: {WAREHOUSE_ENV}}}",
                          alerts=f"alerts: {{webhook_url_env: {ALERT_ENV}}}")

    def leaky_publish(url, *args):
        raise RuntimeError(f"could not publish with {url} (hook {ALERT_ENV}={os.environ[ALERT_ENV]})")

    monkeypatch.setattr("pipelines.publish.publish_day", leaky_publish)
    result, events = _run_day(config_file)
    assert not result.success
    [alert] = received
    assert alert["job"] == DAILY_JOB and alert["run_id"] == result.run_id
    assert alert["partition"] == DAY and alert["step"] == WAREHOUSE_ASSET
    assert alert["error"].startswith("RuntimeError: could not publish with <") and "<redacted>" in alert["error"]
    assert PG_SECRET not in alert["error"] and "planted-webhook-token" not in alert["error"]
    assert "carbonledger alert:" in events


def test_an_unset_or_failing_webhook_is_a_warning_not_a_second_failure(tmp_path, monkeypatch):
    monkeypatch.delenv(WAREHOUSE_ENV, raising=False)
    monkeypatch.setenv(ALERT_ENV, "http://127.0.0.1:1/hooks/planted-webhook-token")      # nothing listens on port 1
    config_file = _config(tmp_path, warehouse=f"warehouse: {{url_env: {WAREHOUSE_ENV}}}",
                          alerts=f"alerts: {{webhook_url_env: {ALERT_ENV}}}")
    result, events = _run_day(config_file)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == WAREHOUSE_ASSET
    assert f"{WAREHOUSE_ENV}, which is not set" in events
    assert "the alert webhook did not accept the alert" in events and "planted-webhook-token" not in events


# --- freshness ---------------------------------------------------------------------------------------------------

def test_freshness_check_fails_until_yesterdays_partition_exists(tmp_path):
    defs = build_definitions(str(_config(tmp_path)))
    checks = {k for k in defs.resolve_asset_graph().asset_check_keys if k.name == "freshness_check"}
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=set(), asset_check_selection=checks)
    with dg.DagsterInstance.ephemeral() as instance:
        [stale] = job.execute_in_process(instance=instance).get_asset_check_evaluations()
        assert not stale.passed and stale.severity == dg.AssetCheckSeverity.WARN
        today = dt.datetime.now(dt.timezone.utc).date()
        for back in range(1, 4):     # the deadline (09:00 UTC) decides whether yesterday or the day before is due
            day = (today - dt.timedelta(days=back)).isoformat()
            instance.report_runless_asset_event(dg.AssetMaterialization("core_carbon__ledger", partition=day))
        [fresh] = job.execute_in_process(instance=instance).get_asset_check_evaluations()
        assert fresh.passed

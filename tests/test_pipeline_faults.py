"""The Dagster pipeline under faults, with planted secrets (issue 9, Faults and Security).

The pipeline runs in-process over the demo organisation's billing files plus a BigQuery source whose
client is replaced by a fake that fails one day (HTTP 503 after the client's retries, the message
carrying a planted API key as Google's request line would) and returns nothing for the others; live
grid intensity comes from Electricity Maps at a local fake server that refuses the planted token
(401, echoing it).

* Only the failing day's run fails, with a message naming the source and no secret; the other days
  materialise, with the refused grid zones falling back to bundled data and the lines flagged.
* Secrets planted in the environment (AWS keys, the grid API token, ``DAGSTER_PG_PASSWORD``, a
  Postgres URL with a password) and in the config (credentials in the BigQuery endpoint URL) appear
  nowhere in the instance's event log (every event of every run, serialised whole: metadata, messages,
  errors and their causes), in the run records, or in any output file.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import google.auth
import pandas as pd
import pyarrow as pa
import pytest
from dagster._serdes import serialize_value
from google.api_core import exceptions as api_exceptions
from google.auth.credentials import AnonymousCredentials

import intensity.settings
from carbonledger.config import Config
from carbonledger.errors import redact
from connectors import gcp_bigquery
from connectors.grid_electricitymaps import ElectricityMapsClient
from pipelines.assets import build_assets
from pipelines.resources import CarbonLedgerConfig
from pipelines.runner import RunFailed, run_days

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYPLANTEDPIPE01"
AWS_TOKEN = "FwoGZXIvYXdzEPLANTEDpipelineTOKEN987654"
GRID_TOKEN = "emapsPLANTEDpipelineTOKENa1b2c3"
PG_PASSWORD = "pgPLANTEDpassw0rd"
ENDPOINT_PASSWORD = "bqPLANTEDendpointPW"
API_KEY = "AIzaPLANTEDgoogleKEY0123456789"
PLANTED = [AWS_SECRET, AWS_TOKEN, GRID_TOKEN, PG_PASSWORD, ENDPOINT_PASSWORD, API_KEY]
FAILING_DAY = dt.date(2026, 11, 3)
GOOD_DAY = dt.date(2026, 11, 2)
TABLE = "billing-proj.billing_ds.gcp_billing_export_v1_X"


class RefusingGrid:
    """Electricity Maps at 127.0.0.1: every request is refused with 401, the body echoing the token sent."""

    def __init__(self) -> None:
        self.requests = 0
        grid = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                grid.requests += 1
                body = json.dumps({"message": f"invalid token {self.headers.get('auth-token')}"}).encode()
                self.send_response(401)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class FakeBigQueryClient:
    """``bigquery.Client`` stand-in: the failing day raises 503 (with the key in its text), other days are empty."""

    def __init__(self, **kwargs: object) -> None:
        self.kwargs = kwargs

    def query_and_wait(self, sql: str, job_config: object) -> "FakeBigQueryClient":
        start = {p.name: p.value for p in job_config.query_parameters}["start"]
        if start.date() == FAILING_DAY:
            raise api_exceptions.ServiceUnavailable(
                f"POST https://bigquery.googleapis.com/bigquery/v2/projects/billing-proj/queries?key={API_KEY}: "
                "backend error")
        return self

    def to_arrow(self, create_bqstorage_client: bool = False) -> pa.Table:
        return pa.table({"usage_start_time": pa.array([], pa.string())})


@pytest.fixture
def planted(tmp_path, monkeypatch) -> Iterator[Path]:
    """A config with the demo sources, a BigQuery source and live grid data; secrets in env and config."""
    grid = RefusingGrid()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAPLANTEDPIPE00000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", AWS_TOKEN)
    monkeypatch.setenv("ELECTRICITYMAPS_API_TOKEN", GRID_TOKEN)
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", PG_PASSWORD)
    monkeypatch.setenv("DATABASE_URL", f"postgresql://carbon:{PG_PASSWORD}@db.internal:5432/carbon")
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (AnonymousCredentials(), "billing-proj"))
    monkeypatch.setattr(gcp_bigquery.bigquery, "Client", FakeBigQueryClient)
    monkeypatch.setattr(intensity.settings, "ElectricityMapsClient",
                        lambda **kw: ElectricityMapsClient(base_url=grid.url, max_retries=1, backoff_s=0.0, **kw))
    demo = Config.demo()
    sources = "".join(f"  - path: {s.path}\n    format: {s.format}\n    name: {s.name}\n" for s in demo.sources)
    config = tmp_path / "carbonledger.yaml"
    config.write_text(
        f"start_date: 2026-11-01\nout_dir: {tmp_path / 'out'}\ngrid:\n  live: electricitymaps\n"
        f"  cache_dir: {tmp_path / 'grid-cache'}\nsources:\n{sources}"
        f"  - path: bigquery://{TABLE}\n    name: gcp_billing\n    cache_dir: {tmp_path / 'bq-cache'}\n"
        f"    api_endpoint: https://reader:{ENDPOINT_PASSWORD}@bigquery.example.internal\n", encoding="utf-8")
    yield config
    grid.server.shutdown()
    grid.server.server_close()


def _leaks(text: str) -> list[str]:
    return [secret for secret in PLANTED if secret in text]


def test_a_failing_source_fails_only_its_partition_and_no_secret_reaches_dagster(planted, tmp_path):
    config = Config.load(planted)
    resource = CarbonLedgerConfig(config_path=str(planted))
    daily = [a for a in build_assets(config.start_date, config.sources) if a.partitions_def is not None]
    with dg.DagsterInstance.ephemeral() as instance:
        results = {day: dg.materialize(daily, partition_key=day.isoformat(), instance=instance,
                                       resources={"carbonledger": resource}, raise_on_error=False)
                   for day in (GOOD_DAY, FAILING_DAY, dt.date(2026, 11, 4))}
        runs = instance.get_runs()
        events = [serialize_value(entry) for run in runs for entry in instance.all_logs(run.run_id)]
        run_records = [serialize_value(run) for run in runs]

    # only the failing day fails, at its BigQuery raw asset, with a clear message naming the source
    assert results[GOOD_DAY].success and results[dt.date(2026, 11, 4)].success
    assert not results[FAILING_DAY].success
    [failure] = [e for e in results[FAILING_DAY].all_events if e.is_step_failure]
    assert failure.step_key == "raw_billing__gcp_billing"
    error = failure.step_failure_data.error
    while error.cause is not None and error.cls_name != "InputFormatError":
        error = error.cause
    assert error.cls_name == "InputFormatError"
    assert error.message.strip().removeprefix("carbonledger.errors.InputFormatError: ") == (f"bigquery:{TABLE}/{FAILING_DAY.isoformat()}: BigQuery kept failing (503); "
                                     "retries exhausted, run this day again later")
    assert error.cause is None                                     # the client's own text (with its URL) is not kept
    assert not (tmp_path / "out" / "daily" / FAILING_DAY.isoformat()).exists()

    # the refused grid token fell back to bundled data, flagged on the lines
    ledger = pd.read_parquet(tmp_path / "out" / "daily" / GOOD_DAY.isoformat() / "ledger.parquet")
    sources = ledger["x_IntensitySource"].dropna()
    assert sources.str.contains("bundled data used").any() and sources.str.contains("HTTP 401").any()

    # no planted secret anywhere in the event log, the run records or the files written
    assert len(events) > 50 and any("out_carbon__daily_report" in e for e in events)
    assert [i for i, e in enumerate(events) if _leaks(e)] == []
    assert [i for i, r in enumerate(run_records) if _leaks(r)] == []
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != planted]
    assert any(p.name == "ledger.parquet" for p in written)
    assert [str(p) for p in written if _leaks(p.read_bytes().decode("utf-8", "replace"))] == []


def test_the_cli_path_reports_the_failing_day_clearly(planted, tmp_path):
    with pytest.raises(RunFailed) as raised:
        run_days([GOOD_DAY, FAILING_DAY], config_path=planted)
    message = redact(str(raised.value))
    assert message == (f"{FAILING_DAY.isoformat()}: raw_billing__gcp_billing failed: "
                       f"bigquery:{TABLE}/{FAILING_DAY.isoformat()}: BigQuery kept failing (503); retries exhausted, "
                       "run this day again later")      # no "module.Class: " prefix from Dagster
    assert message.endswith(f"bigquery:{TABLE}/{FAILING_DAY.isoformat()}: BigQuery kept failing (503); retries exhausted, "
                            "run this day again later")
    assert raised.value.exit_code == 3 and _leaks(str(raised.value)) == []
    assert (tmp_path / "out" / "daily" / GOOD_DAY.isoformat() / "ledger.parquet").is_file()   # the good day stands

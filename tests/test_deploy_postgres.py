"""The production instance config: a daily partition runs with Postgres run/event storage.

Uses the local PostgreSQL (127.0.0.1:5432, trust auth) in a database created for the test and
dropped after it; skipped with the reason when no server answers.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from carbonledger.config import Config
from pipelines.assets import TIE_OUT_CHECK, build_assets
from pipelines.resources import CarbonLedgerConfig

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def postgres_db(monkeypatch):
    try:
        admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test", connect_timeout=3)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432 ({exc})")
    admin.autocommit = True
    name = f"carbonledger_dagster_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    for key, value in {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": "5432", "DAGSTER_PG_DB": name,
                       "DAGSTER_PG_USERNAME": "postgres", "DAGSTER_PG_PASSWORD": ""}.items():
        monkeypatch.setenv(key, value)
    yield name
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


def test_partition_runs_with_postgres_storage_and_ties_out(postgres_db, tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.production.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assets = [a for a in build_assets(Config.demo().start_date, Config.demo().sources) if a.partitions_def is not None]
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = dg.materialize(assets, partition_key="2026-11-02", instance=instance,
                                resources={"carbonledger": CarbonLedgerConfig(out_dir=str(tmp_path / "out"))})
        assert result.success
        [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == TIE_OUT_CHECK]
        assert check.passed
        stored = instance.get_run_by_id(result.run_id)
        assert stored is not None and stored.is_success
        events = instance.get_latest_materialization_event(dg.AssetKey("core_carbon__ledger"))
        assert events is not None and events.asset_materialization.partition == "2026-11-02"
    summary = json.loads((tmp_path / "out" / "daily" / "2026-11-02" / "summary.json").read_text())
    assert summary["tie_out_ok"] and summary["rows_in"] > 0


def _rabbitmq_up() -> bool:
    import socket
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _rabbitmq_up(), reason="no RabbitMQ on 127.0.0.1:5672 for the Celery broker")
def test_backfill_through_two_celery_workers_equals_the_in_process_ledger(postgres_db, tmp_path, monkeypatch):

    import pandas as pd
    import yaml

    from pipelines.distributed import celery_daily_job
    from pipelines.runner import run_days

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.production.yaml", home / "dagster.yaml")
    out = tmp_path / "celery_out"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("CARBONLEDGER_OUT_DIR", str(out))
    monkeypatch.delenv("CARBONLEDGER_CONFIG", raising=False)
    # A queue of this test's own, so concurrent runs sharing the broker never take each other's steps.
    name = uuid.uuid4().hex[:8]
    queue = f"carbonledger-test-{name}"
    celery_config = yaml.safe_load((REPO / "deploy" / "celery.yaml").read_text())
    celery_config["config_source"] = {"task_default_queue": queue}
    config_file = tmp_path / "celery.yaml"
    config_file.write_text(yaml.safe_dump(celery_config))
    worker = Path(sys.executable).with_name("dagster-celery")
    env = {**os.environ, "PATH": f"{worker.parent}{os.pathsep}{os.environ.get('PATH', '')}"}   # it spawns `celery`
    workers = [subprocess.Popen([str(worker), "worker", "start", "-A", "dagster_celery.app", "-n", f"carbonledger-{name}-{i}@%h",
                                 "-y", str(config_file), "-q", queue, "--", "--concurrency=1"],
                                cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)     # its own process group: the celery it spawns goes with it
               for i in range(2)]
    days = ["2026-11-01", "2026-11-02", "2026-11-03"]
    try:
        with dg.DagsterInstance.get() as instance:
            for day in days:
                result = dg.execute_job(
                    dg.reconstructable(celery_daily_job), instance=instance,
                    run_config={"execution": {"config": celery_config}},
                    tags={"dagster/partition": day},
                )
                assert result.success, (day, [e.message for e in result.all_events if e.is_failure][:3])
            logs = instance.all_logs(result.run_id)
            step_pids = {e.dagster_event.pid for e in logs if e.dagster_event and e.dagster_event.is_step_start}
            assert step_pids and os.getpid() not in step_pids           # steps ran in the workers, not here
            assert any("celery" in (e.message or "").lower() for e in logs if e.dagster_event and e.dagster_event.is_engine_event)
    finally:
        _stop_process_groups(workers)
    run_days([pd.Timestamp(d).date() for d in days], out_dir=tmp_path / "in_process")
    for day in days:
        distributed = pd.read_parquet(out / "daily" / day / "ledger.parquet")
        local = pd.read_parquet(tmp_path / "in_process" / "daily" / day / "ledger.parquet")
        pd.testing.assert_frame_equal(distributed, local)


def _stop_process_groups(processes: list[subprocess.Popen]) -> None:
    """Stop each process with everything it spawned: `dagster-celery worker start` runs `celery worker`,
    which forks its pool; terminating the wrapper alone left those running after the suite."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        while time.monotonic() < deadline and _group_alive(process.pid):
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)     # whatever did not stop in time
        process.wait(timeout=30)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True

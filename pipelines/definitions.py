"""The Dagster code location: ``dg dev -m pipelines.definitions`` (or ``dagster dev``).

Configuration comes from the ``CARBONLEDGER_CONFIG`` environment variable (a YAML file); without
it the bundled demo organisation is used. The daily job materialises one UTC day; its schedule
runs at 06:00 UTC for the previous day (billing exports lag by hours); the delivery sensor re-runs
the days that new or restated billing files cover. Freshness checks (and their sensor) watch the ledger and
what publishes it; the job's failure hook logs and posts an alert for every failed step (``pipelines.monitoring``).
"""

from __future__ import annotations

import os

import dagster as dg

from carbonledger.config import Config
from pipelines.assets import build_assets
from pipelines.monitoring import alert_on_failure, build_freshness_checks, build_freshness_sensor
from pipelines.publish import STORE_ASSET, WAREHOUSE_ASSET
from pipelines.resources import CarbonLedgerConfig
from pipelines.sensors import build_delivery_sensor

DAILY_JOB = "daily_carbon_job"
#: The daily assets whose freshness is checked: the ledger and, when configured, where it is published.
FRESHNESS_CHECKED = ("core_carbon__ledger", STORE_ASSET, WAREHOUSE_ASSET)


def build_definitions(config_path: str | None = None, out_dir: str | None = None,
                      executor: dg.ExecutorDefinition | None = None) -> dg.Definitions:
    """The code location; ``executor`` replaces the default multiprocess executor (e.g. Celery)."""
    resource = CarbonLedgerConfig(config_path=config_path, out_dir=out_dir)
    config: Config = resource.create()
    assets = build_assets(config.start_date, config.sources, store=config.store is not None,
                          warehouse=config.warehouse is not None)
    daily_assets = [a for a in assets if a.partitions_def is not None]
    freshness = build_freshness_checks([a for a in daily_assets if a.key.path[-1] in FRESHNESS_CHECKED])
    # The freshness checks run from their sensor, not inside each day's run (a backfill run is no news about today).
    job = dg.define_asset_job(DAILY_JOB, selection=dg.AssetSelection.assets(*daily_assets) - dg.AssetSelection.checks(*freshness),
                              hooks={alert_on_failure})
    schedule = dg.build_schedule_from_partitioned_job(job, hour_of_day=6, minute_of_hour=0)
    sensors = [build_delivery_sensor(DAILY_JOB), build_freshness_sensor(freshness)]
    return dg.Definitions(assets=assets, asset_checks=freshness, jobs=[job], schedules=[schedule], sensors=sensors,
                          resources={"carbonledger": resource}, executor=executor)


defs = build_definitions(os.environ.get("CARBONLEDGER_CONFIG"))

"""The Dagster code location: ``dg dev -m pipelines.definitions`` (or ``dagster dev``).

Configuration comes from the ``CARBONLEDGER_CONFIG`` environment variable (a YAML file); without
it the bundled demo organisation is used. The daily job materialises one UTC day; its schedule
runs at 06:00 UTC for the previous day (billing exports lag by hours); the delivery sensor re-runs
the days that new or restated billing files cover.
"""

from __future__ import annotations

import os

import dagster as dg

from carbonledger.config import Config
from pipelines.assets import build_assets
from pipelines.resources import CarbonLedgerConfig
from pipelines.sensors import build_delivery_sensor

DAILY_JOB = "daily_carbon_job"


def build_definitions(config_path: str | None = None, out_dir: str | None = None,
                      executor: dg.ExecutorDefinition | None = None) -> dg.Definitions:
    """The code location; ``executor`` replaces the default multiprocess executor (e.g. Celery)."""
    resource = CarbonLedgerConfig(config_path=config_path, out_dir=out_dir)
    config: Config = resource.create()
    assets = build_assets(config.start_date, config.sources)
    daily_assets = [a for a in assets if a.partitions_def is not None]
    job = dg.define_asset_job(DAILY_JOB, selection=daily_assets)
    schedule = dg.build_schedule_from_partitioned_job(job, hour_of_day=6, minute_of_hour=0)
    return dg.Definitions(assets=assets, jobs=[job], schedules=[schedule], sensors=[build_delivery_sensor(DAILY_JOB)],
                          resources={"carbonledger": resource}, executor=executor)


defs = build_definitions(os.environ.get("CARBONLEDGER_CONFIG"))

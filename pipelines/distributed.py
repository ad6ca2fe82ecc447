"""Distributed execution: the daily job with each step run by Celery workers (dagster-celery).

Dagster wiring only. Workers and the submitting process share the instance (Postgres, see
``deploy/dagster.production.yaml``) and the code, located through environment variables:
``CARBONLEDGER_CONFIG`` (the YAML config) and ``CARBONLEDGER_OUT_DIR`` (optional override).
Start workers with ``dagster-celery worker start -A dagster_celery.app -y deploy/celery.yaml``;
submit with ``dagster job launch`` / a backfill, or ``dagster.execute_job(reconstructable(celery_daily_job))``.
"""

import os

import dagster as dg
from dagster_celery import celery_executor

from pipelines.definitions import DAILY_JOB, build_definitions


def celery_daily_job() -> dg.JobDefinition:
    """The daily job on the Celery executor (a function, so workers can reconstruct it)."""
    defs = build_definitions(os.environ.get("CARBONLEDGER_CONFIG"), os.environ.get("CARBONLEDGER_OUT_DIR"),
                             executor=celery_executor)
    return defs.resolve_job_def(DAILY_JOB)

"""Monitoring: freshness checks on the daily ledger (and what publishes it) and the run-failure alert hook.

Dagster wiring only; the alert document and its POST are ``carbonledger.alerts``.

* **Freshness.** ``build_time_partition_freshness_checks``: by :data:`FRESHNESS_DEADLINE_CRON` (09:00 UTC,
  three hours after the 06:00 schedule) the previous UTC day's partition of each checked asset must be
  materialised; else the check fails with WARN severity. The sensor ``freshness_checks_sensor`` evaluates
  them (turn it on with the daemon; it launches no runs, it records check results).
* **Failure alerts.** The daily job carries the failure hook ``alert_on_failure``: every failed step logs
  one ERROR line with the alert document and, with ``alerts:`` configured, POSTs it to the webhook named by
  ``alerts.webhook_url_env``. A webhook that fails or is unset is a warning in the step's log, never a
  second failure.
"""


import json
import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import dagster as dg

from carbonledger import alerts
from carbonledger.config import Config

FRESHNESS_DEADLINE_CRON = "0 9 * * *"
FRESHNESS_SENSOR = "freshness_checks_sensor"
T = TypeVar("T")


def build_freshness_checks(assets: Sequence[dg.AssetsDefinition]) -> list[dg.AssetChecksDefinition]:
    """One freshness check per daily asset: yesterday's UTC partition materialised by 09:00 UTC.

    Dagster 1.13 marks this builder superseded by ``FreshnessPolicy``, but a ``FreshnessPolicy.cron`` looks only
    at the asset's latest materialisation of any partition (a backfill of last month would count as fresh);
    this check asks for the expected partition itself.
    """
    return list(_superseded(dg.build_time_partition_freshness_checks, assets=list(assets),
                            deadline_cron=FRESHNESS_DEADLINE_CRON, timezone="UTC", severity=dg.AssetCheckSeverity.WARN))


def build_freshness_sensor(checks: Sequence[dg.AssetChecksDefinition]) -> dg.SensorDefinition:
    """The sensor that evaluates the freshness checks (every 30 s by default, once the daemon runs it)."""
    return _superseded(dg.build_sensor_for_freshness_checks, freshness_checks=list(checks), name=FRESHNESS_SENSOR)


def _superseded(builder: Callable[..., T], **kwargs: Any) -> T:
    """Call a builder Dagster 1.13 marks superseded (why: ``build_freshness_checks``), without its warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        return builder(**kwargs)


@dg.failure_hook(name="alert_on_failure", required_resource_keys={"carbonledger"})
def alert_on_failure(context: dg.HookContext) -> None:
    """Log the failed step's alert and POST it to the configured webhook."""
    config: Config = context.resources.carbonledger.create()
    run = context.instance.get_run_by_id(context.run_id)
    secrets = tuple(os.environ.get(name, "") for name in config.secret_env_vars())
    alert = alerts.failure_alert(job=context.job_name, run_id=context.run_id,
                                 partition=run.tags.get("dagster/partition") if run else None,
                                 step=context.step_key, error=context.op_exception, secrets=secrets)
    context.log.error(f"carbonledger alert: {json.dumps(alert)}")
    if config.alerts is None:
        return
    url = os.environ.get(config.alerts.webhook_url_env, "")
    if not url:
        context.log.warning(f"alerts.webhook_url_env names {config.alerts.webhook_url_env}, which is not set: no alert sent")
        return
    try:
        alerts.post_json(url, alert)
    except alerts.AlertError as exc:
        context.log.warning(str(exc))

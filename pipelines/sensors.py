"""The delivery sensor: request the daily partitions that new or restated billing data touches.

Dagster wiring only. S3 sources are fetched into their local cache first (only new or restated
deliveries download; superseded parts are removed). The cursor (JSON) holds each file source's
snapshot and each remote source's per-day fingerprints (``connectors.changes.DeliveryState``); a
tick compares the current look with it, reads just the charge-period-start column of the changed
files, asks each BigQuery and Azure source for its days in the lookback window (one cheap query
each: ``connectors.changes.remote_days``), and requests one run of the daily job per affected day
(clipped to the pipeline's partitions). The first tick records a baseline and requests nothing:
backfilling history is an explicit ``dagster asset backfill`` / ``carbonledger run`` decision,
not a side effect of turning a sensor on. A remote source whose lookup fails keeps its previous
fingerprints (so nothing is missed once it answers again); the failure is logged and named in
the tick's skip message.

The lookback (days before today whose remote fingerprints are compared) is ``lookback_days`` of
:func:`build_delivery_sensor`, else the environment variable ``CARBONLEDGER_SENSOR_LOOKBACK_DAYS``,
else :data:`DEFAULT_LOOKBACK_DAYS`.
"""

import datetime as dt
import os

import dagster as dg

from carbonledger import engine
from carbonledger.errors import ConfigError
from connectors.changes import DeliveryState
from pipelines.resources import CarbonLedgerConfig

DELIVERY_SENSOR = "billing_delivery_sensor"
#: Days before today that remote sources are watched for restatements: GCP and Azure restate a
#: month into the first days of the next, so a little more than a month.
DEFAULT_LOOKBACK_DAYS = 35
LOOKBACK_ENV = "CARBONLEDGER_SENSOR_LOOKBACK_DAYS"


def lookback_days(configured: int | None = None) -> int:
    """The remote sources' lookback in days: ``configured``, else $CARBONLEDGER_SENSOR_LOOKBACK_DAYS, else 35."""
    if configured is not None:
        value = configured
    else:
        text = os.environ.get(LOOKBACK_ENV, "").strip()
        try:
            value = int(text) if text else DEFAULT_LOOKBACK_DAYS
        except ValueError:
            raise ConfigError(f"{LOOKBACK_ENV}={text!r}: expected a whole number of days") from None
    if value < 0:
        raise ConfigError(f"sensor lookback {value} days: expected 0 or more")
    return value


def build_delivery_sensor(job_name: str, lookback: int | None = None) -> dg.SensorDefinition:
    """A sensor over every configured source that requests the daily job's affected partitions."""

    @dg.sensor(name=DELIVERY_SENSOR, job_name=job_name, minimum_interval_seconds=300,
               description="Runs the daily job for each day that new or restated billing files, BigQuery "
                           "export rows or Azure daily costs cover.")
    def billing_delivery_sensor(context: dg.SensorEvaluationContext, carbonledger: CarbonLedgerConfig):
        config = carbonledger.create()
        for source in config.sources:
            if source.s3 is not None:
                engine.source_inputs(source)      # fetch new or restated S3 deliveries into the local cache
        today = dt.datetime.now(dt.timezone.utc).date()
        window = (max(config.start_date, today - dt.timedelta(days=lookback_days(lookback))), today)
        previous = DeliveryState.from_json(context.cursor) if context.cursor else None
        current = DeliveryState.scan(config.sources, previous, window=window)
        context.update_cursor(current.to_json())
        failed = "".join(f"; {name} not checked ({error})" for name, error in sorted(current.failures.items()))
        for name, error in sorted(current.failures.items()):
            context.log.warning("delivery sensor: %s not checked this tick: %s", name, error)
        if previous is None:
            return dg.SkipReason(f"baseline recorded: {len(current.days)} billing file(s), "
                                 f"{len(current.remote)} remote source(s); later deliveries trigger runs{failed}")
        stale = {day: causes for day, causes in current.changed_since(previous).items()
                 if config.start_date.isoformat() <= day <= today.isoformat()}
        if not stale:
            return dg.SkipReason(f"no new, changed or removed billing files{failed}")
        # The run key changes whenever a cause of that day changes again, so each restatement re-runs it.
        return [dg.RunRequest(partition_key=day, run_key=f"{day}:{current.fingerprint(day, causes)}",
                              tags={"carbonledger/trigger": "delivery"})
                for day, causes in sorted(stale.items())]

    return billing_delivery_sensor

"""The delivery sensor: request the daily partitions that new or restated billing files touch.

Dagster wiring only. S3 sources are fetched into their local cache first (only new or restated
deliveries download; superseded parts are removed). The cursor holds each source's file snapshot
(``connectors.changes``); a tick
compares the current snapshot with it, reads just the charge-period-start column of the changed
files, and requests one run of the daily job per affected day (clipped to the pipeline's
partitions). The first tick records a baseline and requests nothing: backfilling history is an
explicit ``dagster asset backfill`` / ``carbonledger run`` decision, not a side effect of turning
a sensor on.
"""

import datetime as dt
import hashlib
import json

import dagster as dg

from carbonledger import engine
from connectors.changes import DeliveryState
from pipelines.resources import CarbonLedgerConfig

DELIVERY_SENSOR = "billing_delivery_sensor"


def build_delivery_sensor(job_name: str) -> dg.SensorDefinition:
    """A sensor over every configured source that requests the daily job's affected partitions."""

    @dg.sensor(name=DELIVERY_SENSOR, job_name=job_name, minimum_interval_seconds=300,
               description="Runs the daily job for each day that new or restated billing files cover.")
    def billing_delivery_sensor(context: dg.SensorEvaluationContext, carbonledger: CarbonLedgerConfig):
        config = carbonledger.create()
        for source in config.sources:
            if source.s3 is not None:
                engine.source_inputs(source)      # fetch new or restated S3 deliveries into the local cache
        previous = DeliveryState.from_json(context.cursor) if context.cursor else None
        current = DeliveryState.scan(config.sources, previous)
        context.update_cursor(current.to_json())
        if previous is None:
            return dg.SkipReason(f"baseline recorded: {len(current.days)} billing file(s); later deliveries trigger runs")
        last_day = dt.datetime.now(dt.timezone.utc).date().isoformat()
        stale = {day: paths for day, paths in current.changed_since(previous).items()
                 if config.start_date.isoformat() <= day <= last_day}
        if not stale:
            return dg.SkipReason("no new, changed or removed billing files")
        requests = []
        for day, paths in sorted(stale.items()):
            # The run key changes whenever a file of that day changes again, so each restatement re-runs it.
            states = {path: current.state_of(path) for path in paths}
            fingerprint = hashlib.sha256(json.dumps(states, sort_keys=True).encode()).hexdigest()[:16]
            requests.append(dg.RunRequest(partition_key=day, run_key=f"{day}:{fingerprint}",
                                          tags={"carbonledger/trigger": "delivery"}))
        return requests

    return billing_delivery_sensor


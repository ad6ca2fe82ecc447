"""Run the pipeline in-process for given days (``carbonledger demo`` / ``carbonledger run``).

Uses ``$DAGSTER_HOME`` when set; otherwise a persistent SQLite instance under
``<out_dir>/.dagster`` with telemetry off, so run history survives between CLI calls.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from carbonledger.config import Config
from carbonledger.engine import Accounted, combine_daily
from carbonledger.errors import EXIT_CONFIG, EXIT_INPUT, EXIT_TIE_OUT, EXIT_USAGE, CarbonLedgerError, UsageError
from pipelines.assets import TIE_OUT_CHECK, build_assets
from pipelines.resources import CarbonLedgerConfig

log = logging.getLogger("carbonledger")

#: Dagster's console logger at WARNING: the CLI prints its own progress; the run's events stay in the instance.
_QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def instance_for(config: Config) -> dg.DagsterInstance:
    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    home = config.out_dir / ".dagster"
    home.mkdir(parents=True, exist_ok=True)
    return dg.DagsterInstance.local_temp(tempdir=str(home), overrides={"telemetry": {"enabled": False}})


def run_days(days: Sequence[dt.date], *, config_path: Path | None = None, out_dir: Path | None = None) -> Accounted:
    """Materialise the daily assets for each day, then the period report; return the period's accounting.

    ``config_path`` None means the bundled demo organisation; ``out_dir`` overrides the config's.
    """
    resource = CarbonLedgerConfig(config_path=str(config_path) if config_path else None,
                                  out_dir=str(out_dir) if out_dir else None)
    config = resource.create()
    early = [d for d in days if d < config.start_date]
    if early:
        raise UsageError(f"{early[0]} is before the pipeline's start_date {config.start_date}")
    assets = build_assets(config.start_date, config.sources, store=config.store is not None,
                          warehouse=config.warehouse is not None)
    daily = [a for a in assets if a.partitions_def is not None]
    period = [a for a in assets if a.partitions_def is None]
    with instance_for(config) as instance:
        for i, day in enumerate(days, 1):
            log.info("day %d/%d: materialising %s", i, len(days), day.isoformat())
            result = dg.materialize(daily, partition_key=day.isoformat(), instance=instance, run_config=_QUIET,
                                    resources={"carbonledger": resource}, raise_on_error=False)
            _raise_if_failed(result, day)
        log.info("writing the period report")
        _raise_if_failed(dg.materialize(period, instance=instance, run_config=_QUIET,
                                        resources={"carbonledger": resource}, raise_on_error=False), None)
    accounted = combine_daily(config.out_dir)
    assert accounted is not None
    return accounted


def _raise_if_failed(result: dg.ExecuteInProcessResult, day: dt.date | None) -> None:
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.check_name == TIE_OUT_CHECK and not evaluation.passed:
            problems = evaluation.metadata.get("problems")
            raise RunFailed(f"{day}: control totals do not tie out: {problems.value if problems else ''}", EXIT_TIE_OUT)
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure and event.step_failure_data.error is not None:
                error = event.step_failure_data.error
                while error.cause is not None and error.cls_name in ("DagsterExecutionStepExecutionError", "DagsterUserCodeExecutionError"):
                    error = error.cause
                raise RunFailed(f"{day or 'period report'}: {event.step_key} failed: {_without_class(error)}",
                                _EXIT_BY_ERROR.get(error.cls_name, EXIT_USAGE))
        raise RunFailed(f"{day or 'period report'}: the run failed", EXIT_USAGE)


def _without_class(error: "dg.SerializableErrorInfo") -> str:
    """The error's own message: Dagster prefixes it with ``module.Class: ``, which a user does not need."""
    message = error.message.strip()
    prefix, separator, rest = message.partition(": ")
    return rest if separator and prefix.rsplit(".", 1)[-1] == error.cls_name else message


_EXIT_BY_ERROR = {"InputFormatError": EXIT_INPUT, "ConfigError": EXIT_CONFIG, "TieOutError": EXIT_TIE_OUT}


class RunFailed(CarbonLedgerError):
    """A pipeline step failed; carries the exit code of the error that caused it."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code

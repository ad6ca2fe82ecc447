"""The daily carbon pipeline's assets: raw billing per source → core ledger → out reports.

Layers (PUDL-style names): ``raw_billing__<source>`` (one per configured source: the day's rows as
read, with the day's control totals), ``core_carbon__ledger`` (every source's rows accounted, with
a blocking tie-out check), ``core_grid__hourly_intensity`` (the hours of intensity the day used,
checked for gaps, range and spikes), ``out_carbon__daily_report`` (files for the day) and
``out_carbon__period_report`` (all days); when configured, ``out_carbon__ledger_store`` and
``out_carbon__warehouse`` (``pipelines.publish``).
"""


import datetime as dt
import warnings
from collections.abc import Sequence

import dagster as dg

from carbonledger import engine
from carbonledger.config import Source
from carbonledger.engine import Accounted
from carbonledger.errors import ConfigError
from connectors import ReadResult
from intensity.checks import check_intensity
from pipelines.publish import build_publish_assets
from pipelines.io_managers import carbon_frames_io_manager
from pipelines.resources import CarbonLedgerConfig
from reports.markdown import headline_markdown

# io_manager_def binds the frames IO manager to the two assets that need it, so every caller
# (Definitions, the CLI runner, tests) gets it without configuring a resource; Dagster marks it beta.
warnings.filterwarnings("ignore", message="Parameter `io_manager_def`", category=dg.BetaWarning)

TIE_OUT_CHECK = "ties_out"
INTENSITY_CHECK = "intensity_complete"
RAW_PREFIX = "raw_billing__"


def raw_asset_name(source: Source) -> str:
    """The asset of one billing source: ``raw_billing__<source name>``."""
    return RAW_PREFIX + source.name


def _raw_asset(source: Source, daily: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    name = source.name

    @dg.asset(name=raw_asset_name(source), partitions_def=daily, group_name="billing", kinds={"pandas"},
              io_manager_def=carbon_frames_io_manager,
              description=f"Billing source {name!r} ({source.format}), normalised to the canonical schema; "
                          "the partition's UTC day only.")
    def raw_billing(context: dg.AssetExecutionContext, carbonledger: CarbonLedgerConfig) -> dg.Output[ReadResult]:
        config = carbonledger.create()
        day = dt.date.fromisoformat(context.partition_key)
        batch = engine.read_source_day(config.source(name), day, config.project_tag_keys,
                                       staging_dir=config.out_dir / "staging")
        return dg.Output(batch, metadata={
            "rows_in": batch.inputs.rows,
            "rows_billing": len(batch.billing),
            "rows_quarantined": len(batch.quarantine),
            "files": dg.MetadataValue.json(batch.files),
        })

    return raw_billing


def build_assets(start_date: dt.date, sources: Sequence[Source], *, store: bool = False,
                 warehouse: bool = False) -> list[dg.AssetsDefinition]:
    """The pipeline's assets over daily UTC partitions from ``start_date``, one raw asset per source; with
    ``store`` / ``warehouse`` (the config has those sections) the publishing assets too."""
    if not sources:
        raise ConfigError("the pipeline needs at least one billing source: add 'sources' to the config")
    daily = dg.DailyPartitionsDefinition(start_date=start_date.isoformat(), timezone="UTC")
    raw_assets = [_raw_asset(source, daily) for source in sources]

    @dg.asset(
        partitions_def=daily,
        group_name="carbon",
        ins={a.key.path[-1]: dg.AssetIn(a.key) for a in raw_assets},
        io_manager_def=carbon_frames_io_manager,
        kinds={"pandas"},
        check_specs=[dg.AssetCheckSpec(TIE_OUT_CHECK, asset="core_carbon__ledger", blocking=True,
                                       description="rows and cost per currency: in == ledger + quarantined, exactly")],
    )
    def core_carbon__ledger(context: dg.AssetExecutionContext, carbonledger: CarbonLedgerConfig, **raw_batches: ReadResult):
        """The emissions ledger of the day: every source's billing lines with energy, emissions and their basis."""
        batch = engine.combine_batches([raw_batches[key] for key in sorted(raw_batches)])
        result = engine.account(batch, carbonledger.create())
        s = result.summary
        yield dg.Output(result, metadata={
            "rows": s["rows_ledger"], "energy_kwh": s["energy_kwh"], "co2e_kg": s["co2e_kg"],
            "coverage_cost_fraction": s["coverage_cost_fraction"],
        })
        yield dg.AssetCheckResult(
            check_name=TIE_OUT_CHECK,
            passed=result.tie_out.ok,
            metadata={"problems": dg.MetadataValue.json(result.tie_out.problems()),
                      "rows_in": s["rows_in"], "rows_ledger": s["rows_ledger"], "rows_quarantined": s["rows_quarantined"],
                      "cost_by_currency": dg.MetadataValue.json(s["cost_by_currency"])},
        )

    @dg.asset(
        partitions_def=daily,
        group_name="carbon",
        kinds={"pandas"},
        check_specs=[dg.AssetCheckSpec(INTENSITY_CHECK, asset="core_grid__hourly_intensity",
                                       description="every hour present, values in range, no isolated spikes")],
    )
    def core_grid__hourly_intensity(context: dg.AssetExecutionContext, carbonledger: CarbonLedgerConfig, core_carbon__ledger: Accounted):
        """The hourly grid intensity the day's lines were accounted with, per zone they draw on."""
        frame = engine.hourly_intensity(core_carbon__ledger, dt.date.fromisoformat(context.partition_key), carbonledger.create())
        problems = check_intensity(frame) if len(frame.columns) else []
        yield dg.Output(frame, metadata={"zones": len(frame.columns), "hours": len(frame)})
        yield dg.AssetCheckResult(check_name=INTENSITY_CHECK, passed=not problems, severity=dg.AssetCheckSeverity.WARN,
                                  metadata={"problems": dg.MetadataValue.json(problems)})

    @dg.asset(partitions_def=daily, group_name="reports")
    def out_carbon__daily_report(context: dg.AssetExecutionContext, carbonledger: CarbonLedgerConfig, core_carbon__ledger: Accounted) -> dg.MaterializeResult:
        """ledger.parquet, quarantine.parquet, summary.json, report.html and CSV extracts for the day."""
        config = carbonledger.create()
        out = engine.write_outputs(core_carbon__ledger, config.out_dir / "daily" / context.partition_key,
                                   title=f"carbonledger emissions report, {context.partition_key}")
        return dg.MaterializeResult(metadata={
            "preview": dg.MetadataValue.md(headline_markdown(core_carbon__ledger.summary, title=f"Day {context.partition_key}")),
            "out_dir": dg.MetadataValue.path(str(out.out_dir)), "ledger": dg.MetadataValue.path(str(out.ledger)),
            "report": dg.MetadataValue.path(str(out.report.html)),
        })

    @dg.asset(deps=[out_carbon__daily_report], group_name="reports")
    def out_carbon__period_report(context: dg.AssetExecutionContext, carbonledger: CarbonLedgerConfig) -> dg.MaterializeResult:
        """The organisation report over every day written so far, re-tied against each day's recorded totals."""
        config = carbonledger.create()
        period = engine.combine_daily(config.out_dir)
        if period is None:
            raise dg.Failure(f"no daily ledgers under {config.out_dir / 'daily'}: materialise out_carbon__daily_report first")
        out = engine.write_outputs(period, config.out_dir, pages=True, policy=config.policy,
                                   title="carbonledger emissions report")
        s = period.summary
        return dg.MaterializeResult(metadata={
            "preview": dg.MetadataValue.md(headline_markdown(s, title=f"{s['period_start']} to {s['period_end']}")),
            "out_dir": dg.MetadataValue.path(str(out.out_dir)), "report": dg.MetadataValue.path(str(out.report.html)),
            "project_pages": dg.MetadataValue.path(str(out.site.index)),
            "period_start": s["period_start"], "period_end": s["period_end"],
            "co2e_kg": s["co2e_kg"], "energy_kwh": s["energy_kwh"],
        })

    return [*raw_assets, core_carbon__ledger, core_grid__hourly_intensity, out_carbon__daily_report, out_carbon__period_report,
            *build_publish_assets(daily, store=store, warehouse=warehouse)]

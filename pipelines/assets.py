"""The daily carbon pipeline's assets: raw billing → core ledger → out reports.

Layers (PUDL-style names): ``raw_billing__line_items`` (the day's rows as read, with the day's
control totals), ``core_carbon__ledger`` (the ledger, with a blocking tie-out check),
``out_carbon__daily_report`` (files for the day) and ``out_carbon__period_report`` (all days).
"""


import datetime as dt

import dagster as dg

from carbonledger import engine
from carbonledger.engine import Accounted
from connectors import ReadResult
from pipelines.resources import CarbonLedgerConfig

TIE_OUT_CHECK = "ties_out"


def build_assets(start_date: dt.date) -> list[dg.AssetsDefinition]:
    """The pipeline's assets over daily UTC partitions from ``start_date``."""
    daily = dg.DailyPartitionsDefinition(start_date=start_date.isoformat(), timezone="UTC")

    @dg.asset(partitions_def=daily, group_name="billing", kinds={"pandas"})
    def raw_billing__line_items(context: dg.AssetExecutionContext, carbonledger: CarbonLedgerConfig) -> dg.Output[ReadResult]:
        """Every configured billing source, normalised to the canonical schema; the partition's day only."""
        config = carbonledger.create()
        day = dt.date.fromisoformat(context.partition_key)
        batch = engine.select_day(engine.read_sources(config.sources, config.project_tag_keys), day)
        return dg.Output(batch, metadata={
            "rows_in": batch.inputs.rows,
            "rows_billing": len(batch.billing),
            "rows_quarantined": len(batch.quarantine),
            "files": dg.MetadataValue.json(batch.files),
        })

    @dg.asset(
        partitions_def=daily,
        group_name="carbon",
        kinds={"pandas"},
        check_specs=[dg.AssetCheckSpec(TIE_OUT_CHECK, asset="core_carbon__ledger", blocking=True,
                                       description="rows and cost per currency: in == ledger + quarantined, exactly")],
    )
    def core_carbon__ledger(context: dg.AssetExecutionContext, carbonledger: CarbonLedgerConfig, raw_billing__line_items: ReadResult):
        """The emissions ledger of the day: every billing line with energy, emissions and their basis."""
        result = engine.account(raw_billing__line_items, carbonledger.create())
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

    @dg.asset(partitions_def=daily, group_name="reports")
    def out_carbon__daily_report(context: dg.AssetExecutionContext, carbonledger: CarbonLedgerConfig, core_carbon__ledger: Accounted) -> dg.MaterializeResult:
        """ledger.parquet, quarantine.parquet, summary.json, report.html and CSV extracts for the day."""
        config = carbonledger.create()
        out = engine.write_outputs(core_carbon__ledger, config.out_dir / "daily" / context.partition_key,
                                   title=f"carbonledger emissions report, {context.partition_key}")
        return dg.MaterializeResult(metadata={"out_dir": str(out.out_dir), "ledger": str(out.ledger)})

    @dg.asset(deps=[out_carbon__daily_report], group_name="reports")
    def out_carbon__period_report(context: dg.AssetExecutionContext, carbonledger: CarbonLedgerConfig) -> dg.MaterializeResult:
        """The organisation report over every day written so far, re-tied against each day's recorded totals."""
        config = carbonledger.create()
        period = engine.combine_daily(config.out_dir)
        if period is None:
            raise dg.Failure(f"no daily ledgers under {config.out_dir / 'daily'}: materialise out_carbon__daily_report first")
        out = engine.write_outputs(period, config.out_dir, title="carbonledger emissions report")
        s = period.summary
        return dg.MaterializeResult(metadata={
            "out_dir": str(out.out_dir), "period_start": s["period_start"], "period_end": s["period_end"],
            "co2e_kg": s["co2e_kg"], "energy_kwh": s["energy_kwh"],
        })

    return [raw_billing__line_items, core_carbon__ledger, out_carbon__daily_report, out_carbon__period_report]

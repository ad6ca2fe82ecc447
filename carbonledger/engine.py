"""The accounting engine without Dagster: billing files in, ledger + quarantine + summary (+ report) out.

Both the CLI (``carbonledger estimate``) and the Dagster assets call these functions, so a daily
pipeline run and a one-off estimate give the same numbers. Steps:

1. ``read_sources``: connectors read every source; control totals of the raw rows are kept;
2. ``select_day``: (pipelines only) the rows of one UTC day, with their own control totals;
3. ``account``: the ledger is built, the tie-out ``in == ledger + quarantined`` is checked, the
   summary is computed;
4. ``write_outputs``: ledger.parquet, quarantine.parquet, summary.json and the report, atomically.

``carbonledger.estimate`` runs the same steps batch by batch for files of any size.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from carbonledger import io, schema, staging
from carbonledger.config import Config, Source
from carbonledger.controls import ZERO, ControlTotals, TieOut, format_decimal
from carbonledger.errors import InputFormatError, UsageError
from connectors import ReadResult, read_billing
from connectors.reader import combine_batches
from connectors.azure_remote import Connection as AzureConnection
from connectors.azure_remote import fetch_cost_details
from connectors.gcp_bigquery import read_billing_day
from connectors.s3_delivery import fetch_deliveries, s3_client
from footprint.energy import PowerModel
from footprint.hardware import HardwareCatalogue
from footprint.ledger import build_ledger
from footprint.summary import summarise
from footprint.audit import load_policy, policy_violations, region_audit, tie_out_report
from footprint.recommend import recommend
from footprint.statement import carbon_statement
from intensity import GridData
from intensity import settings as grid_settings
from reports import ReportPaths, SitePaths, write_project_pages, write_report

log = logging.getLogger("carbonledger")


@dataclass(frozen=True)
class Accounted:
    """The result of accounting one batch of billing rows."""

    ledger: pd.DataFrame
    quarantine: pd.DataFrame
    tie_out: TieOut
    summary: dict[str, Any]


@dataclass(frozen=True)
class Outputs:
    """Where a run wrote its files."""

    out_dir: Path
    ledger: Path
    quarantine: Path
    summary: Path
    report: ReportPaths | None
    site: SitePaths | None = None


def read_sources(sources: Sequence[Source], project_tag_keys: Sequence[str]) -> ReadResult:
    """Read every configured source (each with its own format) into one canonical batch."""
    if not sources:
        raise UsageError("no billing sources given: name input files or configure 'sources'")
    return combine_batches([read_billing(source_inputs(s), s.format, project_tag_keys=tuple(project_tag_keys))
                            for s in sources])


def read_source_day(source: Source, day: dt.date, project_tag_keys: Sequence[str],
                    staging_dir: Path | None = None) -> ReadResult:
    """One source's rows of one UTC day, with that day's control totals (the raw Dagster asset).

    A BigQuery source queries just that day (by usage start) into ``<cache>/<day>.parquet``, an Azure
    source generates that day's cost details report into ``<cache>/<day>/``. File and S3 sources are
    split by day once per version of their files under ``staging_dir/<source name>/``
    (:mod:`carbonledger.staging`) and the day's split read; without ``staging_dir`` they are read
    whole and the day selected.
    """
    if source.azure is None and source.bigquery is None:
        if staging_dir is not None:
            return staging.source_day(source_inputs(source), source.format, day, project_tag_keys,
                                      Path(staging_dir) / source.name)
        return select_day(read_sources([source], project_tag_keys), day)
    files = _fetch_day(source, day)
    if not files:       # nothing billed that day
        return ReadResult(schema.empty(schema.BILLING_COLUMNS), schema.empty(schema.QUARANTINE_COLUMNS),
                          ControlTotals(rows=0), [])
    return select_day(read_billing(files, source.format, project_tag_keys=tuple(project_tag_keys)), day)


def _fetch_day(source: Source, day: dt.date) -> list[Path]:
    """Fetch one day of a per-day remote source (Azure, BigQuery) into its cache; the files to read."""
    if source.azure is not None:
        az = source.azure
        day_dir = Path(source.path) / day.isoformat()
        files = fetch_cost_details(az.scope, day, day, day_dir, metric=az.metric,
                                   connection=AzureConnection(base_url=az.base_url))
        # a restated day may come back in fewer parts: parts of an earlier report must not be read again
        for stale in set(day_dir.glob("*.csv*")) - {Path(f) for f in files}:
            stale.unlink()
        log.info("azure:%s %s: %d report part(s)", az.scope, day.isoformat(), len(files))
        return files
    bq = source.bigquery
    raw = read_billing_day(bq.table, day, by="usage", project=bq.project, api_endpoint=bq.api_endpoint)
    cached = io.write_atomic(Path(source.path) / f"{day.isoformat()}.parquet", lambda tmp: pq.write_table(raw.table, tmp))
    log.info("bigquery:%s %s: %d rows", bq.table, day.isoformat(), raw.rows_read)
    return [cached] if raw.rows_read else []


def source_inputs(source: Source) -> list[Path]:
    """What to read for a source: its path; for an S3 source the latest deliveries fetched into its cache;
    for a per-day source (Azure, BigQuery) the days the pipeline has fetched so far."""
    if source.azure is not None or source.bigquery is not None:
        where, pattern = (f"azure:{source.azure.scope}", "*/*.csv*") if source.azure else \
            (f"bigquery:{source.bigquery.table}", "*.parquet")
        cached = sorted(Path(source.path).glob(pattern))
        if not cached:
            raise UsageError(f"{where}: no days fetched yet (the daily pipeline reads this source one partition "
                             "at a time; run it for the days you need)")
        return cached
    if source.s3 is None:
        return [source.path]
    client = s3_client(endpoint_url=source.s3.endpoint_url, profile=source.s3.profile, region=source.s3.region)
    fetched = fetch_deliveries(source.s3.uri, source.path, client=client)
    log.info("%s: %d deliveries (%d objects downloaded, %d superseded files removed)", source.s3.uri,
             len(fetched.deliveries), len(fetched.downloaded), len(fetched.removed))
    if not fetched.files:
        raise UsageError(f"{source.s3.uri}: no billing deliveries found (expected CUR manifests or Data Exports "
                         "metadata under this prefix)")
    return fetched.files


def select_day(batch: ReadResult, day: dt.date) -> ReadResult:
    """The rows of one UTC day (by ChargePeriodStart) with that day's control totals.

    Quarantined rows without a readable ChargePeriodStart belong to the earliest day of their
    source file, so every row lands in exactly one partition.
    """
    start = pd.Timestamp(day, tz="UTC")
    end = start + pd.Timedelta(days=1)
    billing = batch.billing
    in_day = (billing["ChargePeriodStart"] >= start) & (billing["ChargePeriodStart"] < end)
    quarantine = batch.quarantine
    q_day = _quarantine_days(quarantine, billing)
    q_sel = quarantine.loc[q_day == pd.Timestamp(day)]
    b_sel = billing.loc[in_day]
    day_inputs = ControlTotals.of(b_sel) + ControlTotals.of(q_sel)
    return ReadResult(billing=b_sel.reset_index(drop=True), quarantine=q_sel.reset_index(drop=True), inputs=day_inputs, files=batch.files)


def _quarantine_days(quarantine: pd.DataFrame, billing: pd.DataFrame) -> pd.Series:
    days = quarantine["ChargePeriodStart"].dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize()
    first_day_of_file = (
        billing.groupby("x_SourceFile")["ChargePeriodStart"].min().dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize()
    )
    fallback = quarantine["x_SourceFile"].map(first_day_of_file)
    return days.fillna(fallback)


@dataclass(frozen=True)
class Accountant:
    """What accounting needs besides the billing rows, loaded once per run and used for every batch."""

    catalogue: HardwareCatalogue
    grid: GridData
    model: PowerModel
    pue_overrides: Mapping[str, float]
    instruments: pd.DataFrame | None

    @classmethod
    def for_run(cls, config: Config, billing: pd.DataFrame | None = None) -> "Accountant":
        """The run's catalogue, power model and grid (with live values for ``billing``'s zones and period
        when a live source is configured; without ``billing``, the configured offline grid)."""
        grid = run_grid(config, billing) if billing is not None else grid_settings.grid_data(config.grid)
        return cls(HardwareCatalogue.bundled(), grid, PowerModel.default().with_overrides(config.power_model),
                   config.pue_overrides, grid_settings.instruments(config.grid))

    def ledger(self, billing: pd.DataFrame) -> pd.DataFrame:
        """The ledger lines of canonical billing rows."""
        return build_ledger(billing, catalogue=self.catalogue, grid=self.grid, model=self.model,
                            pue_overrides=self.pue_overrides, instruments=self.instruments)


def account(batch: ReadResult, config: Config) -> Accounted:
    """Build the ledger of a batch and compute its tie-out and summary.

    The tie-out is computed, not enforced: callers decide how a failure surfaces (``estimate``
    raises, the Dagster asset reports a failed blocking check).
    """
    ledger = Accountant.for_run(config, batch.billing).ledger(batch.billing)
    tie_out = TieOut.of(batch.inputs, ControlTotals.of(ledger), ControlTotals.of(batch.quarantine))
    return Accounted(ledger, batch.quarantine, tie_out, _summary(ledger, batch.quarantine, tie_out))


def run_grid(config: Config, billing: pd.DataFrame) -> GridData:
    """The grid data of a run: bundled, plus the configured data-portal files, plus live values for the
    zones and period of ``billing`` when a live source is configured (failures fall back, flagged)."""
    grid = grid_settings.grid_data(config.grid)
    if config.grid.live == "none" or billing.empty:
        return grid
    pairs = billing[["ProviderName", "RegionId"]].dropna().drop_duplicates()
    infos = (grid.region_info(p, r) for p, r in pairs.itertuples(index=False))
    zones = sorted({info.grid_zone for info in infos if info is not None and info.grid_zone})
    return grid_settings.with_live(grid, config.grid, zones, billing["ChargePeriodStart"].min(), billing["ChargePeriodEnd"].max())


def hourly_intensity(result: Accounted, day: dt.date, config: Config) -> pd.DataFrame:
    """The hourly intensity of the day in every zone with hourly data that the day's ledger draws on
    (index ``datetime_utc``, one column per zone): what the day's lines were accounted with."""
    grid = run_grid(config, result.ledger)
    zones = sorted(set(result.ledger["x_GridZone"].dropna()) & set(grid.hourly_zones))
    start = pd.Timestamp(day, tz="UTC")
    if not zones:
        return pd.DataFrame(index=pd.date_range(start, periods=24, freq="h", name="datetime_utc"))
    return grid.hourly_table(zones, start, start + pd.Timedelta(days=1))


def _summary(ledger: pd.DataFrame, quarantine: pd.DataFrame, tie_out: TieOut) -> dict[str, Any]:
    """The ledger's summary plus the usage tie-out per unit."""
    return with_usage(summarise(ledger, quarantine, tie_out), tie_out)


def with_usage(summary: dict[str, Any], tie_out: TieOut) -> dict[str, Any]:
    """``summary`` with the usage tie-out per unit added (exact decimal strings, like cost)."""
    summary["usage_by_unit"] = {
        unit: {
            "in": format_decimal(tie_out.usage_in.get(unit, ZERO)),
            "ledger": format_decimal(tie_out.usage_ledger.get(unit, ZERO)),
            "quarantined": format_decimal(tie_out.usage_quarantined.get(unit, ZERO)),
        }
        for unit in tie_out.units
    }
    return summary


@io.all_or_nothing()    # a crash while writing any output leaves every previous output as it was
def write_outputs(result: Accounted, out_dir: Path, *, report: bool = True, pages: bool = False,
                  title: str | None = None, policy: Path | None = None) -> Outputs:
    """Write the ledger, quarantine, summary, (optionally) the report and, with ``pages``, the project pages and
    ``recommendations.csv`` (also summarised in the report), each atomically."""
    out_dir = Path(out_dir)
    ledger_path = io.write_parquet(out_dir / "ledger.parquet", result.ledger)
    quarantine_path = io.write_parquet(out_dir / "quarantine.parquet", result.quarantine)
    summary_path = io.write_json(out_dir / "summary.json", result.summary)
    paths, site = write_reports(result, out_dir, report=report, pages=pages, title=title, policy=policy)
    return Outputs(out_dir, ledger_path, quarantine_path, summary_path, paths, site)


def write_reports(result: Accounted, out_dir: Path, *, report: bool = True, pages: bool = False,
                  title: str | None = None, policy: Path | None = None) -> tuple[ReportPaths | None, SitePaths | None]:
    """The report (``report``) and, with ``pages``, recommendations, audit tables and project pages."""
    paths = None
    recommendations = audit = None
    if pages:   # the period / estimate report: recommendations and the audit beside the project pages
        recommendations = recommend(result.ledger, GridData.bundled())
        io.write_csv(out_dir / "recommendations.csv", recommendations)
        audit = audit_tables(result, policy)
        for name, table in audit.items():
            io.write_csv(out_dir / f"{name}.csv", table)
    if report:
        paths = write_report(result.ledger, result.summary, out_dir, title=title or "carbonledger emissions report",
                             recommendations=recommendations, audit=audit)
    site = None
    if pages:
        site = write_project_pages(result.ledger, out_dir, recommendations=recommendations,
                                   statements=project_statements(result.ledger))
    return paths, site


def project_statements(ledger: pd.DataFrame) -> dict[str, str]:
    """Each project's carbon statement over the whole ledger (projects with energy only)."""
    energetic = ledger[ledger["x_EnergyKwh"] > 0]
    return {str(project): carbon_statement(rows, str(project))
            for project, rows in energetic.groupby(energetic["x_Project"].astype("string"), sort=True)}


def audit_tables(result: Accounted, policy: Path | None = None) -> dict[str, pd.DataFrame]:
    """``tie_out_by_source`` (rows and cost per file, account, day and currency, with coverage by basis),
    ``region_audit`` (each resource's regions per bill and tags) and, with a policy file,
    ``policy_violations`` (with the cost and emissions at stake)."""
    tables = {"tie_out_by_source": tie_out_report(result.ledger, result.quarantine),
              "region_audit": region_audit(result.ledger)}
    if policy is not None:
        tables["policy_violations"] = policy_violations(result.ledger, load_policy(policy))
    return tables


def read_ledger(ledger_dir: Path) -> pd.DataFrame:
    """The ledger written in ``ledger_dir``, checked against the canonical schema."""
    ledger_path = Path(ledger_dir) / "ledger.parquet"
    if not ledger_path.is_file():
        raise UsageError(f"{ledger_dir}: no ledger.parquet here (expected the output directory of "
                         "'carbonledger estimate', 'run' or 'demo')")
    ledger = pd.read_parquet(ledger_path)
    try:
        schema.validate(ledger, schema.LEDGER_COLUMNS, "the ledger")
    except schema.SchemaError as exc:
        raise InputFormatError(ledger_path, f"{exc} (written by another carbonledger version? "
                                            "re-run the estimate or pipeline to rebuild it)") from None
    return ledger


def report_from_ledger(ledger_dir: Path, out_dir: Path, *, team: str | None = None) -> tuple[dict[str, Any], ReportPaths, SitePaths]:
    """``carbonledger report``: the organisation report and project pages of a written ledger.

    With ``team``, only that team's lines (``x_Team``) are reported and its summary is recomputed
    from them; quarantined rows carry no team, so a team bundle leaves them out and says so.
    """
    ledger_dir = Path(ledger_dir)
    ledger_path = ledger_dir / "ledger.parquet"
    ledger = read_ledger(ledger_dir)
    quarantine_path = ledger_dir / "quarantine.parquet"
    quarantine = pd.read_parquet(quarantine_path) if quarantine_path.is_file() else schema.empty(schema.QUARANTINE_COLUMNS)
    title = "carbonledger emissions report"
    if team is not None:
        ledger = ledger[ledger["x_Team"] == team].reset_index(drop=True)
        if ledger.empty:
            known = sorted(pd.read_parquet(ledger_path, columns=["x_Team"])["x_Team"].dropna().unique())
            raise UsageError(f"no ledger lines of team {team!r}; teams in this ledger: {', '.join(known) or 'none'}")
        quarantine = schema.empty(schema.QUARANTINE_COLUMNS)
        title = f"carbonledger emissions report, team {team} (quarantined rows carry no team and are left out)"
    recorded = ledger_dir / "summary.json"
    if team is None and recorded.is_file():
        summary = json.loads(recorded.read_text(encoding="utf-8"))      # the run's own tie-out against its inputs
    else:
        in_ledger, quarantined = ControlTotals.of(ledger), ControlTotals.of(quarantine)
        summary = _summary(ledger, quarantine, TieOut.of(in_ledger + quarantined, in_ledger, quarantined))
    out_dir = Path(out_dir)
    recommendations = recommend(ledger, GridData.bundled())
    io.write_csv(out_dir / "recommendations.csv", recommendations)
    report = write_report(ledger, summary, out_dir, title=title, recommendations=recommendations)
    site = write_project_pages(ledger, out_dir, team=team, recommendations=recommendations,
                               statements=project_statements(ledger))
    return summary, report, site


def combine_daily(out_dir: Path) -> Accounted | None:
    """Concatenate the daily partitions under ``out_dir/daily/*/`` into one period ledger.

    The period's input totals are the sum of each day's recorded ``summary.json`` input totals,
    so the period tie-out re-checks what the daily runs wrote rather than assuming it.
    """
    days = sorted((Path(out_dir) / "daily").glob("*/ledger.parquet"))
    if not days:
        return None
    ledger = pd.concat([pd.read_parquet(p) for p in days], ignore_index=True)
    quarantine = pd.concat([pd.read_parquet(p.with_name("quarantine.parquet")) for p in days], ignore_index=True)
    inputs = ControlTotals(rows=0)
    for day in days:
        recorded = json.loads(day.with_name("summary.json").read_text(encoding="utf-8"))
        costs = {cur: Decimal(v["in"]) for cur, v in recorded["cost_by_currency"].items()}
        usage = {unit: Decimal(v["in"]) for unit, v in recorded.get("usage_by_unit", {}).items()}
        inputs = inputs + ControlTotals(recorded["rows_in"], costs, usage)
    tie_out = TieOut.of(inputs, ControlTotals.of(ledger), ControlTotals.of(quarantine))
    tie_out.check(f"period {days[0].parent.name}..{days[-1].parent.name}")
    return Accounted(ledger, quarantine, tie_out, _summary(ledger, quarantine, tie_out))

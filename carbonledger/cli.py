"""The ``carbonledger`` command line: argument parsing and printing only; work is delegated.

Subcommands: ``demo``, ``run``, ``estimate``, ``collect``, ``report``, ``recommend``, ``statement``,
``hardware``, ``workload`` (see README.md). Errors a
user can cause print one clear line to stderr and exit with the code documented in
``carbonledger.errors``; no tracebacks.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from carbonledger.config import BILLING_FORMATS, DEMO_END_DATE, DEMO_START_DATE, Config
from carbonledger.controls import TieOutError
from carbonledger.errors import EXIT_OK, EXIT_TIE_OUT, CarbonLedgerError, UsageError, redact
from connectors.rawfile import DEFAULT_BATCH_ROWS, PARQUET_BATCH_ROWS
from connectors.telemetry import TELEMETRY_FORMATS

log = logging.getLogger("carbonledger")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _configure_logging(quiet=args.quiet)
    try:
        return args.handler(args)
    except CarbonLedgerError as exc:
        print(f"carbonledger: error: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except TieOutError as exc:
        print(f"carbonledger: error: {redact(str(exc))}", file=sys.stderr)
        return EXIT_TIE_OUT
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as Unix tools do.
        sys.stderr.close()
        return EXIT_OK


def _configure_logging(*, quiet: bool) -> None:
    """Progress of carbonledger itself on stderr; libraries (dagster, alembic) only when they warn."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("carbonledger: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    log.propagate = False
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="carbonledger", description="Emissions ledger for cloud AI workloads.")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the daily pipeline over the bundled demo organisation")
    demo.add_argument("--out", type=Path, default=Path("out/demo"), help="output directory (default out/demo)")
    demo.set_defaults(handler=_demo)

    run = sub.add_parser("run", help="materialise one day of the daily pipeline from the configured sources")
    run.add_argument("--date", required=True, type=_date, help="UTC day to materialise, YYYY-MM-DD")
    run.add_argument("--config", type=Path, help="YAML config (default: the bundled demo sources)")
    run.add_argument("--out", type=Path, help="output directory (overrides the config's out_dir)")
    run.set_defaults(handler=_run)

    est = sub.add_parser("estimate", help="account billing files without Dagster")
    est.add_argument("inputs", nargs="+", type=Path, help="billing export files, directories or CUR manifests")
    est.add_argument("--format", default="auto", choices=BILLING_FORMATS, help="input format (default: detect)")
    est.add_argument("--config", type=Path, help="YAML config for model overrides (sources in it are ignored)")
    est.add_argument("--out", type=Path, required=True, help="output directory")
    est.add_argument("--no-report", action="store_true", help="skip the HTML/CSV report")
    est.add_argument("--workers", type=_positive_int, help="processes accounting batches in parallel "
                     "(default: the CPUs available, at most 4; 1 = one process)")
    est.add_argument("--batch-rows", type=_positive_int, default=None,
                     help=f"rows per streamed batch (default {PARQUET_BATCH_ROWS:,} for Parquet, "
                          f"{DEFAULT_BATCH_ROWS:,} for CSV and JSON lines; memory grows with it)")
    est.add_argument("--telemetry", nargs="+", type=Path, metavar="FILE",
                     help="on-node telemetry files or directories (CodeCarbon, DCGM, nvidia-smi, Kepler, Scaphandre) to reconcile")
    est.add_argument("--telemetry-format", default="auto", choices=TELEMETRY_FORMATS, help="telemetry format (default: detect)")
    est.add_argument("--telemetry-tz", default="UTC", help="time zone of naive local telemetry timestamps (CodeCarbon, nvidia-smi)")
    est.set_defaults(handler=_estimate)

    col = sub.add_parser("collect", help="sample NVML GPU power and energy into a CSV for --telemetry")
    col.add_argument("--interval", type=_positive_float, default=1.0, help="seconds between samples (default 1)")
    col.add_argument("--duration", type=_positive_float, help="seconds to sample (default: until interrupted)")
    col.add_argument("--instance-id", help="cloud instance / VM id to record with every sample")
    col.add_argument("--out", type=Path, required=True, help="CSV file to append to")
    col.set_defaults(handler=_collect)

    rep = sub.add_parser("report", help="the organisation report and project pages of a written ledger")
    rep.add_argument("--ledger", type=Path, required=True, help="directory holding ledger.parquet (and summary.json)")
    rep.add_argument("--out", type=Path, required=True, help="output directory for report.html, extracts, projects/")
    rep.add_argument("--team", help="only this team's projects (the x_Team of the lines)")
    rep.set_defaults(handler=_report)

    rec = sub.add_parser("recommend", help="greener regions and hours for each project's workloads")
    rec.add_argument("--ledger", type=Path, required=True, help="directory holding ledger.parquet")
    rec.add_argument("--project", help="only this project")
    rec.add_argument("--window-hours", type=_positive_int, default=24, help="time-shift window for deferrable work (default 24)")
    rec.add_argument("--json", action="store_true", help="a JSON list of recommendation objects")
    rec.set_defaults(handler=_recommend)

    stmt = sub.add_parser("statement", help="a project's carbon statement in Markdown, for a paper")
    stmt.add_argument("--ledger", type=Path, required=True, help="directory holding ledger.parquet")
    stmt.add_argument("--project", required=True)
    stmt.add_argument("--from", dest="start", type=_date, help="first UTC day (default: the ledger's first)")
    stmt.add_argument("--to", dest="end", type=_date, help="last UTC day, inclusive (default: the ledger's last)")
    stmt.set_defaults(handler=_statement)

    hw = sub.add_parser("hardware", help="show the hardware profile of an instance type, or list the catalogue")
    hw.add_argument("instance_type", nargs="?", help="as billed: p4d.24xlarge, a2-highgpu-8g, nvidia-tesla-t4, Standard_ND96asr_v4")
    hw.add_argument("--provider", choices=("aws", "gcp", "azure"), help="required with an instance type; filters --list")
    hw.add_argument("--list", action="store_true", help="list every catalogued instance type with its accelerators")
    hw.add_argument("--json", action="store_true")
    hw.set_defaults(handler=_hardware)

    wl = sub.add_parser("workload", help="energy and emissions of a described training run (Patterson et al. 2021)")
    wl.add_argument("--accelerator", required=True, help="accelerator model, e.g. V100, A100, H100, 'TPU v3'")
    wl.add_argument("--count", required=True, type=_positive_int, help="number of accelerators")
    span = wl.add_mutually_exclusive_group(required=True)
    span.add_argument("--hours", type=_positive_float)
    span.add_argument("--days", type=_positive_float)
    wl.add_argument("--avg-power-w", type=_positive_float, help="measured average system power per accelerator, W (default: TDP)")
    wl.add_argument("--pue", type=_pue, help="PUE (default: the region's, else the model default)")
    where = wl.add_mutually_exclusive_group(required=True)
    where.add_argument("--intensity", type=_positive_float, help="grid intensity, gCO2e/kWh")
    where.add_argument("--region", help="PROVIDER:REGION, e.g. gcp:us-central1")
    wl.add_argument("--start", help="ISO start time for hourly intensity with --region (default: the zone's annual average)")
    wl.add_argument("--json", action="store_true")
    wl.set_defaults(handler=_workload)
    return parser


# --- handlers ---------------------------------------------------------------------------------

def _demo(args: argparse.Namespace) -> int:
    from pipelines.runner import run_days

    days = pd.date_range(DEMO_START_DATE, DEMO_END_DATE, freq="D").date
    period = run_days(list(days), out_dir=args.out)
    _print_summary(period.summary, args.out, period_report=True)
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from pipelines.runner import run_days

    config = Config.load(args.config) if args.config else Config.demo()
    out_dir = args.out or config.out_dir
    run_days([args.date], config_path=args.config, out_dir=args.out)
    day_dir = out_dir / "daily" / args.date.isoformat()
    _print_summary(json.loads((day_dir / "summary.json").read_text(encoding="utf-8")), day_dir, period_report=True)
    print(f"  period report  {out_dir}/report.html (every day materialised so far)")
    return EXIT_OK


def _estimate(args: argparse.Namespace) -> int:
    from carbonledger.estimate import estimate

    config = Config.load(args.config) if args.config else Config()
    if args.telemetry:
        from carbonledger.telemetry_step import estimate_with_telemetry

        result, outputs = estimate_with_telemetry(args.inputs, args.format, args.out, args.telemetry, config,
                                                  report=not args.no_report, telemetry_format=args.telemetry_format,
                                                  local_tz=args.telemetry_tz)
        print(f"carbonledger: telemetry {result.summary['telemetry_energy_kwh']:,.3f} kWh read, "
              f"{result.summary['telemetry_matched_kwh']:,.3f} kWh matched to billed resources, "
              f"{result.summary['telemetry_unmatched_kwh']:,.3f} kWh unmatched")
    else:
        result, outputs = estimate(args.inputs, args.format, args.out, config, report=not args.no_report,
                                   batch_rows=args.batch_rows, workers=args.workers)
    _print_summary(result.summary, outputs.out_dir, period_report=not args.no_report)
    return EXIT_OK


def _collect(args: argparse.Namespace) -> int:
    from carbonledger.collect import CollectorUnavailable, collect

    try:
        rows = collect(args.out, interval_s=args.interval, duration_s=args.duration, instance_id=args.instance_id)
    except CollectorUnavailable as exc:
        print(f"carbonledger collect: {exc}")
        return EXIT_OK
    print(f"carbonledger collect: {rows} GPU samples appended to {args.out}")
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from carbonledger.engine import report_from_ledger

    summary, report, site = report_from_ledger(args.ledger, args.out, team=args.team)
    print(f"carbonledger: report of {summary.get('rows_ledger', 0):,} ledger rows"
          f"{f' of team {args.team}' if args.team else ''}")
    print(f"  report         {report.html}")
    print(f"  extracts       {args.out}/by_*.csv, by_*.parquet, {report.workbook.name}")
    print(f"  project pages  {site.index} ({len(site.pages)} project{'' if len(site.pages) == 1 else 's'})")
    return EXIT_OK


def _recommend(args: argparse.Namespace) -> int:
    from carbonledger.engine import read_ledger
    from footprint.recommend import recommend, to_records
    from intensity import GridData

    recommendations = recommend(read_ledger(args.ledger), GridData.bundled(), project=args.project,
                                window_hours=args.window_hours)
    if args.json:
        print(json.dumps(to_records(recommendations), indent=2))
        return EXIT_OK
    if recommendations.empty:
        print("no recommendations: no workload would emit less elsewhere or at other hours")
        return EXIT_OK
    for r in recommendations.itertuples(index=False):
        where = f"{r.from_region} → {r.to_region}" if r.kind == "region" else f"{r.from_region}, {r.caveats.split(' (')[0]}"
        cost = "cost unknown" if pd.isna(r.cost_delta) else f"{r.cost_delta:+,.2f} {r.cost_currency}"
        print(f"{r.project:<24} {r.kind:<6} {r.instance_type:<22} {where:<48} saves {r.co2e_saving_kg:,.1f} kg "
              f"({r.saving_fraction:.0%}), {cost}")
    return EXIT_OK


def _statement(args: argparse.Namespace) -> int:
    from carbonledger.engine import read_ledger
    from footprint.statement import carbon_statement

    print(carbon_statement(read_ledger(args.ledger), args.project, start=args.start, end=args.end))
    return EXIT_OK


def _hardware(args: argparse.Namespace) -> int:
    from footprint.hardware import HardwareCatalogue

    if args.list:
        entries = HardwareCatalogue.bundled().entries(args.provider)
        if args.json:
            print(entries.astype(object).where(entries.notna(), None).to_json(orient="records", indent=2))
        else:
            print(entries.to_string(index=False, na_rep="-"))
        return EXIT_OK
    if args.instance_type is None or args.provider is None:
        raise UsageError("hardware: give an instance type and --provider, or --list")
    profile = HardwareCatalogue.bundled().profile(args.provider, args.instance_type)
    if profile is None:
        raise UsageError(f"unknown {args.provider} instance type {args.instance_type!r}: no hardware profile in the catalogue")
    data = profile.to_dict()
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        for key, value in data.items():
            print(f"{key:>20}: {value}")
    return EXIT_OK


def _workload(args: argparse.Namespace) -> int:
    from footprint.workload import estimate_workload

    hours = args.hours if args.hours is not None else args.days * 24.0
    pue = args.pue
    intensity_note = "given"
    if args.region:
        intensity, region_pue, intensity_note = _region_intensity(args.region, args.start, hours)
        pue = pue if pue is not None else region_pue
    else:
        if args.start:
            raise UsageError("--start needs --region (hourly intensity is looked up per region)")
        intensity = args.intensity
    kwargs: dict[str, Any] = {"accelerator": args.accelerator, "count": args.count, "hours": hours,
                              "intensity_g_per_kwh": intensity, "avg_power_w": args.avg_power_w}
    if pue is not None:
        kwargs["pue"] = pue
    result = estimate_workload(**kwargs).to_dict()
    result["intensity_basis"] = intensity_note
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"{args.count} x {args.accelerator} for {hours:g} h at {result['power_w_per_accelerator']:g} W "
            f"({result['power_basis']}), PUE {result['pue']:g}, {result['intensity_g_per_kwh']:.1f} gCO2e/kWh ({intensity_note})\n"
            f"energy {result['energy_kwh']:,.1f} kWh  emissions {result['co2e_kg']:,.1f} kgCO2e ({result['co2e_kg'] / 1000:,.2f} t)"
        )
    return EXIT_OK


def _region_intensity(spec: str, start: str | None, hours: float) -> tuple[float, float | None, str]:
    from intensity import GridData

    provider, sep, region = spec.partition(":")
    if not sep or not provider or not region:
        raise UsageError(f"--region {spec!r}: expected PROVIDER:REGION, e.g. gcp:us-central1")
    grid = GridData.bundled()
    info = grid.region_info(provider.lower(), region)
    if info is None:
        raise UsageError(f"--region {spec!r}: unknown region for provider {provider!r}")
    if start is None:
        return info.annual_g_per_kwh, info.pue, f"annual average of {info.grid_zone} ({info.annual_source})"
    try:
        start_ts = pd.Timestamp(start)
    except ValueError:
        raise UsageError(f"--start {start!r}: not an ISO timestamp") from None
    start_ts = start_ts.tz_localize("UTC") if start_ts.tzinfo is None else start_ts.tz_convert("UTC")
    value = grid.mean_intensity(provider.lower(), region, start_ts, hours)
    return value.g_per_kwh, info.pue, f"{value.basis} {value.data_year}, {value.grid_zone} ({value.source})"


# --- printing and argument types --------------------------------------------------------------

def _print_summary(summary: dict[str, Any], out_dir: Path, *, period_report: bool) -> None:
    currency = summary.get("currency")
    if currency and currency != "mixed":
        cost = f"{summary['cost_ledger']:,.2f} {currency}"
    else:
        cost = ", ".join(f"{float(v['ledger']):,.2f} {cur}" for cur, v in summary.get("cost_by_currency", {}).items())
    print(f"carbonledger: {summary.get('period_start')} .. {summary.get('period_end')}")
    print(f"  rows           {summary['rows_in']:,} in = {summary['rows_ledger']:,} ledger + {summary['rows_quarantined']:,} quarantined"
          f" ({'ties out' if summary.get('tie_out_ok') else 'DOES NOT TIE OUT'})")
    print(f"  cost           {cost}")
    print(f"  energy         {summary['energy_kwh']:,.1f} kWh (range {summary['energy_kwh_low']:,.1f} .. {summary['energy_kwh_high']:,.1f})")
    print(f"  emissions      {summary['co2e_kg'] / 1000:,.3f} tCO2e location-based, {summary['co2e_kg_market'] / 1000:,.3f} t market-based, "
          f"{summary['embodied_co2e_kg'] / 1000:,.3f} t embodied")
    print(f"  coverage       {summary['coverage_cost_fraction']:.1%} of compute cost has an energy estimate")
    for label, key in (("top projects", "top_projects"), ("top regions", "top_regions")):
        items = summary.get(key) or []
        if items:
            print(f"  {label:<14} " + "; ".join(f"{i['name']} {i['co2e_kg'] / 1000:,.3f} t" for i in items))
    print(f"  outputs        {out_dir}/ (ledger.parquet, quarantine.parquet, summary.json"
          + (", report.html, by_*.csv/.parquet, breakdowns.xlsx)" if period_report else ")"))
    if (Path(out_dir) / "projects").is_dir():
        print(f"  projects       {out_dir}/projects/index.html (one page per project, with recommendations)")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (expected YYYY-MM-DD)") from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def _pue(text: str) -> float:
    value = _positive_float(text)
    if value < 1.0:
        raise argparse.ArgumentTypeError(f"PUE {text} is below 1.0 (facility / IT energy is at least 1)")
    return value


if __name__ == "__main__":
    sys.exit(main())

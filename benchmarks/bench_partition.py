"""Benchmark the daily Dagster partition end to end on a large organisation's month.

The source is one month file (from ``generate_cur_month.py``); each run materialises the daily
assets of one UTC day in-process (raw billing → ledger with its tie-out check → hourly intensity
→ the day's ledger, quarantine, summary, report and extracts), as ``carbonledger run`` does
without the period report. A Parquet CUR month is read day by day from its dated rows (each day
decodes the file and converts only its own rows, ``carbonledger.staging``); a CSV month, or one
with a row whose start cannot be read, is split by day by the first day, and the next days read
their day's split only.

Run::

    .venv/bin/python benchmarks/bench_partition.py /tmp/cur/cur-10000000.parquet --days 2026-10-05 2026-10-06 2026-10-05

``--record`` appends one JSON line per day to ``benchmarks/results/partition.jsonl``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_estimate import TreeMemory  # noqa: E402  (the process-tree memory sampler)

#: Dagster's console logger at warnings only, so the timings are not interleaved with step logs.
QUIET = {"loggers": {"console": {"config": {"log_level": os.environ.get("BENCH_DAGSTER_LOG", "WARNING")}}}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="a month of legacy AWS CUR (.parquet or .csv.gz)")
    parser.add_argument("--days", nargs="+", type=dt.date.fromisoformat, required=True,
                        help="UTC days to materialise, in order (the first builds the day split)")
    parser.add_argument("--out", type=Path, help="output directory (default: a temporary one)")
    parser.add_argument("--record", action="store_true", help="append JSON lines to benchmarks/results/partition.jsonl")
    args = parser.parse_args()

    import dagster as dg

    from pipelines.assets import build_assets
    from pipelines.resources import CarbonLedgerConfig

    out = args.out or Path(tempfile.mkdtemp(prefix="bench-partition-"))
    out.mkdir(parents=True, exist_ok=True)
    config_path = out / "config.yaml"
    start = min(args.days).replace(day=1)
    config_path.write_text(f"sources:\n  - path: {args.file.resolve()}\n    format: aws-cur\n    name: cur\n"
                           f"out_dir: {out / 'pipeline'}\nstart_date: {start.isoformat()}\n", encoding="utf-8")
    resource = CarbonLedgerConfig(config_path=str(config_path))
    config = resource.create()
    daily = [a for a in build_assets(config.start_date, config.sources) if a.partitions_def is not None]
    records = []
    with dg.DagsterInstance.ephemeral() as instance:
        for day in args.days:
            with TreeMemory() as tree:
                started = time.perf_counter()
                result = dg.materialize(daily, partition_key=day.isoformat(), instance=instance, run_config=QUIET,
                                        resources={"carbonledger": resource}, raise_on_error=True)
                seconds = time.perf_counter() - started
            summary = json.loads((config.out_dir / "daily" / day.isoformat() / "summary.json").read_text())
            records.append({"day": day.isoformat(), "seconds": round(seconds, 2), "rows": summary["rows_in"],
                            "peak_tree_gib": round(tree.peak_gib, 3), "co2e_kg": summary["co2e_kg"],
                            "success": result.success, "file": args.file.name})
            print(f"{day}  {summary['rows_in']:>9,} rows  {seconds:7.2f} s  {tree.peak_gib:5.2f} GiB (tree PSS)  "
                  f"{summary['co2e_kg'] / 1000:8.3f} tCO2e")
    if args.record:
        target = ROOT / "benchmarks" / "results" / "partition.jsonl"
        stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        with target.open("a") as fh:
            for r in records:
                fh.write(json.dumps({"at": stamp, "python": platform.python_version(), "cpus": os.cpu_count(), **r}) + "\n")
        print(f"recorded {len(records)} line(s) in {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

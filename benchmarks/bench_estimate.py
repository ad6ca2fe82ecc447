"""Benchmark one billing file three ways, side by side: carbonledger, plain pandas, DuckDB SQL.

For a legacy AWS CUR file (from ``benchmarks/generate_cur_month.py``; Parquet or CSV.gz) each
approach runs in its own subprocess, so the peak RSS reported is that approach's alone:

* ``carbonledger``: ``carbonledger estimate --no-report`` as a user runs it (``estimate.estimate``:
  the file streamed in batches of ``--batch-rows`` rows, each read, accounted and appended to the
  ledger / quarantine Parquet files, the tie-out checked, the summary written), in ``--write`` or a
  temporary directory;
* ``pandas``: a plain pandas baseline of the core calculation: usage lines → instance type merged
  with the bundled catalogue CSVs → power at 50 % utilisation × hours × regional PUE × hourly grid
  intensity (zone; the hour of the 2022 data year with the same ISO week, weekday and hour) → kg CO2e summed per project tag;
* ``duckdb``: the same join and aggregation as one SQL query reading the file directly.

The baselines compute only the central location-based figure (no low/high range, no embodied,
market-based, notes, tie-out or quarantine), so they bound what the core arithmetic costs; the
totals printed let the reader check that all three agree in magnitude.

Run::

    .venv/bin/python benchmarks/bench_estimate.py /tmp/cur/cur-1000000.parquet --record
    .venv/bin/python benchmarks/bench_estimate.py FILE --only carbonledger --profile 25

``--record`` appends one JSON line per approach to ``benchmarks/results/estimate.jsonl``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
APPROACHES = ("carbonledger", "pandas", "duckdb")
USAGE_TYPES = ("Usage", "DiscountedUsage", "SavingsPlanCoveredUsage")
UTILISATION = 0.5      # the bundled default (constants.csv utilisation_default_central)
AWS_FLEET_PUE = 1.15   # pue_defaults.csv (aws), for regions without their own PUE
#: Hours from 2022-01-01 00:00 UTC to Monday of ISO week 1 of 2022 (3 January): the data year's ISO grid.
PROXY_YEAR_OFFSET_H = 48
DATA = ROOT / "footprint" / "data"
GRID = ROOT / "intensity" / "data"


def peak_rss_gib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


class TreeMemory:
    """Samples the memory of this process and all its descendants (worker processes included)
    every ``interval_s``; ``peak_gib`` is the largest sum seen. Each process counts its proportional
    set size (PSS: pages shared copy-on-write with forked workers are split between them, not
    counted once per process). Linux /proc only.

    Reading ``smaps_rollup`` makes the kernel walk a process's page tables: at 50 ms on two cores
    the sampler itself took about a tenth of the machine from a 10M-row estimate (30.9 s without,
    34.4 s with it), hence the default of 250 ms (``--sample-ms``). A batch lasts longer than
    that, and memory changes batch by batch."""

    def __init__(self, interval_s: float = 0.25) -> None:
        import threading
        self.interval_s = interval_s
        self.peak_gib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> "TreeMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            total_kib = sum(self._pss_kib(pid) for pid in self._tree(os.getpid()))
            self.peak_gib = max(self.peak_gib, total_kib / 2**20)

    def _tree(self, pid: int) -> list[int]:
        pids, todo = [], [pid]
        while todo:
            current = todo.pop()
            pids.append(current)
            for task in Path(f"/proc/{current}/task").glob("*/children"):
                try:
                    todo.extend(int(c) for c in task.read_text().split())
                except OSError:
                    pass
        return pids

    @staticmethod
    def _pss_kib(pid: int) -> int:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    return int(line.split()[1])
        except (OSError, IndexError, ValueError):
            pass
        return 0


class Phases:
    """Wall-clock seconds per named phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        value = fn()
        self.seconds[name] = round(time.perf_counter() - started, 3)
        return value


def run_carbonledger(path: Path, write_dir: Path | None, batch_rows: int, fmt: str) -> dict[str, Any]:
    """``carbonledger estimate --no-report`` on the file: streamed read → ledger → tie-out → written
    ledger, quarantine and summary (into ``write_dir``, else a temporary directory)."""
    import tempfile

    from carbonledger.config import Config
    from carbonledger.estimate import estimate
    from connectors.rawfile import default_batch_rows

    phases = Phases()
    with tempfile.TemporaryDirectory(prefix="bench-estimate-") as scratch:
        out = write_dir or Path(scratch)
        result, _ = phases.run("estimate", lambda: estimate([path], fmt, out, Config(), report=False,
                                                            batch_rows=batch_rows or None))
        summary = result.summary
    return {"phases": phases.seconds, "rows": summary["rows_in"], "co2e_t": summary["co2e_kg"] / 1000,
            "projects": len(summary["top_projects"]), "batch_rows": batch_rows or default_batch_rows(path)}


def _catalogue_power_w() -> "Any":
    """Central power draw (W) per AWS instance type from the bundled catalogue CSVs (pandas merges)."""
    import pandas as pd
    inst = pd.read_csv(DATA / "instances.csv")
    inst = inst[inst["provider"] == "aws"]
    cpu = pd.read_csv(DATA / "cpu_power.csv")
    cpu = cpu[cpu["provider"] == "aws"].rename(columns={"microarchitecture": "cpu_microarch"})
    gpus = pd.read_csv(DATA / "gpus.csv")[["gpu_model", "tdp_w", "idle_w"]]
    memory_w_per_gb, gpu_idle_fraction = 0.392, 0.1139   # constants.csv
    gpus["idle_w"] = gpus["idle_w"].fillna(gpus["tdp_w"] * gpu_idle_fraction)
    hw = inst.merge(cpu[["cpu_microarch", "min_w_per_vcpu", "max_w_per_vcpu"]], on="cpu_microarch", how="left")
    hw = hw.merge(gpus, on="gpu_model", how="left")
    cpu_w = hw["vcpus"] * (hw["min_w_per_vcpu"] + UTILISATION * (hw["max_w_per_vcpu"] - hw["min_w_per_vcpu"]))
    gpu_w = (hw["gpu_count"].fillna(0) * (hw["idle_w"] + UTILISATION * (hw["tdp_w"] - hw["idle_w"]))).fillna(0)
    hw["power_w"] = cpu_w + gpu_w + hw["memory_gib"] * memory_w_per_gb
    return hw[["instance_type", "power_w"]]


def proxy_hour(week: "Any", weekday: "Any", hour: "Any") -> "Any":
    """Hour of the 2022 data year with the same ISO week (53 → 52), ISO weekday and hour of day.

    The bundled hourly data is one year (2022); like carbonledger, other years are matched on the
    ISO week grid. Hours that land outside 2022 move one week inwards.
    """
    import numpy as np
    hoy = PROXY_YEAR_OFFSET_H + (np.minimum(week, 52) - 1) * 168 + (weekday - 1) * 24 + hour
    return np.where(hoy >= 8760, hoy - 168, np.where(hoy < 0, hoy + 168, hoy))


def run_pandas(path: Path) -> dict[str, Any]:
    """A plain pandas implementation of the core calculation."""
    import numpy as np
    import pandas as pd

    phases = Phases()
    cols = ["lineItem/LineItemType", "lineItem/UsageStartDate", "lineItem/UsageType", "lineItem/UsageAmount",
            "pricing/unit", "product/instanceType", "product/region", "resourceTags/user:project"]

    def read() -> pd.DataFrame:
        if path.suffix == ".parquet":
            return pd.read_parquet(path, columns=cols)
        return pd.read_csv(path, usecols=cols, engine="pyarrow")

    raw = phases.run("read", read)

    def calculate() -> pd.Series:
        usage = raw[raw["lineItem/LineItemType"].isin(USAGE_TYPES) & (raw["pricing/unit"] == "Hrs")
                    & raw["lineItem/UsageType"].astype(str).str.contains("BoxUsage:", regex=False)]
        regions = pd.read_csv(GRID / "regions.csv")
        regions = regions[regions["provider"] == "aws"][["region", "grid_zone", "pue"]]
        lines = (usage.merge(_catalogue_power_w(), left_on="product/instanceType", right_on="instance_type")
                 .merge(regions, left_on="product/region", right_on="region"))
        hourly = pd.read_parquet(GRID / "hourly_lifecycle_2022.parquet")
        start = pd.to_datetime(lines["lineItem/UsageStartDate"], utc=True)
        iso = start.dt.isocalendar()
        hour_of_year = proxy_hour(iso["week"].to_numpy("int64"), iso["day"].to_numpy("int64"),
                                  start.dt.hour.to_numpy("int64"))
        zone_col = pd.Index(hourly.columns).get_indexer(lines["grid_zone"])
        intensity = hourly.to_numpy()[hour_of_year, zone_col].astype("float64")
        kwh = lines["power_w"] / 1000 * lines["lineItem/UsageAmount"] * lines["pue"].fillna(AWS_FLEET_PUE)
        co2e_kg = kwh * np.where(zone_col >= 0, intensity, np.nan) / 1000
        project = lines["resourceTags/user:project"].astype("string").fillna("(untagged)")
        return co2e_kg.groupby(project).sum()

    per_project = phases.run("calculate", calculate)
    return {"phases": phases.seconds, "rows": len(raw), "co2e_t": float(per_project.sum()) / 1000,
            "projects": int(len(per_project))}


def run_duckdb(path: Path) -> dict[str, Any]:
    """The same join and aggregation as SQL, DuckDB reading the billing file itself."""
    import duckdb
    import pandas as pd

    phases = Phases()
    con = duckdb.connect()
    con.register("power", _catalogue_power_w())
    source = (f"read_parquet('{path}')" if path.suffix == ".parquet"
              else f"read_csv('{path}', header = true, all_varchar = true)")
    sql = f"""
    WITH regions AS (
        SELECT region, grid_zone, coalesce(pue, {AWS_FLEET_PUE}) AS pue
        FROM read_csv('{GRID / 'regions.csv'}', header = true) WHERE provider = 'aws'),
    hourly AS (
        UNPIVOT (SELECT row_number() OVER () - 1 AS hoy, * EXCLUDE (datetime_utc)
                 FROM read_parquet('{GRID / 'hourly_lifecycle_2022.parquet'}'))
        ON COLUMNS(* EXCLUDE (hoy)) INTO NAME zone VALUE g_per_kwh),
    usage AS (
        SELECT "product/instanceType" AS instance_type, "product/region" AS region,
               CAST("lineItem/UsageAmount" AS DOUBLE) AS hours,
               coalesce("resourceTags/user:project", '(untagged)') AS project,
               strptime(CAST("lineItem/UsageStartDate" AS VARCHAR), '%Y-%m-%dT%H:%M:%SZ') AS start
        FROM {source}
        WHERE "lineItem/LineItemType" IN {USAGE_TYPES} AND "pricing/unit" = 'Hrs'
          AND contains("lineItem/UsageType", 'BoxUsage:'))
    SELECT u.project, sum(p.power_w / 1000 * u.hours * r.pue * h.g_per_kwh / 1000) AS co2e_kg, count(*) AS n
    FROM usage u
    CROSS JOIN LATERAL (SELECT {PROXY_YEAR_OFFSET_H} + (least(week(u.start), 52) - 1) * 168
                               + (isodow(u.start) - 1) * 24 + hour(u.start) AS hoy) x
    JOIN power p USING (instance_type)
    JOIN regions r USING (region)
    JOIN hourly h ON h.zone = r.grid_zone
                 AND h.hoy = CASE WHEN x.hoy >= 8760 THEN x.hoy - 168 WHEN x.hoy < 0 THEN x.hoy + 168 ELSE x.hoy END
    GROUP BY u.project
    """
    per_project: pd.DataFrame = phases.run("query", lambda: con.execute(sql).df())
    rows = phases.run("count_rows", lambda: con.execute(f"SELECT count(*) FROM {source}").fetchone()[0])
    return {"phases": phases.seconds, "rows": int(rows), "co2e_t": float(per_project["co2e_kg"].sum()) / 1000,
            "projects": int(len(per_project)), "duckdb": duckdb.__version__}


def child(approach: str, path: Path, write_dir: Path | None, profile: int, batch_rows: int, fmt: str,
          sample_ms: int = 250) -> None:
    """Run one approach in this (fresh) process and print its result as one JSON line."""
    runner: Callable[[], dict[str, Any]] = {
        "carbonledger": lambda: run_carbonledger(path, write_dir, batch_rows, fmt),
        "pandas": lambda: run_pandas(path),
        "duckdb": lambda: run_duckdb(path),
    }[approach]
    if profile:
        import cProfile
        import pstats
        profiler = cProfile.Profile()
        result = profiler.runcall(runner)
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(profile)
        stats.sort_stats("cumulative").print_stats(profile)
    else:
        with TreeMemory(sample_ms / 1000) as tree:
            result = runner()
        result["peak_tree_gib"] = round(tree.peak_gib, 3)   # this process + its worker processes, sampled
        result["sample_ms"] = sample_ms
    result["peak_rss_gib"] = round(peak_rss_gib(), 3)
    print(json.dumps(result))


def parent(args: argparse.Namespace) -> None:
    """Run each approach in a subprocess, print the table, optionally record JSON lines."""
    path: Path = args.file.resolve()
    approaches = args.only or list(APPROACHES)
    records = []
    for approach in approaches:
        cmd = [sys.executable, __file__, str(path), "--child", approach, "--profile", str(args.profile),
               "--batch-rows", str(args.batch_rows), "--format", args.format, "--sample-ms", str(args.sample_ms)]
        if args.write:
            cmd += ["--write", str(args.write)]
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            print(f"{approach} failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
            continue
        if args.profile:
            print(proc.stderr, file=sys.stderr)
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        # DuckDB's row count (a second scan of a CSV) is shown but not part of the calculation's time.
        timed = sum(v for k, v in result["phases"].items() if k != "count_rows")
        records.append({"approach": approach, "file": path.name, "bytes": path.stat().st_size,
                        "process_wall_s": round(wall, 2), "timed_s": round(timed, 2), **result})
    print(f"\n{path.name} ({path.stat().st_size / 2**20:,.0f} MiB)")
    print(f"{'approach':<13}{'rows':>11}{'timed s':>9}{'process s':>10}{'µs/row':>8}{'peak GiB':>9}{'tree GiB':>9}"
          f"{'tCO2e':>10}  phases")
    for r in records:
        print(f"{r['approach']:<13}{r['rows']:>11,}{r['timed_s']:>9.2f}{r['process_wall_s']:>10.2f}"
              f"{r['timed_s'] / r['rows'] * 1e6:>8.2f}{r['peak_rss_gib']:>9.2f}{r.get('peak_tree_gib', 0):>9.2f}"
              f"{r['co2e_t']:>10.2f}  "
              + " ".join(f"{k}={v:.2f}" for k, v in r["phases"].items()))
    if args.record:
        out = ROOT / "benchmarks" / "results" / "estimate.jsonl"
        out.parent.mkdir(exist_ok=True)
        stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        machine = {"python": platform.python_version(), "cpus": os.cpu_count(), "host": platform.machine()}
        with out.open("a") as fh:
            for r in records:
                fh.write(json.dumps({"at": stamp, **machine, **r}) + "\n")
        print(f"recorded {len(records)} line(s) in {out.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="legacy AWS CUR file (.parquet or .csv.gz)")
    parser.add_argument("--only", nargs="+", choices=APPROACHES, help="run only these approaches")
    parser.add_argument("--write", type=Path, help="carbonledger also writes ledger/quarantine/summary here")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile: print the top N functions")
    parser.add_argument("--record", action="store_true", help="append JSON lines to benchmarks/results/estimate.jsonl")
    parser.add_argument("--format", default="aws-cur",
                        help="carbonledger's input format (e.g. gcp, focus for the other generators' files; "
                             "the pandas and DuckDB baselines read legacy CUR only)")
    parser.add_argument("--batch-rows", type=int, default=0,
                        help="carbonledger's batch size (default: estimate's own, by file type)")
    parser.add_argument("--sample-ms", type=int, default=250,
                        help="how often the process tree's memory is sampled (the sampling itself costs CPU)")
    parser.add_argument("--child", choices=APPROACHES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.file.resolve(), args.write, args.profile, args.batch_rows, args.format, args.sample_ms)
    else:
        parent(args)


if __name__ == "__main__":
    main()

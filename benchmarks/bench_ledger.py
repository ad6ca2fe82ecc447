"""Benchmark: build the ledger for N synthetic hourly compute lines (default 1M; 10M with --rows).

Measures wall time and peak RSS of ``footprint.ledger.build_ledger`` on a canonical billing frame
shaped like a large organisation's month (hourly GPU and CPU lines over many regions). Results are
recorded by hand in benchmarks/RESULTS.md. Run: ``.venv/bin/python benchmarks/bench_ledger.py``.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

from carbonledger import schema
from footprint.energy import PowerModel
from footprint.hardware import HardwareCatalogue
from footprint.ledger import build_ledger
from intensity import GridData

INSTANCES = [("aws", "p4d.24xlarge"), ("aws", "g5.2xlarge"), ("aws", "m6i.4xlarge"), ("aws", "p5.48xlarge"),
             ("gcp", "a3-highgpu-8g"), ("gcp", "g2-standard-8"), ("azure", "Standard_ND96asr_v4"), ("aws", "zz9.unknown")]
REGIONS = {"aws": ["us-east-1", "us-west-2", "eu-west-1", "eu-north-1", "ap-northeast-1"],
           "gcp": ["us-central1", "europe-west4", "asia-east1"], "azure": ["westeurope", "eastus", "swedencentral"]}


def synthetic_billing(rows: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(INSTANCES), rows)
    provider = np.array([p for p, _ in INSTANCES])[pick]
    instance = np.array([i for _, i in INSTANCES])[pick]
    region = np.empty(rows, dtype=object)
    for prov, regions in REGIONS.items():
        mask = provider == prov
        region[mask] = np.array(regions)[rng.integers(0, len(regions), mask.sum())]
    start = pd.Timestamp("2026-10-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 31 * 24, rows), unit="h")
    frame = pd.DataFrame({
        "ChargePeriodStart": start, "ChargePeriodEnd": start + pd.Timedelta(hours=1),
        "ProviderName": provider, "RegionId": region, "ChargeCategory": "Usage",
        "BilledCost": rng.uniform(0.1, 40, rows).round(6), "BillingCurrency": "USD",
        "x_InstanceType": instance, "x_UsageHours": 1.0, "ConsumedQuantity": 1.0, "ConsumedUnit": "Hrs",
        "x_Project": np.array(["llm", "search", "vision", "etl"])[rng.integers(0, 4, rows)],
        "x_SourceFormat": "synthetic", "x_SourceFile": "synthetic", "x_SourceRow": np.arange(1, rows + 1),
    })
    return schema.conform(frame, schema.BILLING_COLUMNS)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    billing = synthetic_billing(args.rows)
    catalogue, grid, model = HardwareCatalogue.bundled(), GridData.bundled(), PowerModel.default()
    started = time.perf_counter()
    ledger = build_ledger(billing, catalogue=catalogue, grid=grid, model=model)
    elapsed_s = time.perf_counter() - started
    peak_rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"rows={len(ledger):,} build_ledger_s={elapsed_s:.2f} rows_per_s={len(ledger) / elapsed_s:,.0f} "
          f"peak_rss_gib={peak_rss_gib:.2f} co2e_t={ledger['x_Co2eKg'].sum() / 1000:,.1f}")


if __name__ == "__main__":
    main()

"""Build footprint/data/region_availability.csv: which region offers which GPU instance type, at what list price.

Copies the shared reference table (``hardware/gpu_region_availability.csv``: ec2instances.info
export (MIT), GCP machine-type/region and Billing Catalog prices (Apache-2.0), SkyPilot's Azure
catalog) keeping its per-row ``source``, ``price_basis`` and ``snapshot_date``; rows without a list
price (capacity blocks, reservation-only) stay: the type is offered, its cost delta is unknown.
Checks that every priced row is a positive USD price and that (provider, instance type, region) is unique.
Run: ``.venv/bin/python scripts/build_availability_data.py [--shared ../shared/data]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
COLUMNS = ["provider", "instance_type", "region", "gpu_model", "gpu_count", "on_demand_usd_per_hour", "currency",
           "price_basis", "snapshot_date", "source", "notes"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "footprint" / "data")
    args = parser.parse_args(argv)
    table = pd.read_csv(args.shared / "hardware" / "gpu_region_availability.csv")[COLUMNS]
    priced = table["on_demand_usd_per_hour"].notna()
    bad = table[priced & ((table["currency"] != "USD") | ~(table["on_demand_usd_per_hour"] > 0))]
    if len(bad):
        print(f"priced rows without a positive USD price:\n{bad}", file=sys.stderr)
        return 1
    key = ["provider", "instance_type", "region"]
    duplicated = table[table.duplicated(key, keep=False)]
    if len(duplicated):
        print(f"duplicate (provider, instance_type, region) rows:\n{duplicated}", file=sys.stderr)
        return 1
    table = table.sort_values(key, kind="stable")
    table.to_csv(args.out / "region_availability.csv", index=False)
    print(f"wrote {len(table)} rows to {args.out / 'region_availability.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

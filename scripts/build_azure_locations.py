"""Build ``connectors/data/azure_locations.csv``: Azure location spellings → region ids.

Reads the FinOps toolkit region map (``Regions.csv``: ``OriginalValue, RegionId, RegionName``;
default ``/work/shared/data/billing_samples/azure_region_name_mapping_finops-toolkit_Regions.csv``,
or ``--regions FILE``) and writes one row per spelling, lowercased: every ``OriginalValue``, plus
each ``RegionName`` (``north central us``) not already listed. Every row keeps a ``source``.
``connectors.azure_regions`` compares spellings lowercased with runs of white space collapsed, and
falls back to the spelling without spaces, ``-`` and ``_`` (``EastUS2`` → ``eastus2``).
This is a maintenance script: nothing in the package imports it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "connectors" / "data" / "azure_locations.csv"
REGIONS_DEFAULT = Path("/work/shared/data/billing_samples/azure_region_name_mapping_finops-toolkit_Regions.csv")
SOURCE = "microsoft/finops-toolkit src/open-data/Regions.csv (MIT)"


def build(regions_csv: Path) -> pd.DataFrame:
    """The location table: ``location`` (lowercase spelling), ``region``, ``source``."""
    table = pd.read_csv(regions_csv, dtype=str, keep_default_na=False)
    missing = {"OriginalValue", "RegionId", "RegionName"} - set(table.columns)
    if missing:
        raise SystemExit(f"{regions_csv}: missing column(s) {', '.join(sorted(missing))}")
    spellings = pd.DataFrame({
        "location": _spelling(table["OriginalValue"]),
        "region": table["RegionId"].str.strip().str.lower(),
        "source": SOURCE + ", OriginalValue",
    })
    names = pd.DataFrame({
        "location": _spelling(table["RegionName"]),
        "region": table["RegionId"].str.strip().str.lower(),
        "source": SOURCE + ", RegionName",
    }).drop_duplicates("location")
    names = names[~names["location"].isin(spellings["location"])]
    out = pd.concat([spellings, names], ignore_index=True)
    out = out[(out["location"] != "") & (out["region"] != "")]
    conflicts = out.groupby("location")["region"].nunique()
    if (conflicts > 1).any():
        raise SystemExit(f"{regions_csv}: spellings mapped to several regions: "
                         f"{', '.join(conflicts[conflicts > 1].index)}")
    return out.drop_duplicates("location").sort_values("location", ignore_index=True)


def _spelling(values: pd.Series) -> pd.Series:
    return values.str.strip().str.lower().str.replace(r"\s+", " ", regex=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=Path, default=REGIONS_DEFAULT, help="FinOps toolkit Regions.csv")
    args = parser.parse_args()
    table = build(args.regions)
    table.to_csv(OUT, index=False, lineterminator="\n")
    print(f"wrote {OUT} ({len(table)} spellings, {table['region'].nunique()} regions)")


if __name__ == "__main__":
    main()

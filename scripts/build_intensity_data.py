"""Regenerate the bundled data of the ``intensity`` package from the shared reference data.

Reads ``<shared>/grid/`` (default ``../shared/data`` next to the repository) and writes
``intensity/data/``:

* ``hourly_lifecycle_2022.parquet``: Electricity Maps 2022 hourly life-cycle intensity, 123 zones,
  wide float32, zstd, with source / licence / data year / signal in the Parquet metadata;
* ``regions.csv``: cloud region -> location, country, grid zone, 2024 annual life-cycle intensity,
  published regional PUE, Google CFE share, each with its source;
* ``region_aliases.csv``: spellings of region names seen in billing exports -> region id;
* ``pue_defaults.csv``: provider fleet PUEs and the industry default for other providers;
* ``world_average.csv``: the world-average intensity used when a line has no grid zone;
* ``geographies.csv``: country and area names seen in billing exports (GCP multi-region ``US``,
  AWS ``United States``, Azure ``uk``) -> ISO country, for the country step of the fallback chain;
* ``country_factors.csv``: one annual intensity per country (Electricity Maps 2024 yearly where the
  country is a single zone, else Cloud Carbon Footprint's country factors);
* ``annual_regions.csv``: Cloud Carbon Footprint's per-region annual factors (eGRID2020, EEA,
  carbonfootprint.com) for region ids the region table does not know (Azure canary and stage
  regions, area names), the annual-factor step of the fallback chain.

The output is deterministic (sorted rows, fixed float formatting, fixed compression level), so a
rebuild from unchanged inputs leaves the committed files byte-identical. The script fails, naming
the zone and hour, if the hourly data has a gap or a missing value: nothing is filled silently.
What does not belong here: anything the package does at run time (see ``intensity/``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO.parent / "shared" / "data"
OUT_DIR = REPO / "intensity" / "data"

HOURLY_CSV = "grid/electricitymaps_2022_hourly_lca_123zones.csv.gz"
HOURLY_PARQUET = "hourly_lifecycle_2022.parquet"
HOURLY_METADATA = {
    "source": (
        "Electricity Maps data portal, 2022 hourly life-cycle carbon intensity, 123 zones, as used in "
        "Sukprasert et al., 'On the Limitations of Carbon-Aware Temporal and Spatial Workload Shifting "
        "in the Cloud', EuroSys 2024 (artifact github.com/umassos/decarbonization-potential, Zenodo 10790855)"
    ),
    "attribution": "Electricity Maps",
    "license": "ODbL-1.0 (Open Database License 1.0); a derived database shares alike",
    "data_year": "2022",
    "signal": "lifecycle",
    "method": "average, location-based, consumption-based",
    "units": "gCO2e/kWh",
    "timestamp": "datetime_utc = start of the hour, UTC",
    "missing": "none: 8760 contiguous hours x 123 zones, no missing value (checked by scripts/build_intensity_data.py)",
    "storage": "float32; every value equals the source's 2-decimal value after rounding to 2 decimals",
}

# Provider fleet PUEs (METHOD.md section 7). Each is cross-checked below against the values the
# shared regions.csv applies to regions without a published regional PUE.
PUE_DEFAULTS = pd.DataFrame(
    [
        ("aws", 1.15, 2024, "global fleet",
         "AWS global average PUE 2024 (AWS sustainability pages, as reported by DatacenterDynamics 2024; secondary)"),
        ("azure", 1.18, 2024, "global portfolio",
         "Microsoft global datacenter portfolio average PUE 1.18 (DatacenterDynamics 2024; secondary)"),
        ("gcp", 1.09, 2025, "global fleet",
         "Google fleet-wide average PUE 2025 (Google 2026 Environmental Report, via Green-Software-Foundation/"
         "real-time-cloud metrics/2025/google-2025-metrics.md; secondary)"),
        ("*", 1.58, 2023, "industry average, any other provider",
         "Uptime Institute Global Data Center Survey 2023 industry average PUE 1.58 (as used by carbontracker; secondary)"),
    ],
    columns=["provider", "pue", "pue_year", "scope", "pue_source"],
)

WORLD_AVERAGE = pd.DataFrame(
    [(481.0, 2023, "lifecycle",
      "Ember yearly electricity data: world electricity-generation emissions intensity 2023, 481 gCO2e/kWh "
      "(Ember counts full life-cycle emissions, all gases, CO2e over 100 years); Ember Global Electricity "
      "Review 2024, via Statista chart 943137 (Ember, 3 July 2024; secondary)",
      "CC-BY-4.0 (Ember data)")],
    columns=["g_per_kwh", "data_year", "signal", "source", "license"],
)

# Published per-geography PUE used for a provider's regions without a regional or campus value
# (METHOD.md section 7; secondary, via GSF real-time-cloud metrics/2025).
PUE_GEOGRAPHIES = pd.DataFrame(
    [
        ("aws", "europe", 1.11, 2025, "AWS regional average PUE CY2025, Europe (for regions without a published value; "
         "AWS PUE/WUE table via Green-Software-Foundation/real-time-cloud metrics/2025/aws-2025-metrics.md; secondary)"),
        ("aws", "apac", 1.25, 2025, "AWS regional average PUE CY2025, Asia Pacific (for regions without a published value; "
         "AWS PUE/WUE table via Green-Software-Foundation/real-time-cloud metrics/2025/aws-2025-metrics.md; secondary)"),
        ("aws", "north_america", 1.14, 2025, "AWS North America design PUE CY2025 (for regions without a published value; "
         "AWS PUE/WUE table via Green-Software-Foundation/real-time-cloud metrics/2025/aws-2025-metrics.md; secondary)"),
        ("azure", "americas", 1.16, 2025, "Microsoft FY2025 (Jul 2024-Jun 2025) Americas datacenter PUE (Microsoft datacenter "
         "efficiency page via Green-Software-Foundation/real-time-cloud metrics/2025/azure-2025-metrics.md; secondary)"),
        ("azure", "apac", 1.28, 2025, "Microsoft FY2025 (Jul 2024-Jun 2025) APAC datacenter PUE (Microsoft datacenter "
         "efficiency page via Green-Software-Foundation/real-time-cloud metrics/2025/azure-2025-metrics.md; secondary)"),
        ("azure", "emea", 1.16, 2025, "Microsoft FY2025 (Jul 2024-Jun 2025) EMEA datacenter PUE (Microsoft datacenter "
         "efficiency page via Green-Software-Foundation/real-time-cloud metrics/2025/azure-2025-metrics.md; secondary)"),
    ],
    columns=["provider", "geography", "pue", "pue_year", "pue_source"],
)

# Country (ISO 3166-1 alpha-2) -> the geographies providers publish PUE for (facts: UN geoscheme).
_EUROPE = {"AT", "BE", "CH", "DE", "DK", "ES", "FI", "FR", "GB", "IE", "IT", "NL", "NO", "PL", "SE"}
_APAC = {"AU", "CN", "HK", "ID", "IN", "JP", "KR", "MY", "NZ", "SG", "TH", "TW"}
_NORTH_AMERICA = {"CA", "MX", "US"}
_SOUTH_AMERICA = {"BR", "CL"}
_MIDDLE_EAST_AFRICA = {"AE", "BH", "IL", "QA", "SA", "ZA"}
PUE_GEOGRAPHY_OF_COUNTRY = {
    "aws": {**{c: "europe" for c in _EUROPE}, **{c: "apac" for c in _APAC}, **{c: "north_america" for c in _NORTH_AMERICA}},
    "azure": {**{c: "emea" for c in _EUROPE | _MIDDLE_EAST_AFRICA}, **{c: "apac" for c in _APAC},
              **{c: "americas" for c in _NORTH_AMERICA | _SOUTH_AMERICA}},
}

# Country and area names that appear as "regions" in billing exports (GCP multi-regions, AWS
# RegionName of global services, Azure billing geographies) -> ISO country. Facts; any provider.
GEOGRAPHY_COUNTRIES = {
    "us": "US", "usa": "US", "united states": "US", "unitedstates": "US", "canada": "CA", "india": "IN",
    "uk": "GB", "united kingdom": "GB", "japan": "JP", "korea": "KR", "south korea": "KR", "australia": "AU",
    "germany": "DE", "france": "FR", "brazil": "BR", "switzerland": "CH", "norway": "NO", "sweden": "SE",
    "uae": "AE", "united arab emirates": "AE", "southafrica": "ZA", "south africa": "ZA", "ireland": "IE",
    "spain": "ES", "italy": "IT", "poland": "PL", "israel": "IL", "finland": "FI", "malaysia": "MY",
    "singapore": "SG", "netherlands": "NL", "mexico": "MX", "qatar": "QA", "taiwan": "TW", "hong kong": "HK",
    "indonesia": "ID", "chile": "CL", "new zealand": "NZ", "austria": "AT", "belgium": "BE", "denmark": "DK",
    "saudi arabia": "SA", "thailand": "TH", "china": "CN",
}
GEOGRAPHY_SOURCE = "carbonledger: country and area names seen in billing exports (facts)"

# Cloud Carbon Footprint's on-premise country names -> ISO country.
CCF_COUNTRY_ISO = {
    "Australia": "AU", "Canada": "CA", "Finland": "FI", "France": "FR", "Germany": "DE", "India": "IN",
    "Ireland": "IE", "Israel": "IL", "Italy": "IT", "Malaysia": "MY", "Poland": "PL", "Romania": "RO",
    "South Korea": "KR", "Spain": "ES", "Sweden": "SE", "Switzerland": "CH", "United Kingdom": "GB",
    "United States": "US",
}
CCF_SOURCE = ("Cloud Carbon Footprint (cloud-carbon-footprint/cloud-carbon-footprint trunk 2024-03) {file}: {note}; "
              "Apache-2.0; annual, generation-based (not life-cycle)")
# GCP multi- and dual-region factors in CCF are sums of member intensities (METHOD.md section 8): never used.
CCF_EXCLUDED_REGIONS = {("gcp", "us"), ("gcp", "europe"), ("gcp", "asia"), ("gcp", "nam4"), ("gcp", "eur4"), ("gcp", "asia1")}

GOOGLE_CFE_SOURCE = "Google Cloud region-carbon-info data/yearly/2024.csv, 'Google CFE' 2024 (Apache-2.0)"
ZONE_SOURCE_EMDC = "Electricity Maps data_centers.json (electricitymaps-contrib, commit b354f28)"
ZONE_SOURCE_OTHER = "carbonledger reference compilation (not in Electricity Maps data_centers.json; see grid_zone_note)"


class BuildError(RuntimeError):
    """The shared input data does not meet what the bundled files promise."""


def build_hourly(shared: Path) -> pd.DataFrame:
    """The hourly table as read from the source CSV, checked for completeness."""
    path = shared / HOURLY_CSV
    frame = pd.read_csv(path, index_col="datetime_utc")
    frame.index = pd.to_datetime(frame.index, utc=True)
    frame.index.name = "datetime_utc"
    _check_hourly_complete(frame, path)
    return frame


def _check_hourly_complete(frame: pd.DataFrame, path: Path) -> None:
    if not frame.index.is_unique or not frame.index.is_monotonic_increasing:
        raise BuildError(f"{path}: datetime_utc is not strictly increasing")
    first, last = frame.index[0], frame.index[-1]
    if (first.month, first.day, first.hour) != (1, 1, 0) or (last.month, last.day, last.hour) != (12, 31, 23):
        raise BuildError(f"{path}: hours {first} .. {last} do not cover whole calendar years")
    expected = pd.date_range(first, last, freq="h")
    if len(expected) != len(frame):
        missing = expected.difference(frame.index)
        raise BuildError(f"{path}: {len(missing)} missing hour(s), first {missing[0]}")
    nulls = frame.isna()
    if nulls.to_numpy().any():
        zone = nulls.any().idxmax()
        raise BuildError(f"{path}: zone {zone} has no value at {nulls[zone].idxmax()} (and {int(nulls.sum().sum())} missing in all)")


def write_hourly(frame: pd.DataFrame, out: Path) -> None:
    """Wide float32 Parquet, zstd, with the source's metadata; checks the 2-decimal round trip."""
    compact = frame.astype("float32")
    back = np.round(compact.to_numpy(dtype="float64"), 2)
    if not np.array_equal(back, frame.to_numpy(dtype="float64")):
        raise BuildError("float32 storage does not round-trip the source's 2-decimal values")
    table = pa.Table.from_pandas(compact, preserve_index=True)
    metadata = {**(table.schema.metadata or {}), **{k.encode(): v.encode() for k, v in HOURLY_METADATA.items()}}
    table = table.replace_schema_metadata(metadata)
    pq.write_table(table, out, compression="zstd", compression_level=19, use_dictionary=False)


def build_regions(shared: Path) -> pd.DataFrame:
    """One row per cloud region with the columns ``intensity.regions`` uses, plus their sources."""
    regions = pd.read_csv(shared / "grid/regions.csv")
    zones = pd.read_csv(shared / "grid/grid_zones_2024.csv")
    google = pd.read_csv(shared / "grid/google_region_carbon/2024.csv")

    merged = regions.merge(zones, left_on="grid_zone", right_on="zone_id", how="left", validate="many_to_one")
    no_zone = merged[merged["zone_id"].isna()]
    if len(no_zone):
        raise BuildError(f"grid zone(s) {sorted(no_zone['grid_zone'].unique())} not in grid_zones_2024.csv")
    disagree = merged[(merged["em2024_lifecycle"] - merged["g_co2e_per_kwh_lifecycle_2024"]).abs() > 0.005]
    if len(disagree):
        raise BuildError(f"regions.csv em2024_lifecycle disagrees with grid_zones_2024.csv for {disagree['region'].tolist()}")

    gcp = google.rename(columns={"Google Cloud Region": "region", "Google CFE": "cfe_fraction"})[["region", "cfe_fraction"]]
    gcp["provider"] = "gcp"
    merged = merged.merge(gcp, on=["provider", "region"], how="left", validate="one_to_one")
    cross = merged[merged["google_cfe_2024"].notna() & (merged["google_cfe_2024"] != merged["cfe_fraction"])]
    if len(cross):
        raise BuildError(f"regions.csv google_cfe_2024 disagrees with google_region_carbon/2024.csv for {cross['region'].tolist()}")

    regional = merged["pue_is_regional"].astype(bool)
    has_cfe = merged["cfe_fraction"].notna()
    out = pd.DataFrame({
        "provider": merged["provider"],
        "region": merged["region"],
        "location": merged["location"],
        "country": merged["country_iso"],
        "grid_zone": merged["grid_zone"],
        "grid_zone_source": np.where(merged["em_datacenters_json_zone"] == merged["grid_zone"], ZONE_SOURCE_EMDC, ZONE_SOURCE_OTHER),
        "grid_zone_note": merged["zone_note"],
        "annual_g_per_kwh": merged["g_co2e_per_kwh_lifecycle_2024"],
        "annual_year": 2024,
        "annual_source": merged["citation"] + "; life-cycle, zone " + merged["grid_zone"]
        + "; ODbL-1.0; via nextflow-io/nf-co2footprint ci_yearly_2024_by_location.csv",
        "pue": merged["pue"].where(regional),
        "pue_year": merged["pue_year"].where(regional).astype("Int64"),
        "pue_source": merged["pue_source"].where(regional),
        "cfe_fraction": merged["cfe_fraction"],
        "cfe_year": pd.Series(2024, index=merged.index).where(has_cfe).astype("Int64"),
        "cfe_source": pd.Series(GOOGLE_CFE_SOURCE, index=merged.index).where(has_cfe),
    })
    _check_pue_defaults(merged[~regional])
    out = _fill_geography_pue(out)
    return out.sort_values(["provider", "region"]).reset_index(drop=True)


def _fill_geography_pue(regions: pd.DataFrame) -> pd.DataFrame:
    """Regions without a regional / campus PUE take their provider's published geography PUE, if any."""
    regions = regions.copy()
    regions.insert(regions.columns.get_loc("pue_source") + 1, "pue_scope",
                   pd.Series("region", index=regions.index).where(regions["pue"].notna()))
    geography = [PUE_GEOGRAPHY_OF_COUNTRY.get(p, {}).get(c) for p, c in zip(regions["provider"], regions["country"])]
    keyed = PUE_GEOGRAPHIES.set_index(["provider", "geography"])
    for position, (provider, geo) in enumerate(zip(regions["provider"], geography)):
        if geo is None or pd.notna(regions["pue"].iat[position]):
            continue
        row = keyed.loc[(provider, geo)]
        regions.iloc[position, regions.columns.get_indexer(["pue", "pue_year", "pue_source", "pue_scope"])] = [
            row["pue"], row["pue_year"], row["pue_source"], f"geography: {geo}"]
    return regions


def build_geographies() -> pd.DataFrame:
    """Country and area names that billing exports put where a region belongs -> ISO country."""
    rows = sorted(GEOGRAPHY_COUNTRIES.items())
    return pd.DataFrame({"alias": [a for a, _ in rows], "country": [c for _, c in rows], "source": GEOGRAPHY_SOURCE})


def build_country_factors(shared: Path) -> pd.DataFrame:
    """One annual intensity per country: Electricity Maps 2024 where the country is one zone, else CCF's factor."""
    zones = pd.read_csv(shared / "grid/grid_zones_2024.csv")
    whole = zones[zones["zone_id"].str.fullmatch(r"[A-Z]{2}")]
    em = pd.DataFrame({
        "country": whole["zone_id"], "grid_zone": whole["zone_id"], "g_per_kwh": whole["g_co2e_per_kwh_lifecycle_2024"],
        "data_year": 2024,
        "signal": "lifecycle",
        "source": whole["citation"] + "; life-cycle, country zone " + whole["zone_id"]
        + "; ODbL-1.0; via nextflow-io/nf-co2footprint ci_yearly_2024_by_location.csv",
    })
    ccf = pd.read_csv(shared / "grid/annual_region_factors_ccf.csv")
    ccf = ccf[(ccf["provider"] == "ON_PREMISE") & ccf["region"].isin(list(CCF_COUNTRY_ISO))]
    note = ccf["source_note"].str.split("; file ").str[0]
    file = ccf["source_note"].str.split("; file ").str[1]
    other = pd.DataFrame({
        "country": ccf["region"].map(CCF_COUNTRY_ISO), "grid_zone": None, "g_per_kwh": (ccf["kgco2e_per_kwh"] * 1000).round(4),
        "data_year": 2021, "signal": "generation (carbonfootprint.com 2022 v11 country factors, 2021 data; US from eGRID2020)",
        "source": [CCF_SOURCE.format(file=f, note=n) for f, n in zip(file, note)],
    })
    other = other[~other["country"].isin(em["country"])]
    return pd.concat([em, other]).sort_values("country").reset_index(drop=True)


def build_annual_regions(shared: Path, regions: pd.DataFrame) -> pd.DataFrame:
    """CCF's per-region annual factors for region ids the region table lacks (area names, canary regions)."""
    ccf = pd.read_csv(shared / "grid/annual_region_factors_ccf.csv")
    ccf = ccf[ccf["provider"].isin(["AWS", "GCP", "AZURE"]) & (ccf["region"] != "Unknown")].copy()
    ccf["provider"] = ccf["provider"].str.lower()
    ccf["region"] = ccf["region"].str.lower()
    known = set(zip(regions["provider"], regions["region"])) | CCF_EXCLUDED_REGIONS
    ccf = ccf[[pair not in known for pair in zip(ccf["provider"], ccf["region"])]]
    ccf = ccf.drop_duplicates(["provider", "region"])
    note = ccf["source_note"].str.split("; file ").str[0]
    file = ccf["source_note"].str.split("; file ").str[1]
    year = note.str.extract(r"eGRID(\d{4})", expand=False).astype("Int64")
    year = year.fillna(pd.Series(2021, index=ccf.index).where(note.str.contains("carbonfootprint.com")).astype("Int64"))
    return pd.DataFrame({
        "provider": ccf["provider"], "region": ccf["region"], "g_per_kwh": (ccf["kgco2e_per_kwh"] * 1000).round(4),
        "data_year": year, "source": [CCF_SOURCE.format(file=f, note=n) for f, n in zip(file, note)],
    }).sort_values(["provider", "region"]).reset_index(drop=True)


def _check_pue_defaults(fleet_rows: pd.DataFrame) -> None:
    """The fleet PUE the shared table applies to unpublished regions must equal our provider default."""
    defaults = PUE_DEFAULTS.set_index("provider")["pue"]
    for provider, values in fleet_rows.groupby("provider")["pue"]:
        if set(values) != {defaults[provider]}:
            raise BuildError(f"{provider}: shared regions.csv fleet PUE {sorted(set(values))} != default {defaults[provider]}")


def build_aliases(shared: Path) -> pd.DataFrame:
    """Alias table keyed by the lower-cased, whitespace-collapsed spelling; conflicting spellings fail."""
    aliases = pd.read_csv(shared / "grid/region_name_aliases.csv")
    aliases["alias"] = aliases["alias"].str.lower().str.split().str.join(" ")
    targets = aliases.groupby(["provider", "alias"])["region"].nunique()
    conflicts = targets[targets > 1]
    if len(conflicts):
        raise BuildError(f"region aliases with several targets: {conflicts.index.tolist()}")
    aliases = aliases.drop_duplicates(["provider", "alias"])
    return aliases[["provider", "alias", "region", "display_name", "source"]].sort_values(["provider", "alias"]).reset_index(drop=True)


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="shared reference data folder (contains grid/)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default: intensity/data)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        hourly = build_hourly(args.shared)
        write_hourly(hourly, args.out / HOURLY_PARQUET)
        regions = build_regions(args.shared)
        _write_csv(regions, args.out / "regions.csv")
        _write_csv(build_geographies(), args.out / "geographies.csv")
        _write_csv(build_country_factors(args.shared), args.out / "country_factors.csv")
        _write_csv(build_annual_regions(args.shared, regions), args.out / "annual_regions.csv")
        _write_csv(build_aliases(args.shared), args.out / "region_aliases.csv")
        _write_csv(PUE_DEFAULTS, args.out / "pue_defaults.csv")
        _write_csv(WORLD_AVERAGE, args.out / "world_average.csv")
    except BuildError as exc:
        print(f"build_intensity_data: {exc}", file=sys.stderr)
        return 1
    print(f"build_intensity_data: wrote {args.out} ({hourly.shape[0]} hours x {hourly.shape[1]} zones)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

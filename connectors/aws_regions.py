"""Region of AWS legacy CUR lines, by the fallback order of FORMATS.md §1.2.

``product/regionCode`` → ``product/region`` → ``product/location`` display name (table
``data/aws_location_regions.csv``) → ``lineItem/AvailabilityZone`` minus its trailing letter →
``lineItem/UsageType`` region prefix (table ``data/aws_usage_type_region_prefixes.csv``). Both
tables carry a ``source`` column. Region codes come out lowercase and stripped.

What does not belong here: mapping regions to grid zones (``intensity``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import resources

import pandas as pd

from connectors.values import Memo, as_text, first_present, lowered, on_uniques

_TEXT = pd.StringDtype("pyarrow")
_AZ_REGION = r"^([a-z]{2}(?:-[a-z]+)+-\d+)[a-z]$"
_USAGE_TYPE_PREFIX = r"^([A-Z]{2,4}\d?)-"
#: Regions found per distinct location, availability zone and usage type, kept across batches.
_BY_LOCATION, _BY_ZONE, _BY_USAGE_TYPE = Memo(), Memo(), Memo()


@cache
def location_regions() -> dict[str, str]:
    """Lowercased AWS location display name → region code."""
    table = _data_table("aws_location_regions.csv")
    return dict(zip(table["location"].str.strip().str.lower(), table["region"]))


@cache
def usage_type_prefixes() -> dict[str, str]:
    """Usage-type region prefix (``USE2``) → region code."""
    table = _data_table("aws_usage_type_region_prefixes.csv")
    return dict(zip(table["prefix"], table["region"]))


def _data_table(name: str) -> pd.DataFrame:
    with resources.files("connectors").joinpath("data", name).open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle, dtype=str, keep_default_na=False)


def cur_region(column: Callable[[str], pd.Series]) -> pd.Series:
    """RegionId per CUR line from whichever region columns the report has.

    ``column`` gives a CUR column (canonical name) stripped, empty → null, all null where the
    report lacks it.
    """
    location = on_uniques(column("product/location"),
                          lambda place: place.str.lower().map(location_regions()).astype(_TEXT), memo=_BY_LOCATION)
    zone = on_uniques(column("lineItem/AvailabilityZone"),
                      lambda az: az.str.lower().str.extract(_AZ_REGION)[0].astype(_TEXT), memo=_BY_ZONE)
    by_prefix = on_uniques(column("lineItem/UsageType"),
                           lambda t: t.str.extract(_USAGE_TYPE_PREFIX)[0].map(usage_type_prefixes()).astype(_TEXT),
                           memo=_BY_USAGE_TYPE)
    region = first_present(
        lowered(column("product/regionCode")), lowered(column("product/region")), location, zone, by_prefix
    )
    return as_text(region)

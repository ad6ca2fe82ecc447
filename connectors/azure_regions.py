"""Region ids of Azure billing locations (``ResourceLocation``, ``ResourceLocationNormalized``).

Azure writes a resource's location in many spellings (``West Europe``, ``westeurope``, ``EU West``,
``europewest``, ``US East 2``, ``EastUS2``, ``usnorth``; FORMATS.md §4.2). The bundled table
``data/azure_locations.csv`` (built by ``scripts/build_azure_locations.py`` from the FinOps toolkit
region map, every row with a ``source``) maps each known spelling to its region id. A spelling is
compared lowercased with white space collapsed, then without spaces, ``-`` and ``_`` (where that
form names a single region). Unknown locations come out as given, lowercased without white space:
they are not errors here (the ledger flags regions it cannot map). Each unique value is looked up
once.

What does not belong here: mapping regions to grid zones (``intensity``).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd

_TEXT = pd.StringDtype("pyarrow")
_SEPARATORS = re.compile(r"[\s_-]+")


@cache
def location_regions() -> dict[str, str]:
    """Lowercase Azure location spelling → region id."""
    with resources.files("connectors").joinpath("data", "azure_locations.csv").open("r", encoding="utf-8") as handle:
        table = pd.read_csv(handle, dtype=str, keep_default_na=False)
    return dict(zip(table["location"], table["region"]))


@cache
def _squashed_regions() -> dict[str, str]:
    """Spelling without separators → region id, for the forms that name one region only."""
    by_form: dict[str, set[str]] = {}
    for location, region in location_regions().items():
        by_form.setdefault(_SEPARATORS.sub("", location), set()).add(region)
    return {form: regions.pop() for form, regions in by_form.items() if len(regions) == 1}


def region_of_location(location: str) -> str:
    """The region id of one location spelling (unknown: lowercased, white space removed)."""
    spelling = " ".join(location.lower().split())
    known = location_regions().get(spelling)
    if known is not None:
        return known
    squashed = _SEPARATORS.sub("", spelling)
    return _squashed_regions().get(squashed, "".join(spelling.split()))


def azure_region(locations: pd.Series) -> pd.Series:
    """RegionId per row from a location column (null stays null)."""
    codes, uniques = pd.factorize(locations)
    regions = np.array([region_of_location(str(u)) for u in uniques] + [None], dtype=object)
    return pd.Series(regions[np.where(codes < 0, len(uniques), codes)], index=locations.index, dtype=_TEXT)

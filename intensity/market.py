"""Market-based (GHG Protocol Scope 2) intensity per line: user contractual instruments, else provider CFE share.

Location-based intensity stays the primary figure; this module gives the second, market-based one.
Per line, in order:

1. **contractual instruments** a user configured (PPAs, RECs, GOs, supplier rates: a CSV or YAML
   file, see :func:`load_instruments`) that match the line's provider, region and start time: each
   covers ``covered_fraction`` of the line's electricity at its own ``g_per_kwh`` (0 for renewable
   PPAs and certificates); the uncovered share stays at the location-based intensity, because no
   residual-mix factor is bundled (the basis says so). Instruments matching one line may not cover
   more than 100 % together: that is an error naming them, never silently capped;
2. **provider carbon-free-energy share** (Google CFE per GCP region): location-based x (1 - CFE);
3. otherwise the market-based figure equals the location-based one.

Instrument file columns: ``provider`` (aws / gcp / azure or ``*``), ``region`` (id or any spelling
the region table resolves, or ``*``), ``start`` and ``end`` (dates, UTC, [start, end)),
``instrument`` (e.g. ``PPA``, ``REC``, ``GO``), ``covered_fraction`` (0..1), ``g_per_kwh`` and
``source`` (contract or certificate reference; required). With ``provider`` ``*`` the region must
be a canonical id. What does not belong here: energy and
emissions arithmetic (``footprint.ledger``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from carbonledger.codes import text_codes
from carbonledger.errors import EXIT_INPUT, CarbonLedgerError
from intensity.grid import GridData

MARKET_NONE = "no contractual instruments configured: equals location-based"
MARKET_CFE_PREFIX = "location-based x (1 - provider hourly-matched carbon-free-energy share: "
_COLUMNS = ("provider", "region", "start", "end", "instrument", "covered_fraction", "g_per_kwh", "source")
ANY = "*"


class InstrumentError(CarbonLedgerError, ValueError):
    """A contractual-instrument file or combination that cannot be used (the message names the file or rows)."""

    exit_code = EXIT_INPUT


def load_instruments(path: Path) -> pd.DataFrame:
    """Read and check a CSV or YAML (a list of mappings, or ``instruments:`` holding one) instrument file."""
    path = Path(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        raw = raw.get("instruments", []) if isinstance(raw, dict) else raw
        if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
            raise InstrumentError(f"{path}: expected a list of instruments (mappings)")
        frame = pd.DataFrame(raw)
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in _COLUMNS if c not in frame.columns]
    if missing:
        raise InstrumentError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(_COLUMNS)}")
    frame = frame[list(_COLUMNS)].copy()
    frame["provider"] = frame["provider"].astype(str).str.strip().str.lower()
    frame["region"] = frame["region"].astype(str).str.strip()
    for column in ("start", "end"):
        frame[column] = pd.to_datetime(frame[column].astype(str), utc=True, errors="coerce")
    for column in ("covered_fraction", "g_per_kwh"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    bad = (frame[["start", "end", "covered_fraction", "g_per_kwh"]].isna().any(axis=1)
           | (frame["end"] <= frame["start"]) | ~frame["covered_fraction"].between(0, 1) | (frame["g_per_kwh"] < 0)
           | (frame["source"].astype(str).str.strip() == ""))
    if bad.any():
        raise InstrumentError(f"{path}: row(s) {[int(i) + 2 for i in np.flatnonzero(bad)]} need dates with end after start, "
                              "covered_fraction in 0..1, g_per_kwh >= 0 and a source")
    return frame.reset_index(drop=True)


def market_intensity(grid: GridData, provider: pd.Series, region: pd.Series, start: pd.Series,
                     location_g_per_kwh: pd.Series, cfe_fraction: pd.Series, cfe_source: pd.Series,
                     instruments: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per line: ``market_g_per_kwh`` and ``x_MarketBasis`` (see the module doc), aligned to ``provider.index``."""
    location = location_g_per_kwh.to_numpy(dtype="float64")
    cfe = cfe_fraction.to_numpy(dtype="float64")
    has_cfe = ~np.isnan(cfe)
    market = np.where(has_cfe, location * (1.0 - np.nan_to_num(cfe)), location)
    # texts are made once per CFE source and taken by code: label 0 is MARKET_NONE, 1 a missing text
    source_codes, sources = text_codes(np.asarray(cfe_source.astype("string").array, dtype=object)[has_cfe])
    labels: list[str | None] = [MARKET_NONE, None, *(MARKET_CFE_PREFIX + source + ")" for source in sources)]
    basis = np.zeros(len(provider), dtype=np.int64)
    basis[has_cfe] = source_codes + 2
    if instruments is None or instruments.empty:
        return _market_frame(market, labels, basis, provider.index)

    matches = _matches(grid, provider, region, start, instruments)
    covered = matches @ instruments["covered_fraction"].to_numpy(dtype="float64")
    over = covered > 1.0 + 1e-9
    if over.any():
        rows = sorted({int(i) + 2 for i in np.flatnonzero(matches[over].any(axis=0))})
        raise InstrumentError(f"contractual instruments (file rows {rows}) cover more than 100 % of "
                              f"{int(over.sum())} line(s) together")
    any_match = matches.any(axis=1)
    contracted = matches @ (instruments["covered_fraction"] * instruments["g_per_kwh"]).to_numpy(dtype="float64")
    market = np.where(any_match, contracted + (1.0 - covered) * location, market)
    combinations, inverse = np.unique(matches[any_match], axis=0, return_inverse=True)
    basis[any_match] = len(labels) + inverse.reshape(-1)
    labels += [_basis_text(instruments[combination]) for combination in combinations]
    return _market_frame(market, labels, basis, provider.index)


def _market_frame(market: np.ndarray, labels: list[str | None], basis: np.ndarray, index: pd.Index) -> pd.DataFrame:
    """``market_g_per_kwh`` and ``x_MarketBasis`` (a label per line by code; the texts shared, not copied)."""
    return pd.DataFrame({"market_g_per_kwh": market, "x_MarketBasis": pd.array(labels, dtype="string").take(basis)}, index=index)


def _matches(grid: GridData, provider: pd.Series, region: pd.Series, start: pd.Series, instruments: pd.DataFrame) -> np.ndarray:
    """(lines x instruments) booleans: provider, region id and start time within the instrument's period."""
    provider_key = provider.astype("string").str.strip().str.lower()
    region_id = _region_ids(grid, provider_key, region)
    moment = pd.to_datetime(start, utc=True)
    out = np.zeros((len(provider), len(instruments)), dtype=bool)
    for k, row in enumerate(instruments.itertuples(index=False)):
        wanted_region = None if row.region == ANY else _region_ids(
            grid, pd.Series([row.provider if row.provider != ANY else None]), pd.Series([row.region])).iloc[0]
        hit = (moment >= row.start) & (moment < row.end)
        if row.provider != ANY:
            hit &= provider_key == row.provider
        if wanted_region is not None:
            hit &= region_id == wanted_region
        out[:, k] = hit.fillna(False).to_numpy(dtype=bool)
    return out


def _region_ids(grid: GridData, provider: pd.Series, region: pd.Series) -> pd.Series:
    """Canonical region id per line (resolved once per unique pair); the cleaned string when unknown."""
    pairs = pd.DataFrame({"p": provider.astype("object"), "r": region.astype("object")}).reset_index(drop=True)
    unique = pairs.drop_duplicates().reset_index(drop=True)
    ids = []
    for p, r in unique.itertuples(index=False):
        info = grid.region_info(None if pd.isna(p) else p, None if pd.isna(r) else r)
        ids.append(info.region if info is not None else (None if pd.isna(r) else " ".join(str(r).lower().split())))
    unique["id"] = pd.array(ids, dtype="string")
    merged = pairs.merge(unique, on=["p", "r"], how="left", validate="many_to_one")
    return pd.Series(merged["id"].array, index=provider.index)


def _basis_text(rows: pd.DataFrame) -> str:
    parts = [f"{r.instrument} {r.covered_fraction:.0%} at {r.g_per_kwh:g} gCO2e/kWh ({r.source})" for r in rows.itertuples(index=False)]
    return ("contractual instruments (GHG Protocol Scope 2 market-based): " + "; ".join(parts)
            + "; uncovered share at location-based intensity (no residual-mix factor configured)")

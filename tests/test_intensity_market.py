"""Market-based intensity from provider CFE shares and user contractual instruments; the grid settings of the config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from carbonledger.errors import ConfigError
from intensity import GridData
from intensity.market import MARKET_CFE_PREFIX, MARKET_NONE, InstrumentError, load_instruments, market_intensity
from intensity.settings import GridSettings, grid_data, instruments, with_live

CSV = """provider,region,start,end,instrument,covered_fraction,g_per_kwh,source
aws,US East (N. Virginia),2026-01-01,2027-01-01,PPA,0.6,0,PPA-2026-017 Virginia solar
azure,westeurope,2026-01-01,2026-07-01,GO,1.0,0,GO certificates NL 2026 H1 (Vertogas)
"""


@pytest.fixture(scope="module")
def grid() -> GridData:
    return GridData.bundled()


def lines(grid: GridData, rows: list[tuple[str, str, str]], location: list[float]) -> tuple:
    provider = pd.Series([r[0] for r in rows], dtype="string")
    region = pd.Series([r[1] for r in rows], dtype="string")
    start = pd.Series(pd.to_datetime([r[2] for r in rows], utc=True))
    annotated = grid.annotate(provider, region, start, start + pd.Timedelta(hours=1))
    return provider, region, start, pd.Series(location), annotated["x_CfeFraction"], annotated["x_CfeSource"]


def test_instruments_cover_their_share_and_the_rest_stays_location_based(tmp_path, grid):
    (tmp_path / "ppa.csv").write_text(CSV)
    table = load_instruments(tmp_path / "ppa.csv")
    rows = [("aws", "us-east-1", "2026-03-01T10:00Z"), ("aws", "us-east-1", "2027-03-01T10:00Z"),
            ("azure", "West Europe", "2026-02-01T00:00Z"), ("azure", "westeurope", "2026-08-01T00:00Z"),
            ("gcp", "us-central1", "2026-03-01T10:00Z")]
    provider, region, start, location, cfe, cfe_source = lines(grid, rows, [400.0, 400.0, 300.0, 300.0, 500.0])
    out = market_intensity(grid, provider, region, start, location, cfe, cfe_source, table)
    google_cfe = float(cfe.iloc[4])
    assert 0 < google_cfe < 1
    np.testing.assert_allclose(out["market_g_per_kwh"].to_numpy(), [0.4 * 400.0, 400.0, 0.0, 300.0, 500.0 * (1 - google_cfe)])
    basis = out["x_MarketBasis"].tolist()
    assert "PPA 60% at 0 gCO2e/kWh (PPA-2026-017 Virginia solar)" in basis[0] and "no residual-mix" in basis[0]
    assert basis[1] == MARKET_NONE and basis[3] == MARKET_NONE
    assert "GO 100%" in basis[2] and basis[4].startswith(MARKET_CFE_PREFIX)


def test_without_instruments_it_is_the_ledgers_cfe_rule(grid):
    rows = [("gcp", "europe-west4", "2022-01-01T00:00Z"), ("aws", "eu-west-1", "2022-01-01T00:00Z")]
    provider, region, start, location, cfe, cfe_source = lines(grid, rows, [300.0, 250.0])
    out = market_intensity(grid, provider, region, start, location, cfe, cfe_source)
    assert out["market_g_per_kwh"].tolist() == [300.0 * (1 - float(cfe.iloc[0])), 250.0]
    assert out["x_MarketBasis"].tolist() == [MARKET_CFE_PREFIX + cfe_source.iloc[0] + ")", MARKET_NONE]


def test_instruments_covering_more_than_everything_are_refused(tmp_path, grid):
    (tmp_path / "twice.yaml").write_text(
        "instruments:\n"
        "  - {provider: aws, region: us-east-1, start: 2026-01-01, end: 2027-01-01, instrument: PPA, covered_fraction: 0.7, g_per_kwh: 0, source: A}\n"
        "  - {provider: '*', region: '*', start: 2026-01-01, end: 2027-01-01, instrument: REC, covered_fraction: 0.5, g_per_kwh: 0, source: B}\n")
    table = load_instruments(tmp_path / "twice.yaml")
    provider, region, start, location, cfe, cfe_source = lines(grid, [("aws", "us-east-1", "2026-05-01T00:00Z")], [400.0])
    with pytest.raises(InstrumentError, match=r"rows \[2, 3\].*more than 100 %"):
        market_intensity(grid, provider, region, start, location, cfe, cfe_source, table)


def test_bad_instrument_rows_are_named(tmp_path):
    (tmp_path / "bad.csv").write_text(CSV.replace("0.6,0,PPA-2026-017 Virginia solar", "1.6,0,"))
    with pytest.raises(InstrumentError, match=r"bad.csv: row\(s\) \[2\]"):
        load_instruments(tmp_path / "bad.csv")


def test_grid_settings_resolve_paths_and_refuse_unknown_keys(tmp_path):
    settings = GridSettings.from_mapping({"data_portal_dir": "portal", "live": "ukci", "contractual_instruments": "ppa.csv"}, tmp_path)
    assert settings.data_portal_dir == tmp_path / "portal" and settings.live == "ukci"
    assert settings.contractual_instruments == tmp_path / "ppa.csv" and settings.cache_dir is None
    with pytest.raises(ConfigError, match="unknown grid key"):
        GridSettings.from_mapping({"api_key": "x"}, tmp_path)
    with pytest.raises(ConfigError, match="grid.live"):
        GridSettings.from_mapping({"live": "watttime"}, tmp_path)


def test_default_settings_give_the_bundled_data_and_no_instruments(tmp_path):
    settings = GridSettings.from_mapping(None, tmp_path)
    assert grid_data(settings) is GridData.bundled() and instruments(settings) is None


def test_live_electricitymaps_without_a_token_falls_back_and_says_so(monkeypatch, tmp_path, grid):
    monkeypatch.delenv("ELECTRICITYMAPS_API_TOKEN", raising=False)
    settings = GridSettings.from_mapping({"live": "electricitymaps", "cache_dir": "cache"}, tmp_path)
    start, end = pd.Timestamp("2026-11-01T00:00Z"), pd.Timestamp("2026-11-02T00:00Z")
    live = with_live(grid, settings, ["NL"], start, end)
    line = (pd.Series(["azure"]), pd.Series(["westeurope"]), pd.Series([start]), pd.Series([start + pd.Timedelta(hours=1)]))
    out, plain = live.annotate(*line).iloc[0], grid.annotate(*line).iloc[0]
    assert out["x_CarbonIntensity"] == plain["x_CarbonIntensity"]
    assert out["x_IntensitySource"].endswith("failed: electricitymaps: no API token (set ELECTRICITYMAPS_API_TOKEN); bundled data used")
    assert not Path(tmp_path / "cache").exists()

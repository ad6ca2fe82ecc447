"""Recommendations and carbon statements: greener regions, greener hours, and the paper paragraph."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from conftest import billing_rows

from carbonledger.cli import main
from footprint.energy import PowerModel
from footprint.hardware import HardwareCatalogue
from footprint.ledger import build_ledger
from footprint.recommend import COLUMNS, Availability, policy_from_allowed, recommend
from footprint.statement import carbon_statement
from intensity import GridData

GRID = GridData.bundled()
TRAIN = '{"project": "llm", "team": "research", "workload": "training"}'
DEFERRABLE = '{"project": "batch", "deferrable": "true"}'


def hourly_lines(instance: str, region: str, start: str, hours: int, tags: str) -> list[dict]:
    first = pd.Timestamp(start)
    return [{"x_InstanceType": instance, "RegionId": region, "x_UsageHours": 1.0, "ConsumedQuantity": 1.0,
             "ConsumedUnit": "Hrs", "Tags": tags, "x_Project": json.loads(tags)["project"], "BilledCost": 32.77,
             "ChargePeriodStart": (first + pd.Timedelta(hours=h)).isoformat(),
             "ChargePeriodEnd": (first + pd.Timedelta(hours=h + 1)).isoformat()} for h in range(hours)]


@pytest.fixture(scope="module")
def ledger() -> pd.DataFrame:
    rows = hourly_lines("p4d.24xlarge", "us-east-1", "2022-03-01T00:00Z", 6, TRAIN)
    rows += hourly_lines("g5.xlarge", "us-east-1", "2022-03-01T08:00Z", 4, DEFERRABLE)
    return build_ledger(billing_rows(rows), catalogue=HardwareCatalogue.bundled(), grid=GRID, model=PowerModel.default())


def test_region_move_replays_the_same_hours_at_the_targets_pue_and_hourly_intensity(ledger):
    recs = recommend(ledger, GRID, project="llm")
    assert list(recs.columns) == list(COLUMNS)
    moves = recs[recs["kind"] == "region"]
    assert 0 < len(moves) <= 3 and (moves["co2e_saving_kg"] > 0).all()
    assert moves["co2e_saving_kg"].is_monotonic_decreasing
    assert not moves["to_region"].str.startswith(("us-gov-", "cn-")).any()
    best = moves.iloc[0]
    offers = Availability.bundled().table
    assert ((offers["instance_type"] == "p4d.24xlarge") & (offers["region"] == best["to_region"])).any()
    # independent replay: IT energy of each hour x the target's PUE x its intensity in that hour
    lines = ledger[ledger["x_Project"] == "llm"]
    info = GRID.region_info("aws", best["to_region"])
    hourly = GRID.hourly(info.grid_zone, pd.Timestamp("2022-03-01T00:00Z"), pd.Timestamp("2022-03-01T06:00Z"))
    expected = float(np.dot(lines["x_ItEnergyKwh"].to_numpy(), hourly.to_numpy())) * info.pue / 1000
    assert best["co2e_kg_moved"] == pytest.approx(expected, rel=1e-9)
    assert best["co2e_kg_current"] == pytest.approx(lines["x_Co2eKg"].sum())
    assert best["saving_fraction"] == pytest.approx(best["co2e_saving_kg"] / best["co2e_kg_current"])
    p4d = offers[offers["instance_type"] == "p4d.24xlarge"].set_index("region")["on_demand_usd_per_hour"]
    assert best["cost_delta"] == pytest.approx(round((p4d[best["to_region"]] - p4d["us-east-1"]) * 6, 2))


def test_policy_limits_the_candidates(ledger):
    only_oregon = policy_from_allowed({"llm": ["us-west-2"]})
    moves = recommend(ledger, GRID, project="llm", policy=only_oregon)
    assert set(moves["to_region"]) <= {"us-west-2"}


def test_time_shift_only_for_deferrable_work_and_equals_brute_force(ledger):
    recs = recommend(ledger, GRID, window_hours=12)
    shifts = recs[recs["kind"] == "time"]
    assert set(shifts["project"]) == {"batch"}
    lines = ledger[ledger["x_Project"] == "batch"]
    zone = GRID.region_info("aws", "us-east-1").grid_zone
    intensity = GRID.hourly(zone, pd.Timestamp("2022-03-01T08:00Z"), pd.Timestamp("2022-03-02T01:00Z")).to_numpy()
    energy = lines["x_ItEnergyKwh"].to_numpy()
    by_shift = [float(np.dot(energy, intensity[s:s + 4])) for s in range(13)]
    flexible = shifts[shifts["caveats"].str.startswith("flexible start")]
    if min(by_shift) < by_shift[0]:
        assert flexible.iloc[0]["saving_fraction"] == pytest.approx(1 - min(by_shift) / by_shift[0], rel=1e-9)
        assert f"begin {int(np.argmin(by_shift))} h later" in flexible.iloc[0]["caveats"]
    assert (shifts["window_hours"] == 12).all() and (shifts["to_region"] == "us-east-1").all()


def test_statement_sums_the_projects_rows(ledger):
    text = carbon_statement(ledger, "llm", start=dt.date(2022, 3, 1), end=dt.date(2022, 3, 1))
    llm = ledger[ledger["x_Project"] == "llm"]
    assert text.startswith("## Carbon statement: llm")
    assert f"**{llm['x_EnergyKwh'].sum():,.0f} kWh**" in text
    assert f"| Accelerator-hours | {8 * 6:,} |" in text
    assert "p4d.24xlarge (8 × NVIDIA A100" in text and "Lacoste et al." in text and "Patterson et al." in text
    assert "Electricity Maps" in text


def test_recommend_and_statement_commands(ledger, tmp_path, capsys):
    ledger.to_parquet(tmp_path / "ledger.parquet")
    assert main(["recommend", "--ledger", str(tmp_path), "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert records and set(COLUMNS) <= set(records[0])
    assert {r["kind"] for r in records} == {"region", "time"}
    assert main(["statement", "--ledger", str(tmp_path), "--project", "llm"]) == 0
    assert "## Carbon statement: llm" in capsys.readouterr().out
    assert main(["statement", "--ledger", str(tmp_path), "--project", "nope"]) == 2
    assert "projects: batch, llm" in capsys.readouterr().err

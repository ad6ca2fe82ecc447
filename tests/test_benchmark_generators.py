"""The synthetic billing-month generators (benchmarks/): every generator and format reads through
``carbonledger estimate``, ties out, and maps its compute lines to hardware.

Small files (5,000 rows) keep this fast; the generators' scale behaviour is what benchmarks/ measures.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from carbonledger.cli import main

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
ROWS = 5_000
CASES = [("generate_cur_month", "parquet", "aws-cur"), ("generate_cur_month", "csv.gz", "aws-cur"),
         ("generate_gcp_month", "parquet", "gcp"), ("generate_gcp_month", "csv.gz", "gcp"),
         ("generate_gcp_month", "jsonl.gz", "gcp"),
         ("generate_focus_month", "parquet", "focus"), ("generate_focus_month", "csv.gz", "focus")]


def generator(name: str) -> ModuleType:
    if name not in sys.modules:
        sys.path.insert(0, str(BENCHMARKS))
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    return {name: generator(name).generate(ROWS, seed=7) for name in {c[0] for c in CASES}}


def cost_per_currency(name: str, table: pa.Table) -> dict[str, float]:
    """Each currency's total billed cost, straight from the generated table."""
    cost, currency = {"generate_cur_month": ("lineItem/UnblendedCost", "lineItem/CurrencyCode"),
                      "generate_gcp_month": ("cost", "currency"),
                      "generate_focus_month": ("BilledCost", "BillingCurrency")}[name]
    frame = pd.DataFrame({"cost": table[cost].to_numpy(), "currency": table[currency].cast(pa.string()).to_pandas()})
    return frame.groupby("currency")["cost"].sum().to_dict()


@pytest.mark.parametrize(("name", "fmt", "reader"), CASES, ids=[f"{c[0][9:-6]}-{c[1]}" for c in CASES])
def test_generated_month_reads_ties_out_and_maps_compute(name, fmt, reader, tables, tmp_path, capsys):
    table = tables[name]
    path = generator(name).write(table, tmp_path / "in", fmt)
    assert path.name.endswith(fmt) and path.stat().st_size > 0
    out = tmp_path / "out"
    assert main(["-q", "estimate", str(path), "--format", reader, "--out", str(out), "--no-report"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    # the tie-out: every row and every cent of each currency is in the ledger or the quarantine
    assert summary["rows_in"] == ROWS == summary["rows_ledger"] + summary["rows_quarantined"]
    assert summary["tie_out_ok"] and summary["rows_quarantined"] == 0
    expected = cost_per_currency(name, table)
    assert set(summary["cost_by_currency"]) == set(expected)
    for currency, totals in summary["cost_by_currency"].items():
        assert Decimal(totals["in"]) == Decimal(totals["ledger"]) + Decimal(totals["quarantined"])
        assert float(totals["in"]) == pytest.approx(expected[currency], rel=1e-9)
    # compute lines map to hardware (the generators draw instance types from the catalogue)
    ledger = pd.read_parquet(out / "ledger.parquet")
    compute = ledger[ledger["x_EstimateBasis"].isin(["modelled", "unmapped"])]
    assert len(compute) > 0.4 * ROWS
    assert (compute["x_EstimateBasis"] == "modelled").mean() >= 0.95
    assert summary["unmapped"] == []
    assert ledger["x_GpuModel"].notna().sum() > 0 and summary["co2e_kg"] > 0
    assert set(ledger["x_EstimateBasis"]) >= {"modelled", "non_usage"}
    assert ledger["x_Project"].str.startswith("proj-").mean() > 0.5


def test_gcp_shapes_give_the_same_ledger(tables, tmp_path):
    module = generator("generate_gcp_month")
    totals = []
    for fmt in ("parquet", "csv.gz", "jsonl.gz"):
        path = module.write(tables["generate_gcp_month"], tmp_path / fmt, fmt)
        assert main(["-q", "estimate", str(path), "--format", "gcp", "--out", str(tmp_path / f"out-{fmt}"),
                     "--no-report"]) == 0
        summary = json.loads((tmp_path / f"out-{fmt}" / "summary.json").read_text())
        totals.append((summary["cost_by_currency"], summary["rows_by_basis"], round(summary["co2e_kg"], 6)))
    assert totals[0] == totals[1] == totals[2]


def test_gcp_export_shape(tables):
    table = tables["generate_gcp_month"]
    schema = table.schema
    assert pa.types.is_list(schema.field("labels").type) and pa.types.is_struct(schema.field("usage").type)
    assert pa.types.is_timestamp(schema.field("usage_start_time").type)
    sku = table["sku"].combine_chunks().field("description").cast(pa.string())
    assert pc.any(pc.match_substring(sku, "Instance Core running in")).as_py()
    assert pc.any(pc.match_substring_regex(sku, r"^Nvidia .+ GPU running in")).as_py()
    credits = table["credits"].combine_chunks()
    assert 0 < pc.sum(pc.list_value_length(credits)).as_py() < ROWS
    assert (pc.sum(credits.flatten().field("amount")).as_py() or 0) < 0       # credits are negative, never in cost
    assert set(table["cost_type"].combine_chunks().dictionary.to_pylist()) == {"regular", "tax", "adjustment",
                                                                               "rounding_error"}


def test_focus_has_the_1_2_columns_and_provider_extensions(tables):
    names = tables["generate_focus_month"].column_names
    core = [n for n in names if not n.startswith("x_")]
    assert len(core) == 57 and {"SkuPriceDetails", "InvoiceId", "PricingCurrency", "BillingAccountType"} <= set(core)
    assert {"x_SkuDetails", "x_ServiceCode"} <= set(names)


def test_generators_are_deterministic_per_seed(tables):
    for name, table in tables.items():
        module = generator(name)
        assert module.generate(ROWS, seed=7).equals(table)
        assert not module.generate(ROWS, seed=8).equals(table)

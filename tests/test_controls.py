"""Exact control totals: decimal sums per currency and the tie-out check."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from carbonledger.controls import ControlTotals, TieOut, TieOutError, exact_total


def test_exact_total_is_the_decimal_sum_of_the_written_values():
    values = pd.Series([0.1, 0.2, 12345678.12, -3.3333333333, None, 1e-10])
    # 0.1 + 0.2 + 12345678.12 - 3.3333333333 + 0.0000000001, as written (floats would give ...667004)
    assert exact_total(values) == Decimal("12345675.0866666668")


@given(st.lists(st.decimals(min_value=-10**9, max_value=10**9, places=6, allow_nan=False), max_size=60),
       st.integers(min_value=0, max_value=60))
def test_any_split_of_rows_ties_out_exactly(values, cut):
    frame = pd.DataFrame({"BilledCost": [float(v) for v in values], "BillingCurrency": "USD"})
    cut = min(cut, len(frame))
    whole, left, right = ControlTotals.of(frame), ControlTotals.of(frame.iloc[:cut]), ControlTotals.of(frame.iloc[cut:])
    assert TieOut.of(whole, left, right).ok
    assert whole.cost("USD") == sum(values, Decimal(0))


def test_tiny_and_huge_values_are_summed_exactly():
    values = pd.Series([1.23456789012345e-13, 1e15 + 0.5, -1e-25])
    assert exact_total(values) == Decimal("1000000000000000.500000000000123456789012345")


def test_totals_are_kept_per_currency():
    frame = pd.DataFrame({"BilledCost": [1.5, 2.25, 3.0], "BillingCurrency": ["USD", "EUR", "USD"]})
    totals = ControlTotals.of(frame)
    assert totals.rows == 3
    assert totals.cost("USD") == Decimal("4.5") and totals.cost("EUR") == Decimal("2.25")


def test_a_lost_row_or_cent_fails_the_tie_out_with_a_message():
    inputs = ControlTotals(3, {"USD": Decimal("10.00")})
    ledger = ControlTotals(2, {"USD": Decimal("9.99")})
    tie = TieOut.of(inputs, ledger, ControlTotals(0))
    assert not tie.ok
    with pytest.raises(TieOutError, match=r"rows: 3 in != 2 in ledger \+ 0 quarantined.*cost USD"):
        tie.check("test")


def test_usage_ties_out_per_unit_and_a_lost_zero_cost_row_is_caught():
    frame = pd.DataFrame({
        "BilledCost": [0.0, 1.5, 2.0], "BillingCurrency": ["USD"] * 3,
        "ConsumedQuantity": [0.1, 0.2, None], "ConsumedUnit": ["Hrs", "Hrs", "GB"],
    })
    inputs = ControlTotals.of(frame)
    assert inputs.usage_by_unit == {"Hrs": Decimal("0.3")}                  # exact: 0.1 + 0.2, not 0.30000000000000004
    whole = TieOut.of(inputs, ControlTotals.of(frame.iloc[1:]), ControlTotals.of(frame.iloc[:1]))
    assert whole.ok
    lost = TieOut.of(inputs, ControlTotals.of(frame.iloc[1:]), ControlTotals(rows=1))   # zero-cost row's usage lost
    assert lost.problems() == ["usage Hrs: 0.3 in != 0.2 in ledger + 0 quarantined"]

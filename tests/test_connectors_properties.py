"""Property tests: for any small FOCUS or CUR CSV, every row is in billing or quarantine and cost ties out."""

from __future__ import annotations

import csv
import tempfile
from decimal import Decimal, localcontext
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbonledger.controls import EXACT, ControlTotals, TieOut
from connectors import read_billing

GOOD_COSTS = st.decimals(min_value=Decimal("-100000"), max_value=Decimal("100000"), places=8,
                         allow_nan=False, allow_infinity=False).map(lambda d: format(d, "f"))
BAD_COSTS = st.sampled_from(["abc", "1,5", "--1", "NaN", "inf", "", "1.2.3"])
TIMESTAMPS = st.sampled_from(["2024-09-01 00:00:00", "2024-09-01T01:00:00Z", "2023-11-01T00:00:00.000Z",
                              "2024-13-01 00:00:00", "", "NULL", "yesterday"])
CURRENCIES = st.sampled_from(["USD", "EUR", ""])
FOCUS_HEADER = ["ChargePeriodStart", "ChargePeriodEnd", "BilledCost", "BillingCurrency", "ChargeCategory",
                "ProviderName", "ChargeDescription", "ConsumedQuantity", "ConsumedUnit", "Tags"]
CUR_HEADER = ["lineItem/UsageStartDate", "lineItem/UsageEndDate", "lineItem/UnblendedCost", "lineItem/CurrencyCode",
              "lineItem/LineItemType", "lineItem/UsageType", "lineItem/UsageAmount", "pricing/unit",
              "resourceTags/user:project"]


@st.composite
def focus_rows(draw):
    return [draw(TIMESTAMPS), "2024-09-01 02:00:00", draw(st.one_of(GOOD_COSTS, BAD_COSTS)), draw(CURRENCIES),
            draw(st.sampled_from(["Usage", "Tax", "Credit", "usage", "Nope"])),
            draw(st.sampled_from(["AWS", "Microsoft", "Google Cloud", "Acme"])),
            draw(st.sampled_from(["$1.624 per On Demand Linux g5.4xlarge Instance Hour", "storage", ""])),
            draw(st.sampled_from(["1", "0.5", "x", ""])), draw(st.sampled_from(["Hours", "GB"])),
            draw(st.sampled_from(["", '{"project": "p"}', '{"team": "t"}', "{broken"]))]


@st.composite
def cur_rows(draw):
    return [draw(TIMESTAMPS), "2024-09-01 02:00:00", draw(st.one_of(GOOD_COSTS, BAD_COSTS)), draw(CURRENCIES),
            draw(st.sampled_from(["Usage", "Tax", "SavingsPlanNegation", "RIFee", "Unknown"])),
            draw(st.sampled_from(["USE2-BoxUsage:p4d.24xlarge", "BoxUsage:m5.large", "EU-DataTransfer-Out-Bytes"])),
            draw(st.sampled_from(["1", "2.5", "?"])), draw(st.sampled_from(["Hrs", "GB"])),
            draw(st.sampled_from(["", "proj-a", 'quote"d']))]


def ragged(rows: list[list[str]], shapes: list[int]) -> list[list[str]]:
    """Make some rows ragged: shape 1 adds a field, shape 2 drops one, 0 leaves the row."""
    out = []
    for row, shape in zip(rows, shapes):
        out.append(row + ["extra"] if shape == 1 else row[:-1] if shape == 2 else row)
    return out


def check(header: list[str], rows: list[list[str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bill.csv"
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        result = read_billing([path])
    assert result.inputs.rows == len(rows) == len(result.billing) + len(result.quarantine)
    tie = TieOut.of(result.inputs, ControlTotals.of(result.billing), ControlTotals.of(result.quarantine))
    assert tie.problems() == []
    # cost_in is the exact sum of every readable cost of a well-formed row, per currency.
    expected: dict[str, Decimal] = {}
    with localcontext(EXACT):
        for row in rows:
            if len(row) != len(header):
                continue
            try:
                cost = Decimal(row[2])
            except ArithmeticError:
                continue
            if not cost.is_finite():
                continue
            key = row[3] or "?"
            expected[key] = expected.get(key, Decimal(0)) + cost
    for currency, total in expected.items():
        assert result.inputs.cost(currency) == total
    assert sorted(result.billing["x_SourceRow"].tolist() + result.quarantine["x_SourceRow"].tolist()) == \
        list(range(1, len(rows) + 1))


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.lists(focus_rows(), min_size=1, max_size=12), st.lists(st.sampled_from([0, 0, 0, 1, 2]), min_size=12, max_size=12))
def test_focus_every_row_accounted_for(rows, shapes):
    check(FOCUS_HEADER, ragged(rows, shapes))


@SETTINGS
@given(st.lists(cur_rows(), min_size=1, max_size=12), st.lists(st.sampled_from([0, 0, 0, 1, 2]), min_size=12, max_size=12))
def test_cur_every_row_accounted_for(rows, shapes):
    check(CUR_HEADER, ragged(rows, shapes))

"""Control totals: row counts, exact cost per currency and usage per unit, and the tie-out between stages.

Costs travel through the frames as float64. Totals are computed **exactly** in decimal: each value
is written in its shortest round-trip form (the number the export wrote, for any cost with up to
15 significant digits) and summed exactly (vectorised, no per-row Python): as scaled integers where
that form has at most 15 significant digits, else as ``decimal256(76, 40)`` by Arrow. Because
every row contributes the same exact decimal wherever it ends up,
``cost_in == cost_ledger + cost_quarantined`` holds to the last digit, not within a tolerance.
Magnitudes below 1e-20 of a currency unit are treated as zero. Usage (``ConsumedQuantity``) is
totalled the same way per ``ConsumedUnit``, so a row cannot vanish between stages even at zero cost.

What does not belong here: deciding what is quarantined (``connectors``, ``footprint.ledger``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Context, Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from carbonledger.codes import text_codes

_DECIMAL = pa.decimal256(76, 40)
_NEGLIGIBLE = 1e-20
ZERO = Decimal(0)
#: Decimal arithmetic wide enough that adding totals never rounds (the default context keeps 28 digits).
EXACT = Context(prec=120)


def exact_total(values: pd.Series | np.ndarray) -> Decimal:
    """Exact decimal sum of a float cost column; nulls count as zero."""
    return _exact_sum(np.asarray(pd.to_numeric(values, errors="coerce"), dtype="float64"))


#: 10**k as floats, exact for k <= 22.
_POWERS_OF_TEN = np.array([float(10**k) for k in range(23)])
#: Decimals of at most this many significant digits are further apart than one float ulp (DBL_DIG).
_UNIQUE_DIGITS = 15


def _exact_sum(floats: np.ndarray) -> Decimal:
    """Exact decimal sum of the shortest round-trip forms of ``floats`` (NaN skipped, negligible = 0).

    Most values are sums of a few cents or a price with a handful of digits: for those the written
    form is ``m x 10**-k`` with an integer ``m`` below 10**15, found with numpy and summed as
    integers. That is exact, not an approximation: ``m / 10**k`` rounding back to the float proves
    the decimal rounds to it, and no other decimal of at most 15 significant digits does, so it is
    the shortest round-trip form. The other values take Arrow's float -> string -> decimal path.
    """
    floats = floats[~np.isnan(floats)]
    floats[np.abs(floats) < _NEGLIGIBLE] = 0.0
    if floats.size == 0:
        return ZERO
    with np.errstate(divide="ignore", invalid="ignore"):
        digits = np.nan_to_num(_UNIQUE_DIGITS - 1 - np.floor(np.log10(np.abs(floats))), nan=0.0, posinf=0.0, neginf=0.0)
        exponent = np.clip(digits, 0, len(_POWERS_OF_TEN) - 1).astype(np.int64)
        scale = _POWERS_OF_TEN[exponent]
        scaled = np.rint(floats * scale)
        exact = (np.abs(scaled) < 10.0**_UNIQUE_DIGITS) & (scaled / scale == floats)
    total = ZERO
    integers, exponents = scaled[exact].astype(np.int64), exponent[exact]
    for k in np.unique(exponents):
        total = EXACT.add(total, Decimal(_integer_sum(integers[exponents == k])).scaleb(-int(k), EXACT))
    rest = floats[~exact]
    if rest.size:
        decimals = pa.array(rest).cast(pa.string()).cast(_DECIMAL)
        total = EXACT.add(total, Decimal(pc.sum(decimals).as_py()))
    return total.normalize(EXACT)


def _integer_sum(values: np.ndarray) -> int:
    """Exact sum of int64 values below 2**50 in magnitude (high and low 32 bits summed apart: no overflow)."""
    return (int((values >> 32).sum()) << 32) + int((values & 0xFFFFFFFF).sum())


def format_decimal(value: Decimal) -> str:
    """A total as plain digits (no exponent, no trailing zeros), for JSON and reports."""
    text = format(value.normalize(EXACT), "f")
    return "0" if text in ("-0", "0") else text


def totals_by_currency(cost: pd.Series, currency: pd.Series) -> dict[str, Decimal]:
    """Exact cost totals keyed by currency code (missing currency is keyed ``"?"``)."""
    return _totals_by_key(np.asarray(pd.to_numeric(cost, errors="coerce"), dtype="float64"), currency, "?")


def totals_by_unit(quantity: pd.Series, unit: pd.Series) -> dict[str, Decimal]:
    """Exact usage totals keyed by unit, over rows that have a quantity (no unit: ``"(none)"``)."""
    has_quantity = quantity.notna().to_numpy(dtype=bool)
    values = np.asarray(pd.to_numeric(quantity[has_quantity], errors="coerce"), dtype="float64")
    return _totals_by_key(values, unit[has_quantity], "(none)")


def _totals_by_key(values: np.ndarray, keys: pd.Series, missing: str) -> dict[str, Decimal]:
    """Exact totals per key, sorted by key; the key of each row is found once per distinct value."""
    codes, uniques = text_codes(keys.astype("string"))
    labels = [str(key) for key in uniques]
    if (codes < 0).any():
        labels.append(missing)              # code -1 (no key) takes the last label
    names = sorted(set(labels))
    position = {name: i for i, name in enumerate(names)}
    group = np.array([position[label] for label in labels], dtype=np.int64)[codes]
    return {name: _exact_sum(values[group == i]) for i, name in enumerate(names)}


@dataclass(frozen=True)
class ControlTotals:
    """Rows and exact cost per currency of one set of rows."""

    rows: int
    cost_by_currency: dict[str, Decimal] = field(default_factory=dict)
    usage_by_unit: dict[str, Decimal] = field(default_factory=dict)

    @classmethod
    def of(cls, frame: pd.DataFrame) -> "ControlTotals":
        """Totals of a frame with ``BilledCost`` and ``BillingCurrency`` (and usage, where it has
        ``ConsumedQuantity`` and ``ConsumedUnit``: every canonical frame does)."""
        if frame.empty:
            return cls(rows=0)
        has_usage = {"ConsumedQuantity", "ConsumedUnit"} <= set(frame.columns)
        usage = totals_by_unit(frame["ConsumedQuantity"], frame["ConsumedUnit"]) if has_usage else {}
        return cls(len(frame), totals_by_currency(frame["BilledCost"], frame["BillingCurrency"]), usage)

    def __add__(self, other: "ControlTotals") -> "ControlTotals":
        return ControlTotals(self.rows + other.rows, _add(self.cost_by_currency, other.cost_by_currency),
                             _add(self.usage_by_unit, other.usage_by_unit))

    def cost(self, currency: str) -> Decimal:
        return self.cost_by_currency.get(currency, ZERO)


def _add(a: dict[str, Decimal], b: dict[str, Decimal]) -> dict[str, Decimal]:
    out = dict(a)
    for key, value in b.items():
        out[key] = EXACT.add(out.get(key, ZERO), value)
    return out


def _unbalanced(what: str, keys: list[str], inputs: dict[str, Decimal], ledger: dict[str, Decimal],
                quarantined: dict[str, Decimal]) -> list[str]:
    """One message per key (currency or unit) whose input total is not ledger + quarantined, exactly."""
    out = []
    for key in keys:
        tin, tled, tq = inputs.get(key, ZERO), ledger.get(key, ZERO), quarantined.get(key, ZERO)
        if tin != EXACT.add(tled, tq):
            out.append(f"{what} {key}: {tin} in != {tled} in ledger + {tq} quarantined")
    return out


class TieOutError(AssertionError):
    """Control totals do not tie out: rows or cost were lost or invented between two stages."""


@dataclass(frozen=True)
class TieOut:
    """The reconciliation ``in == ledger + quarantined`` for rows, cost per currency and usage per unit."""

    rows_in: int
    rows_ledger: int
    rows_quarantined: int
    cost_in: dict[str, Decimal]
    cost_ledger: dict[str, Decimal]
    cost_quarantined: dict[str, Decimal]
    usage_in: dict[str, Decimal] = field(default_factory=dict)
    usage_ledger: dict[str, Decimal] = field(default_factory=dict)
    usage_quarantined: dict[str, Decimal] = field(default_factory=dict)

    @classmethod
    def of(cls, inputs: ControlTotals, ledger: ControlTotals, quarantine: ControlTotals) -> "TieOut":
        return cls(
            inputs.rows, ledger.rows, quarantine.rows,
            inputs.cost_by_currency, ledger.cost_by_currency, quarantine.cost_by_currency,
            inputs.usage_by_unit, ledger.usage_by_unit, quarantine.usage_by_unit,
        )

    @property
    def units(self) -> list[str]:
        return sorted(set(self.usage_in) | set(self.usage_ledger) | set(self.usage_quarantined))

    @property
    def currencies(self) -> list[str]:
        return sorted(set(self.cost_in) | set(self.cost_ledger) | set(self.cost_quarantined))

    def problems(self) -> list[str]:
        """Human-readable list of every way the totals fail to tie out (empty if they do)."""
        out = []
        if self.rows_in != self.rows_ledger + self.rows_quarantined:
            out.append(
                f"rows: {self.rows_in} in != {self.rows_ledger} in ledger + "
                f"{self.rows_quarantined} quarantined"
            )
        out += _unbalanced("cost", self.currencies, self.cost_in, self.cost_ledger, self.cost_quarantined)
        out += _unbalanced("usage", self.units, self.usage_in, self.usage_ledger, self.usage_quarantined)
        return out

    @property
    def ok(self) -> bool:
        return not self.problems()

    def check(self, stage: str) -> None:
        """Raise :class:`TieOutError` naming ``stage`` if the totals do not tie out."""
        problems = self.problems()
        if problems:
            raise TieOutError(f"control totals do not tie out at {stage}: " + "; ".join(problems))

"""Human-readable numbers for the report: thousands separators and a sensible unit per magnitude.

Only presentation of single numbers lives here (they become Jinja filters); no aggregation, no HTML.
Missing values (None, NaN) render as an en dash.
"""

from __future__ import annotations

import math

MISSING = "–"


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def number(value: float | None, decimals: int = 0) -> str:
    """``1234567.8`` -> ``'1,234,568'`` (or with ``decimals`` places)."""
    if _missing(value):
        return MISSING
    return f"{float(value):,.{decimals}f}"


def _significant(value: float) -> str:
    """Three significant figures or so, thousands separated: 0.0123, 1.23, 12.3, 123, 1,234."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    decimals = 0 if magnitude >= 100 else 1 if magnitude >= 10 else 2 if magnitude >= 1 else 3 if magnitude >= 0.01 else 4
    return f"{value:,.{decimals}f}"


def energy(kwh: float | None) -> str:
    """Facility energy in kWh, MWh or GWh."""
    if _missing(kwh):
        return MISSING
    for scale, unit in ((1e6, "GWh"), (1e3, "MWh")):
        if abs(kwh) >= scale:
            return f"{_significant(kwh / scale)} {unit}"
    return f"{_significant(kwh)} kWh"


def mass(kg: float | None) -> str:
    """CO2e mass in kg below one tonne, else in tonnes (t) or kilotonnes (kt)."""
    if _missing(kg):
        return MISSING
    for scale, unit in ((1e6, "kt"), (1e3, "t")):
        if abs(kg) >= scale:
            return f"{_significant(kg / scale)} {unit}"
    return f"{_significant(kg)} kg"


def money(amount: float | None, currency: str | None) -> str:
    """``1234.5, 'USD'`` -> ``'1,234.50 USD'``."""
    if _missing(amount):
        return MISSING
    return f"{float(amount):,.2f} {currency or ''}".rstrip()


def percent(fraction: float | None, decimals: int = 1) -> str:
    """``0.9876`` -> ``'98.8 %'``."""
    if _missing(fraction):
        return MISSING
    return f"{float(fraction) * 100:,.{decimals}f} %"


def tick(value: float) -> str:
    """A chart axis label: short, thousands separated."""
    return _significant(value)

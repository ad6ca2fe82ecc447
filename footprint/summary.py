"""The run summary (``summary.json``) from ledger lines, additive over batches.

``LedgerTotals.of(ledger)`` keeps what the summary needs from a set of ledger lines: energy and
emissions sums, exact compute and covered cost per currency, row counts per basis, the unmapped
instance types, emissions per project and region, the period. Totals of consecutive batches add
(``+``), so a month streamed batch by batch gets the same summary as the month read whole (float
sums are added batch by batch, so they may differ from a whole-frame sum in the last bits).
``summary_of`` turns totals, quarantine reasons and the tie-out into the summary;
``summarise`` does both for a ledger in memory.

What does not belong here: building the ledger (``ledger``), the report layout (``reports``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

import numpy as np
import pandas as pd

from carbonledger.codes import text_codes
from carbonledger.controls import EXACT, ZERO, TieOut, exact_total, format_decimal
from footprint.ledger import labels_by_combination

#: The summed ledger columns and their summary keys.
_SUMS = {
    "energy_kwh": "x_EnergyKwh", "energy_kwh_low": "x_EnergyKwhLow", "energy_kwh_high": "x_EnergyKwhHigh",
    "co2e_kg": "x_Co2eKg", "co2e_kg_low": "x_Co2eKgLow", "co2e_kg_high": "x_Co2eKgHigh",
    "co2e_kg_market": "x_Co2eKgMarket", "embodied_co2e_kg": "x_EmbodiedCo2eKg",
}
_UNMAPPED_KEYS = ["ProviderName", "x_InstanceType", "BillingCurrency"]
_ESTIMATED = ["modelled", "measured", "calibrated"]
_TOP = 5


@dataclass(frozen=True)
class LedgerTotals:
    """What the summary needs from a set of ledger lines; ``+`` adds two sets."""

    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_SUMS, 0.0))
    energy_kwh_by_kind: dict[str, float] = field(default_factory=dict)
    compute_cost: dict[str, Decimal] = field(default_factory=dict)
    covered_cost: dict[str, Decimal] = field(default_factory=dict)
    rows_by_basis: dict[str, int] = field(default_factory=dict)
    intensity_basis_rows: dict[str, int] = field(default_factory=dict)
    unmapped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=[*_UNMAPPED_KEYS, "cost", "rows", "usage_hours"]))
    co2e_kg_by_project: dict[str, float] = field(default_factory=dict)
    co2e_kg_by_region: dict[str, float] = field(default_factory=dict)
    first_start: pd.Timestamp | None = None
    last_start: pd.Timestamp | None = None

    @classmethod
    def of(cls, ledger: pd.DataFrame) -> "LedgerTotals":
        if ledger.empty:
            return cls()
        # flags and labels are worked out per distinct value, then taken by code
        kind_codes, kinds = _codes(ledger["x_UsageKind"])
        compute_like = np.array([k not in ("storage", "network") for k in kinds] + [True])[kind_codes]
        basis = ledger["x_EstimateBasis"]
        basis_codes, bases = _codes(basis)
        compute = np.array([b in (*_ESTIMATED, "unmapped") for b in bases] + [False])[basis_codes] & compute_like
        estimated = np.array([b in _ESTIMATED for b in bases] + [False])[basis_codes] & compute_like
        currency_codes, currencies = _codes(ledger["BillingCurrency"])
        cost = ledger["BilledCost"].to_numpy(dtype="float64")
        compute_cost, covered_cost = {}, {}
        for i, cur in enumerate(currencies):
            in_cur = currency_codes == i
            compute_cost[str(cur)] = exact_total(cost[compute & in_cur])
            covered_cost[str(cur)] = exact_total(cost[estimated & in_cur])
        emitting = np.flatnonzero(ledger["x_Co2eKg"].to_numpy() > 0)
        co2e = ledger["x_Co2eKg"].to_numpy()[emitting]
        projects = _labelled(lambda project: "(none)" if project is None else project, emitting, ledger["x_Project"])
        regions = _labelled(lambda provider, region: None if provider is None else f"{provider}:{'(none)' if region is None else region}",
                            emitting, ledger["ProviderName"], ledger["RegionId"])
        unmapped = np.array([b == "unmapped" for b in bases] + [False])[basis_codes]
        starts = ledger["ChargePeriodStart"]
        return cls(
            sums={key: float(ledger[col].sum()) for key, col in _SUMS.items()},
            energy_kwh_by_kind=_sum_by_label(ledger["x_EnergyKwh"].to_numpy(), kind_codes, list(kinds)),
            compute_cost=compute_cost,
            covered_cost=covered_cost,
            rows_by_basis=_counts(basis_codes, bases),
            intensity_basis_rows=_counts(*_codes(ledger["x_IntensityBasis"])),
            unmapped=_unmapped(ledger.loc[unmapped, [*_UNMAPPED_KEYS, "BilledCost", "x_UsageHours"]]),
            co2e_kg_by_project=_sum_by_label(co2e, *projects),
            co2e_kg_by_region=_sum_by_label(co2e, *regions),
            first_start=starts.min(),
            last_start=starts.max(),
        )

    def __add__(self, other: "LedgerTotals") -> "LedgerTotals":
        return LedgerTotals(
            sums={key: self.sums[key] + other.sums[key] for key in _SUMS},
            energy_kwh_by_kind=_add(self.energy_kwh_by_kind, other.energy_kwh_by_kind),
            compute_cost=_add(self.compute_cost, other.compute_cost),
            covered_cost=_add(self.covered_cost, other.covered_cost),
            rows_by_basis=_add(self.rows_by_basis, other.rows_by_basis),
            intensity_basis_rows=_add(self.intensity_basis_rows, other.intensity_basis_rows),
            unmapped=_unmapped_merged(self.unmapped, other.unmapped),
            co2e_kg_by_project=_add(self.co2e_kg_by_project, other.co2e_kg_by_project),
            co2e_kg_by_region=_add(self.co2e_kg_by_region, other.co2e_kg_by_region),
            first_start=_extreme(min, self.first_start, other.first_start),
            last_start=_extreme(max, self.last_start, other.last_start),
        )

    def coverage(self, currency: str) -> float:
        """Share of compute cost in ``currency`` whose energy is estimated (1.0 where there is none)."""
        compute = self.compute_cost.get(currency, ZERO)
        return float(self.covered_cost.get(currency, ZERO) / compute) if compute else 1.0


def reason_counts(quarantine: pd.DataFrame) -> dict[str, int]:
    """Quarantined rows per reason (the reason's first clause, e.g. the column it names)."""
    if quarantine.empty:
        return {}
    first_clause = quarantine["x_Reason"].astype("string").str.split(":", n=1).str[0]
    return {str(k): int(v) for k, v in first_clause.value_counts().items()}


def summarise(ledger: pd.DataFrame, quarantine: pd.DataFrame, tie_out: TieOut) -> dict[str, Any]:
    """The run summary written as ``summary.json`` (keys documented in README.md)."""
    return summary_of(LedgerTotals.of(ledger), reason_counts(quarantine), tie_out)


def summary_of(totals: LedgerTotals, quarantine_reasons: dict[str, int], tie_out: TieOut) -> dict[str, Any]:
    """The summary from accumulated ledger totals, the quarantine's reason counts and the tie-out."""
    currencies = tie_out.currencies
    single = currencies[0] if len(currencies) == 1 else None
    coverage = {cur: totals.coverage(cur) for cur in currencies}

    def money(values: dict[str, Decimal]) -> float | None:
        return float(values.get(single, ZERO)) if single else None

    unmapped = totals.unmapped.sort_values("cost", ascending=False)
    return {
        "rows_in": tie_out.rows_in,
        "rows_ledger": tie_out.rows_ledger,
        "rows_quarantined": tie_out.rows_quarantined,
        "cost_in": money(tie_out.cost_in),
        "cost_ledger": money(tie_out.cost_ledger),
        "cost_quarantined": money(tie_out.cost_quarantined),
        "currency": single or ("mixed" if currencies else None),
        "cost_by_currency": {
            cur: {
                "in": format_decimal(tie_out.cost_in.get(cur, ZERO)),
                "ledger": format_decimal(tie_out.cost_ledger.get(cur, ZERO)),
                "quarantined": format_decimal(tie_out.cost_quarantined.get(cur, ZERO)),
            }
            for cur in currencies
        },
        "tie_out_ok": tie_out.ok,
        "period_start": totals.first_start.date().isoformat() if totals.first_start is not None else None,
        "period_end": totals.last_start.date().isoformat() if totals.last_start is not None else None,
        **totals.sums,
        "energy_kwh_by_kind": dict(sorted(totals.energy_kwh_by_kind.items())),
        "coverage_cost_fraction": min(coverage.values()) if coverage else 1.0,
        "coverage_cost_fraction_by_currency": coverage,
        "rows_by_basis": dict(sorted(totals.rows_by_basis.items())),
        "intensity_basis_rows": dict(sorted(totals.intensity_basis_rows.items())),
        "unmapped": [
            {
                "provider": r.ProviderName, "instance_type": r.x_InstanceType, "currency": r.BillingCurrency,
                "cost": float(r.cost), "rows": int(r.rows), "usage_hours": float(r.usage_hours),
            }
            for r in unmapped.itertuples(index=False)
        ],
        "quarantine_reasons": quarantine_reasons,
        "top_projects": _top(totals.co2e_kg_by_project),
        "top_regions": _top(totals.co2e_kg_by_region),
    }


def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Code of each value (-1 where missing) and the distinct values, in order of appearance."""
    return text_codes(values)


def _labelled(label: Callable[..., str | None], rows: np.ndarray, *columns: pd.Series) -> tuple[np.ndarray, list[str | None]]:
    """Code of each of ``rows``' combination of the columns' values and its ``label`` (missing values passed as None)."""
    return labels_by_combination(label, *(np.asarray(column.array, dtype=object)[rows] for column in columns))


def _sum_by_label(values: np.ndarray, codes: np.ndarray, labels: list[str | None]) -> dict[str, float]:
    """Sums of ``values`` per label (as a groupby on the label column would give them: sorted, null labels left out)."""
    names = sorted({label for label in labels if label is not None})
    position = {name: i for i, name in enumerate(names)}
    group = np.array([position.get(label, -1) for label in labels] + [-1], dtype=np.int64)[codes]
    kept = group >= 0
    sums = pd.Series(values[kept]).groupby(group[kept]).sum()
    return {names[i]: float(v) for i, v in sums.items()}


def _counts(codes: np.ndarray, values: np.ndarray) -> dict[str, int]:
    """Rows per value, most first (ties in order of appearance, as ``value_counts`` lists them); nulls left out."""
    counts = np.bincount(codes[codes >= 0], minlength=len(values))
    return {str(values[i]): int(counts[i]) for i in np.argsort(-counts, kind="stable")}


def _add(a: dict, b: dict) -> dict:
    merged = dict(a)
    with localcontext(EXACT):         # Decimal totals add without rounding
        for key, value in b.items():
            merged[key] = merged[key] + value if key in merged else value
    return merged


def _unmapped(lines: pd.DataFrame) -> pd.DataFrame:
    return (
        lines.groupby(_UNMAPPED_KEYS, dropna=False, observed=True)
        .agg(cost=("BilledCost", "sum"), rows=("BilledCost", "size"), usage_hours=("x_UsageHours", "sum"))
        .reset_index()
    )


def _unmapped_merged(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    parts = [f for f in (a, b) if len(f)]
    if len(parts) < 2:
        return parts[0] if parts else a
    return (pd.concat(parts, ignore_index=True).groupby(_UNMAPPED_KEYS, dropna=False, observed=True)
            .agg(cost=("cost", "sum"), rows=("rows", "sum"), usage_hours=("usage_hours", "sum")).reset_index())


def _extreme(pick, a: pd.Timestamp | None, b: pd.Timestamp | None) -> pd.Timestamp | None:
    present = [t for t in (a, b) if t is not None and not pd.isna(t)]
    return pick(present) if present else None


def _top(co2e_kg_by_name: dict[str, float], n: int = _TOP) -> list[dict[str, Any]]:
    """The ``n`` largest emitters (location-based kgCO2e), for the printed summary."""
    top = pd.Series(dict(sorted(co2e_kg_by_name.items())), dtype="float64").sort_values(ascending=False).head(n)
    return [{"name": str(k), "co2e_kg": float(v)} for k, v in top.items()]

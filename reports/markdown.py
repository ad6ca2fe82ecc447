"""Short Markdown previews of a run's headline numbers (for the Dagster UI and chat notifications).

Built from a ``summary.json`` mapping only, so any consumer can render one without the ledger.
Not here: the HTML report (``builder``), project pages (``site``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reports import units


def headline_markdown(summary: Mapping[str, Any], *, title: str) -> str:
    """A title, a tie-out line and a small table of the headline figures with their ranges."""
    tie = "ties out" if summary.get("tie_out_ok") else "**DOES NOT TIE OUT**"
    costs = "; ".join(units.money(float(v["ledger"]), cur) for cur, v in (summary.get("cost_by_currency") or {}).items())
    top = "; ".join(f"{p['name']} {units.mass(p['co2e_kg'])}" for p in (summary.get("top_projects") or [])[:3])
    rows = [
        ("Location-based CO2e", f"{units.mass(summary.get('co2e_kg'))} (range {units.mass(summary.get('co2e_kg_low'))}"
                                f" – {units.mass(summary.get('co2e_kg_high'))})"),
        ("Market-based CO2e", units.mass(summary.get("co2e_kg_market"))),
        ("Embodied CO2e", units.mass(summary.get("embodied_co2e_kg"))),
        ("Facility energy", units.energy(summary.get("energy_kwh"))),
        ("Cost in ledger", costs or "–"),
        ("Coverage of compute cost", units.percent(summary.get("coverage_cost_fraction"))),
        ("Top projects", top or "–"),
    ]
    return "\n".join([
        f"### {title}",
        "",
        f"{summary.get('rows_in', 0):,} rows in = {summary.get('rows_ledger', 0):,} ledger + "
        f"{summary.get('rows_quarantined', 0):,} quarantined: {tie}.",
        "",
        "| | |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in rows),
    ])

"""Per-project pages: a static site (``projects/index.html`` + one page per project) built from a ledger.

Engineers open their project's page: headline figures with their range, emissions by day, every
resource the project billed (filterable in the page), each figure summed from ledger rows, and,
when the caller passes them, the project's recommendations and its carbon statement for a paper.
``team`` limits the site to one team's projects (the per-team bundle). Pages are self-contained
(inline CSS and SVG); the only script is the resource filter, and every text from billing data is
escaped by the template. What belongs here: choosing and aggregating what a project page shows.
Not here: the organisation report (``builder``), drawing (``svg``), number formats (``units``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from carbonledger import io
from reports import units
from reports.builder import daily_section, environment
from reports.tables import breakdowns

#: Project label of lines with no project (the connectors attribute untagged lines to their account,
#: so this appears only for ledgers built elsewhere).
UNATTRIBUTED = "(unattributed)"
NO_RESOURCE = "(no resource id)"

_RESOURCE_KEYS = {"resource": "ResourceId", "provider": "ProviderName", "region": "RegionId",
                  "instance_type": "x_InstanceType", "gpu_model": "x_GpuModel", "currency": "BillingCurrency"}
_RESOURCE_MEASURES = {"usage_hours": "x_UsageHours", "energy_kwh": "x_EnergyKwh", "co2e_kg": "x_Co2eKg",
                      "co2e_kg_low": "x_Co2eKgLow", "co2e_kg_high": "x_Co2eKgHigh",
                      "co2e_kg_market": "x_Co2eKgMarket", "embodied_co2e_kg": "x_EmbodiedCo2eKg", "cost": "BilledCost"}


@dataclass(frozen=True)
class SitePaths:
    """Where the project site was written: its index and each project's page."""

    index: Path
    pages: dict[str, Path]


def page_name(project: str) -> str:
    """A stable, safe file name for a project's page (slug plus a short hash, so names never collide)."""
    slug = re.sub(r"[^a-z0-9]+", "-", project.lower()).strip("-")[:48] or "project"
    return f"{slug}-{hashlib.sha256(project.encode('utf-8')).hexdigest()[:8]}.html"


def write_project_pages(ledger: pd.DataFrame, out_dir: Path, *, team: str | None = None,
                        org_report: str | None = "../report.html", recommendations: pd.DataFrame | None = None,
                        statements: Mapping[str, str] | None = None) -> SitePaths:
    """Write ``out_dir/projects/index.html`` and one page per project (of ``team`` only, if given),
    each with the project's ``recommendations`` rows and its carbon statement (Markdown) when given."""
    frame = ledger if team is None else ledger[ledger["x_Team"] == team]
    projects = frame["x_Project"].astype("string").fillna(UNATTRIBUTED)
    site_dir = Path(out_dir) / "projects"
    env = environment()
    pages: dict[str, Path] = {}
    index_rows = []
    for project, rows in frame.groupby(projects, sort=True):
        context = _project_context(str(project), rows, org_report)
        context["recommendations"] = _project_recommendations(recommendations, str(project))
        context["statement"] = (statements or {}).get(str(project))
        pages[str(project)] = io.write_text(site_dir / page_name(str(project)),
                                            env.get_template("project.html.j2").render(**context))
        index_rows.append(context["index_row"])
    index_rows.sort(key=lambda r: (-r["co2e_kg"], r["project"]))
    index = io.write_text(site_dir / "index.html", env.get_template("projects_index.html.j2").render(
        title=f"carbonledger projects{f' of team {team}' if team else ''}", projects=index_rows,
        org_report=org_report, team=team, period=_period(frame)))
    return SitePaths(index, pages)


def _project_context(project: str, rows: pd.DataFrame, org_report: str | None) -> dict[str, Any]:
    tables = breakdowns(rows)
    resources = _resources(rows)
    gpu_hours = float((rows["x_UsageHours"].fillna(0) * rows["x_GpuCount"].fillna(0)).sum())
    co2e_kg = float(rows["x_Co2eKg"].sum())
    costs = rows.groupby(rows["BillingCurrency"].astype("string"), sort=True)["BilledCost"].sum()
    teams = sorted(rows["x_Team"].dropna().astype(str).unique())
    headline = {
        "co2e_kg": co2e_kg, "co2e_kg_low": float(rows["x_Co2eKgLow"].sum()),
        "co2e_kg_high": float(rows["x_Co2eKgHigh"].sum()), "co2e_kg_market": float(rows["x_Co2eKgMarket"].sum()),
        "embodied_co2e_kg": float(rows["x_EmbodiedCo2eKg"].sum()), "energy_kwh": float(rows["x_EnergyKwh"].sum()),
        "gpu_hours": gpu_hours, "kg_per_gpu_hour": co2e_kg / gpu_hours if gpu_hours else None,
    }
    return {
        "title": f"Project {project}",
        "project": project,
        "teams": teams,
        "period": _period(rows),
        "headline": headline,
        "costs": [{"currency": cur, "amount": float(v)} for cur, v in costs.items()],
        "daily": daily_section(tables["by_day"]),
        "resources": [
            {**r, "usage_hours_text": units.number(r["usage_hours"]), "energy_text": units.energy(r["energy_kwh"]),
             "co2e_text": units.mass(r["co2e_kg"]),
             "range_text": f"{units.mass(r['co2e_kg_low'])} – {units.mass(r['co2e_kg_high'])}",
             "cost_text": units.money(r["cost"], r["currency"])}
            for r in resources.to_dict("records")
        ],
        "org_report": org_report,
        "index_row": {"project": project, "page": page_name(project), "teams": ", ".join(teams),
                      "co2e_kg": co2e_kg, "energy_kwh": headline["energy_kwh"], "gpu_hours": gpu_hours,
                      "costs": "; ".join(units.money(float(v), cur) for cur, v in costs.items()),
                      "resources": len(resources)},
    }


def _project_recommendations(recommendations: pd.DataFrame | None, project: str) -> list[dict[str, str]] | None:
    if recommendations is None:
        return None
    own = recommendations[recommendations["project"] == project]
    return [{"kind": r.kind, "instance_type": r.instance_type,
             "change": f"{r.from_region} → {r.to_region}" if r.kind == "region" else r.caveats.split(" (")[0],
             "saving": f"{units.mass(r.co2e_saving_kg)} ({units.percent(r.saving_fraction, 0)})",
             "cost": "unknown" if pd.isna(r.cost_delta) else units.money(r.cost_delta, r.cost_currency),
             "caveats": r.caveats} for r in own.itertuples(index=False)]


def _resources(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per resource (and currency): its hours, energy, emissions and cost; largest emitter first."""
    keys = pd.DataFrame({name: rows[col].astype("string").fillna(NO_RESOURCE if name == "resource" else "–")
                         for name, col in _RESOURCE_KEYS.items()})
    measures = pd.DataFrame({name: rows[col].astype("float64").fillna(0.0) for name, col in _RESOURCE_MEASURES.items()})
    table = pd.concat([keys, measures], axis=1).groupby(list(_RESOURCE_KEYS), sort=False).sum().reset_index()
    return table.sort_values(["co2e_kg", "resource"], ascending=[False, True], kind="stable")


def _period(rows: pd.DataFrame) -> str:
    if rows.empty:
        return "–"
    starts = rows["ChargePeriodStart"]
    return f"{starts.min().date().isoformat()} to {starts.max().date().isoformat()}"

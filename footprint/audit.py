"""Region audit and billing tie-out: where each resource ran per bill, telemetry and tags, and what a policy forbids.

* :func:`region_audit`: per billed resource (``ResourceId``), the regions according to the bill
  (``RegionId``), to telemetry (``cloud_provider``/``cloud_region`` of intervals matched by
  instance id or host as in ``footprint.reconcile``, or by project) and to tags (``region``,
  ``cloud-region``, ``location``, ``data-region``); a mismatch is a telemetry or tag region the bill
  does not show. Regions are compared as canonical ``provider:region`` (aliases and display names
  resolved through ``intensity``).
* :func:`load_policy` / :func:`policy_violations`: a YAML policy (format below) → every
  (project, provider, region) whose lines break a rule, with the lines' cost and emissions at stake.
* :func:`tie_out_report`: control totals per source file, account, day and currency, and the
  coverage of spend by estimate basis.

Policy file::

    organisation:                 # defaults for every project (all keys optional)
      allowed_regions: [aws:us-east-1, gcp:europe-west1, westeurope]   # provider:region, or a region of any provider
      residency: [eu]             # residency groups the region's country must belong to
      preferred_regions: [aws:eu-north-1]    # others are reported as advice, not violations
    residency_groups:             # extra groups: ISO 3166 alpha-2 countries and/or regions ('eu', 'eea' are built in)
      nordics: [SE, NO, FI, DK, IS]
    projects:
      vision: {residency: [eu]}   # a project's key replaces the organisation's key of the same name

What does not belong here: matching energy (``footprint.reconcile``), reading files other than the policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from carbonledger.errors import ConfigError
from connectors.tags import first_tag_value, normalise_tag_key
from footprint.reconcile import host_tag, resource_key
from intensity import GridData

EU_COUNTRIES = ("AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "IE", "IT", "LV", "LT", "LU",
                "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE")
BUILTIN_GROUPS: dict[str, tuple[str, ...]] = {"eu": EU_COUNTRIES, "eea": EU_COUNTRIES + ("IS", "LI", "NO")}
REGION_TAG_KEYS = tuple(normalise_tag_key(k) for k in ("region", "cloud-region", "location", "data-region"))
RULE_KEYS = ("allowed_regions", "residency", "preferred_regions")
_POLICY_KEYS = {"organisation", "residency_groups", "projects"}
ESTIMATED_BASES = ("modelled", "measured", "calibrated")
COMPUTE_BASES = ESTIMATED_BASES + ("unmapped",)


@dataclass(frozen=True)
class Rules:
    """One scope's rules; None = no rule of that kind."""

    allowed_regions: tuple[str, ...] | None = None
    residency: tuple[str, ...] | None = None
    preferred_regions: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Policy:
    """The organisation's rules, per-project overrides and residency groups (upper-case countries / regions)."""

    organisation: Rules = Rules()
    projects: Mapping[str, Rules] = field(default_factory=dict)
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(BUILTIN_GROUPS))

    def rules_for(self, project: str | None) -> Rules:
        """The organisation's rules with the project's keys replacing them."""
        own = self.projects.get(project or "")
        if own is None:
            return self.organisation
        return Rules(**{k: getattr(own, k) if getattr(own, k) is not None else getattr(self.organisation, k) for k in RULE_KEYS})


def load_policy(path: Path | str) -> Policy:
    """Read a policy YAML file (format in the module doc); errors name the file and the key."""
    where = str(path)
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{where}: cannot read the policy file ({exc})") from None
    if not isinstance(raw, dict) or set(raw) - _POLICY_KEYS:
        raise ConfigError(f"{where}: expected a mapping with keys {', '.join(sorted(_POLICY_KEYS))}; "
                          f"found {sorted(raw) if isinstance(raw, dict) else type(raw).__name__}")
    groups = dict(BUILTIN_GROUPS)
    for name, members in (raw.get("residency_groups") or {}).items():
        groups[str(name).lower()] = _strings(members, f"{where}: residency_groups.{name}", upper=True)
    organisation = _rules(raw.get("organisation") or {}, f"{where}: organisation", groups)
    projects_raw = raw.get("projects") or {}
    if not isinstance(projects_raw, dict):
        raise ConfigError(f"{where}: projects: expected a mapping of project name to rules")
    projects = {str(p): _rules(r or {}, f"{where}: projects.{p}", groups) for p, r in projects_raw.items()}
    return Policy(organisation, projects, groups)


def _rules(raw: Any, where: str, groups: Mapping[str, tuple[str, ...]]) -> Rules:
    if not isinstance(raw, dict) or set(raw) - set(RULE_KEYS):
        raise ConfigError(f"{where}: expected a mapping with keys among {', '.join(RULE_KEYS)}, got {raw!r}")
    values = {k: _strings(raw[k], f"{where}.{k}", upper=False) for k in RULE_KEYS if k in raw}
    for group in values.get("residency", ()):
        if group.lower() not in groups:
            raise ConfigError(f"{where}.residency: unknown residency group {group!r}; known: {', '.join(sorted(groups))}")
    return Rules(**{k: tuple(v.lower() for v in values[k]) if k in values else None for k in RULE_KEYS})


def _strings(raw: Any, where: str, *, upper: bool) -> tuple[str, ...]:
    items = [raw] if isinstance(raw, str) else raw
    if isinstance(items, list) and any(isinstance(i, bool) for i in items):
        raise ConfigError(f"{where}: {raw!r} has a true/false value: quote country codes such as 'NO' (YAML reads NO as false)")
    if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
        raise ConfigError(f"{where}: expected a list of names, got {raw!r}")
    return tuple(i.strip().upper() if upper and len(i.strip()) == 2 else i.strip().lower() for i in items)


# --- canonical regions -------------------------------------------------------------------------------

def _canonical(provider: pd.Series, region: pd.Series, grid: GridData) -> tuple[pd.Series, pd.Series]:
    """``provider:region`` with the region's canonical id, and its ISO country (null when unknown)."""
    pairs = pd.DataFrame({"p": provider.astype("string").str.strip().str.lower(),
                          "r": region.astype("string").str.strip()})
    codes, uniques = pd.factorize(pd.MultiIndex.from_frame(pairs.fillna("")))
    names, countries = [], []
    for p, r in uniques:
        info = grid.region_info(p, r) if p and r else None
        names.append(f"{p}:{info.region if info else r.lower()}" if r else None)
        countries.append(info.country if info else None)
    take = np.where(codes < 0, len(uniques), codes)
    name = pd.Series(np.array(names + [None], dtype=object)[take], index=provider.index, dtype="string")
    country = pd.Series(np.array(countries + [None], dtype=object)[take], index=provider.index, dtype="string")
    return name, country


def _joined(values: pd.Series, by: pd.Series) -> pd.Series:
    """Sorted distinct non-null values per group, joined with ', ' (empty string when none)."""
    frame = pd.DataFrame({"by": by.to_numpy(), "v": values.to_numpy()}).dropna().drop_duplicates()
    return frame.sort_values("v").groupby("by")["v"].agg(", ".join)


# --- region audit ---------------------------------------------------------------------------------------

def region_audit(ledger: pd.DataFrame, telemetry: pd.DataFrame | None = None, grid: GridData | None = None) -> pd.DataFrame:
    """Per billed resource: regions per bill, telemetry and tags, cost, emissions and whether they disagree."""
    grid = grid or GridData.bundled()
    lines = ledger.loc[ledger["ResourceId"].notna()].copy()
    lines["resource"] = resource_key(lines["ResourceId"])
    lines = lines.loc[lines["resource"].notna()]
    lines["bill_region"], _ = _canonical(lines["ProviderName"], lines["RegionId"], grid)
    lines["tag_region"], _ = _canonical(lines["ProviderName"], first_tag_value(lines["Tags"], REGION_TAG_KEYS), grid)
    per = lines.groupby("resource").agg(
        ResourceId=("ResourceId", "first"), ProviderName=("ProviderName", "first"), x_Project=("x_Project", "first"),
        lines=("ResourceId", "size"), BilledCost=("BilledCost", "sum"), BillingCurrency=("BillingCurrency", "first"),
        x_Co2eKg=("x_Co2eKg", "sum"))
    per["bill_regions"] = _joined(lines["bill_region"], lines["resource"])
    per["tag_regions"] = _joined(lines["tag_region"], lines["resource"])
    per["telemetry_regions"] = _telemetry_regions(lines, telemetry, grid) if telemetry is not None and len(telemetry) else pd.NA
    per = per.fillna({c: "" for c in ("bill_regions", "tag_regions", "telemetry_regions")})
    bill_sets = per["bill_regions"].str.split(", ")
    detail = []
    for bill, tel, tag in zip(bill_sets, per["telemetry_regions"], per["tag_regions"]):
        known = set(b for b in bill if b)
        problems = [f"{label} says {r}" for label, text in (("telemetry", tel), ("tags", tag))
                    for r in (text.split(", ") if text else []) if r not in known]
        detail.append("; ".join(problems) + (f" (bill: {', '.join(sorted(known)) or 'no region'})" if problems else ""))
    per["mismatch_detail"] = pd.Series(detail, index=per.index, dtype="string")
    per["mismatch"] = per["mismatch_detail"] != ""
    return per.reset_index().rename(columns={"resource": "resource_key"})


def _telemetry_regions(lines: pd.DataFrame, telemetry: pd.DataFrame, grid: GridData) -> pd.Series:
    """Canonical telemetry regions per resource: by instance id or host, else by the resource's project."""
    tel = telemetry.loc[telemetry["cloud_region"].notna()]
    if tel.empty:
        return pd.Series(dtype="string")
    region, _ = _canonical(tel["cloud_provider"].fillna(""), tel["cloud_region"], grid)
    keys = pd.concat([
        pd.DataFrame({"resource": lines["resource"], "key": lines["resource"]}),
        pd.DataFrame({"resource": lines["resource"], "key": resource_key(host_tag(lines["Tags"]))}),
    ]).dropna().drop_duplicates()
    direct = pd.DataFrame({"key": resource_key(tel["instance_id"]).fillna(resource_key(tel["host"])), "region": region})
    by_key = direct.merge(keys, on="key")[["resource", "region"]]
    projects = pd.DataFrame({"resource": lines["resource"], "project": lines["x_Project"].astype("string").str.lower()}).drop_duplicates()
    undirected = direct["key"].isna().to_numpy()
    by_project = pd.DataFrame({"project": tel["project"].astype("string").str.lower().to_numpy()[undirected],
                               "region": region.to_numpy()[undirected]}).merge(projects, on="project")[["resource", "region"]]
    both = pd.concat([by_key, by_project], ignore_index=True)
    return _joined(both["region"], both["resource"])


# --- policy ------------------------------------------------------------------------------------------

def policy_violations(ledger: pd.DataFrame, policy: Policy, grid: GridData | None = None) -> pd.DataFrame:
    """Every (project, provider, region, currency) breaking a rule, with lines, cost, energy and emissions at stake.

    ``severity`` is ``violation`` for allowed-region and residency rules, ``advice`` for a region
    that is allowed but not preferred. Lines without a region are not judged.
    """
    grid = grid or GridData.bundled()
    usage = ledger.loc[(ledger["ChargeCategory"] == "Usage") & ledger["RegionId"].notna()].copy()
    usage["region"], usage["country"] = _canonical(usage["ProviderName"], usage["RegionId"], grid)
    keys = ["x_Project", "ProviderName", "region", "country", "BillingCurrency"]
    groups = usage.groupby(keys, dropna=False, as_index=False).agg(
        lines=("BilledCost", "size"), BilledCost=("BilledCost", "sum"),
        x_EnergyKwh=("x_EnergyKwh", "sum"), x_Co2eKg=("x_Co2eKg", "sum"))
    found = []
    for row in groups.itertuples(index=False):
        rules = policy.rules_for(None if pd.isna(row.x_Project) else str(row.x_Project))
        for rule, severity, detail in _judge(rules, policy.groups, str(row.region), None if pd.isna(row.country) else str(row.country)):
            found.append({**row._asdict(), "rule": rule, "severity": severity, "detail": detail})
    columns = keys + ["rule", "severity", "detail", "lines", "BilledCost", "x_EnergyKwh", "x_Co2eKg"]
    return pd.DataFrame(found, columns=columns).sort_values(["severity", "x_Co2eKg"], ascending=[False, False], ignore_index=True)


def _judge(rules: Rules, groups: Mapping[str, tuple[str, ...]], region: str, country: str | None) -> list[tuple[str, str, str]]:
    """(rule, severity, detail) for each rule ``provider:region`` breaks."""
    plain = region.split(":", 1)[-1]
    out = []
    if rules.allowed_regions is not None and not {region, plain} & set(rules.allowed_regions):
        out.append(("not_allowed", "violation", f"{region} is not among the allowed regions ({', '.join(rules.allowed_regions)})"))
    if rules.residency is not None:
        members = {m for g in rules.residency for m in groups[g.lower()]}
        inside = (country in members) if country else False
        if not inside and not {region.lower(), plain.lower()} & {m.lower() for m in members}:
            where = f"country {country}" if country else "unknown country"
            out.append(("residency", "violation", f"{region} ({where}) is outside residency group(s) {', '.join(rules.residency)}"))
    if rules.preferred_regions is not None and not out and not {region, plain} & set(rules.preferred_regions):
        out.append(("not_preferred", "advice", f"{region} is allowed but not preferred ({', '.join(rules.preferred_regions)})"))
    return out


# --- tie-out --------------------------------------------------------------------------------------------

def tie_out_report(ledger: pd.DataFrame, quarantine: pd.DataFrame) -> pd.DataFrame:
    """Rows and cost per source file, account, UTC day and currency (ledger and quarantine), with the
    compute cost covered by each estimate basis and the covered fraction of compute cost."""
    def keyed(frame: pd.DataFrame) -> pd.DataFrame:
        account = frame["SubAccountId"] if "SubAccountId" in frame.columns else pd.Series(pd.NA, index=frame.index)
        if "BillingAccountId" in frame.columns:
            account = account.fillna(frame["BillingAccountId"])
        return pd.DataFrame({
            "source_file": frame["x_SourceFile"].astype("string"),
            "account": account.astype("string").fillna("(none)"),
            "day": frame["ChargePeriodStart"].dt.tz_convert("UTC").dt.strftime("%Y-%m-%d").astype("string").fillna("(unknown)"),
            "currency": frame["BillingCurrency"].astype("string").fillna("?"),
        }, index=frame.index)

    keys = ["source_file", "account", "day", "currency"]
    led = keyed(ledger).assign(cost=ledger["BilledCost"], basis=ledger["x_EstimateBasis"])
    totals = led.groupby(keys, as_index=False).agg(rows_ledger=("cost", "size"), cost_ledger=("cost", "sum"))
    by_basis = led.pivot_table(index=keys, columns="basis", values="cost", aggfunc="sum", fill_value=0.0)
    by_basis.columns = [f"cost_{c}" for c in by_basis.columns]
    out = totals.merge(by_basis.reset_index(), on=keys, how="left")
    q = keyed(quarantine).assign(cost=quarantine["BilledCost"].fillna(0.0))
    qt = q.groupby(keys, as_index=False).agg(rows_quarantined=("cost", "size"), cost_quarantined=("cost", "sum"))
    out = out.merge(qt, on=keys, how="outer").fillna({"rows_ledger": 0, "cost_ledger": 0.0, "rows_quarantined": 0, "cost_quarantined": 0.0})
    compute = sum(out.get(f"cost_{b}", 0.0) for b in COMPUTE_BASES)
    estimated = sum(out.get(f"cost_{b}", 0.0) for b in ESTIMATED_BASES)
    out["compute_cost_covered_fraction"] = np.where(np.asarray(compute) != 0, estimated / np.where(np.asarray(compute) != 0, compute, 1.0), 1.0)
    return out.astype({"rows_ledger": "int64", "rows_quarantined": "int64"}).sort_values(keys, ignore_index=True)

"""The energy model: IT watts of an instance, and IT kWh of storage and network usage lines.

Compute, linear per component (METHOD.md section 2): P(u) = P_idle + u x (P_max - P_idle), with

* accelerators: gpu_count x [idle_w, tdp_w] (configurable per model for unpublished chips),
* CPU: vcpus x [min, max] W per vCPU (CCF coefficients),
* memory: memory_gib x W/GB, constant (CCF: 0.392 W/GB).

The utilisation per workload class comes as (low, central, high), giving the low/central/high
power. The workload class is the line's ``x_WorkloadClass`` tag, else the project's configured
class, else ``default``. A **calibration** (a utilisation factor per instance type and/or
project, e.g. from telemetry reconciliation) scales all three utilisations, capped at 1.

Storage and network usage lines (METHOD.md section 5): ``data/usage_classes.csv`` says per
provider which lines are storage (medium SSD/HDD, replication factor) or data transfer; the
quantity comes from the billed unit (GB-months at the days of the line's month, GB-hours,
byte-seconds, Azure managed disks per disk-month at their tier size, or GB transferred):
storage kWh = TB-hours x Wh/TB-hour / 1000 x replication; network kWh = GB x kWh/GB.

PUE is not applied here (the ledger applies it per region); neither are grid intensity nor
embodied emissions. What does not belong here: the catalogue (``hardware``), embodied emissions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from carbonledger.codes import text_codes
from carbonledger.errors import ConfigError
from footprint.hardware import bundled_constant, read_bundled

WORKLOAD_CLASSES = ("training", "inference", "interactive", "idle", "default")
_LEVELS = ("low", "central", "high")
_OVERRIDE_KEYS = (
    "utilisation", "memory_w_per_gb", "accelerator_w", "project_workload_class", "calibration",
    "ssd_wh_per_tb_hour", "hdd_wh_per_tb_hour", "network_kwh_per_gb",
)

#: Storage units (lower-cased, block size removed) -> (GB per unit of quantity, period of one unit).
_STORAGE_UNITS: dict[str, tuple[float, str]] = {
    **{u: (1.0, "month") for u in ("gb-mo", "gb-month", "gb-months", "gb/month", "gb month", "gigabyte month", "gb-mo-storage")},
    **{u: (1.073741824, "month") for u in ("gibibyte month", "gibibyte-month", "gib-mo", "gib/month", "gib month")},
    **{u: (1000.0, "month") for u in ("tb-mo", "tb/month", "tb month")},
    **{u: (1099.511627776, "month") for u in ("tebibyte month", "tib/month", "tib-mo")},
    **{u: (1.0, "hour") for u in ("gb-hours", "gb-hrs", "gb-hour", "gb hour", "gb/hour")},
    **{u: (1.073741824, "hour") for u in ("gibibyte hour", "gib-hours", "gibibyte-hour")},
    "byte-seconds": (1e-9, "second"),
}
#: Transfer units -> GB per unit of quantity.
_TRANSFER_UNITS: dict[str, float] = {
    "gb": 1.0, "gigabyte": 1.0, "gigabytes": 1.0, "gibibyte": 1.073741824, "gib": 1.073741824,
    "bytes": 1e-9, "byte": 1e-9, "tb": 1000.0, "tebibyte": 1099.511627776,
}
#: Units of a count of whole managed disks per month (Azure), quantity = disk-months.
_DISK_MONTH_UNITS = frozenset({"month", "months", "/month", "1/month"})
#: Azure managed disk tier number -> provisioned GiB (P/E/S tiers share sizes). Source: Microsoft
#: Learn, "Azure managed disk types" (learn.microsoft.com/azure/virtual-machines/disks-types).
AZURE_DISK_TIER_GIB: dict[int, float] = {
    1: 4, 2: 8, 3: 16, 4: 32, 6: 64, 10: 128, 15: 256, 20: 512, 30: 1024, 40: 2048,
    50: 4096, 60: 8192, 70: 16384, 80: 32767,
}
_AZURE_DISK_TIER = re.compile(r"\b[PES](\d{1,2})\b")


@dataclass(frozen=True)
class PowerModel:
    """Utilisation per workload class (low, central, high), memory W/GB and accelerator overrides.

    ``accelerator_w`` maps an accelerator model (as in gpus.csv) to (idle W, max W); it replaces
    the catalogue's values for that model, e.g. for Trainium or TPUs whose power is unpublished.
    ``project_workload_class`` gives the class of a project's lines that carry no workload tag.
    ``calibration`` holds :class:`Calibration` rules: utilisation factors per instance type and/or
    project (the hook telemetry reconciliation sets). Storage and network coefficients are CCF's.
    """

    utilisation: Mapping[str, tuple[float, float, float]]
    memory_w_per_gb: float
    accelerator_w: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    project_workload_class: Mapping[str, str] = field(default_factory=dict)
    calibration: tuple["Calibration", ...] = ()
    ssd_wh_per_tb_hour: float = 1.2
    hdd_wh_per_tb_hour: float = 0.65
    network_kwh_per_gb: float = 0.001
    usage_classes: pd.DataFrame | None = field(default=None, compare=False, repr=False)

    @classmethod
    def default(cls) -> "PowerModel":
        """Utilisation, memory, storage and network coefficients of ``data/constants.csv`` (each row gives its source)."""
        utilisation = {
            workload: tuple(bundled_constant(f"utilisation_{workload}_{level}") for level in _LEVELS)
            for workload in WORKLOAD_CLASSES
        }
        return cls(
            utilisation=utilisation,
            memory_w_per_gb=bundled_constant("memory_w_per_gb"),
            ssd_wh_per_tb_hour=bundled_constant("ssd_wh_per_tb_hour"),
            hdd_wh_per_tb_hour=bundled_constant("hdd_wh_per_tb_hour"),
            network_kwh_per_gb=bundled_constant("network_kwh_per_gb"),
            usage_classes=read_bundled("usage_classes.csv"),
        )

    @staticmethod
    def sources() -> pd.DataFrame:
        """The constants behind :meth:`default`, with their sources (for reports)."""
        constants = read_bundled("constants.csv")
        names = {"memory_w_per_gb", "ssd_wh_per_tb_hour", "hdd_wh_per_tb_hour", "network_kwh_per_gb"}
        keep = constants["name"].str.startswith("utilisation_") | constants["name"].isin(names)
        return constants.loc[keep].reset_index(drop=True)

    def with_overrides(self, overrides: Mapping[str, Any]) -> "PowerModel":
        """A copy with config overrides, e.g. ``{"utilisation": {"training": [0.6, 0.8, 0.95]}, "memory_w_per_gb": 0.39}``.

        Keys: utilisation, memory_w_per_gb, accelerator_w, project_workload_class (``{project: class}``),
        calibration (a list of ``{provider, instance_type, project, factor, source}``; instance_type
        or project may be left out to match any), ssd_wh_per_tb_hour, hdd_wh_per_tb_hour, network_kwh_per_gb.
        """
        unknown = set(overrides) - set(_OVERRIDE_KEYS)
        if unknown:
            raise ConfigError(f"power_model: unknown key(s) {sorted(unknown)}; expected {', '.join(_OVERRIDE_KEYS)}")
        model = self
        if "utilisation" in overrides:
            model = replace(model, utilisation={**model.utilisation, **_utilisation(overrides["utilisation"])})
        if "memory_w_per_gb" in overrides:
            model = replace(model, memory_w_per_gb=_non_negative(overrides["memory_w_per_gb"], "power_model.memory_w_per_gb"))
        if "accelerator_w" in overrides:
            model = replace(model, accelerator_w={**model.accelerator_w, **_accelerator_w(overrides["accelerator_w"])})
        if "project_workload_class" in overrides:
            model = replace(model, project_workload_class={**model.project_workload_class, **_project_classes(overrides["project_workload_class"])})
        if "calibration" in overrides:
            model = replace(model, calibration=model.calibration + _calibrations(overrides["calibration"]))
        for key in ("ssd_wh_per_tb_hour", "hdd_wh_per_tb_hour", "network_kwh_per_gb"):
            if key in overrides:
                model = replace(model, **{key: _non_negative(overrides[key], f"power_model.{key}")})
        return model

    def workload_classes(self, workload_class: pd.Series, project: pd.Series) -> pd.Series:
        """The class of each line: its tag, else its project's configured class (null = ``default``)."""
        tagged = workload_class.astype("string")
        if not self.project_workload_class:
            return tagged
        by_project = project.astype("string").map(self.project_workload_class).astype("string")
        return tagged.fillna(by_project)

    def calibration_factors(self, provider: pd.Series, instance_type: pd.Series, project: pd.Series) -> pd.DataFrame:
        """``x_CalibrationFactor`` (NaN where no rule matches) and ``x_CalibrationSource`` per line.

        The most specific rule wins: instance type and project, then instance type, then project;
        among equals, the last listed.
        """
        factor = np.full(len(provider), np.nan)
        source = pd.Series(pd.NA, index=provider.index, dtype="string")
        if self.calibration:
            providers = provider.astype("string").str.strip().str.lower()
            types = _size_key(instance_type.astype("string"))
            projects = project.astype("string")
            for rule in sorted(self.calibration, key=lambda r: (r.instance_type is not None) * 2 + (r.project is not None)):
                hit = providers == rule.provider
                if rule.instance_type is not None:
                    hit &= types == _size_key(pd.Series([rule.instance_type], dtype="string")).iloc[0]
                if rule.project is not None:
                    hit &= projects == rule.project
                hit = hit.fillna(False).to_numpy(dtype=bool)
                factor[hit] = rule.factor
                source[hit] = rule.describe()
        return pd.DataFrame({"x_CalibrationFactor": factor, "x_CalibrationSource": source}, index=provider.index)

    def instance_power_w(self, hw: pd.DataFrame, workload_class: pd.Series, calibration_factor: pd.Series | None = None) -> pd.DataFrame:
        """Low/central/high IT watts per row of ``HardwareCatalogue.lookup`` output; NaN where hardware or its power is unknown.

        ``workload_class`` is index-aligned with ``hw``; null or unrecognised classes use ``default``.
        ``calibration_factor`` (NaN = none) multiplies each utilisation, capped at 1. The central
        watts are also given per component (``gpu_w``, ``cpu_w``, ``memory_w``).
        """
        low, central, high = self._utilisation_arrays(workload_class.reindex(hw.index))
        if calibration_factor is not None:
            scale = np.nan_to_num(calibration_factor.reindex(hw.index).to_numpy(dtype="float64"), nan=1.0)
            low, central, high = (np.minimum(level * scale, 1.0) for level in (low, central, high))
        gpu_count = hw["x_GpuCount"].to_numpy(dtype="float64")
        gpu_idle_w, gpu_max_w = self._accelerator_watts(hw)
        vcpus = hw["x_Vcpus"].to_numpy(dtype="float64")
        cpu_min_w = hw["cpu_min_w_per_vcpu"].to_numpy(dtype="float64")
        cpu_max_w = hw["cpu_max_w_per_vcpu"].to_numpy(dtype="float64")
        memory_w = hw["x_MemoryGib"].to_numpy(dtype="float64") * self.memory_w_per_gb
        found = hw["hw_found"].to_numpy(dtype=bool)

        def components(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            gpu_w = np.where(gpu_count > 0, gpu_count * (gpu_idle_w + u * (gpu_max_w - gpu_idle_w)), 0.0)
            cpu_w = vcpus * (cpu_min_w + u * (cpu_max_w - cpu_min_w))
            return np.where(found, gpu_w, np.nan), np.where(found, cpu_w, np.nan)

        def power(u: np.ndarray) -> np.ndarray:
            gpu_w, cpu_w = components(u)
            return gpu_w + cpu_w + np.where(found, memory_w, np.nan)

        gpu_w, cpu_w = components(central)
        return pd.DataFrame(
            {
                "power_w_low": power(low), "power_w": power(central), "power_w_high": power(high),
                "gpu_w": gpu_w, "cpu_w": cpu_w, "memory_w": np.where(found, memory_w, np.nan),
                "x_Utilisation": np.where(found, central, np.nan),
            },
            index=hw.index,
        )

    def usage_energy_kwh(self, billing: pd.DataFrame, candidates: np.ndarray) -> "UsageEnergy":
        """IT kWh (low, central, high) of the storage and network lines among ``candidates`` (see :class:`UsageEnergy`).

        Classification runs once per unique (provider, service, SKU, description, unit).
        """
        n = len(billing)
        out = UsageEnergy(np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan), np.full(n, -1, dtype=np.int64), [], [])
        if not candidates.any() or self.usage_classes is None:
            return out
        rows = np.flatnonzero(candidates)
        fields = ["ProviderName", "ServiceName", "SkuId", "ChargeDescription", "ConsumedUnit"]
        keys = billing[fields].take(rows).astype("string").fillna("")
        codes, uniques = pd.factorize(pd.MultiIndex.from_frame(keys))
        resolved = [self._classify_usage(*values) for values in uniques]
        per_gb_low = np.array([r[0] for r in resolved] + [np.nan])[codes]
        per_gb = np.array([r[1] for r in resolved] + [np.nan])[codes]
        per_gb_high = np.array([r[2] for r in resolved] + [np.nan])[codes]
        period = np.array([r[3] for r in resolved] + [""], dtype=object)[codes]

        quantity = billing["ConsumedQuantity"].to_numpy(dtype="float64")[rows]
        days = billing["ChargePeriodStart"].take(rows).dt.days_in_month.to_numpy(dtype="float64")
        # per_gb_* is kWh per GB-hour (storage) or per GB (network); convert the quantity accordingly
        hours_per_unit = np.select([period == "month", period == "hour", period == "second"], [days * 24.0, 1.0, 1.0 / 3600.0], 1.0)
        amount = quantity * hours_per_unit
        modelled = ~np.isnan(per_gb) & ~np.isnan(quantity)
        for values, coefficient in ((out.kwh_low, per_gb_low), (out.kwh, per_gb), (out.kwh_high, per_gb_high)):
            values[rows] = np.where(modelled, amount * coefficient, np.nan)
        out.shape[rows] = np.where(modelled, codes, -1)
        out.kinds.extend(r[4] for r in resolved)
        out.bases.extend(r[5] for r in resolved)
        return out

    def _classify_usage(self, provider: str, service: str, sku: str, description: str, unit: str) -> tuple[float, float, float, str, str | None, str | None]:
        """(kWh per GB-unit low, central, high; period of the unit; kind; basis text) of one unique line shape.

        The per-unit coefficients already include the unit's GB factor and the replication.
        """
        nothing = (np.nan, np.nan, np.nan, "", None, None)
        rule = _first_rule(self.usage_classes, provider.strip().lower(), service, (sku, description))
        if rule is None or rule["kind"] == "none":
            return nothing
        unit_key = re.sub(r"^[\d.,]+\s*", "", unit.strip().lower())
        replication = float(rule["replication"])
        if rule["kind"] == "network":
            gb = _TRANSFER_UNITS.get(unit_key)
            if gb is None:
                return nothing
            kwh = gb * self.network_kwh_per_gb * replication
            return kwh, kwh, kwh, "", "network", f"network: {self.network_kwh_per_gb:g} kWh/GB x {gb:g} GB per {unit} [{rule['source']}]"
        medium = str(rule["medium"])
        if unit_key in _STORAGE_UNITS:
            gb, period = _STORAGE_UNITS[unit_key]
            size_text = f"{gb:g} GB per {unit}"
        elif unit_key in _DISK_MONTH_UNITS and (tier := _AZURE_DISK_TIER.search(f"{sku} {description}")) and int(tier.group(1)) in AZURE_DISK_TIER_GIB:
            gb, period = AZURE_DISK_TIER_GIB[int(tier.group(1))] * 1.073741824, "month"
            size_text = f"disk tier {tier.group(0)} = {AZURE_DISK_TIER_GIB[int(tier.group(1))]:g} GiB per disk-month"
        else:
            return nothing
        ssd = self.ssd_wh_per_tb_hour / 1000.0 / 1000.0 * gb * replication
        hdd = self.hdd_wh_per_tb_hour / 1000.0 / 1000.0 * gb * replication
        central = hdd if medium == "hdd" else ssd
        low = hdd if medium in ("hdd", "ssd (assumed)") else ssd
        coefficient = self.hdd_wh_per_tb_hour if medium == "hdd" else self.ssd_wh_per_tb_hour
        text = (
            f"storage: {medium} {coefficient:g} Wh/TB-hour x replication {replication:g}, {size_text}"
            + (f" (low: HDD {self.hdd_wh_per_tb_hour:g} Wh/TB-hour)" if medium == "ssd (assumed)" else "")
            + f" [{rule['source']}]"
        )
        return low, central, ssd if medium != "hdd" else hdd, period, "storage", text

    def _utilisation_arrays(self, workload_class: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        codes, classes = text_codes(workload_class.astype("string"))
        default = self.utilisation["default"]
        table = np.array([self.utilisation.get(c.strip().lower(), default) for c in classes] + [default], dtype="float64").reshape(-1, 3)
        rows = table[np.where(codes < 0, len(classes), codes)]
        return rows[:, 0], rows[:, 1], rows[:, 2]

    def _accelerator_watts(self, hw: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        idle_w = hw["gpu_idle_w"].to_numpy(dtype="float64").copy()
        max_w = hw["gpu_tdp_w"].to_numpy(dtype="float64").copy()
        if self.accelerator_w:
            models = hw["x_GpuModel"].astype("string")
            for model, (model_idle_w, model_max_w) in self.accelerator_w.items():
                hit = (models == model).fillna(False).to_numpy(dtype=bool)
                idle_w[hit], max_w[hit] = model_idle_w, model_max_w
        return idle_w, max_w


@dataclass(frozen=True)
class UsageEnergy:
    """IT kWh of storage and network lines (NaN where not modelled), and the line shape each was modelled by.

    ``shape`` is per line the position in ``kinds`` ('storage' / 'network') and ``bases`` (how the
    number was made), -1 where the line is not modelled.
    """

    kwh_low: np.ndarray
    kwh: np.ndarray
    kwh_high: np.ndarray
    shape: np.ndarray
    kinds: list[str]
    bases: list[str]


@dataclass(frozen=True)
class Calibration:
    """A utilisation factor for one provider's instance type and/or project (None = any), and its source."""

    provider: str
    instance_type: str | None
    project: str | None
    factor: float
    source: str

    def describe(self) -> str:
        scope = ", ".join(
            part for part in (
                f"{self.provider}:{self.instance_type}" if self.instance_type else f"{self.provider}:any type",
                f"project {self.project}" if self.project else "",
            ) if part
        )
        return f"utilisation x {self.factor:g} for {scope} ({self.source})"


def _size_key(instance_type: pd.Series) -> pd.Series:
    """Instance types compared as the catalogue does: lower case, Azure without 'Standard_'."""
    return instance_type.str.strip().str.lower().str.replace(r"^standard_", "", regex=True)


def _first_rule(rules: pd.DataFrame, provider: str, service: str, usage: tuple[str, str]) -> pd.Series | None:
    """The first row of usage_classes.csv whose provider and service match and whose usage pattern matches the SKU or the description."""
    for _, rule in rules.loc[rules["provider"] == provider].iterrows():
        service_ok = pd.isna(rule["service_pattern"]) or re.search(rule["service_pattern"], service, re.IGNORECASE)
        usage_ok = pd.isna(rule["usage_pattern"]) or any(re.search(rule["usage_pattern"], text, re.IGNORECASE) for text in usage)
        if service_ok and usage_ok:
            return rule
    return None


def _project_classes(raw: Any) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"power_model.project_workload_class: expected a mapping of project to workload class, got {raw!r}")
    out = {}
    for project, workload in raw.items():
        if workload not in WORKLOAD_CLASSES:
            raise ConfigError(f"power_model.project_workload_class.{project}: unknown workload class {workload!r}; expected one of {', '.join(WORKLOAD_CLASSES)}")
        out[str(project)] = str(workload)
    return out


def _calibrations(raw: Any) -> tuple[Calibration, ...]:
    if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)):
        raise ConfigError(f"power_model.calibration: expected a list of {{provider, instance_type, project, factor, source}}, got {raw!r}")
    out = []
    for i, item in enumerate(raw):
        where = f"power_model.calibration[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {item!r}")
        unknown = set(item) - {"provider", "instance_type", "project", "factor", "source"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}")
        provider = str(item.get("provider", "")).strip().lower()
        if provider not in ("aws", "gcp", "azure"):
            raise ConfigError(f"{where}.provider: expected aws, gcp or azure, got {item.get('provider')!r}")
        if item.get("instance_type") is None and item.get("project") is None:
            raise ConfigError(f"{where}: give instance_type, project or both")
        factor = _non_negative(item.get("factor"), f"{where}.factor")
        if factor == 0:
            raise ConfigError(f"{where}.factor: expected a positive number, got 0")
        source = item.get("source")
        if not isinstance(source, str) or not source.strip():
            raise ConfigError(f"{where}.source: say where the factor comes from (e.g. 'DCGM reconciliation 2026-05')")
        out.append(Calibration(
            provider=provider,
            instance_type=None if item.get("instance_type") is None else str(item["instance_type"]),
            project=None if item.get("project") is None else str(item["project"]),
            factor=factor,
            source=source.strip(),
        ))
    return tuple(out)


def _non_negative(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
        raise ConfigError(f"{where}: expected a non-negative number, got {value!r}")
    return float(value)


def _utilisation(raw: Any) -> dict[str, tuple[float, float, float]]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"power_model.utilisation: expected a mapping of workload class to [low, central, high], got {raw!r}")
    out = {}
    for workload, levels in raw.items():
        where = f"power_model.utilisation.{workload}"
        if workload not in WORKLOAD_CLASSES:
            raise ConfigError(f"{where}: unknown workload class; expected one of {', '.join(WORKLOAD_CLASSES)}")
        if not isinstance(levels, (list, tuple)) or len(levels) != 3:
            raise ConfigError(f"{where}: expected [low, central, high], got {levels!r}")
        low, central, high = (_non_negative(v, where) for v in levels)
        if not low <= central <= high <= 1.0:
            raise ConfigError(f"{where}: expected 0 <= low <= central <= high <= 1, got {list(levels)}")
        out[workload] = (low, central, high)
    return out


def _accelerator_w(raw: Any) -> dict[str, tuple[float, float]]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"power_model.accelerator_w: expected a mapping of accelerator model to [idle_w, max_w], got {raw!r}")
    out = {}
    for model, watts in raw.items():
        where = f"power_model.accelerator_w.{model}"
        if not isinstance(watts, (list, tuple)) or len(watts) != 2:
            raise ConfigError(f"{where}: expected [idle_w, max_w], got {watts!r}")
        idle_w, max_w = (_non_negative(v, where) for v in watts)
        if idle_w > max_w:
            raise ConfigError(f"{where}: idle_w {idle_w:g} exceeds max_w {max_w:g}")
        out[str(model)] = (idle_w, max_w)
    return out

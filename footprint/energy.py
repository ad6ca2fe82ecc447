"""The power model: IT watts of an instance from its hardware profile and an assumed utilisation.

Linear model per component (METHOD.md section 2): P(u) = P_idle + u x (P_max - P_idle), with

* accelerators: gpu_count x [idle_w, tdp_w] (configurable per model for unpublished chips),
* CPU: vcpus x [min, max] W per vCPU (CCF coefficients),
* memory: memory_gib x W/GB, constant (CCF: 0.392 W/GB).

The utilisation per workload class comes as (low, central, high), giving the low/central/high
power. PUE is not applied here (the ledger applies it per region); neither are grid intensity nor
embodied emissions. What does not belong here: the catalogue (``hardware``), embodied emissions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from carbonledger.errors import ConfigError
from footprint.hardware import bundled_constant, read_bundled

WORKLOAD_CLASSES = ("training", "inference", "interactive", "idle", "default")
_LEVELS = ("low", "central", "high")


@dataclass(frozen=True)
class PowerModel:
    """Utilisation per workload class (low, central, high), memory W/GB and accelerator overrides.

    ``accelerator_w`` maps an accelerator model (as in gpus.csv) to (idle W, max W); it replaces
    the catalogue's values for that model, e.g. for Trainium or TPUs whose power is unpublished.
    """

    utilisation: Mapping[str, tuple[float, float, float]]
    memory_w_per_gb: float
    accelerator_w: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    @classmethod
    def default(cls) -> "PowerModel":
        """Utilisation and memory coefficients of ``data/constants.csv`` (each row gives its source)."""
        utilisation = {
            workload: tuple(bundled_constant(f"utilisation_{workload}_{level}") for level in _LEVELS)
            for workload in WORKLOAD_CLASSES
        }
        return cls(utilisation=utilisation, memory_w_per_gb=bundled_constant("memory_w_per_gb"))

    @staticmethod
    def sources() -> pd.DataFrame:
        """The constants behind :meth:`default`, with their sources (for reports)."""
        constants = read_bundled("constants.csv")
        keep = constants["name"].str.startswith("utilisation_") | (constants["name"] == "memory_w_per_gb")
        return constants.loc[keep].reset_index(drop=True)

    def with_overrides(self, overrides: Mapping[str, Any]) -> "PowerModel":
        """A copy with config overrides, e.g. ``{"utilisation": {"training": [0.6, 0.8, 0.95]}, "memory_w_per_gb": 0.39}``."""
        unknown = set(overrides) - {"utilisation", "memory_w_per_gb", "accelerator_w"}
        if unknown:
            raise ConfigError(f"power_model: unknown key(s) {sorted(unknown)}; expected utilisation, memory_w_per_gb, accelerator_w")
        model = self
        if "utilisation" in overrides:
            model = replace(model, utilisation={**model.utilisation, **_utilisation(overrides["utilisation"])})
        if "memory_w_per_gb" in overrides:
            model = replace(model, memory_w_per_gb=_non_negative(overrides["memory_w_per_gb"], "power_model.memory_w_per_gb"))
        if "accelerator_w" in overrides:
            model = replace(model, accelerator_w={**model.accelerator_w, **_accelerator_w(overrides["accelerator_w"])})
        return model

    def instance_power_w(self, hw: pd.DataFrame, workload_class: pd.Series) -> pd.DataFrame:
        """Low/central/high IT watts per row of ``HardwareCatalogue.lookup`` output; NaN where hardware or its power is unknown.

        ``workload_class`` is index-aligned with ``hw``; null or unrecognised classes use ``default``.
        """
        low, central, high = self._utilisation_arrays(workload_class.reindex(hw.index))
        gpu_count = hw["x_GpuCount"].to_numpy(dtype="float64")
        gpu_idle_w, gpu_max_w = self._accelerator_watts(hw)
        vcpus = hw["x_Vcpus"].to_numpy(dtype="float64")
        cpu_min_w = hw["cpu_min_w_per_vcpu"].to_numpy(dtype="float64")
        cpu_max_w = hw["cpu_max_w_per_vcpu"].to_numpy(dtype="float64")
        memory_w = hw["x_MemoryGib"].to_numpy(dtype="float64") * self.memory_w_per_gb
        found = hw["hw_found"].to_numpy(dtype=bool)

        def power(u: np.ndarray) -> np.ndarray:
            gpu_w = np.where(gpu_count > 0, gpu_count * (gpu_idle_w + u * (gpu_max_w - gpu_idle_w)), 0.0)
            cpu_w = vcpus * (cpu_min_w + u * (cpu_max_w - cpu_min_w))
            return np.where(found, gpu_w + cpu_w + memory_w, np.nan)

        return pd.DataFrame(
            {"power_w_low": power(low), "power_w": power(central), "power_w_high": power(high), "x_Utilisation": np.where(found, central, np.nan)},
            index=hw.index,
        )

    def _utilisation_arrays(self, workload_class: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        codes, classes = pd.factorize(workload_class.astype("string").str.strip().str.lower(), use_na_sentinel=True)
        default = self.utilisation["default"]
        table = np.array([self.utilisation.get(c, default) for c in classes] + [default], dtype="float64").reshape(-1, 3)
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

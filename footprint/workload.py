"""Paper-style estimate of one described workload (e.g. a training run), after Patterson et al. 2021.

Formula of Patterson et al., "Carbon Emissions and Large Neural Network Training" (arXiv:2104.10350,
section 2.5): kWh = hours x accelerators x average system power per accelerator (W) x PUE / 1000;
kgCO2e = kWh x gCO2e/kWh / 1000. The power is the measured system power per accelerator (host CPU,
memory and network share included) when given, else the accelerator's TDP from ``data/gpus.csv``,
which leaves the host out and is an upper bound for the chip alone.
What does not belong here: billing lines (``ledger``), hourly intensity lookups (``intensity``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from carbonledger.errors import UsageError
from footprint.hardware import HardwareCatalogue, bundled_constant, read_bundled

METHOD = (
    "Patterson et al. 2021, 'Carbon Emissions and Large Neural Network Training' (arXiv:2104.10350), "
    "section 2.5: kWh = hours x accelerators x average power per accelerator (W) x PUE / 1000; "
    "kgCO2e = kWh x gCO2e/kWh / 1000"
)


@dataclass(frozen=True)
class WorkloadEstimate:
    """Energy and location-based emissions of one workload, with the basis of every input."""

    accelerator: str
    count: int
    hours: float
    power_w_per_accelerator: float
    power_basis: str
    power_source: str
    pue: float
    pue_basis: str
    intensity_g_per_kwh: float
    energy_kwh: float
    co2e_kg: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_pue() -> tuple[float, str]:
    """The PUE used when none is given, and its source (``data/constants.csv``)."""
    table = read_bundled("constants.csv").set_index("name")
    return bundled_constant("workload_default_pue"), f"default: {table.loc['workload_default_pue', 'source']}"


def estimate_workload(
    *,
    accelerator: str,
    count: int,
    hours: float,
    intensity_g_per_kwh: float,
    pue: float | None = None,
    avg_power_w: float | None = None,
    catalogue: HardwareCatalogue | None = None,
) -> WorkloadEstimate:
    """Energy (kWh) and emissions (kgCO2e) of ``count`` accelerators running ``hours``.

    ``avg_power_w`` is the average system power per accelerator (as in the paper); without it the
    accelerator's TDP is used, and an accelerator the catalogue does not know (or whose TDP is
    unpublished) raises :class:`UsageError`. ``pue`` None means the documented default
    (:func:`default_pue`: 1.58, the Uptime 2023 industry average, conservative for an unknown site).
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise UsageError(f"count: expected a whole number of accelerators >= 1, got {count!r}")
    _require(hours, "hours", minimum=0.0)
    _require(intensity_g_per_kwh, "intensity_g_per_kwh", minimum=0.0)
    if pue is None:
        pue, pue_basis = default_pue()
    else:
        _require(pue, "pue", minimum=1.0)
        pue_basis = "given"
    if avg_power_w is not None:
        _require(avg_power_w, "avg_power_w", minimum=0.0, strict=True)
        power_w, power_basis, power_source = float(avg_power_w), "given", "average system power per accelerator, as given"
    else:
        spec = (catalogue or HardwareCatalogue.bundled()).accelerator(accelerator)
        if spec is None:
            raise UsageError(f"accelerator {accelerator!r} is not in the catalogue (footprint/data/gpus.csv): give its average power (avg_power_w)")
        if spec.tdp_w is None:
            raise UsageError(f"accelerator {accelerator!r} ({spec.model}) has no published TDP ({spec.source}): give its average power (avg_power_w)")
        power_w, power_basis, power_source = spec.tdp_w, "tdp", f"{spec.model} TDP: {spec.source}"
    energy_kwh = hours * count * power_w * pue / 1000.0
    return WorkloadEstimate(
        accelerator=accelerator,
        count=count,
        hours=float(hours),
        power_w_per_accelerator=power_w,
        power_basis=power_basis,
        power_source=power_source,
        pue=float(pue),
        pue_basis=pue_basis,
        intensity_g_per_kwh=float(intensity_g_per_kwh),
        energy_kwh=energy_kwh,
        co2e_kg=energy_kwh * intensity_g_per_kwh / 1000.0,
        method=METHOD,
    )


def _require(value: Any, name: str, *, minimum: float, strict: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > minimum if strict else value >= minimum)
    if not ok:
        relation = ">" if strict else ">="
        raise UsageError(f"{name}: expected a finite number {relation} {minimum:g}, got {value!r}")

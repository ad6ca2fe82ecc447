"""Embodied (manufacturing) emissions of cloud hardware, amortised per instance-hour.

The model is the Teads/CCF component method (METHOD.md section 10): a host's manufacturing
footprint is a base rack server, plus DRAM above the base's 16 GB, plus a fixed amount per
accelerator; it is spread evenly over the stated lifetime. An instance carries the server's
footprint in the share of the host's vCPUs it reserves, plus the full footprint of each
accelerator it holds (a fractional vGPU, the fraction). An accelerator billed alone (GCP GPU SKU
lines) carries only its accelerator term: its host is on its own CPU lines.

Two flaws of CCF's implementation are avoided on purpose:

* embodied emissions stay kgCO2e and are never converted into "kWh" (CCF flaw 2);
* the hours are instance-hours as billed; nothing is divided by the vCPU count (CCF flaw 1).

Extra CPU sockets and local drives (100 kg per socket, 50-100 kg per drive in the Teads sheet) are
not counted because the catalogue does not know them: hosts with several sockets or NVMe drives
are understated (p4d: 3,777 kg here vs 4,677 kg in CCF's table).
What does not belong here: operational energy (``energy``), catalogue loading (``hardware``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class EmbodiedModel:
    """Coefficients of the component model (kgCO2e, GB, hours) and where they come from."""

    server_base_kg: float
    base_memory_gb: float
    memory_kg_per_gb: float
    gpu_kg: float
    lifetime_hours: float
    source: str

    @classmethod
    def from_constants(cls, constants: pd.DataFrame) -> "EmbodiedModel":
        """Build from a constants table (columns name, value, source), e.g. footprint/data/constants.csv."""
        table = constants.set_index("name")
        names = {
            "server_base_kg": "embodied_server_base_kg",
            "base_memory_gb": "embodied_base_memory_gb",
            "memory_kg_per_gb": "embodied_memory_kg_per_gb",
            "gpu_kg": "embodied_gpu_kg",
            "lifetime_hours": "embodied_lifetime_hours",
        }
        values = {field: float(table.loc[name, "value"]) for field, name in names.items()}
        source = " | ".join(f"{name}: {table.loc[name, 'source']}" for name in names.values())
        return cls(**values, source=source)

    def server_kg(self, platform_vcpus: pd.Series, platform_memory_gib: pd.Series) -> pd.Series:
        """Manufacturing kgCO2e of hosts' servers without accelerators; a host without vCPUs (an accelerator sold alone) has none."""
        has_server = platform_vcpus.to_numpy(dtype="float64") > 0
        extra_memory_gb = np.clip(platform_memory_gib.to_numpy(dtype="float64") - self.base_memory_gb, 0.0, None)
        server_kg = np.where(has_server, self.server_base_kg + extra_memory_gb * self.memory_kg_per_gb, 0.0)
        return pd.Series(server_kg, index=platform_vcpus.index, dtype="float64")

    def server_share(self, vcpus: pd.Series, platform_vcpus: pd.Series) -> pd.Series:
        """Fraction of the host's server (chassis, CPUs, DRAM) an instance reserves: its vCPUs over the host's (0 without vCPUs)."""
        host_vcpus = platform_vcpus.to_numpy(dtype="float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(host_vcpus > 0, vcpus.to_numpy(dtype="float64") / host_vcpus, 0.0)
        return pd.Series(share, index=vcpus.index, dtype="float64")

    def kg_per_instance_hour(self, instances: pd.DataFrame) -> pd.Series:
        """kgCO2e per instance-hour for rows with vcpus, gpu_count and the platform_* columns of instances.csv.

        (server kg of the host x vCPU share + accelerators x kg per accelerator) / lifetime hours.
        """
        server = self.server_kg(instances["platform_vcpus"], instances["platform_memory_gib"])
        share = self.server_share(instances["vcpus"], instances["platform_vcpus"])
        accelerators_kg = instances["gpu_count"].astype("float64") * self.gpu_kg
        return (server * share + accelerators_kg) / self.lifetime_hours

    def describe(self, platform_instance_type: pd.Series, gpu_count: pd.Series) -> pd.Series:
        """The x_EmbodiedSource text per row: coefficients, lifetime and the share basis."""
        gpus = gpu_count.astype("float64")
        accelerators = pd.Series(
            np.where(gpus.to_numpy() > 0, " + " + gpus.map("{:g}".format) + f" accelerator(s) x {self.gpu_kg:g} kg", ""),
            index=gpu_count.index,
        )
        head = (
            f"Teads/CCF component model: server {self.server_base_kg:g} kg + "
            f"{self.memory_kg_per_gb:g} kg/GB DRAM above {self.base_memory_gb:g} GB, "
            f"lifetime {self.lifetime_hours:g} h; server share by vCPUs of host "
        )
        return (head + platform_instance_type.astype("string") + accelerators).astype("string")

"""Embodied (manufacturing) emissions of cloud hardware, amortised per instance-hour.

The model is the Teads/CCF component method (METHOD.md section 10): a host's manufacturing
footprint is a base rack server, plus DRAM above the base's 16 GB, plus a fixed amount per GPU;
it is spread evenly over the server lifetime. An instance carries its share of the host: GPUs
over the host's GPUs for accelerator instances, vCPUs over the host's vCPUs otherwise.

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

    def host_kg(self, platform_vcpus: pd.Series, platform_memory_gib: pd.Series, platform_gpu_count: pd.Series) -> pd.Series:
        """Manufacturing kgCO2e of whole hosts. A host without vCPUs (a GPU sold alone) has no server term."""
        has_server = platform_vcpus.to_numpy(dtype="float64") > 0
        extra_memory_gb = np.clip(platform_memory_gib.to_numpy(dtype="float64") - self.base_memory_gb, 0.0, None)
        server_kg = np.where(has_server, self.server_base_kg + extra_memory_gb * self.memory_kg_per_gb, 0.0)
        gpu_kg = platform_gpu_count.to_numpy(dtype="float64") * self.gpu_kg
        return pd.Series(server_kg + gpu_kg, index=platform_vcpus.index, dtype="float64")

    def host_share(self, vcpus: pd.Series, gpu_count: pd.Series, platform_vcpus: pd.Series, platform_gpu_count: pd.Series) -> pd.Series:
        """Fraction of the host an instance reserves: by GPUs for GPU instances, by vCPUs otherwise."""
        gpus = gpu_count.to_numpy(dtype="float64")
        host_gpus = platform_gpu_count.to_numpy(dtype="float64")
        host_vcpus = platform_vcpus.to_numpy(dtype="float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            by_gpu = gpus / host_gpus
            by_vcpu = vcpus.to_numpy(dtype="float64") / host_vcpus
        return pd.Series(np.where(gpus > 0, by_gpu, by_vcpu), index=vcpus.index, dtype="float64")

    def kg_per_instance_hour(self, instances: pd.DataFrame) -> pd.Series:
        """kgCO2e per instance-hour for rows with vcpus, gpu_count and the platform_* columns of instances.csv."""
        host = self.host_kg(instances["platform_vcpus"], instances["platform_memory_gib"], instances["platform_gpu_count"])
        share = self.host_share(instances["vcpus"], instances["gpu_count"], instances["platform_vcpus"], instances["platform_gpu_count"])
        return host * share / self.lifetime_hours

    def describe(self, platform_instance_type: pd.Series, gpu_count: pd.Series) -> pd.Series:
        """The x_EmbodiedSource text per row: coefficients, lifetime and the share basis."""
        basis = pd.Series(np.where(gpu_count.to_numpy(dtype="float64") > 0, "GPUs", "vCPUs"), index=gpu_count.index)
        head = (
            f"Teads/CCF component model: server {self.server_base_kg:g} kg + "
            f"{self.memory_kg_per_gb:g} kg/GB DRAM above {self.base_memory_gb:g} GB + "
            f"{self.gpu_kg:g} kg/GPU, lifetime {self.lifetime_hours:g} h; share by "
        )
        return (head + basis + " of host " + platform_instance_type.astype("string")).astype("string")

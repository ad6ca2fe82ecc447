"""The hardware catalogue: what an instance type is made of, from the bundled tables in ``data/``.

``HardwareCatalogue`` answers "what hardware is a ``p4d.24xlarge``?" for one instance type
(:meth:`~HardwareCatalogue.profile`) or vectorised for a billing frame
(:meth:`~HardwareCatalogue.lookup`), and "what does a V100 draw?" (:meth:`~HardwareCatalogue.accelerator`).
Each profile carries the per-vCPU CPU coefficients resolved by CCF's rules (METHOD.md section 3),
the accelerator's TDP and idle power, and the instance's amortised embodied emissions. Keys are
the size as billed (AWS ``p4d.24xlarge``; GCP machine types and accelerator types such as
``nvidia-tesla-t4``; Azure ``Standard_ND96asr_v4``, case-insensitive, with or without
``Standard_``). GCP custom machine types (``n2-custom-8-32768``) are derived from their name and
their family's CPU. :meth:`~HardwareCatalogue.entries` lists the catalogue.

What does not belong here: turning hardware into watts (``energy``), the embodied model itself
(``embodied``), workload estimates (``workload``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from carbonledger.codes import text_codes
from footprint.embodied import EmbodiedModel

#: Provider spellings seen in billing exports -> carbonledger's provider codes.
_PROVIDER_ALIASES = {
    "aws": "aws", "amazon": "aws", "amazon web services": "aws",
    "gcp": "gcp", "google": "gcp", "google cloud": "gcp", "google cloud platform": "gcp",
    "azure": "azure", "microsoft": "azure", "microsoft azure": "azure",
}
#: CCF's group rule: the median instead of the mean when the group holds one of these.
_MEDIAN_MICROARCHS = {"Sandy Bridge", "Ivy Bridge"}
#: Row of cpu_power.csv holding a provider's fallback for unknown microarchitectures.
_FALLBACK_MICROARCH = "*"


def read_bundled(name: str) -> pd.DataFrame:
    """A bundled table of ``footprint/data`` (a fresh copy: callers may modify it)."""
    return _read_bundled(name).copy()


@functools.cache
def _read_bundled(name: str) -> pd.DataFrame:
    with resources.files("footprint").joinpath("data", name).open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle)


def bundled_constant(name: str) -> float:
    """A value of ``data/constants.csv`` by name."""
    table = _read_bundled("constants.csv").set_index("name")
    return float(table.loc[name, "value"])


def normalise_provider(name: object) -> str | None:
    """'AWS', 'Amazon Web Services' -> 'aws'; unknown providers -> None."""
    if not isinstance(name, str):
        return None
    return _PROVIDER_ALIASES.get(name.strip().lower())


def instance_key(provider: object, instance_type: object) -> str | None:
    """Catalogue key of an instance type: provider, then the size lower-cased, spaces as '_', Azure without 'Standard_'."""
    code = normalise_provider(provider)
    if code is None or not isinstance(instance_type, str) or not instance_type.strip():
        return None
    size = re.sub(r"\s+", "_", instance_type.strip().lower())
    if code == "azure":
        size = size.removeprefix("standard_")
    return f"{code}|{size}"


@dataclass(frozen=True)
class GpuSpec:
    """Power of one accelerator model: TDP (max) and idle watts, with their source."""

    model: str
    tdp_w: float | None
    idle_w: float | None
    source: str


@dataclass(frozen=True)
class HardwareProfile:
    """What one instance of a type is made of, with the power coefficients resolved."""

    provider: str
    instance_type: str
    vcpus: float
    memory_gib: float
    gpu_model: str | None
    gpu_count: float
    gpu_tdp_w: float | None
    gpu_idle_w: float | None
    cpu_microarch: str | None
    cpu_min_w_per_vcpu: float
    cpu_max_w_per_vcpu: float
    source: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: missing numbers become None."""
        return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in asdict(self).items()}


class HardwareCatalogue:
    """Instance types, accelerators and CPU coefficients, indexed for scalar and vectorised lookup."""

    def __init__(
        self,
        instances: pd.DataFrame,
        gpus: pd.DataFrame,
        cpu_power: pd.DataFrame,
        *,
        embodied: EmbodiedModel,
        gpu_idle_fraction_of_tdp: float,
    ):
        self._gpus = _gpu_table(gpus, gpu_idle_fraction_of_tdp)
        self._profiles = _profile_table(instances, self._gpus, cpu_power, embodied)
        self._catalogued = len(self._profiles)
        self._accelerator_names = _accelerator_index(self._gpus)
        self._lookup_arrays = _lookup_arrays(self._profiles)
        #: (provider, instance type) as billed -> profile row (None: not in the catalogue); rows only ever get appended
        self._row_of: dict[tuple[object, object], int | None] = {}

    @classmethod
    @functools.cache
    def bundled(cls) -> "HardwareCatalogue":
        """The catalogue built from ``footprint/data`` (cached)."""
        return cls(
            read_bundled("instances.csv"),
            read_bundled("gpus.csv"),
            read_bundled("cpu_power.csv"),
            embodied=EmbodiedModel.from_constants(read_bundled("constants.csv")),
            gpu_idle_fraction_of_tdp=bundled_constant("gpu_idle_fraction_of_tdp"),
        )

    def profile(self, provider: str, instance_type: str) -> HardwareProfile | None:
        """The profile of one instance type, or None when the catalogue does not know it."""
        key = instance_key(provider, instance_type)
        if key is not None:
            self._add_custom_machine_types({key})
        if key is None or key not in self._profiles.index:
            return None
        row = self._profiles.loc[key]
        return HardwareProfile(
            provider=row["provider"],
            instance_type=row["instance_type"],
            vcpus=float(row["vcpus"]),
            memory_gib=float(row["memory_gib"]),
            gpu_model=None if pd.isna(row["gpu_model"]) else str(row["gpu_model"]),
            gpu_count=float(row["gpu_count"]),
            gpu_tdp_w=_optional_float(row["gpu_tdp_w"]),
            gpu_idle_w=_optional_float(row["gpu_idle_w"]),
            cpu_microarch=None if pd.isna(row["cpu_microarch"]) else str(row["cpu_microarch"]),
            cpu_min_w_per_vcpu=float(row["cpu_min_w_per_vcpu"]),
            cpu_max_w_per_vcpu=float(row["cpu_max_w_per_vcpu"]),
            source=str(row["x_HardwareSource"]),
        )

    def lookup(self, provider: pd.Series, instance_type: pd.Series) -> pd.DataFrame:
        """Hardware columns for every row (index-aligned); unknown types get ``hw_found`` False and NaN."""
        return self.lookup_rows(self.rows(provider, instance_type), provider.index)

    @property
    def not_found(self) -> int:
        """The row of :meth:`rows` for an instance type the catalogue does not know."""
        return len(self._profiles)

    def rows(self, provider: pd.Series, instance_type: pd.Series) -> np.ndarray:
        """The catalogue row of each line's instance type (:attr:`not_found` where unknown), resolved once per distinct pair.

        Rows stay valid until a later call adds GCP custom machine types (which moves :attr:`not_found`).
        """
        provider_codes, provider_values = text_codes(provider)
        type_codes, type_values = text_codes(instance_type)
        pair_codes = np.where(
            (provider_codes < 0) | (type_codes < 0), -1, provider_codes.astype("int64") * (len(type_values) + 1) + type_codes
        )
        pair_index, unique_codes = pd.factorize(pair_codes)
        pairs = [
            None if code < 0 else (provider_values[code // (len(type_values) + 1)], type_values[code % (len(type_values) + 1)])
            for code in unique_codes
        ]
        keys = {pair: instance_key(*pair) for pair in pairs if pair is not None and pair not in self._row_of}
        self._add_custom_machine_types({k for k in keys.values() if k is not None})
        for pair, key in keys.items():
            self._row_of[pair] = self._profiles.index.get_loc(key) if key is not None and key in self._profiles.index else None
        rows = [None if pair is None else self._row_of[pair] for pair in pairs]
        return np.array([self.not_found if row is None else row for row in rows], dtype="int64")[pair_index]

    def lookup_rows(self, rows: np.ndarray, index: pd.Index) -> pd.DataFrame:
        """:meth:`lookup`'s columns of catalogue rows (from :meth:`rows`; :attr:`not_found` gives the unknown row)."""
        floats, others = self._lookup_arrays
        out = pd.DataFrame(floats.T.take(rows, axis=0), columns=_FLOAT_COLUMNS, index=index)
        for column, array in others.items():
            out.insert(_LOOKUP_COLUMNS.index(column), column, array.take(rows))
        return out

    def _add_custom_machine_types(self, keys: set[str]) -> None:
        """Add profiles for the GCP custom machine types among ``keys`` not yet known (see :func:`_custom_machine`)."""
        rows = [row for key in sorted(keys - set(self._profiles.index)) if (row := _custom_machine(key, self._profiles)) is not None]
        if rows:
            self._profiles = pd.concat([self._profiles, pd.DataFrame(rows)])
            self._lookup_arrays = _lookup_arrays(self._profiles)

    def entries(self, provider: str | None = None) -> pd.DataFrame:
        """Every catalogued instance type (of one provider, when given), as ``carbonledger hardware --list`` prints it.

        GCP custom machine types resolved since are not entries: they are derived from their name.
        """
        columns = ["provider", "instance_type", "family", "gpu_model", "gpu_count", "vcpus", "memory_gib", "cpu_microarch"]
        table = self._profiles.iloc[: self._catalogued][columns]
        if provider is not None:
            table = table.loc[table["provider"] == normalise_provider(provider)]
        return table.reset_index(drop=True)

    def accelerator(self, name: str) -> GpuSpec | None:
        """An accelerator by model name or alias ('V100', 'A100', 'TPU v3', 'TPUv2', 'T4', ...).

        Exact names and aliases win; a short name matching several models ('V100') resolves to the
        variant with the highest TDP (an upper bound), ties in file order.
        """
        compact = _compact(name)
        if not compact:
            return None
        model = self._accelerator_names.get(compact)
        if model is None:
            wanted = set(_tokens(name))
            candidates = self._gpus[self._gpus["tokens"].map(lambda tokens: wanted <= tokens)]
            if candidates.empty:
                return None
            model = candidates.sort_values("tdp_w", ascending=False, kind="stable", na_position="last")["gpu_model"].iloc[0]
        row = self._gpus.set_index("gpu_model").loc[model]
        return GpuSpec(model=model, tdp_w=_optional_float(row["tdp_w"]), idle_w=_optional_float(row["idle_w"]), source=str(row["source"]))


_LOOKUP_DTYPES = {
    "hw_found": "bool",
    "x_GpuModel": "string",
    "x_GpuCount": "float64",
    "x_Vcpus": "float64",
    "x_MemoryGib": "float64",
    "gpu_tdp_w": "float64",
    "gpu_idle_w": "float64",
    "cpu_min_w_per_vcpu": "float64",
    "cpu_max_w_per_vcpu": "float64",
    "x_HardwareSource": "string",
    "embodied_kg_per_hour": "float64",
    "x_EmbodiedSource": "string",
}
_LOOKUP_COLUMNS = list(_LOOKUP_DTYPES)
_FLOAT_COLUMNS = [c for c, dtype in _LOOKUP_DTYPES.items() if dtype == "float64"]
#: lookup column -> profile-table column it is read from.
_LOOKUP_SOURCES = {
    column: {"x_GpuModel": "gpu_model", "x_GpuCount": "gpu_count", "x_Vcpus": "vcpus", "x_MemoryGib": "memory_gib"}.get(column, column)
    for column in _LOOKUP_DTYPES
}


#: GCP custom machine types as billed in machine_spec: ``custom-4-16384`` (N1), ``n2-custom-8-32768-ext``.
_GCP_CUSTOM = re.compile(r"^(?:(?P<family>[a-z][a-z0-9]*)-)?custom-(?P<vcpus>\d+)-(?P<memory_mib>\d+)(?:-ext)?$")


def _custom_machine(key: str, profiles: pd.DataFrame) -> pd.Series | None:
    """A profile for a GCP custom machine type: vCPUs and memory from its name, CPU and host of its family's largest standard type.

    Google bills custom machines as core and RAM SKUs; the name (``[FAMILY-]custom-VCPUS-MEMORY_MIB``,
    N1 without a family) is all the machine_spec label says. Embodied scales with the vCPUs, as for
    the family's predefined types.
    """
    provider, _, size = key.partition("|")
    match = _GCP_CUSTOM.match(size) if provider == "gcp" else None
    if match is None:
        return None
    standard = profiles.loc[(profiles["provider"] == "gcp") & (profiles["family"] == f"{match['family'] or 'n1'}-standard")]
    if standard.empty:
        return None
    base = standard.loc[standard["vcpus"].idxmax()]
    vcpus, memory_gib = float(match["vcpus"]), int(match["memory_mib"]) / 1024.0
    row = base.copy()
    row["instance_type"], row["vcpus"], row["memory_gib"] = size, vcpus, memory_gib
    row["embodied_kg_per_hour"] = base["embodied_kg_per_hour"] * vcpus / base["vcpus"]
    row["x_HardwareSource"] = (
        f"GCP custom machine type {size}: {vcpus:g} vCPUs and {memory_gib:g} GiB from its name; "
        f"CPU and host of {base['instance_type']}: {base['x_HardwareSource']}"
    )
    row.name = key
    return row


def _optional_float(value: object) -> float | None:
    return None if pd.isna(value) else float(value)


def _compact(name: str) -> str:
    """Lower-case letters and digits only: 'TPU v2' and 'TPUv2' -> 'tpuv2'."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _tokens(name: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", name.lower()) if t]


def _gpu_table(gpus: pd.DataFrame, idle_fraction_of_tdp: float) -> pd.DataFrame:
    """gpus.csv with idle watts filled from TDP x the Teads idle fraction where none is published."""
    table = gpus.copy()
    derived = table["idle_w"].isna() & table["tdp_w"].notna()
    table["idle_w"] = table["idle_w"].where(~derived, table["tdp_w"] * idle_fraction_of_tdp)
    table.loc[derived, "source"] = table.loc[derived, "source"] + f" (idle derived: TDP x {idle_fraction_of_tdp:g})"
    names = table["gpu_model"] + ";" + table["aliases"].fillna("")
    table["tokens"] = names.map(lambda text: set(_tokens(text.replace(";", " "))))
    return table


def _accelerator_index(gpus: pd.DataFrame) -> dict[str, str]:
    """Compact model names and aliases -> model (first listed wins)."""
    index: dict[str, str] = {}
    for model, aliases in zip(gpus["gpu_model"], gpus["aliases"].fillna("")):
        for name in [model, *aliases.split(";")]:
            if _compact(name):
                index.setdefault(_compact(name), model)
    return index


def _cpu_coefficients(provider: str, group: object, cpu_power: pd.DataFrame) -> tuple[float, float, str]:
    """Per-vCPU (min W, max W, label) for a ';'-separated microarchitecture group, by CCF's rules.

    Each member comes from the provider's table, else from the AWS table (the most complete, as
    cpu_power.csv's Azure notes advise), else the provider's fallback; the group takes the mean,
    or the median when it holds Sandy Bridge or Ivy Bridge (CCF ``getWattsByAverageOrMedian``).
    """
    table = cpu_power.set_index(["provider", "microarchitecture"])
    members = [m.strip() for m in group.split(";")] if isinstance(group, str) else []
    resolved: list[tuple[float, float]] = []
    labels: list[str] = []
    for member in members or [_FALLBACK_MICROARCH]:
        for where in ((provider, member), ("aws", member), (provider, _FALLBACK_MICROARCH)):
            if where in table.index:
                row = table.loc[where]
                resolved.append((float(row["min_w_per_vcpu"]), float(row["max_w_per_vcpu"])))
                labels.append(f"{member} ({'/'.join(where)})" if where[1] != _FALLBACK_MICROARCH else f"{member} ({provider} fallback)")
                break
    combine = np.median if _MEDIAN_MICROARCHS & set(members) else np.mean
    mins, maxs = zip(*resolved)
    rule = "" if len(resolved) == 1 else f"{combine.__name__} of "
    return float(combine(mins)), float(combine(maxs)), "cpu_power.csv " + rule + ", ".join(labels)


def _profile_table(instances: pd.DataFrame, gpus: pd.DataFrame, cpu_power: pd.DataFrame, embodied: EmbodiedModel) -> pd.DataFrame:
    """One row per instance type, indexed by :func:`instance_key`, with everything lookup returns."""
    table = instances.copy()
    table.index = pd.Index([instance_key(p, t) for p, t in zip(table["provider"], table["instance_type"])], name="key")
    if table.index.has_duplicates:
        raise ValueError(f"instances.csv has duplicate instance types: {sorted(set(table.index[table.index.duplicated()]))}")
    power = gpus.set_index("gpu_model")
    table["gpu_tdp_w"] = table["gpu_model"].map(power["tdp_w"])
    table["gpu_idle_w"] = table["gpu_model"].map(power["idle_w"])
    groups = {(p, g) for p, g in zip(table["provider"], table["cpu_microarch"].fillna(""))}
    coefficients = {key: _cpu_coefficients(key[0], key[1] or None, cpu_power) for key in groups}
    resolved = [coefficients[(p, g)] for p, g in zip(table["provider"], table["cpu_microarch"].fillna(""))]
    table["cpu_min_w_per_vcpu"] = [r[0] for r in resolved]
    table["cpu_max_w_per_vcpu"] = [r[1] for r in resolved]
    gpu_note = np.where(table["gpu_model"].notna(), "; accelerator: gpus.csv " + table["gpu_model"].fillna(""), "")
    table["x_HardwareSource"] = (
        "instances.csv " + table["provider"] + "/" + table["instance_type"] + " [" + table["source"] + "]"
        + gpu_note + "; cpu: " + pd.Series([r[2] for r in resolved], index=table.index)
    )
    table["embodied_kg_per_hour"] = embodied.kg_per_instance_hour(table)
    table["x_EmbodiedSource"] = embodied.describe(table["platform_instance_type"], table["gpu_count"])
    table["hw_found"] = True
    return table


def _lookup_arrays(profiles: pd.DataFrame) -> tuple[np.ndarray, dict[str, pd.api.extensions.ExtensionArray]]:
    """Lookup's columns over the profiles plus a last "not found" row (no GPUs, the rest missing).

    The float64 columns come as one 2-D array (one pandas block: no consolidation copy on 10M
    rows), the others as typed arrays.
    """
    table = profiles.reindex([*profiles.index, None])
    table.iloc[-1, table.columns.get_loc("hw_found")] = False
    table.iloc[-1, table.columns.get_loc("gpu_count")] = 0.0
    floats = np.vstack([table[_LOOKUP_SOURCES[c]].to_numpy(dtype="float64") for c in _FLOAT_COLUMNS])
    others = {
        c: pd.array(table[_LOOKUP_SOURCES[c]].astype(_LOOKUP_DTYPES[c]))
        for c in _LOOKUP_COLUMNS if c not in _FLOAT_COLUMNS
    }
    return floats, others

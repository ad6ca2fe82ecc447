"""Build footprint's bundled hardware tables from the shared reference data.

Reads ``/work/shared/data/hardware/*.csv`` (or ``--shared DIR``) plus three hand-transcribed inputs
in ``footprint/data/`` (vendor documentation facts, each row with its source):

* ``cpu_instance_types.csv``: CPU instance types listed one by one;
* ``accelerator_instance_types.csv``: accelerator instance types the shared table lacks (AWS p2,
  g2, g3, g4ad, g5g, inf1, dl1; GCP accelerator-only billing profiles and TPU VMs; Azure NV, ND v1, NG);
* ``instance_families.csv``: CPU families as a size rule (a name template, its sizes, GiB per vCPU
  unless a size states its memory), expanded here into one row per size;
* ``accelerators_extra.csv``: accelerator models the shared ``gpu_power.csv`` lacks;

and writes, into ``footprint/data/``:

* ``instances.csv``: every instance type, with CPU microarchitecture (normalised, ``;`` between
  alternatives) and the host ``platform`` (the family's largest size, or an explicit host) used to
  share a host's embodied emissions. Rows listed one by one win over the shared table, which wins
  over family rules;
* ``gpus.csv``: accelerator power (TDP, idle), memory, aliases, source (``gpu_power.csv`` + extras);
* ``cpu_power.csv``: per-vCPU min/max W per microarchitecture and provider, plus fallbacks;
* ``constants.csv``: memory W/GB, storage and network coefficients, utilisation assumptions,
  embodied coefficients, default PUE.

Corrections and decisions applied on top of the shared files are listed in ``_GPU_PATCHES`` and
``_ASSUMED_CONSTANTS`` with their sources; every output row keeps a ``source``.
This is a maintenance script: nothing in the package imports it.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATA_OUT = REPO / "footprint" / "data"
SHARED_DEFAULT = Path("/work/shared/data/hardware")

PATTERSON_2021 = "Patterson et al. 2021, arXiv:2104.10350 v3, Table 4 (chip TDP row)"

#: Changes to gpu_power.csv rows: model -> {column: value}, each with its source.
_GPU_PATCHES: dict[str, dict[str, object]] = {
    "Google TPU v2 (chip)": {"aliases": "TPU v2;TPUv2;tpu-v2"},
    "Google TPU v3 (chip)": {"tdp_w": 450.0, "tdp_source": PATTERSON_2021 + ": TPU v3 450 W", "aliases": "TPU v3;TPUv3;tpu-v3"},
    "Google TPU v4 (chip)": {"aliases": "TPU v4;TPUv4;tpu-v4"},
    "Google TPU v5e (chip)": {"aliases": "TPU v5e;TPUv5e;tpu-v5e;TPU v5 lite"},
    "Google TPU v5p (chip)": {"aliases": "TPU v5p;TPUv5p;tpu-v5p"},
    "Google TPU v6e (Trillium) (chip)": {"aliases": "TPU v6e;TPUv6e;tpu-v6e;Trillium"},
}

#: Constants that are assumptions or come from METHOD.md rather than a shared CSV row.
_ASSUMED_CONSTANTS: list[tuple[str, float, str, str]] = [
    ("utilisation_default_low", 0.3, "fraction", "carbonledger assumption: range around the CCF default"),
    ("utilisation_default_central", 0.5, "fraction", "CCF AVG_CPU_UTILIZATION_2020 = 50% (2016 US Data Center Energy Usage Report projection for hyperscale), METHOD.md section 2"),
    ("utilisation_default_high", 0.8, "fraction", "CCF issue #1060 argues ~80% fits Azure better (METHOD.md section 2)"),
    ("utilisation_training_low", 0.55, "fraction", "Patterson et al. 2021 Table 4: TPU v3 runs drew 245-310 W per chip of 450 W TDP (0.54-0.69)"),
    ("utilisation_training_central", 0.8, "fraction", "carbonledger assumption between Patterson et al. 2021 TPU (0.54-0.79 of TDP) and V100 (at or above TDP) training draws"),
    ("utilisation_training_high", 1.0, "fraction", "Patterson et al. 2021 Table 3/4: V100 training draw 325-330 W system power per 300 W TDP chip (close to TDP)"),
    ("utilisation_inference_low", 0.2, "fraction", "carbonledger assumption: serving is bursty, well below training draw"),
    ("utilisation_inference_central", 0.5, "fraction", "carbonledger assumption: the CCF default (50%) for serving"),
    ("utilisation_inference_high", 0.8, "fraction", "carbonledger assumption: saturated serving"),
    ("utilisation_interactive_low", 0.05, "fraction", "carbonledger assumption: notebooks/dev boxes mostly idle"),
    ("utilisation_interactive_central", 0.15, "fraction", "carbonledger assumption: notebooks/dev boxes mostly idle"),
    ("utilisation_interactive_high", 0.4, "fraction", "carbonledger assumption: notebooks/dev boxes with bursts"),
    ("utilisation_idle_low", 0.0, "fraction", "idle by definition: the linear model's P_min (METHOD.md section 2)"),
    ("utilisation_idle_central", 0.0, "fraction", "idle by definition: the linear model's P_min (METHOD.md section 2)"),
    ("utilisation_idle_high", 0.1, "fraction", "carbonledger assumption: background daemons on an idle instance"),
    ("workload_default_pue", 1.58, "ratio", "Uptime Institute 2023 global average PUE 1.58 (as used by carbontracker), METHOD.md section 7: conservative when the facility is unknown"),
    ("embodied_base_memory_gb", 16.0, "GB", "Teads/CCF: the 1000 kg base rack server includes 16 GB DRAM (shared embodied_emissions.csv)"),
]


def build(shared: Path) -> None:
    gpus = build_gpus(pd.read_csv(shared / "gpu_power.csv"), _GPU_PATCHES)
    cpu_power = build_cpu_power(pd.read_csv(shared / "cpu_power_coefficients.csv"))
    constants = build_constants(shared, gpus_raw=pd.read_csv(shared / "gpu_power.csv"))
    gpus = pd.concat([gpus, build_gpus(pd.read_csv(DATA_OUT / "accelerators_extra.csv"))], ignore_index=True)
    if gpus["gpu_model"].duplicated().any():
        raise SystemExit(f"accelerators_extra.csv repeats a shared model: {sorted(gpus.loc[gpus['gpu_model'].duplicated(), 'gpu_model'])}")
    listed = pd.concat(
        [pd.read_csv(DATA_OUT / "accelerator_instance_types.csv"), pd.read_csv(DATA_OUT / "cpu_instance_types.csv")],
        ignore_index=True,
    )
    families = expand_families(pd.read_csv(DATA_OUT / "instance_families.csv"))
    instances = build_instances(pd.read_csv(shared / "gpu_instances.csv"), listed, families)
    unknown_gpus = set(instances["gpu_model"].dropna()) - set(gpus["gpu_model"])
    if unknown_gpus:
        raise SystemExit(f"instances name accelerators missing from gpus.csv: {sorted(unknown_gpus)}")
    for name, frame in (("gpus.csv", gpus), ("cpu_power.csv", cpu_power), ("constants.csv", constants), ("instances.csv", instances)):
        frame.to_csv(DATA_OUT / name, index=False)
        print(f"wrote {DATA_OUT / name}: {len(frame)} rows")


def build_gpus(raw: pd.DataFrame, patches: dict[str, dict[str, object]] | None = None) -> pd.DataFrame:
    """gpus.csv rows from a table with gpu_power.csv's columns, after ``patches`` (model -> {column: value})."""
    gpus = raw.copy()
    for model, patch in (patches or {}).items():
        hit = gpus["gpu_model"] == model
        if not hit.any():
            raise SystemExit(f"gpu_power.csv has no row {model!r} to patch")
        for column, value in patch.items():
            gpus.loc[hit, column] = value
    source = "tdp: " + gpus["tdp_source"].fillna("not published")
    source = source + "; idle: " + gpus["idle_source"].fillna("none published")
    return pd.DataFrame({
        "gpu_model": gpus["gpu_model"],
        "vendor": gpus["vendor"],
        "form_factor": gpus["form_factor"],
        "tdp_w": gpus["tdp_w"],
        "idle_w": gpus["idle_w"],
        "memory_gb": gpus["memory_gb"],
        "confidence": gpus["confidence"],
        "aliases": gpus["aliases"],
        "source": source,
        "notes": gpus["notes"],
    })


def build_cpu_power(raw: pd.DataFrame) -> pd.DataFrame:
    is_fallback = raw["microarchitecture"].str.startswith("(unknown")
    return pd.DataFrame({
        "provider": raw["provider"],
        "microarchitecture": raw["microarchitecture"].where(~is_fallback, "*"),
        "min_w_per_vcpu": raw["min_watts_per_vcpu"],
        "max_w_per_vcpu": raw["max_watts_per_vcpu"],
        "source": raw["source"],
        "notes": raw["notes"],
    })


def build_constants(shared: Path, *, gpus_raw: pd.DataFrame) -> pd.DataFrame:
    power = pd.read_csv(shared / "power_model_constants.csv").set_index("name")
    embodied = pd.read_csv(shared / "embodied_emissions.csv").set_index("item")
    teads = gpus_raw.dropna(subset=["teads_w_idle", "teads_w_100pct"])
    idle_fraction = float((teads["teads_w_idle"] / teads["teads_w_100pct"]).median())

    def embodied_row(name: str, item: str, unit: str) -> tuple[str, float, str, str]:
        row = embodied.loc[item]
        return name, float(row["value"]), unit, f"{item}: {row['source']} (shared hardware/embodied_emissions.csv)"

    rows = [
        ("memory_w_per_gb", float(power.loc["memory_w_per_gb", "value"]), "W per GB", power.loc["memory_w_per_gb", "source"]),
        ("gpu_idle_fraction_of_tdp", round(idle_fraction, 4), "fraction",
         f"median Teads idle/100% GPU power ratio over {len(teads)} GPUs in shared gpu_power.csv (teads_w_idle / teads_w_100pct)"),
        embodied_row("embodied_server_base_kg", "Teads/CCF: base rack server", "kgCO2e per server"),
        embodied_row("embodied_memory_kg_per_gb", "Teads/CCF: additional memory", "kgCO2e per GB above the base"),
        embodied_row("embodied_gpu_kg", "Teads/CCF: GPU", "kgCO2e per GPU"),
        ("embodied_lifetime_hours", float(power.loc["server_lifespan_hours_ccf", "value"]), "hours",
         power.loc["server_lifespan_hours_ccf", "source"]),
        *[(name, float(power.loc[name, "value"]), power.loc[name, "unit"], power.loc[name, "source"] + " (shared hardware/power_model_constants.csv)")
          for name in ("ssd_wh_per_tb_hour", "hdd_wh_per_tb_hour", "network_kwh_per_gb")],
        *_ASSUMED_CONSTANTS,
    ]
    return pd.DataFrame(rows, columns=["name", "value", "unit", "source"])


def build_instances(gpu_raw: pd.DataFrame, listed: pd.DataFrame, families: pd.DataFrame) -> pd.DataFrame:
    """Listed rows, then the shared GPU table, then family rules; the first row of a type wins."""
    gpu = pd.DataFrame({
        "provider": gpu_raw["provider"],
        "instance_type": gpu_raw["instance_type"].str.replace(r"\s*\(attached to .*\)$", "", regex=True),
        "vcpus": gpu_raw["vcpus"].fillna(0.0),
        "memory_gib": gpu_raw["memory_gib"].fillna(0.0),
        "gpu_model": gpu_raw["gpu_model"],
        "gpu_count": gpu_raw["gpu_count"].fillna(0.0),
        "cpu_model": gpu_raw["cpu_model_or_microarch"],
        "cpu_microarch": gpu_raw["cpu_microarch"].map(_normalise_microarch).where(gpu_raw["vcpus"].notna()),
        "source": "shared hardware/gpu_instances.csv: " + gpu_raw["source"],
        "platform_instance_type": pd.NA,
        "notes": gpu_raw["notes"],
    })
    listed = listed.assign(gpu_count=listed["gpu_count"].fillna(0.0), cpu_model=listed["cpu_model"].astype("object"))
    both = pd.concat([listed[gpu.columns], gpu, families[gpu.columns]], ignore_index=True)
    both = both.drop_duplicates(subset=["provider", "instance_type"], keep="first")
    if both["source"].isna().any():
        raise SystemExit(f"instance rows without a source: {both.loc[both['source'].isna(), 'instance_type'].tolist()}")
    both["family"] = [_family(p, t) for p, t in zip(both["provider"], both["instance_type"])]
    return _with_platform(both)


#: AWS size names -> vCPUs where the size itself does not say ("4xlarge" -> 16 follows the rule below).
_AWS_FIXED_SIZES = {"nano": 2, "micro": 2, "small": 2, "medium": 1, "large": 2, "xlarge": 4}


def expand_families(rules: pd.DataFrame) -> pd.DataFrame:
    """One row per size of each family rule of ``instance_families.csv``.

    ``sizes`` lists ``label`` or ``label=vcpus`` or ``label=vcpus/memory_gib`` separated by ``;``; a
    bare label's vCPUs follow from its name (AWS ``Nxlarge`` = 4N, GCP/Azure: the number itself)
    and its memory is vCPUs x ``gib_per_vcpu``.
    """
    rows = []
    for rule in rules.itertuples(index=False):
        for token in rule.sizes.split(";"):
            label, _, spec = token.partition("=")
            vcpus_text, _, memory_text = spec.partition("/")
            vcpus = float(vcpus_text) if vcpus_text else _vcpus_of_label(rule.provider, label)
            memory = float(memory_text) if memory_text else vcpus * float(rule.gib_per_vcpu)
            rows.append({
                "provider": rule.provider, "instance_type": rule.template.format(size=label), "vcpus": vcpus,
                "memory_gib": memory, "gpu_model": pd.NA, "gpu_count": 0.0, "cpu_model": rule.cpu_model,
                "cpu_microarch": rule.cpu_microarch, "source": rule.source,
                "platform_instance_type": rule.platform_instance_type if isinstance(rule.platform_instance_type, str) else pd.NA,
                "notes": "expanded from instance_families.csv " + rule.template,
            })
    return pd.DataFrame(rows)


def _vcpus_of_label(provider: str, label: str) -> float:
    if provider != "aws":
        return float(label)
    if label in _AWS_FIXED_SIZES:
        return float(_AWS_FIXED_SIZES[label])
    match = re.fullmatch(r"(\d+)xlarge", label)
    if match is None:
        raise SystemExit(f"instance_families.csv: AWS size {label!r} needs an explicit '=vcpus'")
    return 4.0 * int(match.group(1))


def _normalise_microarch(text: object) -> object:
    """'EPYC 3rd Gen (Milan)' -> 'EPYC 3rd Gen'; 'Skylake/Broadwell/Haswell' -> 'Skylake;Broadwell;Haswell'."""
    if not isinstance(text, str):
        return pd.NA
    parts = [re.sub(r"\s*\(.*?\)", "", part).strip() for part in text.split("/")]
    return ";".join(p for p in parts if p)


def _family(provider: str, instance_type: str) -> str:
    """AWS 'p4d.24xlarge' -> 'p4d'; GCP 'a2-highgpu-8g' -> 'a2-highgpu'; Azure 'Standard_NC24ads_A100_v4' -> 'NCads_A100_v4'."""
    if provider == "aws":
        return instance_type.split(".", 1)[0]
    if provider == "gcp":
        return instance_type.rsplit("-", 1)[0] if instance_type.count("-") >= 2 else instance_type
    size = instance_type.removeprefix("Standard_")
    match = re.match(r"^([A-Za-z]+)\d+(.*)$", size)
    return match.group(1) + match.group(2) if match else size


def _with_platform(frame: pd.DataFrame) -> pd.DataFrame:
    """Platform = explicit ``platform_instance_type`` if given, else the family's largest size (vCPUs, then GPUs, then memory)."""
    ranked = frame.sort_values(["vcpus", "gpu_count", "memory_gib"], ascending=False)
    largest = ranked.drop_duplicates(subset=["provider", "family"]).set_index(["provider", "family"])["instance_type"]
    keys = pd.MultiIndex.from_frame(frame[["provider", "family"]])
    platform = frame["platform_instance_type"].astype("object")
    platform = platform.where(platform.notna(), pd.Series(largest.reindex(keys).to_numpy(), index=frame.index))
    by_type = frame.set_index(["provider", "instance_type"])
    host = by_type.reindex(pd.MultiIndex.from_arrays([frame["provider"], platform]))
    if host["vcpus"].isna().any():
        raise SystemExit("platform_instance_type names an instance type that is not in the table")
    out = frame.assign(
        platform_instance_type=platform.to_numpy(),
        platform_vcpus=host["vcpus"].to_numpy(),
        platform_gpu_count=host["gpu_count"].to_numpy(),
        platform_memory_gib=host["memory_gib"].to_numpy(),
    )
    columns = ["provider", "instance_type", "family", "vcpus", "memory_gib", "gpu_model", "gpu_count", "cpu_model",
               "cpu_microarch", "platform_instance_type", "platform_vcpus", "platform_gpu_count", "platform_memory_gib",
               "source", "notes"]
    return out[columns].sort_values(["provider", "family", "vcpus", "instance_type"]).reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=SHARED_DEFAULT, help="folder holding the shared hardware CSVs")
    build(parser.parse_args().shared)


if __name__ == "__main__":
    main()

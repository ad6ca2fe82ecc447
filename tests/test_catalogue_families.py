"""Catalogue coverage: every family of issue 4 resolves, with the right accelerator model and count per size."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from carbonledger.cli import main
from footprint.hardware import HardwareCatalogue, read_bundled

# (provider, instance type as billed, accelerator model, accelerators, vCPUs, memory GiB)
GPU_SIZES = [
    ("aws", "p2.xlarge", "NVIDIA K80 (1 GK210 die)", 1, 4, 61), ("aws", "p2.8xlarge", "NVIDIA K80 (1 GK210 die)", 8, 32, 488),
    ("aws", "p2.16xlarge", "NVIDIA K80 (1 GK210 die)", 16, 64, 732),
    ("aws", "p3.2xlarge", "NVIDIA V100 SXM2 16GB", 1, 8, 61), ("aws", "p3.8xlarge", "NVIDIA V100 SXM2 16GB", 4, 32, 244),
    ("aws", "p3.16xlarge", "NVIDIA V100 SXM2 16GB", 8, 64, 488), ("aws", "p3dn.24xlarge", "NVIDIA V100 SXM2 32GB", 8, 96, 768),
    ("aws", "p4d.24xlarge", "NVIDIA A100 SXM4 40GB", 8, 96, 1152), ("aws", "p4de.24xlarge", "NVIDIA A100 SXM4 80GB", 8, 96, 1152),
    ("aws", "p5.4xlarge", "NVIDIA H100 SXM5 80GB", 1, 16, 256), ("aws", "p5.48xlarge", "NVIDIA H100 SXM5 80GB", 8, 192, 2048),
    ("aws", "p5e.48xlarge", "NVIDIA H200 SXM 141GB", 8, 192, 2048), ("aws", "p5en.48xlarge", "NVIDIA H200 SXM 141GB", 8, 192, 2048),
    ("aws", "p6-b200.48xlarge", "NVIDIA B200", 8, 192, 2048),
    ("aws", "g3s.xlarge", "NVIDIA Tesla M60 (1 GM204 die)", 1, 4, 30.5), ("aws", "g3.4xlarge", "NVIDIA Tesla M60 (1 GM204 die)", 1, 16, 122),
    ("aws", "g3.16xlarge", "NVIDIA Tesla M60 (1 GM204 die)", 4, 64, 488),
    ("aws", "g4dn.xlarge", "NVIDIA T4", 1, 4, 16), ("aws", "g4dn.12xlarge", "NVIDIA T4", 4, 48, 192), ("aws", "g4dn.metal", "NVIDIA T4", 8, 96, 384),
    ("aws", "g4ad.xlarge", "AMD Radeon Pro V520", 1, 4, 16), ("aws", "g4ad.8xlarge", "AMD Radeon Pro V520", 2, 32, 128),
    ("aws", "g4ad.16xlarge", "AMD Radeon Pro V520", 4, 64, 256),
    ("aws", "g5.xlarge", "NVIDIA A10G", 1, 4, 16), ("aws", "g5.12xlarge", "NVIDIA A10G", 4, 48, 192), ("aws", "g5.48xlarge", "NVIDIA A10G", 8, 192, 768),
    ("aws", "g5g.xlarge", "NVIDIA T4G", 1, 4, 8), ("aws", "g5g.16xlarge", "NVIDIA T4G", 2, 64, 128), ("aws", "g5g.metal", "NVIDIA T4G", 2, 64, 128),
    ("aws", "g6.xlarge", "NVIDIA L4", 1, 4, 16), ("aws", "g6.24xlarge", "NVIDIA L4", 4, 96, 384), ("aws", "g6.48xlarge", "NVIDIA L4", 8, 192, 768),
    ("aws", "g6e.xlarge", "NVIDIA L40S", 1, 4, 32), ("aws", "g6e.12xlarge", "NVIDIA L40S", 4, 48, 384), ("aws", "g6e.48xlarge", "NVIDIA L40S", 8, 192, 1536),
    ("aws", "gr6.4xlarge", "NVIDIA L4", 1, 16, 128), ("aws", "gr6.8xlarge", "NVIDIA L4", 1, 32, 256),
    ("aws", "trn1.2xlarge", "AWS Trainium", 1, 8, 32), ("aws", "trn1.32xlarge", "AWS Trainium", 16, 128, 512),
    ("aws", "trn1n.32xlarge", "AWS Trainium", 16, 128, 512), ("aws", "trn2.48xlarge", "AWS Trainium2", 16, 192, 2048),
    ("aws", "inf1.xlarge", "AWS Inferentia", 1, 4, 8), ("aws", "inf1.6xlarge", "AWS Inferentia", 4, 24, 48), ("aws", "inf1.24xlarge", "AWS Inferentia", 16, 96, 192),
    ("aws", "inf2.xlarge", "AWS Inferentia2", 1, 4, 16), ("aws", "inf2.24xlarge", "AWS Inferentia2", 6, 96, 384), ("aws", "inf2.48xlarge", "AWS Inferentia2", 12, 192, 768),
    ("aws", "dl1.24xlarge", "Intel Gaudi (HL-205)", 8, 96, 768),
    ("gcp", "a2-highgpu-1g", "NVIDIA A100 SXM4 40GB", 1, 12, 85), ("gcp", "a2-highgpu-8g", "NVIDIA A100 SXM4 40GB", 8, 96, 680),
    ("gcp", "a2-megagpu-16g", "NVIDIA A100 SXM4 40GB", 16, 96, 1360),
    ("gcp", "a2-ultragpu-1g", "NVIDIA A100 SXM4 80GB", 1, 12, 170), ("gcp", "a2-ultragpu-8g", "NVIDIA A100 SXM4 80GB", 8, 96, 1360),
    ("gcp", "a3-highgpu-1g", "NVIDIA H100 SXM5 80GB", 1, 26, 234), ("gcp", "a3-highgpu-8g", "NVIDIA H100 SXM5 80GB", 8, 208, 1872),
    ("gcp", "a3-megagpu-8g", "NVIDIA H100 SXM5 80GB", 8, 208, 1872), ("gcp", "a3-edgegpu-8g", "NVIDIA H100 SXM5 80GB", 8, 208, 1872),
    ("gcp", "a3-ultragpu-8g", "NVIDIA H200 SXM 141GB", 8, 224, 2952), ("gcp", "a4-highgpu-8g", "NVIDIA B200", 8, 224, 3968),
    ("gcp", "g2-standard-4", "NVIDIA L4", 1, 4, 16), ("gcp", "g2-standard-24", "NVIDIA L4", 2, 24, 96), ("gcp", "g2-standard-96", "NVIDIA L4", 8, 96, 384),
    ("gcp", "ct5lp-hightpu-4t", "Google TPU v5e (chip)", 4, 112, 192), ("gcp", "ct5p-hightpu-4t", "Google TPU v5p (chip)", 4, 208, 448),
    ("gcp", "ct6e-standard-8t", "Google TPU v6e (Trillium) (chip)", 8, 180, 1440), ("gcp", "ct4p-hightpu-4t", "Google TPU v4 (chip)", 4, 240, 407),
    ("azure", "Standard_NC6s_v3", "NVIDIA V100 PCIe 16GB", 1, 6, 112), ("azure", "Standard_NC24s_v3", "NVIDIA V100 PCIe 16GB", 4, 24, 448),
    ("azure", "Standard_NC4as_T4_v3", "NVIDIA T4", 1, 4, 28), ("azure", "Standard_NC64as_T4_v3", "NVIDIA T4", 4, 64, 440),
    ("azure", "Standard_NC24ads_A100_v4", "NVIDIA A100 PCIe 80GB", 1, 24, 220), ("azure", "Standard_NC96ads_A100_v4", "NVIDIA A100 PCIe 80GB", 4, 96, 880),
    ("azure", "Standard_NC40ads_H100_v5", "NVIDIA H100 NVL 94GB", 1, 40, 320), ("azure", "Standard_NC80adis_H100_v5", "NVIDIA H100 NVL 94GB", 2, 80, 640),
    ("azure", "Standard_ND40rs_v2", "NVIDIA V100 SXM2 32GB", 8, 40, 672), ("azure", "Standard_ND96asr_v4", "NVIDIA A100 SXM4 40GB", 8, 96, 900),
    ("azure", "Standard_ND96amsr_A100_v4", "NVIDIA A100 SXM4 80GB", 8, 96, 1900),
    ("azure", "Standard_ND96isr_H100_v5", "NVIDIA H100 SXM5 80GB", 8, 96, 1900), ("azure", "Standard_ND96isr_H200_v5", "NVIDIA H200 SXM 141GB", 8, 96, 1850),
    ("azure", "Standard_ND96isr_MI300X_v5", "AMD Instinct MI300X", 8, 96, 1850),
    ("azure", "Standard_NV12s_v3", "NVIDIA Tesla M60 (1 GM204 die)", 1, 12, 112), ("azure", "Standard_NV48s_v3", "NVIDIA Tesla M60 (1 GM204 die)", 4, 48, 448),
    ("azure", "Standard_NV4as_v4", "AMD Radeon Instinct MI25", 0.125, 4, 14), ("azure", "Standard_NV32as_v4", "AMD Radeon Instinct MI25", 1, 32, 112),
    ("azure", "Standard_NV6ads_A10_v5", "NVIDIA A10", 0.1667, 6, 55), ("azure", "Standard_NV36ads_A10_v5", "NVIDIA A10", 1, 36, 440),
    ("azure", "Standard_NV72ads_A10_v5", "NVIDIA A10", 2, 72, 880),
    ("azure", "Standard_NG8ads_V620_v1", "AMD Radeon PRO V620", 0.25, 8, 16), ("azure", "Standard_NG32adms_V620_v1", "AMD Radeon PRO V620", 1, 32, 176),
    ("azure", "Standard_ND24rs", "NVIDIA P40", 4, 24, 448), ("azure", "Standard_NC24", "NVIDIA K80 (1 GK210 die)", 4, 24, 224),
]

# GCP accelerator type names as the GCP connector sets them on GPU SKU lines: the GPU alone.
GCP_ACCELERATORS = [
    ("nvidia-tesla-t4", "NVIDIA T4"), ("nvidia-tesla-v100", "NVIDIA V100 SXM2 16GB"), ("nvidia-tesla-p100", "NVIDIA P100 PCIe 16GB"),
    ("nvidia-tesla-p4", "NVIDIA P4"), ("nvidia-tesla-k80", "NVIDIA K80 (1 GK210 die)"), ("nvidia-tesla-a100", "NVIDIA A100 SXM4 40GB"),
    ("nvidia-a100-80gb", "NVIDIA A100 SXM4 80GB"), ("nvidia-l4", "NVIDIA L4"), ("nvidia-h100-80gb", "NVIDIA H100 SXM5 80GB"),
    ("nvidia-h100-mega-80gb", "NVIDIA H100 SXM5 80GB"), ("nvidia-h200-141gb", "NVIDIA H200 SXM 141GB"), ("nvidia-b200", "NVIDIA B200"),
    ("nvidia-tesla-t4-vws", "NVIDIA T4"), ("tpu-v2", "Google TPU v2 (chip)"), ("tpu-v3", "Google TPU v3 (chip)"),
    ("tpu-v4", "Google TPU v4 (chip)"), ("tpu-v5e", "Google TPU v5e (chip)"), ("tpu-v5p", "Google TPU v5p (chip)"),
    ("tpu-v6e", "Google TPU v6e (Trillium) (chip)"),
]

# (provider, instance type, vCPUs, memory GiB, CPU microarchitecture group)
CPU_SIZES = [
    ("aws", "m4.10xlarge", 40, 160, "Broadwell;Haswell"), ("aws", "m5.large", 2, 8, "Skylake"), ("aws", "m5a.24xlarge", 96, 384, "EPYC 1st Gen"),
    ("aws", "m5zn.3xlarge", 12, 48, "Cascade Lake"), ("aws", "m6g.medium", 1, 4, "Graviton2"), ("aws", "m6i.32xlarge", 128, 512, "Ice Lake"),
    ("aws", "m7a.48xlarge", 192, 768, "EPYC 4th Gen"), ("aws", "m7i-flex.2xlarge", 8, 32, "Sapphire Rapids"), ("aws", "m8g.metal-48xl", 192, 768, "Graviton4"),
    ("aws", "c4.8xlarge", 36, 60, "Haswell"), ("aws", "c5.9xlarge", 36, 72, "Skylake"), ("aws", "c5n.18xlarge", 72, 192, "Skylake"),
    ("aws", "c6a.metal", 192, 384, "EPYC 3rd Gen"), ("aws", "c7gn.16xlarge", 64, 128, "Graviton3E"), ("aws", "c7i.48xlarge", 192, 384, "Sapphire Rapids"),
    ("aws", "c8g.24xlarge", 96, 192, "Graviton4"), ("aws", "r4.large", 2, 15.25, "Broadwell"), ("aws", "r5b.metal", 96, 768, "Cascade Lake"),
    ("aws", "r6a.48xlarge", 192, 1536, "EPYC 3rd Gen"), ("aws", "r7iz.metal-32xl", 128, 1024, "Sapphire Rapids"), ("aws", "r8g.medium", 1, 8, "Graviton4"),
    ("aws", "x1.32xlarge", 128, 1952, "Haswell"), ("aws", "x1e.xlarge", 4, 122, "Haswell"), ("aws", "x2idn.metal", 128, 2048, "Ice Lake"),
    ("aws", "x2iedn.32xlarge", 128, 4096, "Ice Lake"), ("aws", "x2iezn.12xlarge", 48, 1536, "Cascade Lake"), ("aws", "x2gd.medium", 1, 16, "Graviton2"),
    ("aws", "i3.metal", 72, 512, "Broadwell"), ("aws", "i3en.24xlarge", 96, 768, "Skylake;Cascade Lake"), ("aws", "i4i.32xlarge", 128, 1024, "Ice Lake"),
    ("aws", "i4g.16xlarge", 64, 512, "Graviton2"), ("aws", "is4gen.8xlarge", 32, 192, "Graviton2"), ("aws", "i7ie.48xlarge", 192, 1536, "Emerald Rapids"),
    ("aws", "z1d.12xlarge", 48, 384, "Skylake"), ("aws", "hpc6a.48xlarge", 96, 384, "EPYC 3rd Gen"), ("aws", "hpc7a.96xlarge", 192, 768, "EPYC 4th Gen"),
    ("aws", "hpc7g.16xlarge", 64, 128, "Graviton3E"), ("aws", "hpc6id.32xlarge", 64, 1024, "Ice Lake"),
    ("aws", "t2.micro", 1, 1, "Haswell;Broadwell"), ("aws", "t3.nano", 2, 0.5, "Skylake"), ("aws", "t3a.2xlarge", 8, 32, "EPYC 1st Gen"),
    ("aws", "t4g.small", 2, 2, "Graviton2"),
    ("gcp", "e2-standard-8", 8, 32, None), ("gcp", "e2-micro", 0.25, 1, None), ("gcp", "e2-highcpu-32", 32, 32, None),
    ("gcp", "n1-standard-96", 96, 360, "Skylake;Broadwell;Haswell"), ("gcp", "n1-highcpu-16", 16, 14.4, "Skylake;Broadwell;Haswell"),
    ("gcp", "f1-micro", 0.2, 0.6, "Skylake;Broadwell;Haswell"), ("gcp", "n2-highmem-128", 128, 1024, "Cascade Lake;Ice Lake"),
    ("gcp", "n2d-standard-224", 224, 896, "EPYC 2nd Gen;EPYC 3rd Gen"), ("gcp", "n4-highcpu-80", 80, 160, "Emerald Rapids"),
    ("gcp", "c2-standard-60", 60, 240, "Cascade Lake"), ("gcp", "c2d-highmem-112", 112, 896, "EPYC 3rd Gen"),
    ("gcp", "c3-standard-22", 22, 88, "Sapphire Rapids"), ("gcp", "c3d-highcpu-360", 360, 720, "EPYC 4th Gen"),
    ("gcp", "c4-standard-192", 192, 720, "Emerald Rapids"), ("gcp", "m1-megamem-96", 96, 1433.6, "Skylake;Broadwell"),
    ("gcp", "m2-ultramem-416", 416, 11776, "Cascade Lake"), ("gcp", "m3-megamem-128", 128, 1952, "Ice Lake"),
    ("gcp", "t2d-standard-60", 60, 240, "EPYC 3rd Gen"), ("gcp", "t2a-standard-48", 48, 192, "Ampere Altra"),
    ("azure", "Standard_D2s_v3", 2, 8, None), ("azure", "Standard_DS3_v2", 4, 14, None), ("azure", "Standard_D96as_v4", 96, 384, "EPYC 2nd Gen"),
    ("azure", "Standard_D8ds_v5", 8, 32, "Ice Lake;Sapphire Rapids"), ("azure", "Standard_D64ps_v5", 64, 256, "Ampere Altra"),
    ("azure", "Standard_D128s_v6", 128, 512, "Emerald Rapids"), ("azure", "Standard_E64_v3", 64, 432, None),
    ("azure", "Standard_E96as_v5", 96, 672, "EPYC 3rd Gen"), ("azure", "Standard_F72s_v2", 72, 144, "Skylake;Cascade Lake"),
    ("azure", "Standard_M128ms", 128, 3892, "Haswell;Skylake"), ("azure", "Standard_M416ms_v2", 416, 11400, "Skylake"),
    ("azure", "Standard_L80s_v3", 80, 640, "Ice Lake"), ("azure", "Standard_L8as_v3", 8, 64, "EPYC 3rd Gen"),
    ("azure", "Standard_B1ls", 1, 0.5, None), ("azure", "Standard_B2ats_v2", 2, 1, "EPYC 3rd Gen"), ("azure", "Standard_B16ps_v2", 16, 64, "Ampere Altra"),
]


@pytest.fixture(scope="module")
def catalogue() -> HardwareCatalogue:
    return HardwareCatalogue.bundled()


@pytest.mark.parametrize(("provider", "instance_type", "model", "count", "vcpus", "memory_gib"), GPU_SIZES)
def test_accelerator_sizes_resolve_with_model_and_count(catalogue, provider, instance_type, model, count, vcpus, memory_gib):
    p = catalogue.profile(provider, instance_type)
    assert p is not None, f"{provider} {instance_type} is not catalogued"
    assert (p.gpu_model, p.gpu_count, p.vcpus, p.memory_gib) == (model, pytest.approx(count), vcpus, memory_gib)


@pytest.mark.parametrize(("accelerator_type", "model"), GCP_ACCELERATORS)
def test_gcp_accelerator_types_are_the_accelerator_alone(catalogue, accelerator_type, model):
    p = catalogue.profile("gcp", accelerator_type)
    assert (p.gpu_model, p.gpu_count, p.vcpus, p.memory_gib) == (model, 1.0, 0.0, 0.0)


@pytest.mark.parametrize(("provider", "instance_type", "vcpus", "memory_gib", "microarch"), CPU_SIZES)
def test_cpu_family_sizes_resolve_with_microarchitecture(catalogue, provider, instance_type, vcpus, memory_gib, microarch):
    p = catalogue.profile(provider, instance_type)
    assert p is not None, f"{provider} {instance_type} is not catalogued"
    assert (p.vcpus, p.memory_gib, p.gpu_count, p.gpu_model) == (pytest.approx(vcpus), pytest.approx(memory_gib), 0.0, None)
    if microarch is not None:
        assert p.cpu_microarch == microarch
    assert p.cpu_max_w_per_vcpu > p.cpu_min_w_per_vcpu > 0


@pytest.mark.parametrize("spelling", ["Standard_ND96asr_v4", "standard_nd96asr_v4", "ND96asr_v4", "nd96ASR_v4", " Standard_ND96asr_v4 "])
def test_azure_sizes_resolve_case_insensitively_with_or_without_prefix(catalogue, spelling):
    assert catalogue.profile("azure", spelling).instance_type == "Standard_ND96asr_v4"


def test_every_issue_family_has_a_size(catalogue):
    families = set(catalogue.entries()["family"])
    wanted = {
        "p2", "p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en", "p6-b200", "g3", "g4dn", "g4ad", "g5", "g5g", "g6", "g6e", "gr6",
        "trn1", "trn1n", "trn2", "inf1", "inf2", "dl1", "a2-highgpu", "a2-megagpu", "a2-ultragpu", "a3-highgpu", "a3-megagpu",
        "a3-ultragpu", "a3-edgegpu", "a4-highgpu", "g2-standard", "e2-standard", "n1-standard", "n2-standard", "n2d-standard",
        "n4-standard", "c2-standard", "c2d-standard", "c3-standard", "c3d-standard", "c4-standard", "t2d-standard", "t2a-standard",
        "m1-ultramem", "m2-ultramem", "m3-ultramem", "NCs_v3", "NCas_T4_v3", "NCads_A100_v4", "NCads_H100_v5", "NDrs_v2",
        "NDasr_v4", "NDisr_H100_v5", "NDisr_H200_v5", "NDisr_MI300X_v5", "NVs_v3", "NVas_v4", "NVads_A10_v5", "NGads_V620_v1",
        "Ds_v5", "Es_v5", "Fs_v2", "Mms", "Ls_v3", "Bs",
    }
    assert wanted <= families, sorted(wanted - families)


def test_every_row_has_a_source_and_every_accelerator_is_in_the_gpu_table():
    instances = read_bundled("instances.csv")
    gpus = read_bundled("gpus.csv")
    assert instances["source"].notna().all() and gpus["source"].notna().all()
    assert set(instances["gpu_model"].dropna()) <= set(gpus["gpu_model"])
    assert not instances.duplicated(["provider", "instance_type"]).any()


def test_gpu_table_has_the_issue_models_with_tdp_memory_and_form_factor():
    gpus = read_bundled("gpus.csv").set_index("gpu_model")
    expected = {
        "NVIDIA K80 (1 GK210 die)": 150, "NVIDIA Tesla M60 (1 GM204 die)": 150, "NVIDIA P4": 75, "NVIDIA P100 PCIe 16GB": 250,
        "NVIDIA P100 SXM2 16GB": 300, "NVIDIA V100 PCIe 16GB": 250, "NVIDIA V100 PCIe 32GB": 250, "NVIDIA V100 SXM2 16GB": 300,
        "NVIDIA V100 SXM2 32GB": 300, "NVIDIA T4": 70, "NVIDIA A10": 150, "NVIDIA A10G": 300, "NVIDIA A100 PCIe 40GB": 250,
        "NVIDIA A100 PCIe 80GB": 300, "NVIDIA A100 SXM4 40GB": 400, "NVIDIA A100 SXM4 80GB": 400, "NVIDIA H100 PCIe 80GB": 350,
        "NVIDIA H100 SXM5 80GB": 700, "NVIDIA H100 NVL 94GB": 400, "NVIDIA H200 SXM 141GB": 700, "NVIDIA GH200": 1000,
        "NVIDIA B200": 1000, "NVIDIA L4": 72, "NVIDIA L40S": 350, "AMD Instinct MI300X": 750, "Google TPU v2 (chip)": 280,
        "Google TPU v3 (chip)": 450,
    }
    for model, tdp_w in expected.items():
        assert gpus.loc[model, "tdp_w"] == tdp_w, model
        assert gpus.loc[model, "memory_gb"] > 0 and isinstance(gpus.loc[model, "form_factor"], str), model
    for unpublished in ("AWS Trainium", "AWS Trainium2", "AWS Inferentia", "AWS Inferentia2", "Google TPU v5e (chip)"):
        assert pd.isna(gpus.loc[unpublished, "tdp_w"]) and "NOT PUBLISHED" in gpus.loc[unpublished, "source"]


def test_cli_hardware_shows_model_and_count(capsys):
    assert main(["hardware", "--provider", "aws", "g5.12xlarge", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["gpu_model"], shown["gpu_count"], shown["vcpus"]) == ("NVIDIA A10G", 4.0, 48.0)
    assert main(["hardware", "--provider", "gcp", "nvidia-tesla-t4"]) == 0
    assert "NVIDIA T4" in capsys.readouterr().out


def test_cli_hardware_list_covers_every_entry(capsys, catalogue):
    assert main(["hardware", "--list", "--json"]) == 0
    listed = pd.DataFrame(json.loads(capsys.readouterr().out))
    assert len(listed) == len(read_bundled("instances.csv"))
    for row in listed.sample(50, random_state=0).itertuples():
        assert catalogue.profile(row.provider, row.instance_type).gpu_count == row.gpu_count
    assert main(["hardware", "--list", "--provider", "azure"]) == 0
    assert "Standard_ND96isr_H100_v5" in capsys.readouterr().out


def test_cli_hardware_needs_a_type_or_list(capsys):
    assert main(["hardware", "--provider", "aws"]) != 0
    assert "give an instance type" in capsys.readouterr().err


@pytest.mark.parametrize(("machine_spec", "vcpus", "memory_gib", "host"), [
    ("custom-4-16384", 4, 16, "n1-standard-96"), ("n2-custom-8-32768", 8, 32, "n2-standard-128"),
    ("n2d-custom-2-4096-ext", 2, 4, "n2d-standard-224"), ("e2-custom-6-12288", 6, 12, "e2-standard-32"),
])
def test_gcp_custom_machine_types_take_size_from_name_and_cpu_from_family(machine_spec, vcpus, memory_gib, host):
    catalogue = HardwareCatalogue.bundled()
    p = catalogue.profile("gcp", machine_spec)
    base = catalogue.profile("gcp", host)
    assert (p.vcpus, p.memory_gib, p.gpu_count) == (vcpus, memory_gib, 0.0)
    assert (p.cpu_microarch, p.cpu_min_w_per_vcpu, p.cpu_max_w_per_vcpu) == (base.cpu_microarch, base.cpu_min_w_per_vcpu, base.cpu_max_w_per_vcpu)
    assert f"custom machine type {machine_spec}" in p.source
    hw = catalogue.lookup(pd.Series(["gcp", "gcp"]), pd.Series([machine_spec, host]))
    assert hw.loc[0, "embodied_kg_per_hour"] == pytest.approx(hw.loc[1, "embodied_kg_per_hour"] * vcpus / base.vcpus)


@pytest.mark.parametrize("name", ["zz-custom-4-16384", "custom-4", "m5.custom-4-16384"])
def test_unknown_custom_families_stay_unmapped(name):
    provider = "aws" if "." in name else "gcp"
    assert HardwareCatalogue.bundled().profile(provider, name) is None

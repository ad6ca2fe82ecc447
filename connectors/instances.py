"""Instance type and instance-hours of billing lines (x_InstanceType, x_UsageHours).

Sources, in the order the converters use them: structured fields (CUR ``product/instanceType``,
FOCUS ``SkuPriceDetails`` ``InstanceType``, Azure ``x_SkuDetails`` ``ServiceType``), then the
``:<type>`` suffix of EC2 instance usage types (``USE2-BoxUsage:p4d.24xlarge``), then the charge
description (``$1.624 per On Demand Linux g5.4xlarge Instance Hour``, ``a2-highgpu-8g``,
``Standard_ND96asr_v4``). Free text and JSON are parsed once per unique value.

What does not belong here: what an instance type is made of (GPUs, power): that is ``footprint``.
"""

from __future__ import annotations

import json
import re

import pandas as pd

from connectors.values import Memo, as_text, on_uniques, text_per_unique

#: Units that mean hours in ConsumedUnit / pricing/unit (compared lowercased).
HOUR_UNITS = ("hours", "hour", "hrs", "hr", "h")

#: EC2 usage-type families that bill running instances (quantity in instance-hours).
INSTANCE_USAGE_FAMILIES = ("BoxUsage", "SpotUsage", "DedicatedUsage", "HostUsage",
                           "ReservedHostUsage", "UnusedBox", "UnusedDed")

_TEXT = pd.StringDtype("pyarrow")
_INSTANCE_USAGE_TYPE = r"^(?:[A-Z]{2,4}\d?-)?(?:%s)(?::(?P<type>[^\s:]+))?$" % "|".join(INSTANCE_USAGE_FAMILIES)
#: Per distinct usage type, kept across batches: its instance type, and whether it is instance usage at all.
_INSTANCE_OF_USAGE, _IS_INSTANCE_USAGE = Memo(), Memo()
# Descriptions naming an instance type that are not the instance running (observed in the FOCUS
# sample): EBS-optimised bandwidth ("$0.00 for 175 Mbps per t3a.small instance-hour") and Marketplace
# software fees ("AWS Marketplace hourly software usage|us-east-1|m5.2xlarge"). The instance's own
# usage line carries its hours; taking these too would count them twice.
_CHARGE_ABOUT_AN_INSTANCE = re.compile(r"\bMbps\b|software usage", re.IGNORECASE)
_DESCRIPTION_PATTERNS = (
    # AWS: c5.2xlarge, m7i-flex.xlarge, p4d.24xlarge, ml.p4d.24xlarge, db.r5.large, mac1.metal
    re.compile(r"\b((?:ml\.|db\.|cache\.)?[a-z][a-z0-9-]*\d[a-z0-9-]*\."
               r"(?:nano|micro|small|medium|large|\d*xlarge|metal(?:-\d+xl)?))\b"),
    # GCP machine types: a2-highgpu-8g, n1-standard-4, g2-standard-8, e2-medium
    re.compile(r"\b([a-z]\d[a-z]?-(?:standard|highmem|highcpu|highgpu|megagpu|ultragpu|edgegpu|"
               r"ultramem|megamem|hypermem|custom|micro|small|medium)(?:-\d+g?)?)\b"),
    # Azure VM sizes: Standard_ND96asr_v4, Standard_NC24ads_A100_v4
    re.compile(r"\b(Standard_[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*)\b"),
)


def is_hour_unit(unit: pd.Series) -> pd.Series:
    """True where a unit is an hour unit."""
    return on_uniques(as_text(unit), lambda text: text.str.strip().str.lower().isin(HOUR_UNITS).fillna(False).astype(bool),
                      fill=False).astype(bool)


def ec2_instance_usage(usage_type: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(is an instance usage type, the instance type after ':' or null) per CUR usage type."""
    text = as_text(usage_type)
    instance = on_uniques(text, lambda t: t.str.extract(_INSTANCE_USAGE_TYPE)["type"].astype(_TEXT), memo=_INSTANCE_OF_USAGE)
    is_instance = on_uniques(text, lambda t: t.str.match(_INSTANCE_USAGE_TYPE).fillna(False).astype(bool), fill=False,
                             memo=_IS_INSTANCE_USAGE)
    return is_instance.astype(bool), as_text(instance)


def instance_from_description(description: pd.Series) -> pd.Series:
    """Instance / machine / VM size named in a charge description, else null (once per unique)."""
    return text_per_unique(description, _instance_in_text)


def instance_from_json(details: pd.Series, key: str) -> pd.Series:
    """Value of ``key`` in a JSON object column (e.g. SkuPriceDetails InstanceType), else null."""
    return text_per_unique(details, lambda text: _json_value(text, key))


def _instance_in_text(text: str) -> str | None:
    if _CHARGE_ABOUT_AN_INSTANCE.search(text):
        return None
    for pattern in _DESCRIPTION_PATTERNS:
        found = pattern.search(text)
        if found:
            return found.group(1)
    return None


def _json_value(text: str, key: str) -> str | None:
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    value = parsed.get(key) if isinstance(parsed, dict) else None
    if value is None:
        return None
    return str(value).strip() or None

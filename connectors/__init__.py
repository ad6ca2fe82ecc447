"""Billing connectors: read billing exports into carbonledger's canonical billing frame.

Readable now: FOCUS 1.0–1.2 (``focus``) and the AWS legacy Cost and Usage Report (``aws-cur``),
from CSV, gzip CSV and Parquet files, directories and legacy CUR manifests. Every row read ends
up either in the billing frame or in the quarantine with a reason; ``ReadResult.inputs`` holds
the control totals that prove it.

What does not belong here: energy and carbon estimation (``footprint``, ``intensity``).
"""

from connectors.detect import detect_format
from connectors.reader import FORMATS, ReadResult, read_billing
from connectors.tags import DEFAULT_PROJECT_TAG_KEYS

__all__ = ["DEFAULT_PROJECT_TAG_KEYS", "FORMATS", "ReadResult", "detect_format", "read_billing"]

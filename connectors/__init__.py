"""Everything that reads the outside world: billing exports, delivery changes, telemetry, grid APIs.

Billing (``read_billing``): FOCUS 1.0–1.2 (``focus``), AWS CUR 1.0 (``aws-cur``) and 2.0
(``aws-cur2``), GCP billing export (``gcp``) and Azure cost details (``azure``), from CSV, gzip
CSV, Parquet and JSON-lines files, directories and manifests; remote fetchers put S3 deliveries
(``s3_delivery``), BigQuery days (``gcp_bigquery``) and Azure reports (``azure_remote``) into the
same readers. Every row read ends up either in the billing frame or in the quarantine with a
reason; ``ReadResult.inputs`` holds the control totals that prove it. Also here: ``changes``
(which days new or restated files touch), ``telemetry`` (on-node energy measurements) and
``grid_*`` (live carbon-intensity APIs).

What does not belong here: energy and carbon estimation (``footprint``, ``intensity``).
"""

from connectors.detect import detect_format
from connectors.reader import FORMATS, ReadResult, read_billing
from connectors.tags import DEFAULT_PROJECT_TAG_KEYS

__all__ = ["DEFAULT_PROJECT_TAG_KEYS", "FORMATS", "ReadResult", "detect_format", "read_billing"]

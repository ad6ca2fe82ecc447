"""Run-failure alerts: the small JSON document a failed pipeline step sends, and its POST to a webhook.

The document has ``job``, ``run_id``, ``partition`` (the UTC day, or null), ``step`` and ``error`` (the
exception's type and message, redacted and cut to :data:`MAX_ERROR_CHARS`). Any receiver that accepts a
JSON POST works (a chat incoming webhook behind a small relay, an incident tool, a function). The webhook
URL is a credential: it is read from an environment variable by the caller and never appears in a message.

What does not belong here: when alerts fire (the Dagster failure hook in ``pipelines.monitoring``).
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from carbonledger.errors import CarbonLedgerError, redact

MAX_ERROR_CHARS = 2000
TIMEOUT_S = 10.0


class AlertError(CarbonLedgerError):
    """An alert could not be delivered (the message never holds the webhook URL)."""


def failure_alert(*, job: str, run_id: str, partition: str | None, step: str | None, error: BaseException | None,
                  secrets: tuple[str, ...] = ()) -> dict[str, Any]:
    """The alert of a failed step; ``secrets`` (values of configured secret variables) are redacted from the error."""
    message = f"{type(error).__name__}: {error}" if error is not None else "unknown error"
    return {"job": job, "run_id": run_id, "partition": partition, "step": step,
            "error": redact(message, *secrets)[:MAX_ERROR_CHARS]}


def post_json(url: str, document: dict[str, Any], timeout_s: float = TIMEOUT_S) -> int:
    """POST ``document`` as JSON to ``url``; the HTTP status. Failures raise :class:`AlertError` without the URL."""
    request = urllib.request.Request(url, data=json.dumps(document).encode("utf-8"), method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "carbonledger-alerts"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status
    except (ValueError, OSError) as exc:     # URLError and HTTPError are OSErrors; a malformed URL a ValueError
        raise AlertError(f"the alert webhook did not accept the alert: {redact(str(exc), url)}") from None

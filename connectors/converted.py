"""What a format converter hands back, and the steps every format shares after conversion.

A converter turns one file's raw text columns into billing fields named as in
``carbonledger.schema.BILLING_COLUMNS`` (not yet cast), plus a :class:`~connectors.values.Problems`
record per row. :func:`finish` adds what is format-independent: the charge-period order check,
project/team/workload attribution from tags, and provenance (``x_SourceFormat``,
``x_SourceFile``, ``x_SourceRow``).

What does not belong here: format specifics (``focus``, ``aws_cur``), splitting into billing and
quarantine (``reader``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from connectors.tags import attribute
from connectors.values import Problems, as_text, constant_text, first_present, prefixed

_TEXT = pd.StringDtype("pyarrow")


@dataclass
class Converted:
    """Billing fields of one file (index 0..n-1, aligned with the raw rows) and per-row problems.

    ``frame`` may carry ``SubAccountName`` as a helper column for project attribution.
    """

    frame: pd.DataFrame
    problems: Problems


def finish(
    converted: Converted,
    *,
    source_format: str,
    source_file: str,
    source_rows: np.ndarray,
    project_tag_keys: Sequence[str],
) -> Converted:
    """Attribution, provenance and the ChargePeriodEnd ≥ ChargePeriodStart check, in place."""
    frame, problems = converted.frame, converted.problems
    problems.add(frame["ChargePeriodEnd"] < frame["ChargePeriodStart"], "ChargePeriodEnd: before ChargePeriodStart")
    # Untagged lines belong to their account, labelled so a reader never mistakes it for a project tag.
    fallback = prefixed("account:", first_present(
        as_text(frame.get("SubAccountName", pd.Series(pd.NA, index=frame.index, dtype=_TEXT))), as_text(frame["SubAccountId"]),
    ))
    tags = frame.get("Tags", pd.Series(pd.NA, index=frame.index, dtype=_TEXT))
    for name, values in attribute(tags, fallback, project_tag_keys).items():
        frame[name] = values
    frame["x_SourceFormat"] = constant_text(source_format, frame.index)
    frame["x_SourceFile"] = constant_text(source_file, frame.index)
    frame["x_SourceRow"] = source_rows.astype("int64")
    return converted

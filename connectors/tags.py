"""Resource tags: building the canonical ``Tags`` JSON and deriving project, team and workload class.

``Tags`` is a JSON object string. CUR tags come from ``resourceTags/<key>`` columns and are
assembled once per distinct combination of tag values. Attribution reads each unique
``Tags`` string once: tag keys are compared case-insensitively, ignoring a leading ``user:`` and
the separators ``-``, ``_`` and space (so ``user:Project``, ``project`` and ``PROJECT`` match, and
``business_unit`` matches ``business-unit``). Key lists are in priority order.

What does not belong here: reading files, parsing non-tag columns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from connectors.values import coded_text, factorized, first_present

#: Tag keys naming the project a line belongs to, in priority order.
DEFAULT_PROJECT_TAG_KEYS: tuple[str, ...] = ("project", "project-name", "application")
#: Tag keys naming the team / business unit, in priority order.
TEAM_TAG_KEYS: tuple[str, ...] = ("team", "business-unit", "department")
#: Tag keys carrying the workload class, in priority order.
WORKLOAD_TAG_KEYS: tuple[str, ...] = ("workload-class", "workload")
#: Workload classes the footprint model knows; other values are ignored (null).
WORKLOAD_CLASSES: tuple[str, ...] = ("training", "inference", "interactive", "idle")

_SEPARATORS = re.compile(r"[-_\s]")


def normalise_tag_key(key: str) -> str:
    """Comparison form of a tag key: lowercase, no leading ``user:``, no ``-``/``_``/space."""
    lowered = key.strip().lower()
    if lowered.startswith("user:"):
        lowered = lowered[len("user:"):]
    return _SEPARATORS.sub("", lowered)


def tags_json_from_columns(columns: dict[str, pd.Series], index: pd.Index) -> pd.Series:
    """JSON object strings from one text column per tag key (empty values left out; no tags → null),
    coded (``connectors.values``).

    Built once per distinct combination of tag values (rows repeat a resource's tags every hour).
    """
    entries: list[tuple[list[str], np.ndarray]] = []
    combination = np.zeros(len(index), dtype=np.int64)
    for key, values in columns.items():
        codes, uniques = factorized(values)
        prefix = json.dumps(key, ensure_ascii=False) + ": "
        entries.append(([prefix + json.dumps(str(u), ensure_ascii=False) for u in uniques], codes))
        combination, _ = pd.factorize(combination * (len(uniques) + 1) + codes + 1)
    _, first_rows = np.unique(combination, return_index=True)
    texts = []
    for row in first_rows:
        present = [texts_of_key[codes[row]] for texts_of_key, codes in entries if codes[row] >= 0]
        texts.append("{" + ", ".join(present) + "}" if present else None)
    return coded_text(combination, texts, index)


def invalid_tags(tags: pd.Series) -> pd.Series:
    """True where a non-null ``Tags`` value is not a JSON object (checked once per unique value)."""
    codes, uniques = pd.factorize(tags)
    bad = np.array([not isinstance(_loads(str(u)), dict) for u in uniques] + [False])
    return pd.Series(bad[np.where(codes < 0, len(uniques), codes)], index=tags.index)


def attribute(
    tags: pd.Series,
    fallback_project: pd.Series,
    project_tag_keys: Sequence[str] = DEFAULT_PROJECT_TAG_KEYS,
) -> pd.DataFrame:
    """``x_Project`` (tag, else ``fallback_project``), ``x_Team`` and ``x_WorkloadClass`` per row, coded
    (``connectors.values``)."""
    codes, uniques = factorized(tags)
    project_keys = [normalise_tag_key(k) for k in project_tag_keys]
    team_keys = [normalise_tag_key(k) for k in TEAM_TAG_KEYS]
    workload_keys = [normalise_tag_key(k) for k in WORKLOAD_TAG_KEYS]
    found = {"x_Project": [], "x_Team": [], "x_WorkloadClass": []}
    for text in uniques:
        parsed = _loads(str(text))
        by_key = _normalised(parsed) if isinstance(parsed, dict) else {}
        found["x_Project"].append(_first(by_key, project_keys))
        found["x_Team"].append(_first(by_key, team_keys))
        workload = (_first(by_key, workload_keys) or "").strip().lower()
        found["x_WorkloadClass"].append(workload if workload in WORKLOAD_CLASSES else None)
    out = {name: coded_text(codes, values, tags.index) for name, values in found.items()}
    out["x_Project"] = first_present(out["x_Project"], fallback_project)
    return pd.DataFrame(out, index=tags.index)


def _loads(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _normalised(tags: dict) -> dict[str, str]:
    by_key: dict[str, str] = {}
    for key, value in tags.items():
        if value is None or str(value).strip() == "":
            continue
        by_key.setdefault(normalise_tag_key(str(key)), str(value))
    return by_key


def _first(by_key: dict[str, str], keys: list[str]) -> str | None:
    return next((by_key[k] for k in keys if k in by_key), None)


def first_tag_value(tags: pd.Series, keys: Sequence[str]) -> pd.Series:
    """Per line, the value of the first of ``keys`` (already normalised) present in its ``Tags`` JSON,
    else null; each distinct ``Tags`` string is parsed once."""
    codes, uniques = pd.factorize(tags)
    found = []
    for text in uniques:
        parsed = _loads(str(text))
        by_key = {normalise_tag_key(str(k)): str(v) for k, v in parsed.items() if v not in (None, "")} \
            if isinstance(parsed, dict) else {}
        found.append(next((by_key[k] for k in keys if k in by_key), None))
    values = np.array(found + [None], dtype=object)[np.where(codes < 0, len(uniques), codes)]
    return pd.Series(values, index=tags.index, dtype="string")

"""Run configuration: which billing sources to read, where to write, and model overrides.

A YAML file (``carbonledger run --config FILE``) maps onto :class:`Config`. Paths in the file are
relative to the file's own directory. Every key is optional; the defaults run the bundled demo.
What does not belong here: the model coefficients themselves (``footprint``, ``intensity`` data).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from carbonledger.errors import ConfigError
from intensity.settings import GridSettings

PACKAGE_DIR = Path(__file__).resolve().parent
DEMO_DATA_DIR = PACKAGE_DIR / "data" / "demo"
DEMO_START_DATE = dt.date(2026, 11, 1)
DEMO_END_DATE = dt.date(2026, 11, 7)
BILLING_FORMATS = ("auto", "focus", "aws-cur", "aws-cur2", "gcp", "azure")
DEFAULT_PROJECT_TAG_KEYS = ("project", "project-name", "project_name", "application", "app")

_KNOWN_KEYS = {"sources", "out_dir", "start_date", "project_tag_keys", "power_model", "pue_overrides", "grid", "policy",
               "store", "warehouse", "alerts"}


_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SQL_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
DEFAULT_WAREHOUSE_URL_ENV = "CARBONLEDGER_WAREHOUSE_URL"
DEFAULT_ALERT_WEBHOOK_URL_ENV = "CARBONLEDGER_ALERT_WEBHOOK_URL"


@dataclass(frozen=True)
class Source:
    """One billing source: a file, a directory of export files, or a legacy CUR manifest.

    ``name`` labels the source's Dagster asset (``raw_billing__<name>``); when not configured it is
    derived from the path (``exports/aws-cur`` → ``aws_cur``).
    """

    path: Path
    format: str = "auto"
    name: str = ""
    s3: "S3Source | None" = None
    bigquery: "BigQuerySource | None" = None
    azure: "AzureSource | None" = None

    def __post_init__(self) -> None:
        if not self.name:
            where = (self.s3.uri.rstrip("/") if self.s3 else self.bigquery.table.split(".")[-1] if self.bigquery
                     else self.azure.scope.rstrip("/").rsplit("/", 1)[-1] if self.azure else self.path)
            object.__setattr__(self, "name", source_name(Path(where)))


@dataclass(frozen=True)
class AzureSource:
    """An Azure Cost Management scope (``/subscriptions/<id>``, a billing account, ...) whose cost details
    report is generated for one UTC day at a time; its ``Source.path`` caches each day's CSV parts."""

    scope: str
    metric: str = "ActualCost"
    base_url: str | None = None


@dataclass(frozen=True)
class BigQuerySource:
    """A GCP billing export table read one UTC day at a time (by ``usage_start_time``, so late-exported
    rows land on the day they were used); its ``Source.path`` caches each day's rows as Parquet."""

    table: str
    api_endpoint: str | None = None
    project: str | None = None


@dataclass(frozen=True)
class S3Source:
    """Where an S3 delivery source lives; its ``Source.path`` is the local cache it is fetched into."""

    uri: str
    endpoint_url: str | None = None
    profile: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class StoreSettings:
    """The partitioned Parquet ledger store (``carbonledger.store``): a local directory or ``s3://bucket/prefix``."""

    path: str
    endpoint_url: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class WarehouseSettings:
    """The Postgres warehouse (``carbonledger.warehouse``): the environment variable holding its connection
    string (never the string itself) and the schema its tables live in."""

    url_env: str = DEFAULT_WAREHOUSE_URL_ENV
    schema: str = "carbon"


@dataclass(frozen=True)
class AlertSettings:
    """Run-failure alerts: the environment variable holding the webhook URL (a URL is a credential)."""

    webhook_url_env: str = DEFAULT_ALERT_WEBHOOK_URL_ENV


def source_name(path: Path) -> str:
    """An asset-safe name from a path: its stem, lowercased, non-alphanumerics as ``_``."""
    stem = path.name.split(".")[0] or "source"
    name = re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_") or "source"
    return name if name[0].isalpha() else f"source_{name}"


@dataclass(frozen=True)
class Config:
    """Everything a run needs to know beyond the bundled reference data."""

    sources: tuple[Source, ...] = ()
    out_dir: Path = Path("out")
    start_date: dt.date = DEMO_START_DATE
    project_tag_keys: tuple[str, ...] = DEFAULT_PROJECT_TAG_KEYS
    power_model: dict[str, Any] = field(default_factory=dict)
    pue_overrides: dict[str, float] = field(default_factory=dict)
    grid: GridSettings = field(default_factory=GridSettings)
    policy: Path | None = None
    store: StoreSettings | None = None
    warehouse: WarehouseSettings | None = None
    alerts: AlertSettings | None = None

    def secret_env_vars(self) -> tuple[str, ...]:
        """The environment variables this configuration reads secrets from (redacted wherever text is shown)."""
        return ((self.warehouse.url_env,) if self.warehouse else ()) + ((self.alerts.webhook_url_env,) if self.alerts else ())

    def source(self, name: str) -> Source:
        """The configured source called ``name``."""
        for source in self.sources:
            if source.name == name:
                return source
        raise ConfigError(f"no billing source named {name!r}; configured: {', '.join(s.name for s in self.sources) or 'none'}")

    @classmethod
    def demo(cls, out_dir: Path = Path("out")) -> "Config":
        """The bundled demo organisation: AWS legacy CUR and FOCUS exports of one week."""
        return cls(
            sources=(Source(DEMO_DATA_DIR / "aws-cur", "aws-cur"), Source(DEMO_DATA_DIR / "focus", "focus")),
            out_dir=out_dir,
        )

    @classmethod
    def load(cls, path: Path) -> "Config":
        """Read a YAML config; every problem names the file and the key."""
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping of settings at the top level")
        unknown = sorted(set(raw) - _KNOWN_KEYS)
        if unknown:
            raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_KNOWN_KEYS))}")
        base = path.parent
        sources = tuple(_source(s, base, path, i) for i, s in enumerate(raw.get("sources") or []))
        _check_unique_names(sources, path)
        return cls(
            sources=sources,
            out_dir=base / raw.get("out_dir", "out"),
            start_date=_date(raw.get("start_date", DEMO_START_DATE), path, "start_date"),
            project_tag_keys=tuple(raw.get("project_tag_keys") or DEFAULT_PROJECT_TAG_KEYS),
            power_model=dict(raw.get("power_model") or {}),
            pue_overrides={str(k): _float(v, path, f"pue_overrides.{k}") for k, v in (raw.get("pue_overrides") or {}).items()},
            grid=GridSettings.from_mapping(raw.get("grid"), base, str(path)),
            policy=base / str(raw["policy"]) if raw.get("policy") else None,
            store=_store(raw["store"], base, path) if raw.get("store") is not None else None,
            warehouse=_warehouse(raw["warehouse"], path) if raw.get("warehouse") is not None else None,
            alerts=_alerts(raw["alerts"], path) if raw.get("alerts") is not None else None,
        )


def _source(raw: Any, base: Path, path: Path, index: int) -> Source:
    if isinstance(raw, str):
        raw = {"path": raw}
    if not isinstance(raw, dict) or "path" not in raw:
        raise ConfigError(f"{path}: sources[{index}] must be a path or a mapping with 'path' (and optional 'format', 'name')")
    fmt = raw.get("format", "auto")
    if fmt not in BILLING_FORMATS:
        raise ConfigError(f"{path}: sources[{index}].format {fmt!r} is not one of {', '.join(BILLING_FORMATS)}")
    name = str(raw.get("name") or "")
    if name and not _NAME.match(name):
        raise ConfigError(f"{path}: sources[{index}].name {name!r} must be lowercase letters, digits and '_', "
                          "starting with a letter (it names the source's Dagster asset)")
    location = str(raw["path"])
    if location.startswith("s3://"):
        s3 = S3Source(location, *(str(raw[k]) if raw.get(k) else None for k in ("endpoint_url", "profile", "region")))
        cache = raw.get("cache_dir") or f".carbonledger-cache/s3/{name or source_name(Path(location.rstrip('/')))}"
        return Source(base / str(cache), fmt, name, s3)
    if location.startswith("bigquery://"):
        table = location.removeprefix("bigquery://")
        bigquery = BigQuerySource(table, *(str(raw[k]) if raw.get(k) else None for k in ("api_endpoint", "project")))
        cache = raw.get("cache_dir") or f".carbonledger-cache/bigquery/{name or source_name(Path(table.split('.')[-1]))}"
        return Source(base / str(cache), "gcp" if fmt == "auto" else fmt, name, bigquery=bigquery)
    if location.startswith("azure://"):
        scope = location.removeprefix("azure://")
        azure = AzureSource(scope, str(raw.get("metric") or "ActualCost"), str(raw["base_url"]) if raw.get("base_url") else None)
        cache = raw.get("cache_dir") or f".carbonledger-cache/azure/{name or source_name(Path(scope.rstrip('/')))}"
        return Source(base / str(cache), "azure" if fmt == "auto" else fmt, name, azure=azure)
    unknown = sorted(set(raw) & {"endpoint_url", "profile", "region", "cache_dir", "api_endpoint", "project", "metric", "base_url"})
    if unknown:
        raise ConfigError(f"{path}: sources[{index}] has {', '.join(unknown)}, which only s3://, bigquery:// "
                          "or azure:// sources take")
    return Source(base / location, fmt, name)


def _store(raw: Any, base: Path, path: Path) -> StoreSettings:
    if isinstance(raw, str):
        raw = {"path": raw}
    _mapping(raw, path, "store", {"path", "endpoint_url", "region"}, "'path' (a directory or s3://bucket/prefix)")
    if not raw.get("path"):
        raise ConfigError(f"{path}: store.path is required (a directory or s3://bucket/prefix)")
    location = str(raw["path"])
    if location.startswith("s3://"):
        if not location.removeprefix("s3://").strip("/"):
            raise ConfigError(f"{path}: store.path {location!r} names no bucket (expected s3://bucket/prefix)")
        return StoreSettings(location.rstrip("/"), *(str(raw[k]) if raw.get(k) else None for k in ("endpoint_url", "region")))
    if "://" in location:
        raise ConfigError(f"{path}: store.path must be a directory or s3://bucket/prefix; "
                          f"{location.split('://')[0]}:// is not supported")
    if raw.get("endpoint_url") or raw.get("region"):
        raise ConfigError(f"{path}: store.endpoint_url and store.region apply only to an s3:// store.path")
    return StoreSettings(str(base / location))


def _warehouse(raw: Any, path: Path) -> WarehouseSettings:
    _mapping(raw, path, "warehouse", {"url_env", "schema"}, "'url_env' and 'schema'")
    schema = str(raw.get("schema") or "carbon")
    if not _SQL_SCHEMA.match(schema):
        raise ConfigError(f"{path}: warehouse.schema {schema!r} must be lowercase letters, digits and '_' "
                          "(at most 63), starting with a letter or '_'")
    return WarehouseSettings(_env_var(raw, path, "warehouse", "url_env", DEFAULT_WAREHOUSE_URL_ENV), schema)


def _alerts(raw: Any, path: Path) -> AlertSettings:
    _mapping(raw, path, "alerts", {"webhook_url_env"}, "'webhook_url_env'")
    return AlertSettings(_env_var(raw, path, "alerts", "webhook_url_env", DEFAULT_ALERT_WEBHOOK_URL_ENV))


def _mapping(raw: Any, path: Path, section: str, known: set[str], expected: str) -> None:
    """``raw`` is a mapping of known keys; messages name keys only, never values (they may be secrets)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: {section} must be a mapping with {expected}")
    secret = sorted(k for k in set(raw) - known if "url" in str(k).lower() or "password" in str(k).lower())
    if secret:
        raise ConfigError(f"{path}: {section}.{secret[0]} is not read: connection strings and webhook URLs are secrets "
                          f"and never go in the config file; put it in an environment variable and name that in {expected}")
    unknown = sorted(map(str, set(raw) - known))
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(f'{section}.{k}' for k in unknown)}; "
                          f"known: {', '.join(sorted(known))}")


def _env_var(raw: dict[str, Any], path: Path, section: str, key: str, default: str) -> str:
    name = str(raw.get(key) or default)
    if not _ENV_VAR.match(name):      # never echo it: it may be the secret itself, pasted in the wrong place
        raise ConfigError(f"{path}: {section}.{key} must name an environment variable (letters, digits and '_'), "
                          "not hold its value")
    return name


def _check_unique_names(sources: tuple[Source, ...], path: Path) -> None:
    seen: dict[str, int] = {}
    for index, source in enumerate(sources):
        if source.name in seen:
            raise ConfigError(f"{path}: sources[{seen[source.name]}] and sources[{index}] are both named "
                              f"{source.name!r}; give one of them a distinct 'name'")
        seen[source.name] = index


def _date(raw: Any, path: Path, key: str) -> dt.date:
    if isinstance(raw, dt.date):
        return raw
    try:
        return dt.date.fromisoformat(str(raw))
    except ValueError:
        raise ConfigError(f"{path}: {key} {raw!r} is not a date (expected YYYY-MM-DD)") from None


def _float(raw: Any, path: Path, key: str) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{path}: {key} {raw!r} is not a number") from None
    if value < 1.0:
        raise ConfigError(f"{path}: {key} {value} is below 1.0 (a PUE is facility / IT energy, at least 1)")
    return value

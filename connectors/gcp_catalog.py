"""GCP list prices from the Cloud Billing Catalog API (``google-cloud-billing``), cached on disk; optional.

The catalogue has no usage rows (FORMATS.md §3.4); it gives each SKU's public list price, its
resource group (``GPU``, ``CPU``, ``RAM``, ...) and regions, which recommendations use to price an
alternative (another region, another GPU). :class:`CatalogPrices` fetches one service's SKUs once
per ``max_age`` and keeps them as JSON under ``cache_dir`` (one file per service and currency), so
reports never call the API per line and work offline from the cache.

``list_price`` of a SKU is the unit price of its first tier with a non-zero rate (the price paid
after any free allowance), in the requested currency per ``usage_unit``.

What does not belong here: billed cost (``gcp``, ``gcp_bigquery``), choosing alternatives (reports).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from carbonledger.errors import ConfigError
from carbonledger.io import write_json

#: Compute Engine's service id in the catalogue.
COMPUTE_ENGINE = "6F81-5844-456A"


@dataclass(frozen=True)
class SkuPrice:
    """One SKU's list price and classification."""

    sku_id: str
    description: str
    resource_group: str
    usage_type: str
    regions: tuple[str, ...]
    usage_unit: str
    list_price: float
    currency: str
    effective_time: str


class CatalogPrices:
    """Cached SKU list prices of GCP services.

    ``client`` is a ``google.cloud.billing_v1.CloudCatalogClient`` (or anything with its
    ``list_skus(request=...)``); by default one is made with Application Default Credentials the
    first time the cache has to be filled.
    """

    def __init__(self, cache_dir: str | Path, *, client: Any = None, currency: str = "USD",
                 max_age: dt.timedelta = dt.timedelta(days=7)):
        self.cache_dir, self.currency, self.max_age, self._client = Path(cache_dir), currency, max_age, client

    def service(self, service_id: str) -> dict[str, SkuPrice]:
        """Every SKU of a service by SKU id, from the cache when it is younger than ``max_age``."""
        path = self.cache_dir / f"gcp_catalog_{service_id}_{self.currency}.json"
        cached = _read_cache(path)
        now = dt.datetime.now(dt.timezone.utc)
        if cached is not None and now - dt.datetime.fromisoformat(cached["fetched_at"]) < self.max_age:
            return {s["sku_id"]: SkuPrice(**{**s, "regions": tuple(s["regions"])}) for s in cached["skus"]}
        prices = self._fetch(service_id)
        write_json(path, {"fetched_at": now.isoformat(), "service_id": service_id, "currency": self.currency,
                            "skus": [asdict(p) for p in prices.values()]})
        return prices

    def price(self, service_id: str, sku_id: str) -> SkuPrice | None:
        """One SKU's list price, or None if the service has no such SKU."""
        return self.service(service_id).get(sku_id)

    def _fetch(self, service_id: str) -> dict[str, SkuPrice]:
        from google.api_core import exceptions as api_exceptions
        from google.auth import exceptions as auth_exceptions

        source = f"Cloud Billing Catalog services/{service_id}"
        try:
            client = self._client or _default_client()
            skus = list(client.list_skus(request={"parent": f"services/{service_id}", "currency_code": self.currency}))
        except auth_exceptions.DefaultCredentialsError as exc:
            raise ConfigError(f"{source}: no Google credentials found; set up Application Default Credentials") from exc
        except auth_exceptions.GoogleAuthError as exc:
            raise ConfigError(f"{source}: Google credentials were refused ({type(exc).__name__})") from exc
        except (api_exceptions.Unauthorized, api_exceptions.Forbidden) as exc:
            raise ConfigError(f"{source}: access denied ({exc.code}); the Cloud Billing API must be enabled") from exc
        except api_exceptions.NotFound as exc:
            raise ConfigError(f"{source}: no such service (expected a service id like {COMPUTE_ENGINE})") from exc
        return {sku.sku_id: _sku_price(sku, self.currency) for sku in skus}


def _default_client() -> Any:
    try:
        from google.cloud import billing_v1
    except ImportError as exc:
        raise ConfigError("GCP list prices need the optional package google-cloud-billing") from exc
    return billing_v1.CloudCatalogClient()


def _sku_price(sku: Any, currency: str) -> SkuPrice:
    """A catalogue ``Sku`` message → SkuPrice (the latest pricing info; first non-zero tier)."""
    info = sku.pricing_info[-1] if sku.pricing_info else None
    expression = info.pricing_expression if info is not None else None
    rates = [r.unit_price for r in expression.tiered_rates] if expression is not None else []
    prices = [r.units + r.nanos / 1e9 for r in rates]
    return SkuPrice(
        sku_id=sku.sku_id, description=sku.description, resource_group=sku.category.resource_group,
        usage_type=sku.category.usage_type, regions=tuple(sku.service_regions),
        usage_unit=expression.usage_unit if expression is not None else "",
        list_price=next((p for p in prices if p != 0), 0.0),
        currency=next((r.currency_code for r in rates if r.currency_code), currency),
        effective_time=info.effective_time.isoformat() if info is not None and info.effective_time else "",
    )


def _read_cache(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None

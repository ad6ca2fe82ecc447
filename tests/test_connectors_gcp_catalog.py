"""GCP Catalog list prices: SKU messages → prices, the on-disk cache, errors (a fake client, no network)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from google.api_core import exceptions as api_exceptions
from google.cloud import billing_v1
from google.protobuf import timestamp_pb2
from google.type import money_pb2

from carbonledger.errors import ConfigError
from connectors.gcp_catalog import COMPUTE_ENGINE, CatalogPrices


def sku(sku_id: str, description: str, group: str, tiers: list[tuple[float, int, int]], unit: str = "h") -> billing_v1.Sku:
    """A catalogue SKU message with tiered rates given as (start amount, units, nanos) in USD."""
    return billing_v1.Sku(
        name=f"services/{COMPUTE_ENGINE}/skus/{sku_id}", sku_id=sku_id, description=description,
        category=billing_v1.Category(service_display_name="Compute Engine", resource_family="Compute",
                                     resource_group=group, usage_type="OnDemand"),
        service_regions=["us-central1"],
        pricing_info=[billing_v1.PricingInfo(
            effective_time=timestamp_pb2.Timestamp(seconds=1_709_251_200),
            pricing_expression=billing_v1.PricingExpression(usage_unit=unit, tiered_rates=[
                billing_v1.PricingExpression.TierRate(
                    start_usage_amount=start, unit_price=money_pb2.Money(currency_code="USD", units=units, nanos=nanos))
                for start, units, nanos in tiers]),
        )],
    )


class FakeCatalog:
    """Stands in for CloudCatalogClient: records requests, returns SKUs or raises."""

    def __init__(self, skus=(), error: Exception | None = None):
        self.skus, self.error, self.requests = list(skus), error, []

    def list_skus(self, request):
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        return iter(self.skus)


SKUS = [
    sku("039F-D0DA-4055", "Nvidia Tesla A100 GPU running in Americas", "GPU", [(0, 2, 933_908_000)]),
    sku("2E27-4F75-95CD", "N1 Predefined Instance Core running in Americas", "CPU", [(0, 0, 31_611_000)]),
    sku("E2E2-FREE-0001", "E2 Instance Core with free tier", "CPU", [(0, 0, 0), (720, 0, 21_811_000)]),
]


def test_prices_from_sku_messages(tmp_path):
    fake = FakeCatalog(SKUS)
    prices = CatalogPrices(tmp_path, client=fake).service(COMPUTE_ENGINE)
    a100 = prices["039F-D0DA-4055"]
    assert a100.list_price == pytest.approx(2.933908) and a100.currency == "USD" and a100.usage_unit == "h"
    assert a100.resource_group == "GPU" and a100.regions == ("us-central1",) and a100.usage_type == "OnDemand"
    assert a100.effective_time.startswith("2024-03-01")
    assert prices["E2E2-FREE-0001"].list_price == pytest.approx(0.021811)  # after the free tier
    assert fake.requests == [{"parent": f"services/{COMPUTE_ENGINE}", "currency_code": "USD"}]


def test_cache_is_reused_until_it_is_too_old(tmp_path):
    fake = FakeCatalog(SKUS)
    catalog = CatalogPrices(tmp_path, client=fake)
    first = catalog.price(COMPUTE_ENGINE, "2E27-4F75-95CD")
    again = CatalogPrices(tmp_path, client=fake).price(COMPUTE_ENGINE, "2E27-4F75-95CD")
    assert first == again and first.list_price == pytest.approx(0.031611) and len(fake.requests) == 1
    assert CatalogPrices(tmp_path, client=fake).price(COMPUTE_ENGINE, "NOPE") is None
    cached = json.loads((tmp_path / f"gcp_catalog_{COMPUTE_ENGINE}_USD.json").read_text())
    assert [s["sku_id"] for s in cached["skus"]] == [s.sku_id for s in SKUS]
    stale = CatalogPrices(tmp_path, client=fake, max_age=dt.timedelta(0))
    assert stale.price(COMPUTE_ENGINE, "039F-D0DA-4055").list_price == pytest.approx(2.933908)
    assert len(fake.requests) == 2


@pytest.mark.parametrize(("error", "message"), [
    (api_exceptions.Forbidden("Cloud Billing API has not been used"), r"access denied \(403\)"),
    (api_exceptions.NotFound("no service"), "no such service"),
])
def test_api_errors_are_config_errors(tmp_path, error, message):
    with pytest.raises(ConfigError, match=message):
        CatalogPrices(tmp_path, client=FakeCatalog(error=error)).service(COMPUTE_ENGINE)
    assert not list(tmp_path.iterdir())  # nothing cached

"""Publishing assets: the day's ledger into the Parquet ledger store and the Postgres warehouse.

Dagster wiring only (``carbonledger.store``, ``carbonledger.warehouse`` do the work). Each asset exists only
when its config section (``store:``, ``warehouse:``) is present, and runs after the ledger's blocking tie-out
check passed. Metadata carries paths, schema and row counts, never a connection string.
"""


import datetime as dt

import dagster as dg

from carbonledger.config import StoreSettings
from carbonledger.engine import Accounted
from carbonledger.store import LedgerStore
from carbonledger.warehouse import connection_url, publish_day
from pipelines.resources import CarbonLedgerConfig

STORE_ASSET = "out_carbon__ledger_store"
WAREHOUSE_ASSET = "out_carbon__warehouse"


def ledger_store(settings: StoreSettings) -> LedgerStore:
    return LedgerStore(settings.path, settings.endpoint_url, settings.region)


def build_publish_assets(daily: dg.PartitionsDefinition, *, store: bool, warehouse: bool) -> list[dg.AssetsDefinition]:
    """The store asset when ``store``, the warehouse asset when ``warehouse``; both read ``core_carbon__ledger``."""
    assets = []
    if store:
        @dg.asset(name=STORE_ASSET, partitions_def=daily, group_name="publish", kinds={"parquet"})
        def out_carbon__ledger_store(context: dg.AssetExecutionContext, carbonledger: CarbonLedgerConfig,
                                     core_carbon__ledger: Accounted) -> dg.MaterializeResult:
            """The day's partition of the Hive-partitioned ledger and quarantine datasets, replaced atomically."""
            settings = carbonledger.create().store
            stored = ledger_store(settings).write_day(dt.date.fromisoformat(context.partition_key),
                                                      core_carbon__ledger.ledger, core_carbon__ledger.quarantine)
            return dg.MaterializeResult(metadata={
                "ledger": dg.MetadataValue.path(stored.files["ledger"]),
                "quarantine": dg.MetadataValue.path(stored.files["quarantine"]),
                "rows_ledger": stored.rows["ledger"], "rows_quarantined": stored.rows["quarantine"],
            })

        assets.append(out_carbon__ledger_store)
    if warehouse:
        @dg.asset(name=WAREHOUSE_ASSET, partitions_def=daily, group_name="publish", kinds={"postgres"})
        def out_carbon__warehouse(context: dg.AssetExecutionContext, carbonledger: CarbonLedgerConfig,
                                  core_carbon__ledger: Accounted) -> dg.MaterializeResult:
            """The day's ledger lines and daily aggregates in the warehouse schema, replaced in one transaction."""
            settings = carbonledger.create().warehouse
            published = publish_day(connection_url(settings.url_env), settings.schema,
                                    dt.date.fromisoformat(context.partition_key), core_carbon__ledger.ledger)
            return dg.MaterializeResult(metadata={
                "schema": published.schema, "rows": dg.MetadataValue.json(published.rows),
            })

        assets.append(out_carbon__warehouse)
    return assets

"""Dagster wiring only: partitions, assets, checks, resources, jobs and schedules.

Every asset is a thin call into ``carbonledger.engine``; no accounting logic lives here, and no
module outside this package imports dagster. ``pipelines.definitions:defs`` is the code location.
"""

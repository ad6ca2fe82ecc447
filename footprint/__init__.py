"""Pure accounting: hardware catalogue, energy model, embodied emissions, the ledger, workloads.

No I/O beyond loading the bundled reference data in ``footprint/data/``; no dagster.
"""

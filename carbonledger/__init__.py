"""carbonledger: the cross-cutting core: canonical schema, control totals, config, engine and CLI.

Domain packages: ``connectors`` (reading the outside world), ``intensity`` (grid zones, hourly
intensity, PUE), ``footprint`` (hardware, energy, ledger), ``reports`` (report builders);
``pipelines`` wires them into Dagster.
"""

__version__ = "0.1.0"

"""Report builders: the organisation report (self-contained HTML with inline SVG) and its CSV extracts.

Public API: :func:`write_report`, :func:`breakdowns` and :class:`ReportPaths`. Modules:
``tables`` (vectorised aggregation), ``builder`` (template context, rendering, atomic writes),
``svg`` (chart helpers), ``units`` (number formats), ``templates/`` (the Jinja2 page).
Nothing here computes emissions; the ledger arrives finished from ``footprint``.
"""

from reports.builder import ReportPaths, write_report
from reports.tables import breakdowns

__all__ = ["ReportPaths", "breakdowns", "write_report"]

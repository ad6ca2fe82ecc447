"""Report builders: the organisation report (self-contained HTML, inline SVG), its extracts, project pages.

Public API: :func:`write_report`, :func:`write_project_pages`, :func:`breakdowns`, :class:`ReportPaths`
and :class:`SitePaths`. Modules: ``tables`` (vectorised aggregation), ``builder`` (template context,
rendering, atomic writes), ``site`` (per-project pages),
``svg`` (chart helpers), ``units`` (number formats), ``templates/`` (the Jinja2 page).
Nothing here computes emissions; the ledger arrives finished from ``footprint``.
"""

from reports.builder import ReportPaths, write_report
from reports.site import SitePaths, write_project_pages
from reports.tables import breakdowns

__all__ = ["ReportPaths", "SitePaths", "breakdowns", "write_project_pages", "write_report"]

"""The report as one self-contained HTML file: figures inline as base64 PNG, CSS inline, no
script and no font from anywhere, so it opens offline and can be mailed or archived as is.
"""

from __future__ import annotations

import base64
import io
from typing import Any, Dict

from matplotlib.figure import Figure

TEMPLATE = "report.html.j2"   # shipped in regstudy/report/templates (package data)


def figure_uri(fig: Figure, dpi: int = 96) -> str:
    """The figure as a data: URI (PNG: compact for many-line plots, and the same on screen and
    in print at this size)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def render(context: Dict[str, Any]) -> str:
    """The page from the template and `page.build`'s context (autoescaped)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("regstudy.report", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    return env.get_template(TEMPLATE).render(**context)

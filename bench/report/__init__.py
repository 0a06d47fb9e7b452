"""Paper-style reports of a run: figures, BD-rate tables, the visual strip, Table 4 and a self-contained index.html.

``build_report(run_dir)`` writes everything (see :mod:`bench.report.build` for the layout); ``bench.report.browser``
checks the page in headless Chromium. The public names are imported lazily (importing a submodule does not load
matplotlib). Nothing below :mod:`bench.report` imports it: run data, metric semantics, baselines and the complexity
schema live in :mod:`bench.rundata`, :mod:`bench.metrics.semantics`, :mod:`bench.baseline` and
:mod:`bench.complexity.schema`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Report", "ReportOptions", "build_report"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from bench.report import build

        return getattr(build, name)
    raise AttributeError(f"module 'bench.report' has no attribute {name!r}")

"""Static HTML reports of a run, built only from the artifacts saved in its run directory."""

from rnnsweep.reports.build import build_report

__all__ = ["build_report"]

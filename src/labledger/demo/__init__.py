"""The demo study behind ``labledger demo``: a small, tracked tumour-biopsy classifier comparison.

``run_demo(path)`` builds a fresh workspace from the breast cancer biopsies bundled with
scikit-learn (nothing is downloaded), trains and tracks six models, searches, compares and
collects them, verifies the ledger, and prints a report with commands to explore the result.
"""

from labledger.demo.study import DemoResult, run_demo

__all__ = ["DemoResult", "run_demo"]

"""The monitor's error: bad input to a drift or performance check, named with what and where."""

from __future__ import annotations

from mlops_declare.errors import MlopsDeclareError


class MonitoringError(MlopsDeclareError):
    """A drift or performance check cannot run on the given input (the message says why and where)."""

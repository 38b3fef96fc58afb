"""Exceptions and warnings raised by nature_callback.

Third-party errors (NVMLError, OSError from /sys, requests exceptions) are
translated once, at the boundary where they occur, into these types.
"""

from __future__ import annotations


class NatureError(Exception):
    """Root of every error raised by nature_callback."""


class ConfigurationError(NatureError, ValueError):
    """A parameter is invalid; the message names the parameter and how to fix it."""


class MeterError(NatureError):
    """An energy meter could not be started or read."""


class CarbonError(NatureError):
    """A carbon-intensity provider could not deliver a valid value."""


class LedgerError(NatureError):
    """The run ledger (SQLite) could not be read or written."""


class LedgerLockedError(LedgerError):
    """Another process held the run ledger's lock longer than the call could wait."""


class RecordError(NatureError):
    """A record file (``nature_summary.json``, ``nature_epochs.jsonl``) could not be read."""


class TerminatedBySignal(SystemExit):
    """The process received SIGTERM during a tracked run (raised where nothing else handles
    the signal, so that the run's records are written); exits like SIGTERM would."""


class NatureWarning(UserWarning):
    """Root of every warning emitted by nature_callback."""


class MeterWarning(NatureWarning):
    """An energy meter is missing, degraded or failed; its figure is flagged, training goes on."""


class CarbonWarning(NatureWarning):
    """A carbon-intensity lookup failed or fell back to a less precise source."""

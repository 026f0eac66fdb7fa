"""Exceptions raised by hepda.

Every error a user can cause derives from :class:`HepdaError` and also from
the matching built-in, so ``except ValueError`` in user code keeps working.
The command line turns a :class:`HepdaError` into one message on stderr and
exit status 2, without a traceback; anything else is a bug in hepda.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any


class HepdaError(Exception):
    """Base class of the errors that a user's input or environment can cause."""


class ConfigError(HepdaError, ValueError):
    """A configuration key or value is not valid."""


class DataError(HepdaError, ValueError):
    """An input table is unreadable, incomplete or inconsistent."""


class InputFileError(DataError, FileNotFoundError):
    """An input path does not exist or is not the kind of file expected."""


class RunDirectoryError(HepdaError, FileExistsError):
    """An output directory exists already, or a run directory is incomplete."""


class TrainingDiverged(HepdaError, FloatingPointError):
    """The loss or the weights became NaN or infinite, or the classifier
    saturated; the last good checkpoint was kept.

    ``metrics`` holds the metrics written for that checkpoint, when there are.
    """

    def __init__(self, message: str, metrics: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.metrics = dict(metrics or {})


class MissingDependencyError(HepdaError, ImportError):
    """An optional dependency is not installed."""


def did_you_mean(name: str, choices: Iterable[str], n: int = 3) -> str:
    """Return `` (did you mean 'x'?)`` for the nearest choices, or ``""``."""
    close = difflib.get_close_matches(name, list(choices), n=n, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"

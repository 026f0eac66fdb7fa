"""Initializer of local worker processes; imports nothing heavy on purpose.

A spawned worker imports this module before anything else of hepda, so the
thread settings below are in place before NumPy or Pythia load.
"""

from __future__ import annotations

import os

_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def single_thread_worker() -> None:
    """Limit a worker process to one thread (workers x threads <= cores)."""
    for name in _THREAD_VARIABLES:
        os.environ[name] = "1"

"""Connecting to a Dask cluster, with errors a user can act on."""

from __future__ import annotations

from typing import Any

from hepda._extras import require
from hepda.errors import ConfigError


def connect(scheduler: Any, purpose: str) -> tuple[Any, bool]:
    """A ``distributed.Client`` and whether the caller owns it (must close it).

    ``scheduler`` is an address (``tcp://host:8786``), a Client (used as it
    is) or a cluster object with a ``scheduler_address`` (dask-jobqueue,
    ``LocalCluster``). A malformed or unreachable address is a
    :class:`~hepda.errors.ConfigError` that names it.
    """
    distributed = require("distributed", purpose)
    if isinstance(scheduler, distributed.Client):
        return scheduler, False
    address = getattr(scheduler, "scheduler_address", scheduler)
    if not isinstance(address, str) or not address:
        msg = (
            "scheduler: expected a Dask scheduler address such as tcp://host:8786, a "
            f"distributed.Client or a cluster object, got {scheduler!r}"
        )
        raise ConfigError(msg)
    try:
        return distributed.Client(address, timeout="30s"), True
    except (OSError, ValueError, TypeError) as exc:  # unreachable, or not an address
        msg = (
            f"cannot reach the Dask scheduler at {address!r} ({exc}); start it "
            "(dask scheduler, or a dask-jobqueue cluster) and pass its address, "
            "such as tcp://host:8786"
        )
        raise ConfigError(msg) from None

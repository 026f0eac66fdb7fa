"""On-disk cache of generated samples, keyed by a hash of their settings.

The cache lives in ``$HEPDA_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/hepda``,
else ``~/.cache/hepda``. An entry is a directory holding the object table
(Parquet) and ``meta.json``; it is built under a temporary name and renamed
into place, so it exists whole or not at all. The key covers every setting
of the sample and the versions of hepda, pythia8mc and fastjet: change any
of them and the sample is made again.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from hepda import __version__
from hepda._atomic import atomic_directory
from hepda.simulate.config import SampleSpec
from hepda.simulate.tables import SampleStats

log = logging.getLogger(__name__)

#: Bump when the layout of an entry changes.
CACHE_FORMAT = 1


def cache_root() -> Path:
    """The cache directory (not created)."""
    explicit = os.environ.get("HEPDA_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "hepda"


def versions() -> dict[str, str]:
    """Versions that change generated events, part of every cache key."""

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "absent"

    return {
        "hepda": __version__,
        "pythia8mc": installed("pythia8mc"),
        "fastjet": installed("fastjet"),
        "cache_format": str(CACHE_FORMAT),
    }


def sample_entry(spec: SampleSpec) -> Path:
    """Directory of the cache entry of ``spec``."""
    key = spec.cache_key(versions())
    return cache_root() / "samples" / f"{spec.name}-{key[:24]}"


def load_sample(spec: SampleSpec) -> tuple[pa.Table, SampleStats] | None:
    """The cached table and stats of ``spec``, or None when absent."""
    entry = sample_entry(spec)
    meta_path = entry / "meta.json"
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        table = pq.read_table(entry / "objects.parquet")
        stats = SampleStats(**meta["stats"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable cache entry %s: %s", entry, exc)
        return None
    log.info("%s: %d events from the cache (%s)", spec.name, table.num_rows, entry)
    return table, stats


def store_sample(spec: SampleSpec, table: pa.Table, stats: SampleStats) -> Path:
    """Write the cache entry of ``spec``; a complete entry already there wins."""
    entry = sample_entry(spec)
    if entry.exists():
        return entry
    meta: dict[str, Any] = {
        "sample": spec.name,
        "key": spec.cache_key(versions()),
        "versions": versions(),
        "setup": dataclasses.asdict(spec.setup),
        "config": dataclasses.asdict(spec.config),
        "stats": dataclasses.asdict(stats),
    }
    try:
        with atomic_directory(entry) as tmp:
            pq.write_table(table, tmp / "objects.parquet", compression="zstd")
            (tmp / "meta.json").write_text(
                json.dumps(meta, indent=2, default=str), encoding="utf-8"
            )
    except OSError:
        # Another process finished the same entry first: theirs is identical.
        if not (entry / "meta.json").is_file():
            raise
    log.debug("cached %s in %s", spec.name, entry)
    return entry

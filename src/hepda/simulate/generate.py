"""One chunk of events: a Pythia instance with its own seed, start to finish.

A chunk is the unit of work sent to a local process or a Dask worker. Its
output depends only on its :class:`ChunkSpec` (the seed comes from
``(seed, sample, chunk index)``), never on which worker runs it or what ran
there before, which is what makes samples identical for any number of
workers.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from hepda._extras import require
from hepda.errors import HepdaError
from hepda.simulate.config import SampleSpec, derive_seed
from hepda.simulate.detector import Reconstructed, reconstruct
from hepda.simulate.setups import pythia_settings
from hepda.simulate.truth import TruthEvents, truth_objects

log = logging.getLogger(__name__)

#: Events per ``nextBatch`` call: bounds the memory of the awkward event
#: record (about 250 entries per event at parton level, 1500 at hadron
#: level). Results do not depend on it.
BATCH_SIZE = {"parton": 500, "hadron": 50}

#: Millibarn to femtobarn (Pythia's sigmaGen is in mb).
MB_TO_FB = 1e12


@dataclass(frozen=True)
class ChunkSpec:
    """Chunk ``index`` of ``sample``."""

    sample: SampleSpec
    index: int

    @property
    def charge(self) -> Literal[1, -1]:
        """Sign of the leptonic W: alternates between chunks (both assignments)."""
        return 1 if self.index % 2 == 0 else -1

    @property
    def pythia_seed(self) -> int:
        """Pythia ``Random:seed`` of this chunk."""
        return derive_seed(
            self.sample.config.seed, self.sample.name, self.index, "pythia"
        )

    def rng(self) -> np.random.Generator:
        """The chunk's generator for detector emulation and tagging."""
        return np.random.default_rng(
            derive_seed(
                self.sample.config.seed,
                self.sample.name,
                self.index,
                "detector",
                modulus=2**63,
            )
        )


@dataclass
class ChunkResult:
    """Selected events of one chunk and what is needed to weight them.

    ``seconds`` holds wall-clock time by step: ``init`` (Pythia set-up),
    ``generate`` (``nextBatch``), ``truth`` (leptons, clustering, flavour)
    and ``detector`` (smearing, selection, tagging); ``cpu_seconds`` the
    processor time of the whole chunk (the measure on a busy machine).
    """

    spec: ChunkSpec
    events: Reconstructed
    n_generated: int
    sigma_mb: float
    seconds: dict[str, float]
    cpu_seconds: float = 0.0

    @property
    def pythia_seconds(self) -> float:
        """Time spent in Pythia: initialisation and generation."""
        return self.seconds["init"] + self.seconds["generate"]

    @property
    def total_seconds(self) -> float:
        """Time of the whole chunk."""
        return sum(self.seconds.values())


def make_pythia(spec: ChunkSpec) -> Any:
    """An initialised Pythia instance for ``spec`` (banner off, quiet)."""
    pythia8 = require("pythia8mc", "generate events with Pythia 8")
    sample = spec.sample
    cfg = sample.config
    pythia = pythia8.Pythia("", False)
    for line in pythia_settings(
        sample.process, sample.setup, cfg.level, spec.charge, spec.pythia_seed, cfg.ecm
    ):
        if not pythia.readString(line):
            msg = (
                f"Pythia rejected the setting {line!r}; "
                f"check the setup {sample.setup.name!r}"
            )
            raise HepdaError(msg)
    if not pythia.init():
        msg = (
            f"Pythia failed to initialise for sample {sample.name!r} "
            f"(chunk {spec.index})"
        )
        raise HepdaError(msg)
    return pythia


def run_chunk(spec: ChunkSpec) -> ChunkResult:
    """Generate, reconstruct and select the events of one chunk."""
    seconds = dict.fromkeys(("init", "generate", "truth", "detector"), 0.0)
    cpu_start = time.process_time()
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[step] += now - clock
        clock = now

    cfg = spec.sample.config
    n_total = cfg.events_per_chunk
    pythia = make_pythia(spec)
    lap("init")

    # Generate in batches; only their objects are kept.
    parts: list[TruthEvents] = []
    done = 0
    while done < n_total:
        n = min(BATCH_SIZE[cfg.level], n_total - done)
        batch = pythia.nextBatch(n, "skip")
        lap("generate")
        parts.append(truth_objects(batch, cfg.level))
        del batch
        lap("truth")
        done += n
    truth = TruthEvents.concatenate(parts)
    sigma_mb = float(pythia.infoPython().sigmaGen())

    # Detector, selection and tagging with the chunk's own generator.
    events = reconstruct(truth, cfg.detector, cfg.efficiencies, cfg.btag, spec.rng())
    lap("detector")
    log.debug(
        "%s chunk %d: %d of %d events selected in %.1f s (pid %d)",
        spec.sample.name, spec.index, len(events.jet_count), n_total,
        sum(seconds.values()), os.getpid(),
    )  # fmt: skip
    cpu = time.process_time() - cpu_start
    return ChunkResult(spec, events, n_total, sigma_mb, seconds, cpu)

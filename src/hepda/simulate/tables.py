"""From finished chunks to the object table of FEATURES.md, with weights.

Weights are cross sections per event in femtobarn: summed over a sample
they give its selected cross section (times luminosity in fb^-1, the
expected number of events). Pythia's ``sigmaGen`` already includes the
open fraction of the forced decays (t -> W b, W -> e/mu nu or q q', and
H -> b bbar), and the TRF probability multiplies in with ``--btag trf``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from hepda.simulate.config import SampleSpec
from hepda.simulate.detector import Reconstructed
from hepda.simulate.generate import MB_TO_FB, ChunkResult

#: Event numbers of sample k start at k * EVENT_NUMBER_STRIDE, so they are
#: unique across the ttH and tt+jets samples and hence within S1 and S2.
EVENT_NUMBER_STRIDE = 1_000_000_000

JET_COLUMNS = ("jet_pt", "jet_eta", "jet_phi", "jet_m", "jet_btag", "jet_flavour")
OBJECT_COLUMNS = (
    *JET_COLUMNS,
    "lep_pt",
    "lep_eta",
    "lep_phi",
    "lep_m",
    "met",
    "met_phi",
    "label",
    "process",
    "generator",
    "weight",
    "event_number",
)


@dataclass(frozen=True)
class SampleStats:
    """What it took to make a sample."""

    n_selected: int
    n_generated: int
    n_chunks: int
    sigma_fb: float
    selected_fb: float
    pythia_seconds: float
    total_seconds: float
    cpu_seconds: float = 0.0


def _take(events: Reconstructed, n: int) -> Reconstructed:
    """The first ``n`` selected events of a chunk."""
    n_jets = int(events.jet_count[:n].sum())
    out = {}
    for name, value in vars(events).items():
        out[name] = (
            value[:n_jets]
            if name.startswith("jet_") and name != "jet_count"
            else value[:n]
        )
    return Reconstructed(**out)


def assemble(
    spec: SampleSpec, chunks: Sequence[ChunkResult]
) -> tuple[pa.Table, SampleStats]:
    """Join the chunks of a sample, cut at ``spec.n_events``, and weight them.

    The last chunk counts as generated only up to its last kept event. Per
    charge assignment a of the leptonic W, sigma_a is the mean of the chunks'
    sigmaGen weighted by their generated events and N_a their generated
    events; an event's weight is sigma_a / N_a times its b-tag weight (times
    2 if only one assignment is present, as in a one-chunk sample).
    """
    # Cut the chunk list at exactly n_events selected events.
    parts: list[Reconstructed] = []
    used: list[int] = []
    left = spec.n_events
    for chunk in chunks:
        events = chunk.events
        n_sel = len(events.jet_count)
        if n_sel >= left:
            parts.append(_take(events, left))
            used.append(int(events.gen_index[left - 1]) + 1 if left else 0)
            break
        parts.append(events)
        used.append(chunk.n_generated)
        left -= n_sel
    chunks = chunks[: len(parts)]
    n_selected = sum(len(p.jet_count) for p in parts)
    if n_selected < spec.n_events:
        msg = f"sample {spec.name!r} has {n_selected} of {spec.n_events} events"
        raise RuntimeError(msg)

    # Cross section per charge assignment, and the weights.
    sigma: dict[int, float] = {}
    n_gen: dict[int, int] = {}
    for chunk, n_used in zip(chunks, used, strict=True):
        q = chunk.spec.charge
        sigma[q] = sigma.get(q, 0.0) + chunk.sigma_mb * MB_TO_FB * chunk.n_generated
        n_gen[q] = n_gen.get(q, 0) + n_used
    full = {q: sum(c.n_generated for c in chunks if c.spec.charge == q) for q in sigma}
    sigma = {q: sigma[q] / full[q] for q in sigma}
    factor = 2.0 / len(sigma)
    weights = np.concatenate(
        [
            p.btag_weight * factor * sigma[c.spec.charge] / n_gen[c.spec.charge]
            for p, c in zip(parts, chunks, strict=True)
        ]
    )
    sigma_total = factor * sum(sigma.values())

    table = to_table(
        Reconstructed(
            **{
                k: np.concatenate([getattr(p, k) for p in parts])
                for k in vars(parts[0])
            }
        ),
        spec,
        weights,
    )
    stats = SampleStats(
        n_selected=n_selected,
        n_generated=sum(used),
        n_chunks=len(parts),
        sigma_fb=float(sigma_total),
        selected_fb=float(weights.sum()),
        pythia_seconds=sum(c.pythia_seconds for c in chunks),
        total_seconds=sum(c.total_seconds for c in chunks),
        cpu_seconds=sum(c.cpu_seconds for c in chunks),
    )
    return table, stats


def _lists(counts: np.ndarray, values: np.ndarray, dtype: pa.DataType) -> pa.Array:
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, type=dtype))


def to_table(events: Reconstructed, spec: SampleSpec, weights: np.ndarray) -> pa.Table:
    """The object table (FEATURES.md column order and types) of ``events``."""
    n = len(events.jet_count)
    f32 = pa.float32()
    counts = events.jet_count
    columns = {
        "jet_pt": _lists(counts, events.jet_pt, f32),
        "jet_eta": _lists(counts, events.jet_eta, f32),
        "jet_phi": _lists(counts, events.jet_phi, f32),
        "jet_m": _lists(counts, events.jet_m, f32),
        "jet_btag": _lists(counts, events.jet_btag, pa.bool_()),
        "jet_flavour": _lists(counts, events.jet_flavour, pa.int8()),
        "lep_pt": pa.array(events.lep_pt, f32),
        "lep_eta": pa.array(events.lep_eta, f32),
        "lep_phi": pa.array(events.lep_phi, f32),
        "lep_m": pa.array(events.lep_m, f32),
        "met": pa.array(events.met, f32),
        "met_phi": pa.array(events.met_phi, f32),
        "label": pa.array(np.full(n, spec.label, np.int8)),
        "process": pa.array([spec.process] * n, pa.string()),
        "generator": pa.array([spec.setup.generator] * n, pa.string()),
        "weight": pa.array(np.asarray(weights, np.float64)),
        "event_number": pa.array(
            spec.sample_id * EVENT_NUMBER_STRIDE + np.arange(n, dtype=np.int64)
        ),
    }
    return pa.table(columns)

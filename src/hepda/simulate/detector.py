"""Detector emulation, b-tagging and the lepton+jets selection.

Works on the flat arrays of :class:`~hepda.simulate.truth.TruthEvents` with
one NumPy generator per chunk, drawing its random numbers in a fixed order
(jets, then leptons, then tags), so a chunk's output depends only on its
events and its seed. The numbers are those of
:class:`~hepda.simulate.config.DetectorConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from hepda.simulate.btag import cut_tags, tag_probabilities, trf_tags
from hepda.simulate.config import BTagEfficiencies, DetectorConfig
from hepda.simulate.truth import TruthEvents

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_LEPTON_MASS = {11: 0.000511, 13: 0.10566}


@dataclass
class Reconstructed:
    """Selected events: jets pT-ordered (flat, with counts), one lepton each."""

    gen_index: IntArray
    jet_count: IntArray
    jet_pt: FloatArray
    jet_eta: FloatArray
    jet_phi: FloatArray
    jet_m: FloatArray
    jet_btag: npt.NDArray[np.bool_]
    jet_flavour: npt.NDArray[np.int8]
    lep_pt: FloatArray
    lep_eta: FloatArray
    lep_phi: FloatArray
    lep_m: FloatArray
    met: FloatArray
    met_phi: FloatArray
    btag_weight: FloatArray


def jet_resolution(pt: FloatArray, det: DetectorConfig) -> FloatArray:
    """Relative jet pT resolution sqrt((N/pT)^2 + S^2/pT + C^2).

    >>> from hepda.simulate.config import DetectorConfig
    >>> jet_resolution(np.array([30.0, 100.0]), DetectorConfig()).round(3)
    array([0.177, 0.095])
    """
    return np.sqrt(
        (det.jer_noise / pt) ** 2 + det.jer_stochastic**2 / pt + det.jer_constant**2
    )


def lepton_resolution(
    pt: FloatArray, eta: FloatArray, pid: npt.NDArray[np.int32], det: DetectorConfig
) -> FloatArray:
    """Relative pT resolution of electrons (calorimeter) and muons (tracker).

    >>> from hepda.simulate.config import DetectorConfig
    >>> lepton_resolution(np.array([50.0, 50.0]), np.zeros(2), np.array([11, 13]),
    ...                   DetectorConfig()).round(4)
    array([0.0158, 0.0158])
    """
    energy = pt * np.cosh(eta)
    electron = np.sqrt(det.electron_stochastic**2 / energy + det.electron_constant**2)
    muon = np.hypot(det.muon_constant, det.muon_slope * pt)
    return np.where(np.abs(pid) == 11, electron, muon)


def _segment_sum(values: FloatArray, event: IntArray, n: int) -> FloatArray:
    return np.bincount(event, weights=values, minlength=n).astype(np.float64)


def reconstruct(
    truth: TruthEvents,
    det: DetectorConfig,
    eff: BTagEfficiencies,
    btag: Literal["trf", "cut"],
    rng: np.random.Generator,
) -> Reconstructed:
    """Smear, select and b-tag; returns the selected events only.

    Selection: exactly one e or mu with pT > 27 GeV and |eta| < 2.5, at least
    5 jets with pT > 25 GeV and |eta| < 2.5, and (``btag="cut"``) at least 3
    b-tags, or (``btag="trf"``) every event weighted by P(>= 3 tags).
    """
    n = truth.n_events
    jet_event = np.repeat(np.arange(n), truth.jet_count)
    lep_event = np.repeat(np.arange(n), truth.lep_count)

    # Jets: one response factor per jet scales the whole four-vector.
    z = rng.standard_normal(len(truth.jet_pt))
    response = det.jet_scale * (1.0 + jet_resolution(truth.jet_pt, det) * z)
    jet_pt = truth.jet_pt * np.maximum(response, 0.0)
    jet_m = truth.jet_m * np.maximum(response, 0.0)

    # Leptons: efficiency, then resolution.
    u = rng.random(len(truth.lep_pt))
    z = rng.standard_normal(len(truth.lep_pt))
    lep_eff = np.where(
        np.abs(truth.lep_pid) == 11, det.electron_efficiency, det.muon_efficiency
    )
    found = u < lep_eff
    res = lepton_resolution(truth.lep_pt, truth.lep_eta, truth.lep_pid, det)
    lep_pt = truth.lep_pt * np.maximum(1.0 + res * z, 0.0)

    # MET: minus the vector sum of the visible objects.
    in_met = (jet_pt > det.met_jet_pt_min) & (
        np.abs(truth.jet_eta) < det.met_jet_eta_max
    )
    w_jet = jet_pt * in_met
    w_lep = lep_pt * found
    mex = -_segment_sum(w_jet * np.cos(truth.jet_phi), jet_event, n)
    mex -= _segment_sum(w_lep * np.cos(truth.lep_phi), lep_event, n)
    mey = -_segment_sum(w_jet * np.sin(truth.jet_phi), jet_event, n)
    mey -= _segment_sum(w_lep * np.sin(truth.lep_phi), lep_event, n)

    # Event selection: exactly one good lepton, enough good jets.
    good_lep = (
        found
        & (lep_pt > det.lepton_pt_min)
        & (np.abs(truth.lep_eta) < det.lepton_eta_max)
    )
    n_lep = np.bincount(lep_event[good_lep], minlength=n)
    good_jet = (jet_pt > det.jet_pt_min) & (np.abs(truth.jet_eta) < det.jet_eta_max)
    n_jet = np.bincount(jet_event[good_jet], minlength=n)
    passed = (n_lep == 1) & (n_jet >= det.n_jets_min)

    # Selected jets, pT-ordered within each event.
    take = good_jet & passed[jet_event]
    order = np.lexsort((-jet_pt[take], jet_event[take]))
    jet_idx = np.flatnonzero(take)[order]
    counts = n_jet[passed]
    lep_idx = np.flatnonzero(good_lep & passed[lep_event])

    # b-tagging on a padded (events, jets) matrix.
    flavour = truth.jet_flavour[jet_idx]
    width = int(counts.max()) if len(counts) else 0
    pad = np.full((len(counts), width), -1, dtype=np.int8)
    mask = np.arange(width) < counts[:, None]
    pad[mask] = flavour
    eps = tag_probabilities(pad, eff)
    if btag == "trf":
        weight, tags = trf_tags(eps, det.n_btags_min, rng)
        keep = np.ones(len(counts), dtype=bool)
    else:
        tags = cut_tags(eps, rng)
        weight = np.ones(len(counts))
        keep = tags.sum(axis=1) >= det.n_btags_min
    jet_btag = tags[mask]

    # Drop events that fail the tag cut (TRF keeps all).
    jet_keep = np.repeat(keep, counts)
    jet_idx, jet_btag, flavour = (
        jet_idx[jet_keep],
        jet_btag[jet_keep],
        flavour[jet_keep],
    )
    lep_idx = lep_idx[keep]
    events = np.flatnonzero(passed)[keep]
    pid = np.abs(truth.lep_pid[lep_idx])
    return Reconstructed(
        gen_index=events.astype(np.int64),
        jet_count=counts[keep].astype(np.int64),
        jet_pt=jet_pt[jet_idx],
        jet_eta=truth.jet_eta[jet_idx],
        jet_phi=truth.jet_phi[jet_idx],
        jet_m=jet_m[jet_idx],
        jet_btag=jet_btag,
        jet_flavour=flavour,
        lep_pt=lep_pt[lep_idx],
        lep_eta=truth.lep_eta[lep_idx],
        lep_phi=truth.lep_phi[lep_idx],
        lep_m=np.where(pid == 11, _LEPTON_MASS[11], _LEPTON_MASS[13]),
        met=np.hypot(mex, mey)[events],
        met_phi=np.arctan2(mey, mex)[events],
        btag_weight=weight[keep],
    )

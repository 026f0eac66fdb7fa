"""The 41 ttH(bb) variables of FEATURES.md (paper, Table 2), vectorised.

Jets become awkward arrays of vector four-vectors; the pair variables come
from one ``ak.combinations`` over all events followed by masks and
``ak.argmin``/``ak.argmax``, the triplet from ``ak.argcombinations``, the
event shapes from per-event sums over flat arrays (``shapes``). No Python
loop runs over events.

Conventions (FEATURES.md, "The 41 variables"), and the choices the paper
leaves open:

- "b-jet" is a b-tagged jet, "untagged" a jet that is not; jets are taken
  in descending pT (re-sorted, in case a table is not).
- Four-vectors use each object's mass: E = sqrt(p^2 + m^2) from
  (pT, eta, phi, m). "pT of a pair/triplet" is the pT of the vector sum;
  its mass is sqrt(E^2 - p^2) with the sign of E^2 - p^2 kept (vector's
  convention; it shows only as rounding noise for collinear massless jets).
- dR = sqrt(d_eta^2 + d_phi^2) with d_phi wrapped into [-pi, pi].
- A "(b-jet, jet) pair" is any pair of two different jets of which at least
  one is b-tagged (the other may be tagged too); the paper's "two jets (one
  of them a b-jet)" does not say "exactly one".
- Window counts use strict inequalities: |m - 125| < 30, pT > 40.
- Where several pairs tie for the min/max, the first in combination order
  ((0,1), (0,2), ..., jets in pT order) wins.
- Sentinels where a variable is undefined for an event (never NaN):
  ``NO_ANGLE = -1`` for dR and d_eta (no dR is negative), ``NO_VALUE = 0``
  for masses, pT, and shapes (no mass or pT of a real pair is 0). Each
  variable's sentinel is repeated as a comment where it is computed.
"""

from __future__ import annotations

import functools
import logging
import operator
import time
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa

from hepda._extras import require
from hepda.errors import DataError
from hepda.features import shapes
from hepda.features._objects import Objects, as_arrow, read_objects
from hepda.features.names import TTH41

if TYPE_CHECKING:
    import awkward as ak
    import vector
    from numpy.typing import NDArray
else:
    vector = require("vector", "compute the ttH(bb) variables")
    ak = require("awkward", "compute the ttH(bb) variables")

vector.register_awkward()

log = logging.getLogger(__name__)

HIGGS_MASS = 125.0  # GeV, centre of the nHiggs*30 windows
HIGGS_WINDOW = 30.0  # GeV, half-width of the window
W_MASS = 80.4  # GeV, target of dRbj_Wmass / Mbj_Wmass
JET_PT_40 = 40.0  # GeV, threshold of nJets_Pt40

CARTESIAN = ("px", "py", "pz", "E")

NO_ANGLE = -1.0  # sentinel of dR / d_eta variables
NO_VALUE = 0.0  # sentinel of mass / pT / shape variables

#: Columns carried from the object table into the event table, with the
#: types of FEATURES.md. ``weight`` defaults to 1 and ``event_number`` to
#: the row index when absent; the others are carried only when present.
CARRIED: dict[str, pa.DataType] = {
    "label": pa.int8(),
    "process": pa.string(),
    "generator": pa.string(),
    "weight": pa.float64(),
    "event_number": pa.int64(),
}


def compute_features(objects: pa.Table | ak.Array) -> pa.Table:
    """Compute the event table from an object table.

    Args:
        objects: the object table of FEATURES.md (pyarrow Table, or an
            awkward record array with the same fields). Needed: ``jet_pt``,
            ``jet_eta``, ``jet_phi``, ``jet_m``, ``jet_btag`` (lists per
            event), ``lep_pt``, ``lep_eta``, ``lep_phi``, ``lep_m``, ``met``.

    Returns:
        A Table with the 41 float32 columns of :data:`TTH41` in order, then
        ``label``, ``process``, ``generator`` (when present in ``objects``),
        ``weight`` (float64, 1 when absent) and ``event_number`` (int64, the
        row index when absent).

    Raises:
        DataError: a needed column is missing (the message names the nearest
            columns present), has the wrong type, holds missing or non-finite
            values, or the jet lists of one event differ in length.

    >>> import pyarrow as pa
    >>> jets = pa.list_(pa.float32())
    >>> table = pa.table({
    ...     "jet_pt": pa.array([[62.5, 62.5]], jets),
    ...     "jet_eta": pa.array([[0.0, 0.0]], jets),
    ...     "jet_phi": pa.array([[0.0, 3.14159265]], jets),
    ...     "jet_m": pa.array([[0.0, 0.0]], jets),
    ...     "jet_btag": [[True, True]],
    ...     "lep_pt": [30.0], "lep_eta": [0.0], "lep_phi": [1.0], "lep_m": [0.0],
    ...     "met": [20.0],
    ... })
    >>> events = compute_features(table)
    >>> events.column("Mbb_MaxM")[0].as_py(), events.column("nHiggsbb30")[0].as_py()
    (125.0, 1.0)
    """
    table = as_arrow(objects)
    start = time.perf_counter()
    arrays = _compute(read_objects(table))
    columns: dict[str, Any] = {
        name: pa.array(arrays[name], type=pa.float32()) for name in TTH41
    }
    columns.update(_carried(table))
    log.debug(
        "computed 41 variables for %d events in %.2f s",
        table.num_rows,
        time.perf_counter() - start,
    )
    return pa.table(columns)


def compute_feature_arrays(
    objects: ak.Array | pa.Table,
) -> dict[str, NDArray[np.float32]]:
    """Return the 41 variables as ``{name: float32 array}``, in TTH41 order.

    Same input and checks as :func:`compute_features`, without the carried
    columns.
    """
    arrays = _compute(read_objects(as_arrow(objects)))
    return {name: arrays[name].astype(np.float32) for name in TTH41}


def _carried(table: pa.Table) -> dict[str, pa.ChunkedArray | pa.Array]:
    out: dict[str, pa.ChunkedArray | pa.Array] = {}
    for name, type_ in CARRIED.items():
        if name in table.column_names:
            column = table.column(name)
            try:
                out[name] = column.cast(type_)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                msg = (
                    f"column {name!r} should be {type_} (FEATURES.md), got "
                    f"{column.type} that does not convert: {exc}"
                )
                raise DataError(msg) from None
            if name == "label":
                labels = out[name]
                if labels.null_count:
                    first = int(np.argmax(labels.is_null().to_numpy()))
                    msg = (
                        f"column 'label' is missing in {labels.null_count} events "
                        f"(first: event {first}); give every event 1 (signal) or "
                        "0 (background)"
                    )
                    raise DataError(msg)
                values = labels.to_numpy()
                bad = (values != 0) & (values != 1)
                if bad.any():
                    msg = (
                        f"column 'label' holds {values[bad][0].item()!r} (first in "
                        f"event {int(np.argmax(bad))}); it must be 1 (signal) or "
                        "0 (background)"
                    )
                    raise DataError(msg)
        elif name == "weight":
            out[name] = pa.array(np.ones(table.num_rows), type=type_)
        elif name == "event_number":
            out[name] = pa.array(np.arange(table.num_rows, dtype=np.int64))
    return out


def _numpy(array: ak.Array, sentinel: float) -> NDArray[np.float64]:
    """Per-event values with None (undefined) replaced by ``sentinel``."""
    values: NDArray[np.float64] = ak.to_numpy(ak.fill_none(array, sentinel))
    return values.astype(np.float64)


def _at_extreme(
    values: ak.Array, key: ak.Array, pick: Literal["min", "max"], sentinel: float
) -> NDArray[np.float64]:
    """``values`` of the entry with the smallest/largest ``key`` per event."""
    arg = ak.argmin if pick == "min" else ak.argmax
    index = arg(key, axis=1, keepdims=True)
    return _numpy(ak.firsts(values[index]), sentinel)


def _extreme(
    values: ak.Array, pick: Literal["min", "max"], sentinel: float
) -> NDArray[np.float64]:
    reduce = ak.min if pick == "min" else ak.max
    return _numpy(reduce(values, axis=1), sentinel)


def _nth(values: ak.Array, n: int, sentinel: float) -> NDArray[np.float64]:
    """The ``n``-th entry (1-based) per event, ``sentinel`` if there are fewer."""
    return _numpy(ak.pad_none(values, n, axis=1)[:, n - 1], sentinel)


def _polar(columns: dict[str, NDArray[Any]], prefix: str) -> dict[str, Any]:
    return {
        "pt": columns[f"{prefix}_pt"],
        "eta": columns[f"{prefix}_eta"],
        "phi": columns[f"{prefix}_phi"],
        "mass": columns[f"{prefix}_m"],
    }


def _compute(obj: Objects) -> dict[str, NDArray[np.float64]]:
    # Flat four-vectors of all jets, and of the lepton, from (pT, eta, phi, m).
    jet: Any = vector.array(_polar(obj.jet, "jet"))
    lepton: Any = vector.array(_polar(obj.event, "lep"))

    # Jagged jets with a cartesian view (sums are cheap there), a polar view
    # (dR) and the tag; the lepton as one polar vector per event.
    def jagged(values: NDArray[Any]) -> ak.Array:
        return ak.unflatten(np.asarray(values), obj.counts)

    cartesian = {k: getattr(jet, k) for k in CARTESIAN}
    jets = ak.zip(
        {
            "p4": ak.zip(
                {k: jagged(v) for k, v in cartesian.items()}, with_name="Momentum4D"
            ),
            "dir": ak.zip(
                {k: jagged(obj.jet[f"jet_{k}"]) for k in ("pt", "eta", "phi")},
                with_name="Momentum3D",
            ),
            "btag": jagged(obj.jet["jet_btag"]),
        }
    )
    lep = ak.zip(_polar(obj.event, "lep"), with_name="Momentum4D")

    out: dict[str, NDArray[np.float64]] = {}
    out.update(_single_jet_variables(jets, lep, obj))
    out.update(_pair_variables(jets, lep))
    out["Mjjj_MaxPt"] = _triplet_max_pt_mass(jets)
    out.update(_shape_variables(obj, jet, lepton))
    return out


def _single_jet_variables(
    jets: ak.Array, lep: ak.Array, obj: Objects
) -> dict[str, NDArray[np.float64]]:
    pt, eta = jets.dir.pt, jets.dir.eta
    dr_lep_jet = jets.dir.deltaR(lep)
    dr_lep_b = jets[jets.btag].dir.deltaR(lep)  # b-jets keep the pT order
    out = {
        "nJets": obj.counts.astype(np.float64),
        "MET": obj.event["met"],
        "nJets_Pt40": _numpy(ak.sum(pt > JET_PT_40, axis=1), NO_VALUE),
        "nbTag": _numpy(ak.sum(jets.btag, axis=1), NO_VALUE),
        # 0 if the event has fewer than 5 (3) jets
        "pT_jet5": _nth(pt, 5, NO_VALUE),
        "pT_jet3": _nth(pt, 3, NO_VALUE),
        "pT_lep": obj.event["lep_pt"],
        "HT_jets": _numpy(ak.sum(pt, axis=1), NO_VALUE),
        # max |d_eta| = max eta - min eta; -1 with fewer than 2 jets
        "dEtajj_MaxdEta": np.where(
            obj.counts >= 2,
            _extreme(eta, "max", 0.0) - _extreme(eta, "min", 0.0),
            NO_ANGLE,
        ),
        # -1 without jets
        "dRlj_MindR": _extreme(dr_lep_jet, "min", NO_ANGLE),
        "dRlj_MaxdR": _extreme(dr_lep_jet, "max", NO_ANGLE),
        # -1 if the event has fewer than 1 (2, 3) b-jets
        "dRlb1": _nth(dr_lep_b, 1, NO_ANGLE),
        "dRlb2": _nth(dr_lep_b, 2, NO_ANGLE),
        "dRlb3": _nth(dr_lep_b, 3, NO_ANGLE),
    }
    return out


def _sum_p4(*vectors: ak.Array) -> ak.Array:
    """Sum of cartesian four-vectors, component by component.

    Equal to vector's ``a + b`` for these cartesian records, without its
    coordinate-system dispatch, which dominates the time on large tables.
    """
    return ak.zip(
        {k: functools.reduce(operator.add, (v[k] for v in vectors)) for k in CARTESIAN},
        with_name="Momentum4D",
    )


def _pair_variables(jets: ak.Array, lep: ak.Array) -> dict[str, NDArray[np.float64]]:
    pairs = ak.combinations(jets, 2, fields=["a", "b"])
    system = _sum_p4(pairs.a.p4, pairs.b.p4)
    mass, pt = system.mass, system.pt
    dr = pairs.a.dir.deltaR(pairs.b.dir)
    bb = pairs.a.btag & pairs.b.btag
    bj = pairs.a.btag | pairs.b.btag  # at least one b-jet, see module docstring
    uu = ~bj
    in_higgs_window = abs(mass - HIGGS_MASS) < HIGGS_WINDOW

    def lepton_dr(select: ak.Array) -> ak.Array:
        # A pair whose vector sum has pT = 0 has no direction (eta is
        # infinite); it is left out of the lepton-system min/max.
        chosen = system[select]
        return chosen[chosen.pt > 0].deltaR(lep)

    dr_lep_bb, dr_lep_uu = lepton_dr(bb), lepton_dr(uu)
    n_bb = _numpy(ak.sum(bb, axis=1), 0.0)
    sum_dr_bb = _numpy(ak.sum(dr[bb], axis=1), 0.0)
    m_bb, pt_bb, dr_bb = mass[bb], pt[bb], dr[bb]
    m_bj, pt_bj, dr_bj = mass[bj], pt[bj], dr[bj]

    # Masses/pT: 0 and dR: -1 where the event has no such pair (fewer than
    # 2 jets, 2 b-jets, 2 untagged jets, or no b-jet).
    return {
        "Mjj_MaxPt": _at_extreme(mass, pt, "max", NO_VALUE),
        "nHiggsbb30": _numpy(ak.sum(in_higgs_window & bb, axis=1), NO_VALUE),
        "nHiggsjj30": _numpy(ak.sum(in_higgs_window, axis=1), NO_VALUE),
        "dRbb_avg": np.where(n_bb > 0, sum_dr_bb / np.maximum(n_bb, 1), NO_ANGLE),
        "Mbb_MindR": _at_extreme(m_bb, dr_bb, "min", NO_VALUE),
        "Mbj_MaxPt": _at_extreme(m_bj, pt_bj, "max", NO_VALUE),
        "dRbb_MaxPt": _at_extreme(dr_bb, pt_bb, "max", NO_ANGLE),
        "Mjj_MindR": _at_extreme(mass, dr, "min", NO_VALUE),
        "dRbj_Wmass": _at_extreme(dr_bj, abs(m_bj - W_MASS), "min", NO_ANGLE),
        "Mbj_Wmass": _at_extreme(m_bj, abs(m_bj - W_MASS), "min", NO_VALUE),
        "Mbj_MindR": _at_extreme(m_bj, dr_bj, "min", NO_VALUE),
        "dRbb_MaxM": _at_extreme(dr_bb, m_bb, "max", NO_ANGLE),
        "dRjj_MindR": _extreme(dr, "min", NO_ANGLE),
        "Mbb_MaxM": _extreme(m_bb, "max", NO_VALUE),
        "Mjj_MinM": _extreme(mass, "min", NO_VALUE),
        "dRlbb_MindR": _extreme(dr_lep_bb, "min", NO_ANGLE),
        "dRluu_MindR": _extreme(dr_lep_uu, "min", NO_ANGLE),
        "dRlbb_MaxdR": _extreme(dr_lep_bb, "max", NO_ANGLE),
    }


def _triplet_max_pt_mass(jets: ak.Array) -> NDArray[np.float64]:
    """Mjjj_MaxPt: mass of the triplet with the largest pT; 0 below 3 jets."""
    # Choose on the transverse components alone, then build the four-vector
    # of the one chosen triplet per event: half the work of summing all.
    index = ak.argcombinations(jets, 3, fields=["a", "b", "c"])
    px, py = jets.p4.px, jets.p4.py
    sum_px = px[index.a] + px[index.b] + px[index.c]
    sum_py = py[index.a] + py[index.b] + py[index.c]
    best = index[ak.argmax(sum_px**2 + sum_py**2, axis=1, keepdims=True)]
    system = _sum_p4(jets.p4[best.a], jets.p4[best.b], jets.p4[best.c])
    return _numpy(ak.firsts(system.mass), NO_VALUE)


def _shape_variables(
    obj: Objects, jet: Any, lepton: Any
) -> dict[str, NDArray[np.float64]]:
    n = obj.n_events
    jet_event = np.repeat(np.arange(n), obj.counts)
    jet_p = np.stack([jet.px, jet.py, jet.pz], axis=1)
    jet_e = np.asarray(jet.E, dtype=np.float64)
    btag = obj.jet["jet_btag"]

    # Jets and lepton together: the lepton is one more object of its event.
    all_event = np.concatenate([jet_event, np.arange(n)])
    all_p = np.concatenate([jet_p, np.stack([lepton.px, lepton.py, lepton.pz], 1)])
    all_e = np.concatenate([jet_e, np.asarray(lepton.E, dtype=np.float64)])
    all_pt = np.concatenate([obj.jet["jet_pt"], obj.event["lep_pt"]])

    h_all = shapes.fox_wolfram(all_event, n, all_p, all_e, orders=(0, 1, 2, 3))
    h_jets = shapes.fox_wolfram(jet_event, n, jet_p, jet_e, orders=(2,))
    return {
        "H0_all": h_all[0],
        "H1_all": h_all[1],
        "H2_all": h_all[2],
        "H3_all": h_all[3],
        "H2_jets": h_jets[2],  # 0 without jets
        "Centrality_all": shapes.centrality(all_event, n, all_pt, all_e),
        # 0 for fewer than 3 (b-)jets, where every event is planar, and 0
        # (the sentinel) without any
        "Aplanarity_jets": shapes.aplanarity(jet_event, n, jet_p),
        "Aplanarity_bjets": shapes.aplanarity(jet_event[btag], n, jet_p[btag]),
    }

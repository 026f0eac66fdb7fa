"""Tests of hepda.features: the 41 variables of FEATURES.md.

The reference is ``reference_features``: a plain per-event implementation
written from the definitions with ``math`` and ``itertools`` (no awkward,
no vector, no NumPy linear algebra), against which the vectorised library
must agree for every variable.
"""

from __future__ import annotations

import doctest
import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hepda.errors import DataError
from hepda.features import compute_feature_arrays, compute_features
from hepda.features.names import TTH41

# ---------------------------------------------------------------------------
# Event builders


def random_objects(
    n_events: int,
    seed: int,
    *,
    min_jets: int = 0,
    max_jets: int = 9,
    p_btag: float = 0.45,
    dtype: type = np.float32,
) -> pa.Table:
    """Random but physical object tables: pT-ordered jets, masses below pT."""
    rng = np.random.default_rng(seed)
    n_jets = rng.integers(min_jets, max_jets + 1, n_events)
    total = int(n_jets.sum())
    event = np.repeat(np.arange(n_events), n_jets)
    pt = 25.0 + rng.exponential(45.0, total)
    pt = pt[np.lexsort((-pt, event))]
    offsets = pa.array(np.concatenate([[0], np.cumsum(n_jets)]).astype(np.int32))

    def jets(values: np.ndarray) -> pa.ListArray:
        return pa.ListArray.from_arrays(offsets, pa.array(values))

    return pa.table(
        {
            "jet_pt": jets(pt.astype(dtype)),
            "jet_eta": jets(rng.uniform(-2.5, 2.5, total).astype(dtype)),
            "jet_phi": jets(rng.uniform(-np.pi, np.pi, total).astype(dtype)),
            "jet_m": jets((pt * rng.uniform(0.02, 0.25, total)).astype(dtype)),
            "jet_btag": jets(rng.random(total) < p_btag),
            "jet_flavour": jets(rng.choice([0, 4, 5], total).astype(np.int8)),
            "lep_pt": (27.0 + rng.exponential(40.0, n_events)).astype(dtype),
            "lep_eta": rng.uniform(-2.5, 2.5, n_events).astype(dtype),
            "lep_phi": rng.uniform(-np.pi, np.pi, n_events).astype(dtype),
            "lep_m": rng.choice([0.000511, 0.10566], n_events).astype(dtype),
            "met": rng.exponential(50.0, n_events).astype(dtype),
            "met_phi": rng.uniform(-np.pi, np.pi, n_events).astype(dtype),
            "label": rng.integers(0, 2, n_events).astype(np.int8),
        }
    )


Jet = tuple[float, float, float, float, bool]  # pt, eta, phi, m, btag


def objects(
    events: list[tuple[list[Jet], tuple[float, float, float, float]]],
    met: float = 20.0,
) -> pa.Table:
    """Object table from hand-built events ``(jets, (lep pt, eta, phi, m))``."""
    floats = pa.list_(pa.float64())
    columns: dict[str, Any] = {}
    for i, name in enumerate(("jet_pt", "jet_eta", "jet_phi", "jet_m")):
        columns[name] = pa.array([[j[i] for j in jets] for jets, _ in events], floats)
    columns["jet_btag"] = pa.array([[j[4] for j in jets] for jets, _ in events])
    for i, name in enumerate(("lep_pt", "lep_eta", "lep_phi", "lep_m")):
        columns[name] = pa.array([lep[i] for _, lep in events], pa.float64())
    columns["met"] = pa.array([met] * len(events), pa.float64())
    return pa.table(columns)


# ---------------------------------------------------------------------------
# Independent per-event reference


def _p4(pt: float, eta: float, phi: float, m: float) -> tuple[float, ...]:
    px, py, pz = pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)
    return (px, py, pz, math.sqrt(px * px + py * py + pz * pz + m * m))


def _sum(*vectors: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(sum(components) for components in zip(*vectors, strict=True))


def _mass(v: tuple[float, ...]) -> float:
    m2 = v[3] ** 2 - v[0] ** 2 - v[1] ** 2 - v[2] ** 2
    return math.copysign(math.sqrt(abs(m2)), m2)


def _pt(v: tuple[float, ...]) -> float:
    return math.hypot(v[0], v[1])


def _eta_phi(v: tuple[float, ...]) -> tuple[float, float]:
    return math.asinh(v[2] / _pt(v)), math.atan2(v[1], v[0])


def _dr(a: tuple[float, float], b: tuple[float, float]) -> float:
    dphi = a[1] - b[1]
    while dphi > math.pi:
        dphi -= 2 * math.pi
    while dphi < -math.pi:
        dphi += 2 * math.pi
    return math.hypot(a[0] - b[0], dphi)


def _legendre(order: int, c: float) -> float:
    return [1.0, c, (3 * c * c - 1) / 2, (5 * c**3 - 3 * c) / 2][order]


def _fox_wolfram(vectors: list[tuple[float, ...]], order: int) -> float:
    total_e = sum(v[3] for v in vectors)
    h = 0.0
    for a in vectors:
        for b in vectors:  # all ordered pairs, i = j included
            pa_, pb = math.dist(a[:3], (0, 0, 0)), math.dist(b[:3], (0, 0, 0))
            cos = sum(x * y for x, y in zip(a[:3], b[:3], strict=True)) / (pa_ * pb)
            h += pa_ * pb * _legendre(order, max(-1.0, min(1.0, cos)))
    return h / total_e**2 if total_e > 0 else 0.0


def _smallest_eigenvalue(s: list[list[float]]) -> float:
    """Smallest eigenvalue of a symmetric 3x3 matrix, trigonometric closed form."""
    off = s[0][1] ** 2 + s[0][2] ** 2 + s[1][2] ** 2
    q = (s[0][0] + s[1][1] + s[2][2]) / 3
    if off == 0.0:
        return min(s[0][0], s[1][1], s[2][2])
    p = math.sqrt(
        ((s[0][0] - q) ** 2 + (s[1][1] - q) ** 2 + (s[2][2] - q) ** 2 + 2 * off) / 6
    )
    b = [[(s[i][j] - (q if i == j else 0.0)) / p for j in range(3)] for i in range(3)]
    det = (
        b[0][0] * (b[1][1] * b[2][2] - b[1][2] * b[2][1])
        - b[0][1] * (b[1][0] * b[2][2] - b[1][2] * b[2][0])
        + b[0][2] * (b[1][0] * b[2][1] - b[1][1] * b[2][0])
    )
    angle = math.acos(max(-1.0, min(1.0, det / 2))) / 3
    return q + 2 * p * math.cos(angle + 2 * math.pi / 3)


def _aplanarity(vectors: list[tuple[float, ...]]) -> float:
    norm = sum(v[0] ** 2 + v[1] ** 2 + v[2] ** 2 for v in vectors)
    if norm == 0:
        return 0.0
    s = [[sum(v[a] * v[b] for v in vectors) / norm for b in range(3)] for a in range(3)]
    return 1.5 * max(0.0, _smallest_eigenvalue(s))


def reference_features(row: dict[str, Any]) -> dict[str, float]:
    """The 41 variables of one event (a row of ``Table.to_pylist()``)."""
    jets = sorted(
        zip(
            row["jet_pt"],
            row["jet_eta"],
            row["jet_phi"],
            row["jet_m"],
            row["jet_btag"],
            strict=True,
        ),
        key=lambda j: -j[0],
    )
    lep = (row["lep_pt"], row["lep_eta"], row["lep_phi"], row["lep_m"])
    lep_v, lep_dir = _p4(*lep), (lep[1], lep[2])
    vec = [_p4(*j[:4]) for j in jets]
    direction = [(j[1], j[2]) for j in jets]
    tagged = [i for i, j in enumerate(jets) if j[4]]
    untagged = [i for i, j in enumerate(jets) if not j[4]]

    pairs = list(itertools.combinations(range(len(jets)), 2))
    bb = [p for p in pairs if jets[p[0]][4] and jets[p[1]][4]]
    bj = [p for p in pairs if jets[p[0]][4] or jets[p[1]][4]]
    uu = list(itertools.combinations(untagged, 2))

    def m(p: tuple[int, ...]) -> float:
        return _mass(_sum(*(vec[i] for i in p)))

    def pt(p: tuple[int, ...]) -> float:
        return _pt(_sum(*(vec[i] for i in p)))

    def dr(p: tuple[int, int]) -> float:
        return _dr(direction[p[0]], direction[p[1]])

    def best(
        items: list[Any], key: Any, value: Any, pick: Any, sentinel: float
    ) -> float:
        if not items:
            return sentinel
        chosen = pick(items, key=key)  # min/max return the first on ties
        return float(value(chosen))

    def lep_system_dr(ps: list[tuple[int, int]]) -> list[float]:
        systems = [_sum(vec[a], vec[b]) for a, b in ps]
        return [_dr(lep_dir, _eta_phi(s)) for s in systems if _pt(s) > 0]

    dr_lj = [_dr(lep_dir, d) for d in direction]
    dr_lbb, dr_luu = lep_system_dr(bb), lep_system_dr(uu)
    everything = [*vec, lep_v]
    etas = [j[1] for j in jets]
    out = {
        "nJets": len(jets),
        "MET": row["met"],
        "Mjj_MaxPt": best(pairs, pt, m, max, 0.0),
        "nJets_Pt40": sum(j[0] > 40 for j in jets),
        "nbTag": len(tagged),
        "nHiggsbb30": sum(abs(m(p) - 125) < 30 for p in bb),
        "nHiggsjj30": sum(abs(m(p) - 125) < 30 for p in pairs),
        "pT_jet5": jets[4][0] if len(jets) >= 5 else 0.0,
        "pT_lep": lep[0],
        "HT_jets": sum(j[0] for j in jets),
        "H0_all": _fox_wolfram(everything, 0),
        "H1_all": _fox_wolfram(everything, 1),
        "H2_all": _fox_wolfram(everything, 2),
        "H3_all": _fox_wolfram(everything, 3),
        "H2_jets": _fox_wolfram(vec, 2),
        "dEtajj_MaxdEta": max((abs(etas[a] - etas[b]) for a, b in pairs), default=-1.0),
        "Centrality_all": (sum(j[0] for j in jets) + lep[0])
        / sum(v[3] for v in everything),
        "dRbb_avg": sum(dr(p) for p in bb) / len(bb) if bb else -1.0,
        "Mbb_MindR": best(bb, dr, m, min, 0.0),
        "Mbj_MaxPt": best(bj, pt, m, max, 0.0),
        "dRbb_MaxPt": best(bb, pt, dr, max, -1.0),
        "Aplanarity_jets": _aplanarity(vec),
        "Mjj_MindR": best(pairs, dr, m, min, 0.0),
        "dRbj_Wmass": best(bj, lambda p: abs(m(p) - 80.4), dr, min, -1.0),
        "Mbj_Wmass": best(bj, lambda p: abs(m(p) - 80.4), m, min, 0.0),
        "Mbj_MindR": best(bj, dr, m, min, 0.0),
        "dRlj_MindR": min(dr_lj, default=-1.0),
        "dRlj_MaxdR": max(dr_lj, default=-1.0),
        "pT_jet3": jets[2][0] if len(jets) >= 3 else 0.0,
        "dRbb_MaxM": best(bb, m, dr, max, -1.0),
        "dRjj_MindR": min((dr(p) for p in pairs), default=-1.0),
        "Aplanarity_bjets": _aplanarity([vec[i] for i in tagged]),
        "Mjjj_MaxPt": best(
            list(itertools.combinations(range(len(jets)), 3)), pt, m, max, 0.0
        ),
        "Mbb_MaxM": max((m(p) for p in bb), default=0.0),
        "Mjj_MinM": min((m(p) for p in pairs), default=0.0),
        "dRlbb_MindR": min(dr_lbb, default=-1.0),
        "dRluu_MindR": min(dr_luu, default=-1.0),
        "dRlbb_MaxdR": max(dr_lbb, default=-1.0),
        "dRlb1": dr_lj[tagged[0]] if len(tagged) >= 1 else -1.0,
        "dRlb2": dr_lj[tagged[1]] if len(tagged) >= 2 else -1.0,
        "dRlb3": dr_lj[tagged[2]] if len(tagged) >= 3 else -1.0,
    }
    return {name: float(out[name]) for name in TTH41}


def _column_phi_rotated(column: pa.ChunkedArray, angle: float) -> pa.Array:
    """Shift azimuthal angles by ``angle`` and wrap them back into [-pi, pi)."""
    array = column.combine_chunks()
    flat = array.flatten() if pa.types.is_list(array.type) else array
    shifted = np.mod(flat.to_numpy() + angle + np.pi, 2 * np.pi) - np.pi
    if pa.types.is_list(array.type):
        return pa.ListArray.from_arrays(array.offsets, pa.array(shifted))
    return pa.array(shifted)


def rotated(table: pa.Table, angle: float) -> pa.Table:
    """Every object (jets, lepton, MET) rotated in phi by ``angle``."""
    for name in ("jet_phi", "lep_phi", "met_phi"):
        index = table.column_names.index(name)
        table = table.set_column(
            index, name, _column_phi_rotated(table.column(name), angle)
        )
    return table


def _assert_close(
    got: dict[str, np.ndarray], want: dict[str, np.ndarray], rtol: float, atol: float
) -> None:
    for name in TTH41:
        np.testing.assert_allclose(
            got[name], want[name], rtol=rtol, atol=atol, err_msg=name
        )


# ---------------------------------------------------------------------------
# Agreement with the reference on random events


def test_all_41_variables_agree_with_per_event_reference() -> None:
    table = random_objects(60, seed=7)
    got = compute_feature_arrays(table)
    rows = [reference_features(row) for row in table.to_pylist()]
    want = {name: np.array([row[name] for row in rows]) for name in TTH41}
    # the sample must reach both the defined values and every sentinel
    assert (want["dRlb3"] == -1).any()
    assert (want["dRlb3"] > 0).any()
    assert (want["dRluu_MindR"] == -1).any()
    assert (want["Mjjj_MaxPt"] == 0).any()
    assert (want["nHiggsbb30"] > 0).any()
    _assert_close(got, want, rtol=1e-4, atol=1e-6)


def test_output_table_layout_and_types() -> None:
    table = random_objects(12, seed=3).append_column("process", pa.array(["ttH"] * 12))
    events = compute_features(table)
    assert events.column_names == [*TTH41, "label", "process", "weight", "event_number"]
    for name in TTH41:
        assert events.schema.field(name).type == pa.float32()
    assert events.schema.field("label").type == pa.int8()
    assert events.column("label").to_pylist() == table.column("label").to_pylist()
    assert events.column("weight").to_pylist() == [1.0] * 12
    assert events.column("event_number").to_pylist() == list(range(12))
    for values in compute_feature_arrays(table).values():
        assert values.dtype == np.float32
        assert np.isfinite(values).all()


def test_carried_columns_are_cast_to_the_contract_types() -> None:
    table = random_objects(3, seed=4)
    table = table.append_column("weight", pa.array([0.5, -1.0, 2.0], pa.float32()))
    table = table.append_column("event_number", pa.array([7, 8, 9], pa.int32()))
    table = table.append_column("generator", pa.array(["S1", "S2", "S1"]))
    events = compute_features(table)
    assert events.column_names[41:] == ["label", "generator", "weight", "event_number"]
    assert events.schema.field("weight").type == pa.float64()
    assert events.column("weight").to_pylist() == [0.5, -1.0, 2.0]
    assert events.schema.field("event_number").type == pa.int64()
    assert events.column("event_number").to_pylist() == [7, 8, 9]


def test_unconvertible_carried_column_is_a_data_error() -> None:
    table = random_objects(2, seed=4).append_column("weight", pa.array(["a", "b"]))
    with pytest.raises(DataError, match="column 'weight' should be double"):
        compute_features(table)


def test_awkward_input_and_unsorted_jets_give_the_same_answer() -> None:
    import awkward as ak

    table = random_objects(25, seed=11)
    want = compute_feature_arrays(table)

    # Reverse the jets of every event: the library re-sorts by pT.
    records = ak.from_arrow(table)
    reversed_jets = {
        name: (records[name][:, ::-1] if name.startswith("jet_") else records[name])
        for name in table.column_names
    }
    got = compute_feature_arrays(ak.zip(reversed_jets, depth_limit=1))
    _assert_close(got, want, rtol=0, atol=0)


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    angles=st.lists(
        st.floats(-20.0, 20.0, allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=3,
    ),
)
def test_rotation_in_phi_changes_no_variable(seed: int, angles: list[float]) -> None:
    # One call per example (the call, not the events, is what costs here).
    n = 12
    table = random_objects(n, seed=seed, dtype=np.float64)
    copies = [table, *(rotated(table, angle) for angle in angles)]
    values = compute_feature_arrays(pa.concat_tables(copies))
    original = {name: v[:n] for name, v in values.items()}
    for k in range(1, len(copies)):
        turned = {name: v[k * n : (k + 1) * n] for name, v in values.items()}
        _assert_close(turned, original, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------
# Hand-built events with known answers. All go through the library in one
# call (module fixture ``hand``): the cost of a call is mostly fixed.

THIRD = 2 * math.pi / 3
Lepton = tuple[float, float, float, float]


def _tetrahedron(magnitude: float) -> list[tuple[float, float, float]]:
    """(pT, eta, phi) of momenta along the four vertices of a tetrahedron."""
    out = []
    for x, y, z in [(1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)]:
        pt = magnitude * math.sqrt(2 / 3)
        out.append(
            (pt, math.asinh(magnitude * z / math.sqrt(3) / pt), math.atan2(y, x))
        )
    return out


_TETRA_100 = _tetrahedron(100.0)
_TETRA_80 = _tetrahedron(80.0)
_MASSIVE_A, _MASSIVE_B = (50.0, 0.5, 0.0, 10.0), (40.0, -0.3, 1.2, 5.0)

HAND_BUILT: dict[str, tuple[list[Jet], Lepton]] = {
    # two jets and the lepton 120 degrees apart, equal pT, massless, eta 0
    "mercedes": (
        [(50.0, 0.0, 0.0, 0.0, True), (50.0, 0.0, THIRD, 0.0, True)],
        (50.0, 0.0, -THIRD, 0.0),
    ),
    "tetrahedron": (
        [(pt, eta, phi, 0.0, True) for pt, eta, phi in _TETRA_100],
        (30.0, 0.0, 0.0, 0.0),
    ),
    # three jets and the lepton on the vertices of one tetrahedron
    "tetrahedron_with_lepton": (
        [(pt, eta, phi, 0.0, False) for pt, eta, phi in _TETRA_80[:3]],
        (*_TETRA_80[3], 0.0),
    ),
    "back_to_back_125": (
        [(62.5, 0.0, 0.0, 0.0, True), (62.5, 0.0, math.pi, 0.0, True)],
        (40.0, 1.0, 1.0, 0.0),
    ),
    "massive_pair": (
        [(*_MASSIVE_A, True), (*_MASSIVE_B, False)],
        (30.0, 0.0, 2.0, 0.1),
    ),
    "higgs_windows": (
        [
            (80.0, 0.0, 0.0, 0.0, True),  # b1
            (80.0, 0.0, math.pi / 2, 0.0, True),  # b2: m(b1 b2) = 113.1, in
            (
                60.0,
                1.0,
                math.pi,
                0.0,
                True,
            ),  # b3: m(b1 b3) 156.3 out, m(b2 b3) 121.7 in
            (40.0, -1.0, -math.pi / 2, 0.0, False),  # exactly 40: not above 40 GeV
            (45.0, 2.0, 2.5, 0.0, False),  # out of pT order on purpose
        ],
        (30.0, 0.0, 0.3, 0.0),
    ),
    "w_mass": (
        [
            (40.2, 0.0, 0.0, 0.0, True),
            (40.2, 0.0, math.pi, 0.0, False),  # with the b-jet: m = 80.4 exactly
            (30.0, 2.0, math.pi / 2, 0.0, False),  # with the b-jet: m = 95.3
        ],
        (30.0, 0.0, 1.0, 0.0),
    ),
    "no_jets": ([], (40.0, 0.5, 1.0, 0.1)),
    "one_untagged_jet": ([(50.0, 0.0, 0.0, 5.0, False)], (40.0, 0.5, 1.0, 0.1)),
}


@pytest.fixture(scope="module")
def hand() -> dict[str, dict[str, float]]:
    """The 41 variables of every HAND_BUILT event, as Python floats."""
    arrays = compute_feature_arrays(objects(list(HAND_BUILT.values())))
    for values in arrays.values():
        assert np.isfinite(values).all()
    return {
        key: {name: float(values[i]) for name, values in arrays.items()}
        for i, key in enumerate(HAND_BUILT)
    }


def test_mercedes_event_in_the_transverse_plane(hand: dict[str, Any]) -> None:
    v = hand["mercedes"]
    # P_2(-1/2) = -1/8, P_3(-1/2) = 7/16: H_l = (3 + 6 P_l) / 9
    assert v["H0_all"] == pytest.approx(1.0, abs=1e-6)
    assert v["H1_all"] == pytest.approx(0.0, abs=1e-6)
    assert v["H2_all"] == pytest.approx(0.25, abs=1e-6)
    assert v["H3_all"] == pytest.approx(0.625, abs=1e-6)
    assert v["H2_jets"] == pytest.approx((2 - 2 / 8) / 4, abs=1e-6)
    assert v["Centrality_all"] == pytest.approx(1.0, abs=1e-6)
    assert v["Aplanarity_jets"] == pytest.approx(0.0, abs=1e-7)
    m = math.sqrt(2 * 50 * 50 * (1 - math.cos(THIRD)))  # 86.6 GeV
    for name in ("Mjj_MaxPt", "Mbb_MindR", "Mbj_MaxPt", "Mjj_MinM", "Mbb_MaxM"):
        assert v[name] == pytest.approx(m, rel=1e-6), name
    for name in ("dRjj_MindR", "dRbb_avg", "dRlb1", "dRlb2", "dRlj_MaxdR"):
        assert v[name] == pytest.approx(THIRD, rel=1e-6), name
    # the bb system points at phi = pi/3, opposite the lepton
    assert v["dRlbb_MindR"] == pytest.approx(math.pi, rel=1e-6)
    assert v["nHiggsbb30"] == 0
    assert v["MET"] == 20.0


def test_regular_tetrahedron_is_isotropic(hand: dict[str, Any]) -> None:
    v = hand["tetrahedron"]
    assert v["Aplanarity_jets"] == pytest.approx(0.5, abs=1e-6)
    assert v["Aplanarity_bjets"] == pytest.approx(0.5, abs=1e-6)
    assert v["H2_jets"] == pytest.approx(0.0, abs=1e-6)


def test_tetrahedron_of_three_jets_and_the_lepton(hand: dict[str, Any]) -> None:
    v = hand["tetrahedron_with_lepton"]
    # cos = -1/3: P_2 = -1/3, P_3 = 11/27; H_l = (4 + 12 P_l) / 16
    assert v["H0_all"] == pytest.approx(1.0, abs=1e-6)
    assert v["H1_all"] == pytest.approx(0.0, abs=1e-6)
    assert v["H2_all"] == pytest.approx(0.0, abs=1e-6)
    assert v["H3_all"] == pytest.approx(5 / 9, abs=1e-6)
    # S = (4/3 I - n n^T) / 3 has eigenvalues 1/9, 4/9, 4/9
    assert v["Aplanarity_jets"] == pytest.approx(1.5 / 9, abs=1e-6)
    assert v["Aplanarity_bjets"] == 0.0


def test_back_to_back_pair_at_the_higgs_mass(hand: dict[str, Any]) -> None:
    v = hand["back_to_back_125"]
    assert v["Mbb_MaxM"] == pytest.approx(125.0, rel=1e-6)
    assert v["nHiggsbb30"] == 1
    assert v["nHiggsjj30"] == 1
    assert v["H2_jets"] == pytest.approx(1.0, abs=1e-6)  # P_2(-1) = 1
    assert v["dRbb_MaxPt"] == pytest.approx(math.pi, rel=1e-6)


def test_massive_pair_mass_by_hand(hand: dict[str, Any]) -> None:
    a, b = _MASSIVE_A, _MASSIVE_B

    def energy(pt: float, eta: float, m: float) -> float:
        return math.sqrt((pt * math.cosh(eta)) ** 2 + m * m)

    dot = a[0] * b[0] * (math.cos(a[2] - b[2]) + math.sinh(a[1]) * math.sinh(b[1]))
    e_a, e_b = energy(a[0], a[1], a[3]), energy(b[0], b[1], b[3])
    mass = math.sqrt(a[3] ** 2 + b[3] ** 2 + 2 * (e_a * e_b - dot))
    v = hand["massive_pair"]
    assert v["Mjj_MaxPt"] == pytest.approx(mass, rel=1e-6)
    assert v["Mbj_MindR"] == pytest.approx(mass, rel=1e-6)
    assert v["dRjj_MindR"] == pytest.approx(math.hypot(0.8, 1.2), rel=1e-6)
    assert v["dEtajj_MaxdEta"] == pytest.approx(0.8, rel=1e-6)


def test_counts_windows_and_leading_jets(hand: dict[str, Any]) -> None:
    v = hand["higgs_windows"]
    assert v["nJets"] == 5
    assert v["nbTag"] == 3
    assert v["nJets_Pt40"] == 4
    assert v["nHiggsbb30"] == 2
    assert v["pT_jet3"] == 60.0
    assert v["pT_jet5"] == 40.0  # re-sorted: 45 comes before 40
    assert v["HT_jets"] == 305.0
    m_b1b3 = math.sqrt(2 * 80 * 60 * (math.cosh(1) + 1))
    assert v["Mbb_MaxM"] == pytest.approx(m_b1b3, rel=1e-6)
    assert v["Mbb_MindR"] == pytest.approx(math.sqrt(2 * 80 * 80), rel=1e-6)
    assert v["dRbb_MaxM"] == pytest.approx(math.hypot(1, math.pi), rel=1e-6)
    assert v["dRlb1"] == pytest.approx(0.3, rel=1e-5)
    assert v["dRlb3"] == pytest.approx(math.hypot(1, math.pi - 0.3), rel=1e-6)


def test_pair_closest_to_the_w_mass(hand: dict[str, Any]) -> None:
    v = hand["w_mass"]
    assert v["Mbj_Wmass"] == pytest.approx(80.4, rel=1e-6)
    assert v["dRbj_Wmass"] == pytest.approx(math.pi, rel=1e-6)
    # only one untagged pair; its system points along (-40.2, 30, 30 sinh 2)
    eta = math.asinh(30 * math.sinh(2.0) / math.hypot(40.2, 30))
    phi = math.atan2(30, -40.2)
    assert v["dRluu_MindR"] == pytest.approx(math.hypot(eta, phi - 1.0), rel=1e-6)


def test_sentinels_where_variables_are_undefined(hand: dict[str, Any]) -> None:
    none, single = hand["no_jets"], hand["one_untagged_jet"]
    zero_when_undefined = [
        "Mjj_MaxPt", "nHiggsbb30", "nHiggsjj30", "pT_jet5", "nbTag", "Mbb_MindR",
        "Mbj_MaxPt", "Aplanarity_jets", "Mjj_MindR", "Mbj_Wmass", "Mbj_MindR",
        "pT_jet3", "Aplanarity_bjets", "Mjjj_MaxPt", "Mbb_MaxM", "Mjj_MinM",
    ]  # fmt: skip
    for name in TTH41:
        if name.startswith(("dR", "dEta")):
            assert none[name] == -1.0, name
            if name not in ("dRlj_MindR", "dRlj_MaxdR"):
                assert single[name] == -1.0, name
    assert single["dRlj_MindR"] == pytest.approx(math.hypot(0.5, 1.0), rel=1e-6)
    for name in zero_when_undefined:
        assert (none[name], single[name]) == (0.0, 0.0), name
    assert (none["nJets"], single["nJets"]) == (0.0, 1.0)
    assert (none["HT_jets"], single["HT_jets"]) == (0.0, 50.0)
    assert none["H2_jets"] == 0.0
    # the lepton alone: every P_l(1) = 1, so H_l = |p|^2 / E^2 for all l
    p2 = (40 * math.cosh(0.5)) ** 2
    for name in ("H0_all", "H1_all", "H2_all", "H3_all"):
        assert none[name] == pytest.approx(p2 / (p2 + 0.01), rel=1e-6)


# ---------------------------------------------------------------------------
# Input validation


def test_missing_column_names_the_nearest_names() -> None:
    table = random_objects(2, seed=1).rename_columns(
        ["jet_Pt" if n == "jet_pt" else n for n in random_objects(2, 1).column_names]
    )
    with pytest.raises(DataError, match=r"'jet_pt' \(did you mean 'jet_Pt'"):
        compute_features(table)


def test_all_missing_columns_are_reported_at_once() -> None:
    table = random_objects(2, seed=1).drop_columns(["met", "lep_m"])
    with pytest.raises(DataError, match=r"'lep_m'.*'met'"):
        compute_feature_arrays(table)


def test_jet_lists_of_unequal_length() -> None:
    table = objects([([(50.0, 0.0, 0.0, 5.0, True)] * 2, (30.0, 0.0, 0.0, 0.0))] * 2)
    short = pa.array([[0.0, 0.0], [0.0]], pa.list_(pa.float64()))
    table = table.set_column(table.column_names.index("jet_eta"), "jet_eta", short)
    with pytest.raises(DataError, match="'jet_eta' has 1 entries in event 1"):
        compute_features(table)


@pytest.mark.parametrize(
    ("name", "values", "match"),
    [
        ("lep_pt", pa.array([30.0, None]), "'lep_pt' is missing in 1 events"),
        ("lep_pt", pa.array(["a", "b"]), "'lep_pt' should hold one number"),
        ("met", pa.array([1.0, float("nan")]), "'met' has 1 non-finite values"),
        ("jet_pt", pa.array([50.0, 50.0]), "'jet_pt' should hold one list"),
        ("jet_m", pa.array([[1.0], [None]]), "'jet_m' has 1 missing jet values"),
        ("jet_phi", pa.array([[1.0], None]), "'jet_phi' is missing in 1 events"),
        ("jet_eta", pa.array([[1.0], [float("inf")]]), "first in event 1"),
        ("jet_btag", pa.array([[1.0], [0.9]]), r"holds 0\.9.*not a tag decision"),
        ("jet_btag", pa.array([[True], [False]]), None),
        ("jet_btag", pa.array([[1], [0]]), None),
        ("jet_pt", pa.array([[50.0], [-5.0]]), "'jet_pt' has 1 negative value"),
        ("met", pa.array([1.0, -0.5]), "'met' has 1 negative value"),
        ("jet_m", pa.array([[5.0], [-0.001]]), None),  # m^2 < 0 stored as -m
        ("label", pa.array([0, 7], pa.int64()), "'label' holds 7"),
        ("label", pa.array([0, None], pa.int64()), "'label' is missing in 1 events"),
    ],
)
def test_bad_values_are_data_errors(
    name: str, values: pa.Array, match: str | None
) -> None:
    table = objects([([(50.0, 0.0, 0.0, 5.0, True)], (30.0, 0.0, 0.0, 0.0))] * 2)
    if name in table.column_names:
        table = table.set_column(table.column_names.index(name), name, values)
    else:
        table = table.append_column(name, values)
    if match is None:  # accepted
        assert len(compute_features(table)) == 2
        return
    with pytest.raises(DataError, match=match):
        compute_features(table)


def test_input_that_is_not_a_table() -> None:
    with pytest.raises(
        DataError, match=r"expected the object table as a pyarrow\.Table"
    ):
        compute_features({"jet_pt": [[1.0]]})  # type: ignore[arg-type]


def test_docstring_examples() -> None:
    from hepda.features import compute, shapes

    for module in (compute, shapes):
        result = doctest.testmod(module)
        assert result.attempted > 0
        assert result.failed == 0, module.__name__


# ---------------------------------------------------------------------------
# The command


def test_command_writes_the_event_table(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hepda.cli import main

    objects_table = random_objects(40, seed=5).append_column(
        "generator", pa.array(["S1"] * 40)
    )
    pq.write_table(objects_table, tmp_path / "objects.parquet")
    out = tmp_path / "events.parquet"
    args = ["features", str(tmp_path / "objects.parquet"), str(out)]

    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "40 events" in result.output
    written = pq.read_table(out)  # read back with pyarrow, not hepda.data.io
    assert written.equals(compute_features(objects_table))

    again = CliRunner().invoke(main, args)
    assert again.exit_code == 2
    assert "exists; pass --overwrite" in again.output
    forced = CliRunner().invoke(main, [*args, "--overwrite"])
    assert forced.exit_code == 0, forced.output


def test_command_writes_a_root_tree_and_reports_bad_input(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hepda.cli import main

    uproot = pytest.importorskip("uproot")  # the second reader of the ROOT file
    table = random_objects(30, seed=6)
    pq.write_table(table, tmp_path / "objects.parquet")
    out = f"{tmp_path / 'events.root'}:tth"
    result = CliRunner().invoke(
        main, ["features", str(tmp_path / "objects.parquet"), out]
    )
    assert result.exit_code == 0, result.output
    with uproot.open(tmp_path / "events.root") as file:
        got = file["tth"].arrays(["nJets", "dRlb3"], library="np")
    want = compute_feature_arrays(table)
    np.testing.assert_array_equal(got["nJets"], want["nJets"])
    np.testing.assert_array_equal(got["dRlb3"], want["dRlb3"])

    pq.write_table(table.drop_columns(["met"]), tmp_path / "bad.parquet")
    bad = CliRunner().invoke(
        main, ["features", str(tmp_path / "bad.parquet"), str(tmp_path / "x.parquet")]
    )
    assert bad.exit_code == 2
    assert "lacks column(s) 'met'" in bad.output
    assert not (tmp_path / "x.parquet").exists()


def test_missing_vector_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib
    import sys

    from hepda.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "vector", None)  # import vector fails
    monkeypatch.delitem(sys.modules, "hepda.features.compute", raising=False)
    with pytest.raises(MissingDependencyError, match=r"pip install 'hepda\[sim\]'"):
        importlib.import_module("hepda.features.compute")


def test_pair_triplet_and_lepton_choices_on_a_flat_event() -> None:
    """Mjj_MindR, Mjjj_MaxPt, dRlbb_MaxdR and pT_lep, worked out by hand.

    All objects are massless at eta = 0, so dR is the azimuthal distance,
    a pair's mass is 2 sqrt(pT_a pT_b) sin(dphi / 2), and a system points
    along the sum of its transverse vectors.
    """
    jets = [(100.0, 0.0), (100.0, 0.5), (60.0, math.pi), (40.0, -2.0)]  # (pT, phi)
    tagged = [True, True, False, True]
    lepton_phi = 1.0
    table = objects(
        [
            (
                [
                    (pt, 0.0, phi, 0.0, b)
                    for (pt, phi), b in zip(jets, tagged, strict=True)
                ],
                (35.0, 0.0, lepton_phi, 0.0),
            )
        ]
    )
    v = {k: float(a[0]) for k, a in compute_feature_arrays(table).items()}

    def dphi(a: float, b: float) -> float:
        d = abs(a - b) % (2 * math.pi)
        return min(d, 2 * math.pi - d)

    def system(members: tuple[int, ...]) -> tuple[float, float]:
        """(pT, phi) of the summed transverse momenta."""
        x = sum(jets[i][0] * math.cos(jets[i][1]) for i in members)
        y = sum(jets[i][0] * math.sin(jets[i][1]) for i in members)
        return math.hypot(x, y), math.atan2(y, x)

    def mass(members: tuple[int, ...]) -> float:
        m2 = sum(
            2 * jets[a][0] * jets[b][0] * (1 - math.cos(jets[a][1] - jets[b][1]))
            for a, b in itertools.combinations(members, 2)
        )
        return math.sqrt(m2)

    # the closest pair is (0, 1), 0.5 apart: m = 2 * 100 * sin(0.25)
    assert v["Mjj_MindR"] == pytest.approx(200 * math.sin(0.25), rel=1e-6)
    triplets = list(itertools.combinations(range(4), 3))
    hardest = max(triplets, key=lambda t: system(t)[0])
    # the choice matters: each triplet has its own mass, and the hardest is
    # not the one of the three leading jets
    assert len({round(mass(t), 6) for t in triplets}) == len(triplets)
    assert hardest != (0, 1, 2)
    assert v["Mjjj_MaxPt"] == pytest.approx(mass(hardest), rel=1e-6)
    b_pairs = list(itertools.combinations([i for i in range(4) if tagged[i]], 2))
    far = max(dphi(system(p)[1], lepton_phi) for p in b_pairs)
    assert v["dRlbb_MaxdR"] == pytest.approx(far, rel=1e-6)
    assert far > dphi(system((0, 1))[1], lepton_phi)  # not the leading b pair
    assert v["pT_lep"] == pytest.approx(35.0)

"""hepda.simulate: Pythia 8 samples, jets, detector, b-tagging, cache, CLI.

Generation is the expensive part: the shared fixture makes the three
samples of a tiny configuration once (chunks of 100 generated events) and
later tests reuse them through the cache.
"""

from __future__ import annotations

import dataclasses
import doctest
import importlib
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from hepda.errors import ConfigError
from hepda.features.names import RESERVED_COLUMNS, TTH41
from hepda.simulate import (
    BTagEfficiencies,
    SimulationConfig,
    build_benchmark,
    generate_samples,
    weighted_ks,
)
from hepda.simulate.btag import cut_tags, prob_at_least, tag_probabilities, trf_tags
from hepda.simulate.config import DetectorConfig, SampleSpec, derive_seed
from hepda.simulate.detector import jet_resolution, reconstruct
from hepda.simulate.setups import SETUPS, get_setup, lepton_jets_settings
from hepda.simulate.tables import EVENT_NUMBER_STRIDE, OBJECT_COLUMNS, SampleStats
from hepda.simulate.truth import TruthEvents

TINY = SimulationConfig(n_events=30, seed=7, chunk_size=100)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private cache for this module (set in the environment)."""
    path = tmp_path_factory.mktemp("hepda-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEPDA_CACHE_DIR", str(path))
        yield path


@pytest.fixture(scope="module")
def samples(cache_dir: Path) -> dict[str, tuple[pa.Table, SampleStats]]:
    """The three samples of TINY, generated once in this process."""
    return generate_samples(TINY, workers=1, progress=False)


# --------------------------------------------------------------------------
# configuration and setups


def test_config_reports_every_problem_at_once() -> None:
    with pytest.raises(
        ConfigError, match=r"n_events.*level.*'s1x'.*did you mean 's1'.*light"
    ):
        SimulationConfig(
            n_events=0,
            level="atom",  # type: ignore[arg-type]
            setups=("s2", "s1x"),
            efficiencies=BTagEfficiencies(light=0.0),
        )
    with pytest.raises(ConfigError, match="two different setups"):
        SimulationConfig(setups=("s1", "s1"))


def test_unknown_setup_suggests_the_nearest() -> None:
    with pytest.raises(ConfigError, match=r"'monsh'.*did you mean 'monash'"):
        get_setup("monsh")


def test_the_two_background_setups_differ_in_the_shower() -> None:
    s1, s2 = SETUPS["s1"].settings, SETUPS["s2"].settings
    assert "SpaceShower:pTmaxMatch = 1" in s1
    assert "SpaceShower:pTmaxMatch = 2" in s2
    assert "SpaceShower:alphaSvalue = 0.140" in s2
    assert "TimeShower:alphaSvalue = 0.140" in s2
    assert SETUPS["s1"].generator != SETUPS["s2"].generator


@pytest.mark.parametrize(
    ("charge", "lepton_side"), [(1, "onPosIfAny"), (-1, "onNegIfAny")]
)
def test_lepton_plus_jets_forcing_for_both_charges(
    charge: int, lepton_side: str
) -> None:
    lines = lepton_jets_settings(charge)  # type: ignore[arg-type]
    assert lines[0] == "24:onMode = off"
    assert f"24:{lepton_side} = 11 13" in lines
    assert any(line.endswith("= 1 2 3 4 5") for line in lines)


def test_chunk_seeds_depend_on_seed_sample_and_chunk() -> None:
    seeds = {
        derive_seed(s, n, i)
        for s in (1, 2)
        for n in ("ttH", "ttbar_s1")
        for i in range(50)
    }
    assert len(seeds) == 200
    assert all(1 <= s <= 900_000_000 for s in seeds)


@pytest.mark.parametrize(
    "module",
    ["btag", "config", "detector", "truth", "benchmark"],
)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(f"hepda.simulate.{module}"))
    assert result.failed == 0
    assert result.attempted > 0


# --------------------------------------------------------------------------
# b-tagging: TRF against enumeration and against the cut


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.floats(0.0, 1.0), min_size=6, max_size=6), min_size=1, max_size=4
    ),
    st.integers(0, 4),
)
def test_prob_at_least_equals_the_sum_over_tag_patterns(
    eps_rows: list[list[float]], k: int
) -> None:
    eps = np.array(eps_rows)
    expected = [
        sum(
            np.prod(np.where(t, row, 1 - row))
            for t in itertools.product([0, 1], repeat=len(row))
            if sum(t) >= k
        )
        for row in eps
    ]
    np.testing.assert_allclose(prob_at_least(eps, k), expected, rtol=1e-12, atol=1e-15)


def _pattern_codes(tags: np.ndarray) -> np.ndarray:
    return (tags * (1 << np.arange(tags.shape[1]))).sum(axis=1)


def test_trf_draws_tag_patterns_with_the_conditional_probabilities() -> None:
    row = np.array([0.7, 0.7, 1 / 9, 1 / 300, 0.7, 1 / 9])
    eps = np.tile(row, (200_000, 1))
    weight, tags = trf_tags(eps, 3, np.random.default_rng(3))
    assert tags.sum(axis=1).min() >= 3
    p3 = sum(
        np.prod(np.where(t, row, 1 - row))
        for t in itertools.product([0, 1], repeat=6)
        if sum(t) >= 3
    )
    np.testing.assert_allclose(weight, p3, rtol=1e-12)

    # Observed pattern counts against P(t) / P(>= 3).
    patterns = [t for t in itertools.product([0, 1], repeat=6) if sum(t) >= 3]
    expected = np.array([np.prod(np.where(t, row, 1 - row)) / p3 for t in patterns])
    codes = _pattern_codes(np.array(patterns, dtype=bool))
    observed = np.array([(_pattern_codes(tags) == c).sum() for c in codes])
    big = expected * len(eps) > 5
    obs = np.append(observed[big], observed[~big].sum())
    exp = np.append(expected[big], expected[~big].sum()) * len(eps)
    assert stats.chisquare(obs, exp).pvalue > 1e-3


def _chi2_pvalue(counts: np.ndarray, sumw: np.ndarray, sumw2: np.ndarray) -> float:
    """Compatibility of an unweighted and a weighted histogram of the same mean."""
    used = (counts + sumw2) > 0
    chi2 = float((((counts - sumw) ** 2)[used] / (counts + sumw2)[used]).sum())
    return float(stats.chi2.sf(chi2, used.sum()))


def _trf_vs_cut(
    flavours: list[list[int]], pts: list[list[float]], replicas: int, conditional: bool
) -> dict[str, float]:
    """p-values of TRF against the cut on the same jets, repeated ``replicas`` times.

    With ``conditional=False`` the TRF tags are drawn like the cut's (not
    given >= 3 tags): a wrong implementation the comparison must reject.
    """
    width = max(len(f) for f in flavours)
    flav = np.full((len(flavours), width), -1)
    pt = np.zeros((len(flavours), width))
    for i, (f, p) in enumerate(zip(flavours, pts, strict=True)):
        flav[i, : len(f)], pt[i, : len(p)] = f, p
    eps = np.tile(tag_probabilities(flav, BTagEfficiencies()), (replicas, 1))
    njet = np.tile((flav >= 0).sum(axis=1), replicas)
    lead = np.tile(pt[:, 0], replicas)

    cut = cut_tags(eps, np.random.default_rng(1))
    keep = cut.sum(axis=1) >= 3
    weight, trf = trf_tags(eps, 3, np.random.default_rng(2))
    if not conditional:
        trf = cut_tags(eps, np.random.default_rng(2))

    def pvalue(
        cut_values: np.ndarray, trf_values: np.ndarray, bins: np.ndarray
    ) -> float:
        c, _ = np.histogram(cut_values[keep], bins)
        w, _ = np.histogram(trf_values, bins, weights=weight)
        w2, _ = np.histogram(trf_values, bins, weights=weight**2)
        return _chi2_pvalue(c, w, w2)

    return {
        "ntags": pvalue(cut.sum(axis=1), trf.sum(axis=1), np.arange(13) - 0.5),
        "pattern": pvalue(
            _pattern_codes(cut[:, :5]), _pattern_codes(trf[:, :5]), np.arange(33) - 0.5
        ),
        "njets": pvalue(njet, njet, np.arange(5, 16) - 0.5),
        "lead_pt": pvalue(
            lead, lead, np.array([25, 60, 90, 120, 160, 220, 300, 5000.0])
        ),
    }


@pytest.mark.slow
def test_trf_and_cut_give_the_same_distributions_on_pythia_jets(
    samples: dict[str, tuple[pa.Table, SampleStats]],
) -> None:
    table = pa.concat_tables([samples[n][0] for n in ("ttbar_s1", "ttbar_s2")])
    flavours = table.column("jet_flavour").to_pylist()
    pts = table.column("jet_pt").to_pylist()
    pvalues = _trf_vs_cut(flavours, pts, replicas=1500, conditional=True)
    assert min(pvalues.values()) > 1e-3, pvalues
    # The comparison has power: unconditional tags are rejected.
    control = _trf_vs_cut(flavours, pts, replicas=1500, conditional=False)
    assert control["ntags"] < 1e-6 and control["pattern"] < 1e-6, control


# --------------------------------------------------------------------------
# detector emulation and selection


def _truth(
    jets: list[list[tuple[float, float, float, int]]],
    leptons: list[list[tuple[float, float, int]]],
) -> TruthEvents:
    """TruthEvents from (pt, eta, phi, flavour) jets and (pt, eta, pid) leptons."""
    jet_rows = [j for ev in jets for j in ev]
    lep_rows = [lep for ev in leptons for lep in ev]
    return TruthEvents(
        n_events=len(jets),
        jet_count=np.array([len(ev) for ev in jets]),
        jet_pt=np.array([j[0] for j in jet_rows]),
        jet_eta=np.array([j[1] for j in jet_rows]),
        jet_phi=np.array([j[2] for j in jet_rows]),
        jet_m=np.full(len(jet_rows), 10.0),
        jet_flavour=np.array([j[3] for j in jet_rows], dtype=np.int8),
        lep_count=np.array([len(ev) for ev in leptons]),
        lep_pt=np.array([lep[0] for lep in lep_rows]),
        lep_eta=np.array([lep[1] for lep in lep_rows]),
        lep_phi=np.full(len(lep_rows), 0.3),
        lep_pid=np.array([lep[2] for lep in lep_rows], dtype=np.int32),
    )


FIVE_B_JETS = [(100.0, -1.0 + 0.5 * i, 1.2 * i, 5) for i in range(5)]


def test_jet_response_has_the_configured_resolution() -> None:
    n = 8000
    truth = _truth([FIVE_B_JETS] * n, [[(50.0, 0.0, 13)]] * n)
    reco = reconstruct(
        truth, DetectorConfig(), BTagEfficiencies(), "trf", np.random.default_rng(5)
    )
    ratio = reco.jet_pt / 100.0
    sigma = jet_resolution(np.array([100.0]), DetectorConfig())[0]
    assert abs(ratio.mean() - 1.0) < 3 * sigma / np.sqrt(ratio.size)
    assert abs(ratio.std() / sigma - 1.0) < 0.03
    np.testing.assert_allclose(reco.jet_m / 10.0, ratio)  # the four-vector is scaled


def test_met_is_minus_the_sum_of_the_visible_objects() -> None:
    truth = _truth([FIVE_B_JETS] * 50, [[(50.0, 0.0, 11)]] * 50)
    reco = reconstruct(
        truth, DetectorConfig(), BTagEfficiencies(), "trf", np.random.default_rng(6)
    )
    count = reco.jet_count
    event = np.repeat(np.arange(len(count)), count)
    mpx = -np.bincount(
        event, reco.jet_pt * np.cos(reco.jet_phi)
    ) - reco.lep_pt * np.cos(reco.lep_phi)
    mpy = -np.bincount(
        event, reco.jet_pt * np.sin(reco.jet_phi)
    ) - reco.lep_pt * np.sin(reco.lep_phi)
    np.testing.assert_allclose(reco.met, np.hypot(mpx, mpy), rtol=1e-10)
    np.testing.assert_allclose(reco.met_phi, np.arctan2(mpy, mpx), rtol=1e-10)


@pytest.mark.parametrize(("pid", "efficiency"), [(11, 0.90), (13, 0.95)])
def test_lepton_efficiency(pid: int, efficiency: float) -> None:
    n = 20_000
    truth = _truth([FIVE_B_JETS] * n, [[(80.0, 0.5, pid)]] * n)
    reco = reconstruct(
        truth, DetectorConfig(), BTagEfficiencies(), "trf", np.random.default_rng(7)
    )
    found = len(reco.jet_count) / n
    assert abs(found - efficiency) < 4 * np.sqrt(efficiency * (1 - efficiency) / n)


def test_selection_needs_one_lepton_and_five_central_jets() -> None:
    forward = [(100.0, 3.0, 0.0, 5)]
    truth = _truth(
        [FIVE_B_JETS, FIVE_B_JETS, FIVE_B_JETS[:4] + forward, FIVE_B_JETS, FIVE_B_JETS],
        [
            [(60.0, 0.0, 13)],
            [(60.0, 0.0, 13), (40.0, 1.0, 11)],  # two leptons
            [(60.0, 0.0, 13)],  # one jet outside |eta| < 2.5
            [(20.0, 0.0, 13)],  # lepton below 27 GeV
            [(60.0, 2.7, 13)],  # lepton outside |eta| < 2.5
        ],
    )
    det = dataclasses.replace(
        DetectorConfig(), muon_efficiency=1.0, electron_efficiency=1.0
    )
    reco = reconstruct(truth, det, BTagEfficiencies(), "trf", np.random.default_rng(0))
    assert reco.gen_index.tolist() == [0]
    assert reco.jet_count.tolist() == [5]
    assert np.all(np.diff(reco.jet_pt) <= 0)


def test_cut_mode_keeps_a_subset_of_the_trf_events() -> None:
    truth = _truth(
        [FIVE_B_JETS[:2] + [(60.0, 0.1, 2.0, 0)] * 3] * 3000, [[(50.0, 0.0, 13)]] * 3000
    )
    args = (truth, DetectorConfig(), BTagEfficiencies())
    trf = reconstruct(*args, "trf", np.random.default_rng(9))
    cut = reconstruct(*args, "cut", np.random.default_rng(9))
    assert set(cut.gen_index) <= set(trf.gen_index)
    assert (cut.jet_btag.reshape(-1, 5).sum(axis=1) >= 3).all()
    # Same smearing draws in both modes: kinematics of common events agree.
    common = np.isin(trf.gen_index, cut.gen_index)
    np.testing.assert_array_equal(
        trf.jet_pt.reshape(-1, 5)[common], cut.jet_pt.reshape(-1, 5)
    )
    # Expected kept fraction: sum of TRF weights.
    p = trf.btag_weight.mean()
    assert abs(len(cut.gen_index) / len(trf.gen_index) - p) < 4 * np.sqrt(
        p * (1 - p) / 3000
    )


# --------------------------------------------------------------------------
# Pythia: jets, leptons, forced decays


def _pythia(
    sample: str = "ttbar_s1", index: int = 0, config: SimulationConfig = TINY
) -> object:
    from hepda.simulate.generate import ChunkSpec, make_pythia

    spec = next(s for s in config.samples() if s.name == sample)
    return make_pythia(ChunkSpec(spec, index))


def test_jets_agree_with_pythia_slowjet() -> None:
    """fastjet's multi-event anti-kT against Pythia's own (fjcore) SlowJet."""
    import awkward as ak
    import pythia8mc

    from hepda.simulate.truth import _cluster

    pythia = _pythia()
    slow = pythia8mc.SlowJet(-1, 0.4, 20.0, 25.0, 2, 2, None, True)
    batches, reference = [], []
    for _ in range(15):
        batches.append(pythia.nextBatch(1))
        slow.analyze(pythia.event)  # the event of the last batch
        reference.append(sorted(slow.pT(j) for j in range(slow.sizeJet())))
    prt = ak.concatenate([b.prt for b in batches])
    event = np.repeat(np.arange(len(prt)), ak.to_numpy(ak.num(prt)))
    pid = np.abs(ak.to_numpy(ak.flatten(prt.id)))
    p = {
        c: ak.to_numpy(ak.flatten(prt.p[c])).astype(float)
        for c in ("px", "py", "pz", "e")
    }
    visible = (ak.to_numpy(ak.flatten(prt.status)) > 0) & ~np.isin(pid, (12, 14, 16))
    jets = _cluster(
        ak, len(prt), event, p["px"], p["py"], p["pz"], p["e"], pid,
        np.flatnonzero(visible), np.zeros(0, dtype=np.int64),
    )  # fmt: skip
    start = np.cumsum(jets["jet_count"]) - jets["jet_count"]
    for i, ref in enumerate(reference):
        ours = jets["jet_pt"][start[i] : start[i] + jets["jet_count"][i]]
        np.testing.assert_allclose(sorted(ours[ours > 20.0]), ref, rtol=1e-9)


def test_truth_objects_find_the_w_lepton_and_label_b_jets() -> None:
    import awkward as ak

    from hepda.simulate.truth import truth_objects

    for index, sign in ((0, -1), (1, 1)):  # chunk 0: W+ -> l+ (pid < 0)
        batch = _pythia(index=index).nextBatch(150)
        truth = truth_objects(batch, "parton")
        assert (truth.lep_count == 1).mean() > 0.75  # pT > 10 GeV and isolated
        assert np.all(np.sign(truth.lep_pid) == sign)
        assert set(np.abs(truth.lep_pid)) <= {11, 13}

        # Ghost flavour against a dR < 0.4 match to b quarks (pT > 5 GeV).
        prt = batch.prt
        b = prt[(abs(prt.id) == 5) & (prt.status > 0)]
        bpt = np.hypot(b.p.px, b.p.py)
        b_eta = ak.to_list(np.arcsinh(b.p.pz / bpt)[bpt > 5])
        b_phi = ak.to_list(np.arctan2(b.p.py, b.p.px)[bpt > 5])
        start = np.cumsum(truth.jet_count) - truth.jet_count
        agree = total = 0
        for e in range(truth.n_events):
            sl = slice(start[e], start[e] + truth.jet_count[e])
            jets = zip(
                truth.jet_eta[sl],
                truth.jet_phi[sl],
                truth.jet_flavour[sl],
                truth.jet_pt[sl],
                strict=True,
            )
            for eta, phi, flav, pt in jets:
                if pt < 25:
                    continue
                dphi = (np.array(b_phi[e]) - phi + np.pi) % (2 * np.pi) - np.pi
                near = np.any(np.hypot(np.array(b_eta[e]) - eta, dphi) < 0.4)
                agree += near == (flav == 5)
                total += 1
        assert agree / total > 0.95


@pytest.mark.slow
def test_cross_section_carries_the_forced_branching_fraction() -> None:
    """sigma(lepton+jets, one charge) / sigma(all tt) = BR(W->e,mu) BR(W->qq)."""
    forced = _pythia()
    forced.nextBatch(300)
    inclusive = _pythia()
    inclusive.readString("24:onMode = on")
    inclusive.init()
    inclusive.nextBatch(300)
    info_f, info_i = forced.infoPython(), inclusive.infoPython()
    ratio = info_f.sigmaGen() / info_i.sigmaGen()
    error = ratio * np.hypot(
        info_f.sigmaErr() / info_f.sigmaGen(), info_i.sigmaErr() / info_i.sigmaGen()
    )
    w = inclusive.particleData.particleDataEntryPtr(24)
    br_lep = sum(
        w.channel(i).bRatio()
        for i in range(w.sizeChannels())
        if abs(w.channel(i).product(0)) in (11, 13)
    )
    br_had = sum(
        w.channel(i).bRatio()
        for i in range(w.sizeChannels())
        if abs(w.channel(i).product(0)) <= 5
    )
    expected = (
        br_lep
        * br_had
        / sum(w.channel(i).bRatio() for i in range(w.sizeChannels())) ** 2
    )
    assert abs(ratio - expected) < 4 * error + 0.01 * expected
    assert 0.13 < expected < 0.16


# --------------------------------------------------------------------------
# samples and object tables


def test_object_tables_follow_the_data_contract(
    samples: dict[str, tuple[pa.Table, SampleStats]],
) -> None:
    f32 = pa.float32()
    expected_types = {
        "jet_pt": pa.list_(f32), "jet_eta": pa.list_(f32), "jet_phi": pa.list_(f32),
        "jet_m": pa.list_(f32), "jet_btag": pa.list_(pa.bool_()),
        "jet_flavour": pa.list_(pa.int8()), "lep_pt": f32, "lep_eta": f32,
        "lep_phi": f32, "lep_m": f32, "met": f32, "met_phi": f32,
        "label": pa.int8(), "process": pa.string(), "generator": pa.string(),
        "weight": pa.float64(), "event_number": pa.int64(),
    }  # fmt: skip
    for sample_id, (name, (table, _)) in enumerate(samples.items()):
        assert tuple(table.column_names) == OBJECT_COLUMNS
        assert {f.name: f.type for f in table.schema} == expected_types
        rows = table.to_pylist()
        assert len(rows) == (60 if name == "ttH" else 30)
        for row in rows:
            pts = row["jet_pt"]
            assert len(pts) >= 5 and pts == sorted(pts, reverse=True)
            assert min(pts) > 25 and max(abs(x) for x in row["jet_eta"]) < 2.5
            assert sum(row["jet_btag"]) >= 3  # TRF draws a pattern with >= 3 tags
            assert row["lep_pt"] > 27 and abs(row["lep_eta"]) < 2.5
            assert row["weight"] > 0
        numbers = table.column("event_number").to_numpy()
        np.testing.assert_array_equal(
            numbers, sample_id * EVENT_NUMBER_STRIDE + np.arange(len(rows))
        )
        assert set(table.column("label").to_pylist()) == {int(name == "ttH")}
        assert set(table.column("process").to_pylist()) == {
            "ttH" if name == "ttH" else "ttbar"
        }


def test_weights_sum_to_the_selected_cross_section(
    samples: dict[str, tuple[pa.Table, SampleStats]],
) -> None:
    for name, (table, sample_stats) in samples.items():
        weights = table.column("weight").to_numpy()
        np.testing.assert_allclose(weights.sum(), sample_stats.selected_fb, rtol=1e-12)
        sigma = sample_stats.sigma_fb
        # LO Pythia, lepton+jets: tt ~150 pb, ttH(bb) ~60 fb.
        assert (1e5 < sigma < 2.5e5) if name != "ttH" else (30 < sigma < 120)
        assert weights.sum() < sigma


def _one_sample(config: SimulationConfig, name: str = "ttbar_s1") -> SampleSpec:
    return next(s for s in config.samples() if s.name == name)


@pytest.mark.slow
def test_two_workers_give_the_same_sample_and_another_seed_does_not(
    samples: dict[str, tuple[pa.Table, SampleStats]],
) -> None:
    from hepda.simulate.runner import run_samples
    from hepda.simulate.tables import assemble

    spec = _one_sample(TINY)
    chunks = run_samples([spec], workers=2, progress=False)[spec.name]
    assert len(chunks) >= 2  # the sample really spans several chunks
    assert assemble(spec, chunks)[0].equals(samples[spec.name][0])

    other = _one_sample(dataclasses.replace(TINY, seed=8))
    table = assemble(other, run_samples([other], progress=False)[other.name])[0]
    assert not table.column("jet_pt").equals(samples[spec.name][0].column("jet_pt"))


@pytest.mark.slow
def test_a_dask_cluster_gives_the_same_sample(
    samples: dict[str, tuple[pa.Table, SampleStats]],
) -> None:
    distributed = pytest.importorskip("distributed")
    from hepda.simulate.runner import run_samples
    from hepda.simulate.tables import assemble

    spec = _one_sample(TINY, "ttbar_s2")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        chunks = run_samples(
            [spec], scheduler=cluster.scheduler_address, progress=False
        )
    assert assemble(spec, chunks[spec.name])[0].equals(samples[spec.name][0])


@pytest.mark.slow
def test_hadron_level_chunk() -> None:
    from hepda.simulate.generate import ChunkSpec, run_chunk

    config = dataclasses.replace(TINY, level="hadron", chunk_size=40)
    result = run_chunk(ChunkSpec(_one_sample(config, "ttH"), 0))
    assert result.n_generated == 40
    assert 5 <= len(result.events.jet_count) <= 40
    assert (result.events.jet_flavour == 5).mean() > 0.3  # H -> bb and t -> Wb


# --------------------------------------------------------------------------
# cache


def test_cache_root_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from hepda.simulate import cache_root

    monkeypatch.setenv("HEPDA_CACHE_DIR", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_root() == tmp_path / "a"
    monkeypatch.delenv("HEPDA_CACHE_DIR")
    assert cache_root() == tmp_path / "x" / "hepda"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "hepda"


def test_cache_key_covers_settings_and_versions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hepda.simulate import cache

    base = cache.sample_entry(_one_sample(TINY))
    assert (
        cache.sample_entry(
            _one_sample(SimulationConfig(n_events=30, seed=7, chunk_size=100))
        )
        == base
    )
    for changed in (
        dataclasses.replace(TINY, efficiencies=BTagEfficiencies(light=0.01)),
        dataclasses.replace(TINY, detector=DetectorConfig(jer_constant=0.06)),
        dataclasses.replace(TINY, btag="cut"),
        dataclasses.replace(TINY, seed=8),
    ):
        assert cache.sample_entry(_one_sample(changed)) != base
    # The other background's setup does not change this sample.
    assert (
        cache.sample_entry(_one_sample(dataclasses.replace(TINY, setups=("s1", "a14"))))
        == base
    )
    monkeypatch.setattr(cache, "versions", lambda: {"pythia8mc": "8.318.0"})
    assert cache.sample_entry(_one_sample(TINY)) != base


def test_second_call_reads_the_cache(
    samples: dict[str, tuple[pa.Table, SampleStats]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hepda.simulate import benchmark

    def no_generation(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(benchmark, "run_samples", no_generation)
    again = generate_samples(TINY, workers=1, progress=False)
    for name, (table, _) in samples.items():
        assert again[name][0].equals(table)
    with pytest.raises(AssertionError, match="cache was not used"):
        generate_samples(TINY, progress=False, cache=False)


def test_a_failed_cache_write_leaves_nothing(
    samples: dict[str, tuple[pa.Table, SampleStats]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from hepda.simulate import cache

    monkeypatch.setenv("HEPDA_CACHE_DIR", str(tmp_path))
    spec = _one_sample(TINY)
    table, sample_stats = samples[spec.name]

    def half_written(table: pa.Table, path: Path, **kwargs: object) -> None:
        Path(path).write_bytes(b"PAR1")
        raise OSError("disk full")

    monkeypatch.setattr(cache.pq, "write_table", half_written)
    with pytest.raises(OSError, match="disk full"):
        cache.store_sample(spec, table, sample_stats)
    assert list((tmp_path / "samples").iterdir()) == []
    assert cache.load_sample(spec) is None


# --------------------------------------------------------------------------
# benchmark and command line


def test_weighted_ks_matches_scipy_for_unit_weights() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=300), rng.normal(0.2, 1.0, size=400)
    expected = stats.ks_2samp(a, b).statistic
    assert weighted_ks(a, np.ones(300), b, np.ones(400)) == pytest.approx(
        expected, abs=1e-12
    )


@pytest.mark.slow
def test_cli_writes_the_benchmark(
    samples: dict[str, tuple[pa.Table, SampleStats]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hepda.cli import main

    out = tmp_path / "bench"
    args = [
        "simulate",
        "--out",
        str(out),
        "--events",
        "30",
        "--seed",
        "7",
        "--chunk-size",
        "100",
        "--workers",
        "1",
        "--no-progress",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "nJets_Pt40" in result.output

    # S1 / S2: disjoint halves of the signal, one background each.
    import pyarrow.parquet as pq

    s1, s2 = pq.read_table(out / "s1.parquet"), pq.read_table(out / "s2.parquet")
    assert s1.column_names == [
        *TTH41,
        *[c for c in s1.column_names if c in RESERVED_COLUMNS],
    ]
    for table, half, setup in ((s1, range(30), "s1"), (s2, range(30, 60), "s2")):
        numbers = table.column("event_number").to_numpy()
        assert len(set(numbers)) == len(numbers) == 60
        signal = table.filter(pa.compute.equal(table.column("label"), 1))
        assert signal.column("event_number").to_pylist() == list(half)
        background = table.filter(pa.compute.equal(table.column("label"), 0))
        assert set(background.column("generator").to_pylist()) == {
            SETUPS[setup].generator
        }
        ttH = samples["ttH"][0].column("weight").to_numpy()[list(half)]
        np.testing.assert_allclose(signal.column("weight").to_numpy(), 2 * ttH)
    features = pq.read_table(out / "features" / "ttbar_s2.parquet")
    np.testing.assert_array_equal(
        features.column("nJets").to_numpy(),
        [len(j) for j in samples["ttbar_s2"][0].column("jet_pt").to_pylist()],
    )
    summary = json.loads((out / "simulate.json").read_text())
    assert summary["samples"]["ttH"]["n_selected"] == 60
    assert set(summary["generator_difference"]["ks"]) == {"nJets_Pt40", "HT_jets"}
    plots = importlib.util.find_spec("hepda.plots") is not None
    assert (out / "input_variables.pdf").is_file() == plots

    # A second run needs --overwrite.
    again = CliRunner().invoke(main, [*args, "--no-plot"])
    assert again.exit_code == 2
    assert "pass --overwrite" in again.output
    again = CliRunner().invoke(main, [*args, "--no-plot", "--overwrite"])
    assert again.exit_code == 0, again.output

    # A failed --overwrite leaves the earlier output as it was, and no debris:
    # an unreachable scheduler, found before anything is written ...
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    s1_bytes = (out / "s1.parquet").read_bytes()
    bad = CliRunner().invoke(
        main, [*args, "--overwrite", "--scheduler", "tcp://127.0.0.1:1"]
    )
    assert bad.exit_code == 2 and "cannot reach the Dask scheduler" in bad.output
    # ... and a failure while the tables are written
    from hepda.errors import DataError
    from hepda.simulate import benchmark

    def fail(*a: object, **k: object) -> None:
        raise DataError("disk full (simulated)")

    monkeypatch.setattr(benchmark, "_write_benchmark", fail)
    bad = CliRunner().invoke(main, [*args, "--no-plot", "--overwrite"])
    assert bad.exit_code == 2 and "disk full" in bad.output
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert (out / "s1.parquet").read_bytes() == s1_bytes
    assert [p.name for p in tmp_path.iterdir()] == ["bench"]


@pytest.mark.slow
def test_root_output_reads_back_with_uproot(
    samples: dict[str, tuple[pa.Table, SampleStats]], tmp_path: Path
) -> None:
    uproot = pytest.importorskip("uproot")
    paths = build_benchmark(tmp_path, TINY, fmt="root", progress=False, plot=False)
    assert paths.s1.suffix == ".root" and paths.objects["ttH"].suffix == ".root"
    with uproot.open(paths.objects["ttbar_s1"]) as f:
        tree = f["events"]
        branches = tree.keys()
        assert "njet" in branches
        jet_pt = tree["jet_pt"].array(library="np")
        njet = tree["njet"].array(library="np")
    expected = samples["ttbar_s1"][0].column("jet_pt").to_pylist()
    assert njet.tolist() == [len(j) for j in expected]
    for ours, ref in zip(jet_pt, expected, strict=True):
        np.testing.assert_allclose(ours, ref, rtol=1e-7)


def test_cache_only_benchmark_is_reused(
    samples: dict[str, tuple[pa.Table, SampleStats]],
    monkeypatch: pytest.MonkeyPatch,
    cache_dir: Path,
) -> None:
    from hepda.simulate import benchmark

    first = build_benchmark(None, TINY, progress=False, plot=False)
    assert first.root.parent == cache_dir / "benchmarks"
    assert first.s1.is_file() and first.s2.is_file() and first.variables_plot is None

    def no_generation(*args: object, **kwargs: object) -> None:
        raise AssertionError("the benchmark was rebuilt")

    monkeypatch.setattr(benchmark, "generate_samples", no_generation)
    assert build_benchmark(None, TINY, progress=False, plot=False) == first
    with pytest.raises(ConfigError, match="needs cache=True"):
        build_benchmark(None, TINY, cache=False)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--setups", "s1"], "two names"),
        (["--setups", "s1,wimpy"], "unknown generator setup 'wimpy'"),
        (["--btag-eff", "0.7,x,1"], "three numbers"),
        (["--btag-eff", "0.7,1/9,0"], "light jets must be in"),
        (["--scheduler", "notanaddress"], "cannot reach the Dask scheduler"),
    ],
)
def test_cli_reports_bad_options(
    option: list[str], message: str, tmp_path: Path
) -> None:
    from hepda.cli import main

    result = CliRunner().invoke(
        main, ["simulate", "--out", str(tmp_path / "o"), *option]
    )
    assert result.exit_code == 2
    assert message in result.output

"""Metrics against independent references: scikit-learn, SciPy, hand values."""

from __future__ import annotations

import doctest
import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial import distance
from sklearn import metrics as skm

import hepda.metrics
from hepda.errors import ConfigError, DataError
from hepda.metrics import (
    PaperYields,
    accuracy,
    asimov_significance,
    js_distance,
    ks_2samp_weighted,
    overtraining_ks,
    paper_significance,
    paper_yields,
    proxy_a_distance,
    response_distances,
    roc_auc,
    roc_curve,
    selected_fraction,
    simple_significance,
    smooth,
)


def _sample(seed: int, n: int = 300, levels: int = 0):
    """Labels, scores (rounded to ``levels`` values to make ties) and weights."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    score = rng.normal(label * 0.7, 1.0)
    if levels:
        score = np.round(score * levels) / levels
    weight = rng.uniform(0.1, 3.0, n)
    return label, score, weight


def _pairwise_auc(label, score, weight) -> float:
    """Weighted Mann-Whitney count over every (signal, background) pair."""
    sig, bkg = label == 1, label == 0
    ss, sb = score[sig][:, None], score[bkg][None, :]
    pair_w = weight[sig][:, None] * weight[bkg][None, :]
    credit = (ss > sb) + 0.5 * (ss == sb)
    return float((pair_w * credit).sum() / (weight[sig].sum() * weight[bkg].sum()))


def test_doctests_pass() -> None:
    result = doctest.testmod(hepda.metrics)
    assert result.failed == 0
    assert result.attempted >= 20


# ------------------------------------------------------------------- ROC, AUC


@pytest.mark.parametrize(("seed", "levels"), [(0, 0), (1, 3), (2, 10)])
def test_roc_curve_matches_sklearn(seed: int, levels: int) -> None:
    label, score, weight = _sample(seed, levels=levels)
    weight[::17] = 0.0  # zero weights are dropped, as scikit-learn does
    fpr, tpr, thr = roc_curve(label, score, weight)
    ref_fpr, ref_tpr, ref_thr = skm.roc_curve(
        label, score, sample_weight=weight, drop_intermediate=False
    )
    np.testing.assert_allclose(fpr, ref_fpr, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tpr, ref_tpr, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(thr, ref_thr)
    assert thr[0] == np.inf
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(thr) < 0)


def test_roc_curve_unweighted_matches_sklearn() -> None:
    label, score, _ = _sample(3, levels=4)
    for ours, ref in zip(
        roc_curve(label, score),
        skm.roc_curve(label, score, drop_intermediate=False),
        strict=True,
    ):
        np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("seed", "levels"), [(0, 0), (4, 2), (5, 8)])
def test_roc_auc_matches_sklearn_and_pairwise_count(seed: int, levels: int) -> None:
    label, score, weight = _sample(seed, levels=levels)
    auc = roc_auc(label, score, weight)
    assert auc == pytest.approx(
        skm.roc_auc_score(label, score, sample_weight=weight), abs=1e-12
    )
    assert auc == pytest.approx(_pairwise_auc(label, score, weight), abs=1e-12)


def test_roc_auc_negative_weights_is_signed_pairwise_count() -> None:
    label, score, weight = _sample(6, n=200, levels=5)
    weight[::7] *= -0.5  # NLO-style events
    assert roc_auc(label, score, weight) == pytest.approx(
        _pairwise_auc(label, score, weight), abs=1e-12
    )


def test_roc_auc_hand_values() -> None:
    assert roc_auc([0, 1], [0.2, 0.9]) == 1.0
    assert roc_auc([0, 1], [0.9, 0.2]) == 0.0
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    # signal 0.6 beats background 0.3 (weight 3) but not 0.8 (weight 1)
    assert roc_auc([1, 0, 0], [0.6, 0.3, 0.8], [1.0, 3.0, 1.0]) == 0.75


labelled_scores = st.integers(min_value=2, max_value=30).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
        st.lists(st.integers(-40, 40), min_size=n, max_size=n),
        st.lists(st.floats(0.01, 10.0), min_size=n, max_size=n),
    )
)


def _arrays(case):
    label, score, weight = (np.asarray(v) for v in case)
    label[0], label[1] = 0, 1  # both classes present
    return label, score.astype(float), weight


@settings(max_examples=60, deadline=None)
@given(labelled_scores)
def test_auc_properties(case) -> None:
    label, score, weight = _arrays(case)
    auc = roc_auc(label, score, weight)
    assert 0.0 <= auc <= 1.0
    assert roc_auc(label, -score, weight) == pytest.approx(1.0 - auc, abs=1e-12)
    # strictly increasing transforms keep every order and every tie
    assert roc_auc(label, score**3 + 5.0, weight) == pytest.approx(auc, abs=1e-12)
    assert roc_auc(label, np.tanh(score / 50.0), weight) == pytest.approx(
        auc, abs=1e-12
    )
    assert roc_auc(label, score, 7.3 * weight) == pytest.approx(auc, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(labelled_scores)
def test_roc_curve_weight_scale_invariant(case) -> None:
    label, score, weight = _arrays(case)
    for ours, scaled in zip(
        roc_curve(label, score, weight),
        roc_curve(label, score, 0.01 * weight),
        strict=True,
    ):
        np.testing.assert_allclose(ours, scaled, rtol=1e-12, atol=1e-12)


# ------------------------------------------------- accuracy and selection


def test_accuracy_by_hand() -> None:
    label = [1, 1, 0, 0, 1]
    score = [0.9, 0.3, 0.2, 0.7, 0.5]  # right: 0.9, 0.2; wrong: 0.3, 0.7, 0.5
    assert accuracy(label, score) == pytest.approx(2 / 5)
    assert accuracy(label, score, [1, 1, 4, 1, 1]) == pytest.approx(5 / 8)
    assert accuracy(label, score, threshold=0.25) == pytest.approx(4 / 5)
    assert accuracy(label, score, [2, 1, 1, -1, 1]) == pytest.approx(3 / 4)


def test_accuracy_matches_sklearn() -> None:
    label, score, weight = _sample(7)
    ref = skm.accuracy_score(label, score > 0.5, sample_weight=weight)
    assert accuracy(label, score, weight) == pytest.approx(ref, abs=1e-12)


def test_selected_fraction() -> None:
    score = [0.1, 0.6, 0.61, 0.9]  # 0.6 itself is not above the cut
    assert selected_fraction(score) == 0.5
    assert selected_fraction(score, [1, 1, 2, 0]) == 0.5
    assert selected_fraction(score, cut=0.0) == 1.0


# ------------------------------------------------------------- significance


def test_paper_yields_tiny_sample() -> None:
    # signal: weight 3 of 4 above 0.6; bkg1: 1 of 5; bkg2: 2 of 4 (0.6 fails)
    yields = paper_yields(
        [0.7, 0.9, 0.2], [1.0, 2.0, 1.0],
        [0.8, 0.1], [1.0, 4.0],
        [0.6, 0.95, 0.61, 0.3], None,
    )  # fmt: skip
    assert yields.s == pytest.approx(5e4 * 0.75 * 0.05)
    assert yields.b1 == pytest.approx(5e4 * 0.2 * 0.95)
    assert yields.b2 == pytest.approx(5e4 * 0.5 * 0.95)
    assert yields.sigma_b == pytest.approx(5e4 * 0.3 * 0.95)

    other = paper_yields(
        [0.7], None, [0.1, 0.9], None, [0.9], None,
        cut=0.5, n_events=1000.0, signal_fraction=0.5,
    )  # fmt: skip
    assert other == PaperYields(s=500.0, b1=250.0, b2=500.0)


def test_paper_significance_hand_value() -> None:
    assert paper_significance(10.0, 100.0, 20.0) == pytest.approx(
        10 / math.sqrt(500), rel=1e-12
    )
    assert round(paper_significance(10.0, 100.0, 20.0), 3) == 0.447
    assert paper_significance(0.0, 100.0, 20.0) == 0.0
    assert paper_significance(5.0, 0.0, 0.0) == 0.0


def test_asimov_hand_values() -> None:
    assert round(asimov_significance(10.0, 100.0, 20.0), 3) == 0.434
    no_sigma = math.sqrt(2 * (110 * math.log(1.1) - 10))
    assert asimov_significance(10.0, 100.0) == pytest.approx(no_sigma, rel=1e-12)
    assert asimov_significance(0.0, 100.0, 5.0) == 0.0
    assert asimov_significance(-3.0, 100.0) == 0.0
    assert asimov_significance(3.0, 0.0) == 0.0
    assert asimov_significance(3.0, -1.0, 2.0) == 0.0


@pytest.mark.parametrize("sigma_b", [1e-3, 1e-6, 1e-12, 1e-200])
def test_asimov_small_sigma_limit(sigma_b: float) -> None:
    s, b = 7.0, 40.0
    no_sigma = math.sqrt(2 * ((s + b) * math.log(1 + s / b) - s))
    assert asimov_significance(s, b, sigma_b) == pytest.approx(no_sigma, rel=1e-4)
    assert asimov_significance(s, b, sigma_b) <= no_sigma + 1e-12


def test_asimov_tends_to_simple_formulas() -> None:
    # s << b: Z -> s / sqrt(b) without, s / sqrt(b + sigma^2) with uncertainty
    assert asimov_significance(10.0, 1e6) == pytest.approx(
        simple_significance(10.0, 1e6), rel=1e-4
    )
    assert asimov_significance(10.0, 1e6, 300.0) == pytest.approx(
        paper_significance(10.0, 1e6, 300.0), rel=1e-4
    )
    assert simple_significance(10.0, 100.0) == 1.0


def test_asimov_falls_with_uncertainty() -> None:
    z = [asimov_significance(20.0, 50.0, sig) for sig in (0.0, 1.0, 5.0, 20.0)]
    assert all(a > b for a, b in itertools.pairwise(z))


def test_significance_rejects_bad_input() -> None:
    with pytest.raises(DataError, match="sigma_b must be >= 0"):
        asimov_significance(1.0, 10.0, -1.0)
    with pytest.raises(DataError, match="s must be a finite number"):
        paper_significance(float("nan"), 10.0, 1.0)
    with pytest.raises(DataError, match="b must be a finite number"):
        simple_significance(1.0, float("inf"))


# ---------------------------------------------------------- KS and JS


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ks_matches_scipy_unweighted(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = np.round(rng.normal(0, 1, 400), 1)  # ties within and across samples
    b = np.round(rng.normal(0.2, 1.1, 250), 1)
    d, p = ks_2samp_weighted(a, b)
    ref = stats.ks_2samp(a, b, method="asymp")
    # D is a running sum of 1/n steps here: equal to scipy up to rounding
    assert d == pytest.approx(ref.statistic, abs=1e-12)
    assert p == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-15)


def test_ks_integer_weights_equal_repeated_events() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 60), rng.normal(0.5, 1, 40)
    wa, wb = rng.integers(1, 4, 60), rng.integers(1, 4, 40)
    d, _ = ks_2samp_weighted(a, b, wa, wb)
    ref = stats.ks_2samp(np.repeat(a, wa), np.repeat(b, wb))
    assert d == pytest.approx(ref.statistic, abs=1e-12)


def test_ks_weights_use_kish_effective_size() -> None:
    a = np.linspace(0, 1, 50)
    b = a + 0.1
    # one event of weight 10 among 49 of weight 1: n_eff = 59^2 / 149 < 50
    wa = np.r_[10.0, np.ones(49)]
    d_w, p_w = ks_2samp_weighted(a, b, wa, None)
    n_a = 59.0**2 / 149.0
    ref = stats.kstwo.sf(d_w, round(n_a * 50 / (n_a + 50)))
    assert p_w == pytest.approx(ref, rel=1e-12)
    # constant weights change nothing
    assert ks_2samp_weighted(a, b, np.full(50, 2.5), np.full(50, 0.1)) == (
        pytest.approx(ks_2samp_weighted(a, b))
    )


def test_ks_negative_weights() -> None:
    a = np.array([0.1, 0.2, 0.3, 0.4])
    d, p = ks_2samp_weighted(a, a, [1.0, -0.5, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0])
    # F_a at 0.1 is 1/2.5 = 0.4 against 0.25; at 0.2 it is 0.2 against 0.5
    assert d == pytest.approx(0.3)
    assert 0.0 <= p <= 1.0
    with pytest.raises(DataError, match=r"total weight of sample a is -1\.0"):
        ks_2samp_weighted(a, a, [-1.0, -1.0, 0.5, 0.5])


def test_js_identical_and_disjoint() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, 500)
    assert js_distance(x, x) == 0.0
    assert js_distance(x, x, np.full(500, 3.0), None) == pytest.approx(0.0, abs=1e-7)
    assert js_distance(x * 0.4, 0.6 + x * 0.4) == pytest.approx(1.0)


def test_js_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.beta(2, 5, 800), rng.beta(2.5, 4, 600)
    wa, wb = rng.uniform(0.5, 2, 800), rng.uniform(0.5, 2, 600)
    p, _ = np.histogram(a, 40, (0, 1), weights=wa)
    q, _ = np.histogram(b, 40, (0, 1), weights=wb)
    ref = distance.jensenshannon(p, q, base=2)
    assert js_distance(a, b, wa, wb) == pytest.approx(ref, rel=1e-9)
    p5, _ = np.histogram(a, 5, (0.1, 0.9))
    q5, _ = np.histogram(b, 5, (0.1, 0.9))
    assert js_distance(a, b, bins=5, range=(0.1, 0.9)) == pytest.approx(
        distance.jensenshannon(p5, q5, base=2), rel=1e-9
    )


def test_js_negative_bins_are_zeroed() -> None:
    # the second bin of a is -1 + 0.5 < 0: treated as empty, so a is all in bin 0
    d = js_distance([0.2, 0.7, 0.8], [0.2, 0.3], [1.0, -1.0, 0.5], None, bins=2)
    assert d == 0.0
    with pytest.raises(DataError, match="no positive content"):
        js_distance([2.0, 3.0], [0.5])


def test_response_distances() -> None:
    rng = np.random.default_rng(2)
    b1, b2 = rng.beta(2, 5, 300), rng.beta(3, 4, 200)
    w1 = rng.uniform(0.5, 1.5, 300)
    out = response_distances(b1, w1, b2, None, bins=20)
    d, p = ks_2samp_weighted(b1, b2, w1, None)
    assert out == {
        "bias_ks": d,
        "bias_ks_pvalue": p,
        "bias_js": js_distance(b1, b2, w1, None, bins=20),
    }
    same = response_distances(b1, None, b1, None)
    assert same == {"bias_ks": 0.0, "bias_ks_pvalue": 1.0, "bias_js": 0.0}


def test_overtraining_ks() -> None:
    rng = np.random.default_rng(4)
    train, val = rng.normal(0, 1, 300), rng.normal(0, 1, 200)
    assert overtraining_ks(train, None, val, None) == pytest.approx(
        stats.ks_2samp(train, val, method="asymp").pvalue
    )
    assert overtraining_ks(train + 1.0, None, val, None) < 1e-6


# ------------------------------------------------------------- A-distance


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("one_thread")
def test_proxy_a_distance_same_and_separated() -> None:
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(0, 1, (3000, 8)), rng.normal(0, 1, (3000, 8))
    assert proxy_a_distance(x1, x2) < 0.15
    assert proxy_a_distance(x1, x2 + np.r_[8.0, np.zeros(7)]) > 1.98


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("shift", [0.5, 1.5])
def test_proxy_a_distance_near_bayes_limit(shift: float) -> None:
    # unit Gaussians shifted by delta in one feature: the best classifier errs
    # with probability Phi(-delta / 2), so d_H = 2 (1 - 2 Phi(-delta / 2))
    rng = np.random.default_rng(1)
    x1, x2 = rng.normal(0, 1, (3000, 4)), rng.normal(0, 1, (3000, 4))
    bayes = 2 * (1 - 2 * stats.norm.cdf(-shift / 2))
    d = proxy_a_distance(x1, x2 + np.r_[shift, 0.0, 0.0, 0.0])
    assert d == pytest.approx(bayes, abs=0.08)


@pytest.mark.usefixtures("one_thread")
def test_proxy_a_distance_deterministic_and_weighted() -> None:
    rng = np.random.default_rng(1)
    x1 = rng.normal(0, 1, (1500, 3))
    x2 = rng.normal(0, 1, (2500, 3)) + np.r_[1.0, 0.0, 0.0]
    state = torch.get_rng_state()
    first = proxy_a_distance(x1, x2, seed=5, max_events=1000)
    assert torch.equal(state, torch.get_rng_state())  # global RNG untouched
    assert torch.get_num_threads() == 1
    assert proxy_a_distance(x1, x2, seed=5, max_events=1000) == first
    # weighting the target events back onto the source distribution hides the shift
    w2 = stats.norm.pdf(x2[:, 0]) / stats.norm.pdf(x2[:, 0], loc=1.0)
    assert proxy_a_distance(x1, x2, None, w2) < 0.5 * proxy_a_distance(x1, x2)
    # unequal domain sizes and 1-D input work
    assert 0.0 <= proxy_a_distance(x1[:, 0], x2[:50, 0]) <= 2.0


def test_proxy_a_distance_rejects_bad_input() -> None:
    x = np.zeros((10, 3))
    with pytest.raises(DataError, match="x_source has 3 features but x_target has 2"):
        proxy_a_distance(x, np.zeros((10, 2)))
    with pytest.raises(DataError, match="at least 2 events"):
        proxy_a_distance(x, np.zeros((1, 3)))
    with pytest.raises(ConfigError, match="max_events must be an integer >= 2"):
        proxy_a_distance(x, x, max_events=1)
    with pytest.raises(DataError, match="w_target has shape"):
        proxy_a_distance(x, x, None, np.ones(4))
    with pytest.raises(DataError, match="source test half"):
        proxy_a_distance(x, x, -np.ones(10), None)


# ------------------------------------------------------------------ smooth


def test_smooth_trailing_window() -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(size=25)
    out = smooth(v)
    ref = [v[max(0, i - 9) : i + 1].mean() for i in range(25)]
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    np.testing.assert_array_equal(smooth(v, window=1), v)
    assert smooth([], window=3).shape == (0,)
    with_nan = smooth([1.0, np.nan, 3.0, 5.0, 7.0], window=2)
    np.testing.assert_array_equal(with_nan, [1.0, np.nan, np.nan, 4.0, 6.0])
    with pytest.raises(ConfigError, match="window must be an integer >= 1"):
        smooth(v, window=0)


# ------------------------------------------------------------ input checks


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: roc_auc([0, 1, 1], [0.1, 0.2]), r"score has shape \(2,\)"),
        (lambda: roc_auc([], []), "label is empty"),
        (lambda: roc_auc([0, 2], [0.1, 0.2]), "label must be 0 .* got 2.0"),
        (lambda: roc_auc([1, 1], [0.1, 0.2]), "background events .* is 0.0"),
        (lambda: roc_curve([0, 1], [0.1, 0.2], [0, 0]), "every weight is zero"),
        (lambda: roc_auc([0, 1], [0.1, np.nan]), "score has 1 non-finite"),
        (lambda: roc_auc([0, 1], [[0.1, 0.2]]), "must be a 1-D array"),
        (lambda: roc_auc([0, 1], ["a", "b"]), "score must be numeric"),
        (lambda: accuracy([0, 1], [0.1, 0.2], [1.0]), "weight has shape"),
        (lambda: accuracy([0, 1], [0.1, 0.2], [1, -1]), "all events is 0.0"),
        (lambda: selected_fraction([0.1], cut=np.nan), "cut must be a finite"),
        (
            lambda: paper_yields([0.7], [-1.0], [0.1], None, [0.1], None),
            "signal events is -1.0",
        ),
        (lambda: js_distance([0.1], [0.2], bins=0), "bins must be an integer"),
        (lambda: js_distance([0.1], [0.2], range=(1, 0)), "range must be"),
        (
            lambda: paper_yields([0.7], None, [0.1], None, [0.1], None, n_events=0),
            "n_events must be positive",
        ),
        (
            lambda: paper_yields(
                [0.7], None, [0.1], None, [0.1], None, signal_fraction=5
            ),
            r"signal_fraction must lie in \[0, 1\]",
        ),
    ],
)
def test_bad_input_is_reported(call, match: str) -> None:
    with pytest.raises((DataError, ConfigError), match=match):
        call()


def test_response_distances_without_pvalue_keep_the_distances() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.random(300), rng.random(200) ** 1.3
    wa, wb = rng.uniform(0.5, 1.5, 300), rng.uniform(0.5, 1.5, 200)
    full = hepda.metrics.response_distances(a, wa, b, wb)
    quick = hepda.metrics.response_distances(a, wa, b, wb, pvalue=False)
    assert "bias_ks_pvalue" not in quick
    assert quick["bias_ks"] == full["bias_ks"]
    assert quick["bias_js"] == full["bias_js"]

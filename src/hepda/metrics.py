"""What the study measures: separation, significance and generator bias.

Small NumPy functions over per-event scores, labels and weights; PyTorch is
used only by :func:`proxy_a_distance`, which trains a domain classifier.

Every function takes event weights. Negative weights (NLO-style samples)
are accepted: sums are signed, and a quantity that needs a positive total
(a fraction, an efficiency, a normalised histogram) raises
:class:`~hepda.errors.DataError` when the signed total is not positive, so
no square root or logarithm is ever taken of a negative weight sum.

The paper is ``shared/seed/paper.txt`` (equation numbers below refer to it).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hepda.errors import ConfigError, DataError

__all__ = [
    "PaperYields",
    "accuracy",
    "asimov_significance",
    "js_distance",
    "ks_2samp_weighted",
    "overtraining_ks",
    "paper_significance",
    "paper_yields",
    "proxy_a_distance",
    "response_distances",
    "roc_auc",
    "roc_curve",
    "selected_fraction",
    "simple_significance",
    "smooth",
]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]

# proxy A-distance classifier: one hidden layer, full-batch Adam
_PAD_HIDDEN = 32
_PAD_STEPS = 200
_PAD_LR = 0.01


# ---------------------------------------------------------------- validation


def _as_1d(name: str, values: ArrayLike) -> FloatArray:
    """``values`` as a non-empty, finite, 1-D float64 array."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        msg = (
            f"{name} must be numeric, got {type(values).__name__} ({err}); "
            "pass an array of numbers"
        )
        raise DataError(msg) from err
    if arr.ndim != 1:
        msg = (
            f"{name} must be a 1-D array with one entry per event, got shape "
            f"{arr.shape!r}; flatten it or select one column"
        )
        raise DataError(msg)
    if arr.size == 0:
        msg = (
            f"{name} is empty; at least one event is needed (check the selection or "
            "the split that produced it)"
        )
        raise DataError(msg)
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        msg = (
            f"{name} has {bad.size} non-finite values (first at index {bad[0]}: "
            f"{float(arr[bad[0]])!r}); remove or fix those events"
        )
        raise DataError(msg)
    return arr


def _weights(name: str, weight: ArrayLike | None, n: int) -> FloatArray:
    """Event weights, ones when ``weight`` is None, checked against ``n`` events."""
    if weight is None:
        return np.ones(n)
    w = _as_1d(name, weight)
    if w.shape != (n,):
        msg = (
            f"{name} has shape {w.shape!r} but there are {n} events; pass one weight "
            "per event"
        )
        raise DataError(msg)
    return w


def _labels(label: ArrayLike) -> FloatArray:
    """Labels as floats, each exactly 0 (background) or 1 (signal)."""
    y = _as_1d("label", label)
    wrong = np.flatnonzero((y != 0) & (y != 1))
    if wrong.size:
        msg = (
            f"label must be 0 (background) or 1 (signal), got {float(y[wrong[0]])!r} "
            f"at index {wrong[0]}; recode the label column"
        )
        raise DataError(msg)
    return y


def _scored(
    label: ArrayLike, score: ArrayLike, weight: ArrayLike | None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Checked labels, scores and weights of equal length."""
    y = _labels(label)
    s = _as_1d("score", score)
    if s.shape != y.shape:
        msg = (
            f"score has shape {s.shape!r} but label has shape {y.shape!r}; pass one "
            "score per labelled event"
        )
        raise DataError(msg)
    return y, s, _weights("weight", weight, y.size)


def _positive_total(name: str, total: float) -> float:
    """``total`` if it is positive, else a DataError naming ``name``."""
    if not total > 0:
        msg = (
            f"the total weight of {name} is {total!r}, but it must be positive; "
            "negative weights are allowed, a non-positive sum is not (add events or "
            "check the weights)"
        )
        raise DataError(msg)
    return total


def _finite_number(name: str, value: float) -> float:
    """``value`` as a float, which must be finite."""
    x = float(value)
    if not math.isfinite(x):
        msg = f"{name} must be a finite number, got {value!r}"
        raise DataError(msg)
    return x


def _int_option(name: str, value: int, minimum: int) -> int:
    """An integer option (bins, window, max_events) of at least ``minimum``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or value < minimum
    ):
        msg = f"{name} must be an integer >= {minimum}, got {value!r}"
        raise ConfigError(msg)
    return int(value)


# ------------------------------------------------------- ROC, AUC, accuracy


def roc_curve(
    label: ArrayLike, score: ArrayLike, weight: ArrayLike | None = None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Weighted ROC curve: false and true positive rates for every cut.

    An event is selected when ``score >= threshold``. For each distinct score
    t (decreasing), ``fpr(t) = sum(w, bkg, score >= t) / sum(w, bkg)`` and
    ``tpr(t) = sum(w, sig, score >= t) / sum(w, sig)``. The curve starts at
    (0, 0) with threshold ``+inf``; events of equal score form one point;
    events of zero weight are dropped first, so their scores are not
    thresholds. These are the conventions of scikit-learn's ``roc_curve``
    with ``drop_intermediate=False``. With negative weights the rates are
    signed and need not be monotone.

    Raises DataError if a class has no positive total weight.

    >>> fpr, tpr, thr = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> fpr.tolist(), tpr.tolist(), thr.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0], [inf, 0.8, 0.4, 0.35, 0.1])
    """
    y, s, w = _scored(label, score, weight)
    keep = w != 0
    if not keep.any():
        msg = "every weight is zero; the ROC curve needs events of non-zero weight"
        raise DataError(msg)
    y, s, w = y[keep], s[keep], w[keep]

    # descending score; the last event of each run of equal scores is a cut,
    # so the order within a run does not matter and an unstable sort will do
    order = np.argsort(s)[::-1]
    y, s, w = y[order], s[order], w[order]
    cuts = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]

    tps = np.cumsum(y * w)[cuts]
    fps = np.cumsum((1.0 - y) * w)[cuts]
    _positive_total("signal events (label 1)", float(tps[-1]))
    _positive_total("background events (label 0)", float(fps[-1]))

    fpr = np.r_[0.0, fps / fps[-1]]
    tpr = np.r_[0.0, tps / tps[-1]]
    thresholds = np.r_[np.inf, s[cuts]]
    return fpr, tpr, thresholds


def roc_auc(
    label: ArrayLike, score: ArrayLike, weight: ArrayLike | None = None
) -> float:
    """Area under the weighted ROC curve (trapezoid rule over :func:`roc_curve`).

    Equivalently the weighted Mann-Whitney statistic
    ``AUC = sum_ij w_i w_j ([s_i > s_j] + [s_i = s_j] / 2) / (W_sig W_bkg)``
    over signal events i and background events j, the probability that a
    signal event scores above a background one (ties count one half). It
    equals scikit-learn's ``roc_auc_score`` with ``sample_weight``; with
    negative weights it is the signed version of the same sum.

    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], weight=[1, 3, 1, 1])
    0.625
    """
    fpr, tpr, _ = roc_curve(label, score, weight)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2.0)


def accuracy(
    label: ArrayLike,
    score: ArrayLike,
    weight: ArrayLike | None = None,
    threshold: float = 0.5,
) -> float:
    """Weighted fraction of events classified right at ``threshold``.

    ``accuracy = sum_i w_i [(s_i > threshold) = y_i] / sum_i w_i``, the
    accuracy column of the paper's Table 1 (threshold 0.5 on the sigmoid
    output). Raises DataError if the total weight is not positive.

    >>> accuracy([0, 0, 1, 1], [0.1, 0.6, 0.7, 0.5])
    0.5
    >>> accuracy([0, 0, 1, 1], [0.1, 0.6, 0.7, 0.5], weight=[2, 1, 1, 0])
    0.75
    """
    y, s, w = _scored(label, score, weight)
    cut = _finite_number("threshold", threshold)
    total = _positive_total("all events", float(w.sum()))
    right = (s > cut) == (y == 1)
    return float(w[right].sum() / total)


def selected_fraction(
    score: ArrayLike, weight: ArrayLike | None = None, cut: float = 0.6
) -> float:
    """Weighted fraction of events with ``score > cut`` (a selection efficiency).

    ``eff = sum_i w_i [s_i > cut] / sum_i w_i``; the ratios s_cut/s_all and
    b_cut/b_all of the paper's Eqs. 17-18 at its 0.6 cut. Raises DataError
    if the total weight is not positive.

    >>> selected_fraction([0.2, 0.7, 0.9, 0.6])
    0.5
    >>> selected_fraction([0.2, 0.7, 0.9, 0.6], weight=[1.0, -0.5, 1.0, 0.5])
    0.25
    """
    s = _as_1d("score", score)
    w = _weights("weight", weight, s.size)
    threshold = _finite_number("cut", cut)
    total = _positive_total("all events", float(w.sum()))
    return float(w[s > threshold].sum() / total)


# ------------------------------------------------------------- significance


@dataclass(frozen=True)
class PaperYields:
    """Expected signal and background counts after the cut (Eqs. 17-18).

    ``s`` is the signal of source 2, ``b1`` and ``b2`` the backgrounds
    predicted by the generators of sources 1 and 2.
    """

    s: float
    b1: float
    b2: float

    @property
    def sigma_b(self) -> float:
        """Generator uncertainty on the background, ``|b2 - b1|`` (Eq. 19).

        >>> PaperYields(s=10.0, b1=80.0, b2=100.0).sigma_b
        20.0
        """
        return abs(self.b2 - self.b1)


def paper_yields(
    score_sig: ArrayLike,
    w_sig: ArrayLike | None,
    score_bkg1: ArrayLike,
    w_bkg1: ArrayLike | None,
    score_bkg2: ArrayLike,
    w_bkg2: ArrayLike | None,
    *,
    cut: float = 0.6,
    n_events: float = 5e4,
    signal_fraction: float = 0.05,
) -> PaperYields:
    """Signal and background yields after ``score > cut`` (paper Eqs. 17-18).

    ``s = N * (s_cut / s_all) * f_s`` with the signal of source 2 (pass it as
    ``score_sig``) and ``b_i = N * (b_cut,i / b_all,i) * (1 - f_s)`` for the
    backgrounds of sources i = 1, 2; counts are weighted sums, N =
    ``n_events`` (5e4 in the paper) and f_s = ``signal_fraction`` (5 %).
    A weight of None means unit weights.

    >>> y = paper_yields([0.9, 0.7, 0.2, 0.1], None,
    ...                  [0.8, 0.3, 0.2, 0.1], None,
    ...                  [0.9, 0.65, 0.1, 0.5], None)
    >>> y.s, y.b1, y.b2, y.sigma_b
    (1250.0, 11875.0, 23750.0, 11875.0)
    """
    threshold = _finite_number("cut", cut)
    n = _finite_number("n_events", n_events)
    f_s = _finite_number("signal_fraction", signal_fraction)
    if n <= 0:
        msg = f"n_events must be positive, got {n_events!r}"
        raise ConfigError(msg)
    if not 0.0 <= f_s <= 1.0:
        msg = (
            f"signal_fraction must lie in [0, 1], got {signal_fraction!r}; the paper "
            "uses 0.05"
        )
        raise ConfigError(msg)

    def efficiency(name: str, score: ArrayLike, weight: ArrayLike | None) -> float:
        s = _as_1d(f"{name} scores", score)
        w = _weights(f"{name} weights", weight, s.size)
        total = _positive_total(f"{name} events", float(w.sum()))
        return float(w[s > threshold].sum() / total)

    eff_s = efficiency("signal", score_sig, w_sig)
    eff_b1 = efficiency("source-1 background", score_bkg1, w_bkg1)
    eff_b2 = efficiency("source-2 background", score_bkg2, w_bkg2)
    return PaperYields(
        s=n * eff_s * f_s, b1=n * eff_b1 * (1 - f_s), b2=n * eff_b2 * (1 - f_s)
    )


def _counts(s: float, b: float) -> tuple[float, float]:
    return _finite_number("s", s), _finite_number("b", b)


def paper_significance(s: float, b: float, sigma_b: float) -> float:
    """The paper's significance ``Z_A = s / sqrt(b + sigma_b**2)`` (Eq. 16).

    ``b`` is the source-2 background b2 and ``sigma_b = |b2 - b1|`` (Eq. 19);
    :class:`PaperYields` gives all three. Returns 0.0 when ``s <= 0`` or
    ``b <= 0``: with no background passing the cut the simulated sample is
    too small to estimate one, and 0 keeps per-epoch curves finite.

    >>> round(paper_significance(10.0, 100.0, 20.0), 3)
    0.447
    """
    s, b = _counts(s, b)
    sig = _finite_number("sigma_b", sigma_b)
    if s <= 0 or b <= 0:
        logger.debug("paper significance set to 0 for s=%r, b=%r", s, b)
        return 0.0
    return s / math.sqrt(b + sig * sig)


def asimov_significance(s: float, b: float, sigma_b: float = 0.0) -> float:
    """Median discovery significance with a background uncertainty (Asimov).

    Cowan, Cranmer, Gross, Vitells, Eur. Phys. J. C 71 (2011) 1554,
    arXiv:1007.1727 for sigma_b = 0, with the background-uncertainty form of
    G. Cowan, "Discovery sensitivity for a counting experiment with
    background uncertainty" (2012), the formula RooStats::AsimovSignificance
    evaluates:

        Z^2 = 2 [ (s + b) ln((s + b)(b + v) / (b^2 + (s + b) v))
                  - (b^2 / v) ln(1 + v s / (b (b + v))) ],   v = sigma_b^2,

    which for ``sigma_b = 0`` becomes ``Z = sqrt(2((s + b) ln(1 + s/b) - s))``
    and for ``s << b`` tends to ``s / sqrt(b + sigma_b^2)``. It is evaluated
    in a form that stays exact as ``sigma_b`` goes to 0. Returns 0.0 when
    ``s <= 0``, and also when ``b <= 0`` (no background estimate: the formula
    is undefined there, and 0 keeps per-epoch curves finite). Raises
    DataError for a negative ``sigma_b``.

    >>> round(asimov_significance(10.0, 100.0, 20.0), 3)
    0.434
    >>> round(asimov_significance(10.0, 100.0), 3)
    0.984
    """
    s, b = _counts(s, b)
    sig = _finite_number("sigma_b", sigma_b)
    if sig < 0:
        msg = f"sigma_b must be >= 0, got {sigma_b!r}; pass the absolute uncertainty"
        raise DataError(msg)
    if s <= 0 or b <= 0:
        logger.debug("Asimov significance set to 0 for s=%r, b=%r", s, b)
        return 0.0

    v = sig * sig
    # first term: (s+b)(b+v)/(b^2+(s+b)v) = 1 + s b / (b^2 + (s+b) v)
    first = (s + b) * math.log1p(s * b / (b * b + (s + b) * v))
    # second term: (b^2/v) ln(1+x) = (b s / (b+v)) * ln(1+x)/x, finite at v -> 0
    x = v * s / (b * (b + v))
    ratio = math.log1p(x) / x if x > 0 else 1.0
    second = b * s / (b + v) * ratio
    return math.sqrt(max(2.0 * (first - second), 0.0))


def simple_significance(s: float, b: float) -> float:
    """The simple estimate ``Z = s / sqrt(b)``, valid for ``s << b``.

    Returns 0.0 when ``s <= 0`` or ``b <= 0``, as :func:`asimov_significance`.

    >>> simple_significance(10.0, 100.0)
    1.0
    """
    s, b = _counts(s, b)
    if s <= 0 or b <= 0:
        return 0.0
    return s / math.sqrt(b)


# ------------------------------------------------------ distribution distances


def ks_2samp_weighted(
    a: ArrayLike,
    b: ArrayLike,
    wa: ArrayLike | None = None,
    wb: ArrayLike | None = None,
) -> tuple[float, float]:
    """Weighted two-sample Kolmogorov-Smirnov distance and p-value.

    ``D = max_x |F_a(x) - F_b(x)|`` over all event values x, where
    ``F(x) = sum_i w_i [x_i <= x] / sum_i w_i`` is the weighted empirical CDF.
    The p-value is the two-sided Kolmogorov distribution at D for
    ``n = round(n_a n_b / (n_a + n_b))``, with n_a and n_b the Kish effective
    sizes ``(sum w)^2 / sum w^2`` (Smirnov's asymptotic treatment, as
    ``scipy.stats.ks_2samp(method="asymp")``, which it equals for unit
    weights). Negative weights lower the effective sizes (so raise the
    p-value) and can make F non-monotone, so D may then exceed 1. Raises
    DataError if a sample's total weight is not positive.

    >>> d, p = ks_2samp_weighted([0.1, 0.2, 0.3, 0.4], [0.35, 0.5, 0.6, 0.7])
    >>> d, round(p, 4)
    (0.75, 0.125)
    """
    from scipy import stats

    xa = _as_1d("a", a)
    xb = _as_1d("b", b)
    va = _weights("wa", wa, xa.size)
    vb = _weights("wb", wb, xb.size)
    d = _ks_distance(xa, xb, va, vb)

    n_a = float(va.sum()) ** 2 / float(np.sum(va * va))
    n_b = float(vb.sum()) ** 2 / float(np.sum(vb * vb))
    n_eff = max(1.0, float(np.round(n_a * n_b / (n_a + n_b))))
    p = float(np.clip(stats.kstwo.sf(d, n_eff), 0.0, 1.0))
    return d, p


def _ks_distance(
    xa: FloatArray, xb: FloatArray, va: FloatArray, vb: FloatArray
) -> float:
    """The weighted KS distance D of :func:`ks_2samp_weighted`, without the p-value.

    One sort of the pooled sample: walking up the sorted values, the running
    sum of w_a / W_a (events of a) and -w_b / W_b (events of b) is
    F_a - F_b; it is read at the last event of each run of equal values, so
    ties count as one step, as in the definition.
    """
    total_a = _positive_total("sample a", float(va.sum()))
    total_b = _positive_total("sample b", float(vb.sum()))
    pooled = np.concatenate([xa, xb])
    step = np.concatenate([va / total_a, -vb / total_b])
    order = np.argsort(pooled)  # within a run of ties only the last sum is read
    values = pooled[order]
    diff = np.cumsum(step[order])
    last_of_value = np.r_[values[1:] != values[:-1], True]
    return float(np.max(np.abs(diff[last_of_value])))


def js_distance(
    a: ArrayLike,
    b: ArrayLike,
    wa: ArrayLike | None = None,
    wb: ArrayLike | None = None,
    *,
    bins: int = 40,
    range: tuple[float, float] = (0.0, 1.0),  # numpy's name for it
) -> float:
    """Jensen-Shannon distance between two weighted, normalised histograms.

    With P and Q the histograms (``bins`` equal bins over ``range``, 40 on
    [0, 1] as the paper's response plots, Figs. 6-8) and M = (P + Q) / 2:
    ``JSD = KL(P || M) / 2 + KL(Q || M) / 2`` in bits, and the distance is
    ``sqrt(JSD)``, 0 for equal shapes and 1 for disjoint ones (Lin, IEEE
    Trans. Inf. Theory 37 (1991) 145; Endres and Schindelin, IEEE Trans.
    Inf. Theory 49 (2003) 1858 for the metric). Events outside ``range`` are
    ignored; bins with a negative weighted content (possible with negative
    weights) are set to zero before normalising. Raises DataError if a
    histogram has no positive content.

    >>> round(js_distance([0.1, 0.1, 0.6], [0.1, 0.6, 0.6], bins=2), 4)
    0.2858
    """
    xa = _as_1d("a", a)
    xb = _as_1d("b", b)
    va = _weights("wa", wa, xa.size)
    vb = _weights("wb", wb, xb.size)
    n_bins = _int_option("bins", bins, 1)
    lo, hi = (float(r) for r in range)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        msg = (
            "range must be two finite numbers (low, high) with low < high, "
            f"got {range!r}"
        )
        raise ConfigError(msg)

    hist_a, _ = np.histogram(xa, bins=n_bins, range=(lo, hi), weights=va)
    hist_b, _ = np.histogram(xb, bins=n_bins, range=(lo, hi), weights=vb)
    return _js_of_histograms(hist_a, hist_b, range)


def _js_of_histograms(
    hist_a: FloatArray, hist_b: FloatArray, range: tuple[float, float]
) -> float:
    """:func:`js_distance` from the two weighted histograms (same binning)."""

    def density(h: FloatArray, name: str) -> FloatArray:
        h = np.clip(h, 0.0, None)
        total = float(h.sum())
        if not total > 0:
            msg = (
                f"the histogram of {name} has no positive content in range {range!r}; "
                "check that its values lie in the range and its weights sum to a "
                "positive number"
            )
            raise DataError(msg)
        normed: FloatArray = h / total
        return normed

    p = density(hist_a, "sample a")
    q = density(hist_b, "sample b")
    m = (p + q) / 2.0

    def kl_to_m(r: FloatArray) -> float:
        nz = r > 0
        return float(np.sum(r[nz] * np.log2(r[nz] / m[nz])))

    jsd = (kl_to_m(p) + kl_to_m(q)) / 2.0
    return math.sqrt(min(max(jsd, 0.0), 1.0))


def _as_2d(name: str, values: ArrayLike) -> FloatArray:
    """Events by features; a 1-D array is one feature."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        msg = (
            f"{name} must be a numeric array (events, features), got "
            f"{type(values).__name__} ({err})"
        )
        raise DataError(msg) from err
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        msg = f"{name} must have shape (events, features), got {arr.shape!r}"
        raise DataError(msg)
    if arr.shape[0] < 2 or arr.shape[1] == 0:
        msg = (
            f"{name} has shape {arr.shape!r}; at least 2 events (one to train on, one "
            "to test) and 1 feature are needed"
        )
        raise DataError(msg)
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
    if bad.size:
        msg = (
            f"{name} has {bad.size} events with non-finite features (first at row "
            f"{bad[0]}); remove or fix them"
        )
        raise DataError(msg)
    return arr


def _halves(
    rng: np.random.Generator, x: FloatArray, w: FloatArray, max_events: int
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Subsample to ``max_events`` and split at random into train and test halves."""
    order = rng.permutation(x.shape[0])[:max_events]
    half = order.size // 2
    train, test = order[:half], order[half:]
    return x[train], w[train], x[test], w[test]


def proxy_a_distance(
    x_source: ArrayLike,
    x_target: ArrayLike,
    w_source: ArrayLike | None = None,
    w_target: ArrayLike | None = None,
    *,
    seed: int = 0,
    max_events: int = 20000,
) -> float:
    """Proxy A-distance: the empirical H-divergence of two samples.

    Statement 1 of the paper (Ben-David et al., Machine Learning 79 (2010)
    151; NIPS 19 (2007) 137): ``d_H(S, T) = 2 (1 - 2 err)`` where ``err`` is
    the error of the best domain classifier h in H. Here H is a small MLP
    (one hidden layer of 32 ReLU units, full-batch Adam, 200 steps) trained
    to tell target from source on a random half of the events; ``err`` is
    its weighted error on the other half, with the two domains given equal
    total weight, so that 0.5 means indistinguishable. The result is clipped
    to [0, 2]: 0 for samples a classifier cannot separate, 2 for samples it
    separates perfectly.

    At most ``max_events`` events per domain are used (a seeded random
    subset); features are standardised with the training half. Training uses
    absolute weights (a negative weight would reward misclassification);
    the error uses the signed weights, and each domain's test half needs a
    positive total. The result is a deterministic function of ``seed``; the
    fit runs on one thread, leaves the global torch RNG untouched, and takes
    about a second for 20000 x 41 events per domain.

    >>> rng = np.random.default_rng(1)
    >>> far = proxy_a_distance(rng.normal(0, 1, (500, 2)), rng.normal(6, 1, (500, 2)))
    >>> far
    2.0
    """
    n_max = _int_option("max_events", max_events, 2)
    xs = _as_2d("x_source", x_source)
    xt = _as_2d("x_target", x_target)
    if xs.shape[1] != xt.shape[1]:
        msg = (
            f"x_source has {xs.shape[1]} features but x_target has {xt.shape[1]}; pass "
            "the same columns for both domains"
        )
        raise DataError(msg)
    ws = _weights("w_source", w_source, xs.shape[0])
    wt = _weights("w_target", w_target, xt.shape[0])

    # the same halves for a given seed, whatever the torch state
    rng = np.random.default_rng(seed)
    xs_fit, ws_fit, xs_test, ws_test = _halves(rng, xs, ws, n_max)
    xt_fit, wt_fit, xt_test, wt_test = _halves(rng, xt, wt, n_max)
    _positive_total("the source test half", float(ws_test.sum()))
    _positive_total("the target test half", float(wt_test.sum()))

    # balanced training weights: each domain carries half of the total
    def balanced(w: FloatArray, name: str) -> FloatArray:
        a = np.abs(w)
        return a / _positive_total(name, float(a.sum())) / 2.0

    x_fit = np.concatenate([xs_fit, xt_fit])
    y_fit = np.r_[np.zeros(len(xs_fit)), np.ones(len(xt_fit))]
    w_fit = np.r_[
        balanced(ws_fit, "the source training half"),
        balanced(wt_fit, "the target training half"),
    ]
    mean = x_fit.mean(axis=0)
    std = x_fit.std(axis=0)
    std[std == 0] = 1.0

    pred_s, pred_t = _fit_domain_classifier(
        (x_fit - mean) / std,
        y_fit,
        w_fit,
        [(xs_test - mean) / std, (xt_test - mean) / std],
        seed,
    )

    err_s = float(ws_test[pred_s].sum() / ws_test.sum())  # source called target
    err_t = float(wt_test[~pred_t].sum() / wt_test.sum())  # target called source
    err = (err_s + err_t) / 2.0
    d = min(max(2.0 * (1.0 - 2.0 * err), 0.0), 2.0)
    logger.debug("proxy A-distance %.4f (held-out error %.4f)", d, err)
    return d


def _fit_domain_classifier(
    x: FloatArray,
    y: FloatArray,
    w: FloatArray,
    evaluate: list[FloatArray],
    seed: int,
) -> list[NDArray[np.bool_]]:
    """Train the MLP on (x, y, w); return "is target" for each array in ``evaluate``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = torch.nn.Sequential(
                torch.nn.Linear(x.shape[1], _PAD_HIDDEN),
                torch.nn.ReLU(),
                torch.nn.Linear(_PAD_HIDDEN, 1),
            )
        xt = torch.as_tensor(x, dtype=torch.float32)
        yt = torch.as_tensor(y, dtype=torch.float32)
        wt = torch.as_tensor(w, dtype=torch.float32)
        params = list(net.parameters())

        # Adam (Kingma and Ba, arXiv:1412.6980) written out: constructing a
        # torch.optim optimizer costs seconds of one-off imports
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        m1 = [torch.zeros_like(p) for p in params]
        m2 = [torch.zeros_like(p) for p in params]
        for step in range(1, _PAD_STEPS + 1):
            logits = net(xt).squeeze(1)
            loss = (
                torch.nn.functional.binary_cross_entropy_with_logits(
                    logits, yt, reduction="none"
                )
                * wt
            ).sum()
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                scale = _PAD_LR * math.sqrt(1 - beta2**step) / (1 - beta1**step)
                for p, g, a, b in zip(params, grads, m1, m2, strict=True):
                    a.mul_(beta1).add_(g, alpha=1 - beta1)
                    b.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                    p.addcdiv_(a, b.sqrt().add_(eps), value=-scale)

        with torch.no_grad():
            out: list[Any] = [
                (net(torch.as_tensor(e, dtype=torch.float32)).squeeze(1) > 0).numpy()
                for e in evaluate
            ]
    finally:
        torch.set_num_threads(threads)
    return out


# ------------------------------------------------------ overtraining and bias


def overtraining_ks(
    score_train: ArrayLike,
    w_train: ArrayLike | None,
    score_val: ArrayLike,
    w_val: ArrayLike | None,
) -> float:
    """KS p-value between the training and validation responses (TMVA-style check).

    The p-value of :func:`ks_2samp_weighted` for the classifier response on
    training against validation events of one class; a small value (say
    below 0.01) flags overtraining. TMVA compares binned histograms (ROOT's
    ``TH1::KolmogorovTest``); this uses the unbinned events, so the values
    are not identical to TMVA's.

    >>> round(
    ...     overtraining_ks([0.1, 0.2, 0.3, 0.4], None, [0.35, 0.5, 0.6, 0.7], None), 4
    ... )
    0.125
    """
    return ks_2samp_weighted(score_train, score_val, w_train, w_val)[1]


def response_distances(
    score_bkg1: ArrayLike,
    w_bkg1: ArrayLike | None,
    score_bkg2: ArrayLike,
    w_bkg2: ArrayLike | None,
    *,
    bins: int = 40,
    pvalue: bool = True,
) -> dict[str, float]:
    """How differently the classifier responds to the two generators' backgrounds.

    The generator bias of Figs. 6-8: ``bias_ks`` and ``bias_ks_pvalue`` from
    :func:`ks_2samp_weighted`, ``bias_js`` from :func:`js_distance` with
    ``bins`` bins on [0, 1]. All are 0 (p-value 1) for identical responses.
    ``pvalue=False`` leaves the p-value out (the Kolmogorov distribution at
    large n is the slow part, and per-epoch curves only need D).

    >>> r = response_distances(
    ...     [0.1, 0.2, 0.3, 0.4], None, [0.35, 0.5, 0.6, 0.7], None, bins=2
    ... )
    >>> r["bias_ks"], round(r["bias_js"], 4)
    (0.75, 0.7408)
    """
    js = js_distance(score_bkg1, score_bkg2, w_bkg1, w_bkg2, bins=bins)
    if not pvalue:
        xa, xb = _as_1d("score_bkg1", score_bkg1), _as_1d("score_bkg2", score_bkg2)
        va = _weights("w_bkg1", w_bkg1, xa.size)
        vb = _weights("w_bkg2", w_bkg2, xb.size)
        return {"bias_ks": _ks_distance(xa, xb, va, vb), "bias_js": js}
    d, p = ks_2samp_weighted(score_bkg1, score_bkg2, w_bkg1, w_bkg2)
    return {"bias_ks": d, "bias_ks_pvalue": p, "bias_js": js}


def smooth(values: ArrayLike, window: int = 10) -> FloatArray:
    """Trailing moving average, the paper's 10-epoch smoothing (Figs. 10-11).

    ``out[i] = mean(values[max(0, i - window + 1) : i + 1])``: same length as
    the input, the first points average what is available. A NaN spoils
    only the windows that contain it. An empty input gives an empty array.

    >>> smooth([1.0, 2.0, 3.0, 4.0, 5.0], window=3).tolist()
    [1.0, 1.5, 2.0, 3.0, 4.0]
    """
    k = _int_option("window", window, 1)
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        msg = f"values must be a 1-D series, one value per epoch, got shape {v.shape!r}"
        raise DataError(msg)
    if v.size == 0:
        return v.copy()
    padded = np.r_[np.zeros(k - 1), v]
    sums = np.lib.stride_tricks.sliding_window_view(padded, k).sum(axis=1)
    counts = np.minimum(np.arange(1, v.size + 1), k)
    out: FloatArray = sums / counts
    return out

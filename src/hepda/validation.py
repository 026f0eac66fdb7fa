"""The per-epoch validation record, read off one sort of each domain's responses.

Every epoch the trainer records, on the validation events of S1 and S2, the
paper's quantities: AUC and accuracy on each, the significance at the cut
(and on the "tune" half that chooses the best epoch), the KS and JS
distances of the two background responses. :func:`hepda.train.evaluate_scores`
computes each from scratch through :mod:`hepda.metrics`, which checks its
inputs and sorts or masks the events anew for every quantity. Here the
labels, weights and class totals are checked once, and an epoch sorts each
domain's responses once: every quantity is then a lookup in cumulative sums
of the sorted weights (a cut is a binary search, a histogram 41 of them).
The values equal those of ``evaluate_scores`` up to the order of the
floating-point additions (the tests compare the two); the final metrics of
a run still go through :mod:`hepda.metrics`.

No BLAS call (``np.dot``, ``@``) is made here: NumPy's BLAS keeps its own
threads spinning after a call, and on a small machine they then compete
with PyTorch's for the cores through the next training epoch (which ran
up to 1.7 times slower).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from hepda import metrics
from hepda.config import TrainConfig
from hepda.data.events import EventTable
from hepda.errors import DataError

FloatArray = NDArray[np.float64]

#: Bins of the response histograms of the JS distance, on [0, 1].
JS_BINS = 40


@dataclass(frozen=True)
class _Sorted:
    """One domain's responses in increasing order, with cumulative class weights.

    ``cum_sig[i]`` and ``cum_bkg[i]`` are the signal and background weights
    of the i lowest responses (``cum_*[0] == 0``).
    """

    score: FloatArray
    order: NDArray[np.intp]  # score = responses[order]
    cum_sig: FloatArray
    cum_bkg: FloatArray
    bkg_score: FloatArray  # the background responses alone, sorted
    cum_bkg_only: FloatArray  # cumulative weights of bkg_score, from 0

    def below(self, cut: float) -> int:
        """How many responses are <= ``cut`` (the others pass ``score > cut``)."""
        return int(np.searchsorted(self.score, cut, side="right"))


class _Domain:
    """The validation events of one domain: labels, weights and their totals."""

    def __init__(self, events: EventTable, tune: NDArray[np.bool_], name: str) -> None:
        self.name = name
        self.signal = events.label == 1
        self.weight = np.asarray(events.weight, dtype=np.float64)
        self.total_sig = float(self.weight[self.signal].sum())
        self.total_bkg = float(self.weight[~self.signal].sum())
        for what, total in (("signal", self.total_sig), ("background", self.total_bkg)):
            if not total > 0:
                msg = (
                    f"{name} ({events.origin}): the validation {what} events "
                    f"have total weight {total!r}; every per-epoch metric needs "
                    "a positive total (use more events or check the weights)"
                )
                raise DataError(msg)
        self.w_sig = np.where(self.signal, self.weight, 0.0)
        self.w_bkg = self.weight - self.w_sig
        # The tune half: its class weights and their totals.
        self.tune_w_sig = np.where(tune, self.w_sig, 0.0)
        self.tune_w_bkg = np.where(tune, self.w_bkg, 0.0)
        self.tune_total_sig = float(self.tune_w_sig.sum())
        self.tune_total_bkg = float(self.tune_w_bkg.sum())
        for what, total in (
            ("signal", self.tune_total_sig),
            ("background", self.tune_total_bkg),
        ):
            if not total > 0:
                msg = (
                    f"{name} ({events.origin}): the validation {what} events "
                    f"that choose the best epoch have total weight {total!r}; "
                    "it must be positive (use more events or check the weights)"
                )
                raise DataError(msg)

    def sort(self, score: FloatArray, order: NDArray[np.intp]) -> _Sorted:
        """``score`` (float64) ordered by ``order``, with the cumulative weights.

        Ties may come in any order: only sums at the end of a run are read.
        Two running sums (all events, signal) give the background one as
        their difference, and the background events' own sums are read off
        it: a running sum costs several times a subtraction or a selection.
        """
        ordered = score[order]
        background = ~self.signal[order]
        cum_all = _cumsum0(self.weight[order])
        cum_sig = _cumsum0(self.w_sig[order])
        cum_bkg = cum_all - cum_sig
        cum_bkg_only = np.empty(np.count_nonzero(background) + 1)
        cum_bkg_only[0] = 0.0
        np.compress(background, cum_bkg[1:], out=cum_bkg_only[1:])
        return _Sorted(
            score=ordered,
            order=order,
            cum_sig=cum_sig,
            cum_bkg=cum_bkg,
            bkg_score=ordered[background],
            cum_bkg_only=cum_bkg_only,
        )

    def auc(self, s: _Sorted) -> float:
        """Weighted AUC as the Mann-Whitney sum over runs of equal responses.

        Each run r adds S_r (B_below + B_r / 2): its signal weight times the
        background below it, ties counting one half; over W_sig W_bkg this is
        :func:`hepda.metrics.roc_auc`.
        """
        ends = _run_ends(s.score)
        starts = np.r_[0, ends[:-1]]
        sig_run = s.cum_sig[ends] - s.cum_sig[starts]
        bkg_below = s.cum_bkg[starts]
        bkg_run = s.cum_bkg[ends] - bkg_below
        area = float(np.sum(sig_run * (bkg_below + bkg_run / 2.0)))
        return area / (self.total_sig * self.total_bkg)

    def accuracy(self, s: _Sorted, threshold: float) -> float:
        """Class-balanced accuracy at ``score > threshold`` (each class weighs 1/2)."""
        k = s.below(threshold)
        right_sig = (self.total_sig - s.cum_sig[k]) / self.total_sig
        right_bkg = s.cum_bkg[k] / self.total_bkg
        return float(right_sig + right_bkg) / 2.0

    def efficiency_sig(self, s: _Sorted, cut: float) -> float:
        return float(self.total_sig - s.cum_sig[s.below(cut)]) / self.total_sig

    def efficiency_bkg(self, s: _Sorted, cut: float) -> float:
        return float(self.total_bkg - s.cum_bkg[s.below(cut)]) / self.total_bkg


class EpochRecord:
    """The per-epoch metrics of :meth:`hepda.train.Trainer.validate`.

    Built once per training from the validation tables of S1 and S2 and the
    boolean masks of their "tune" halves; calling it with one member's
    responses (one per validation event, float32 as the network gives them
    or float64) gives the keys of
    ``evaluate_scores(..., pvalue=False)`` plus ``significance_tune`` and
    ``saturated``.
    """

    def __init__(
        self,
        events_s1: EventTable,
        events_s2: EventTable,
        tune_s1: NDArray[np.bool_],
        tune_s2: NDArray[np.bool_],
        config: TrainConfig,
    ) -> None:
        self.s1 = _Domain(events_s1, tune_s1, "source S1")
        self.s2 = _Domain(events_s2, tune_s2, "target S2")
        self.config = config
        self.edges = np.linspace(0.0, 1.0, JS_BINS + 1)

    def __call__(
        self, score_s1: NDArray[np.floating], score_s2: NDArray[np.floating]
    ) -> dict[str, float]:
        sig = self.config.significance
        # Ordered as given (float32 responses sort fastest, see
        # response_order), compared in float64 as evaluate_scores compares them.
        order_s1, order_s2 = response_order(score_s1), response_order(score_s2)
        wide_s1: FloatArray = np.asarray(score_s1, dtype=np.float64)
        wide_s2: FloatArray = np.asarray(score_s2, dtype=np.float64)
        a, b = self.s1.sort(wide_s1, order_s1), self.s2.sort(wide_s2, order_s2)
        yields = self._yields(
            self.s2.efficiency_sig(b, sig.cut),
            self.s1.efficiency_bkg(a, sig.cut),
            self.s2.efficiency_bkg(b, sig.cut),
        )
        row = {
            "auc_s1": self.s1.auc(a),
            "auc_s2": self.s2.auc(b),
            "accuracy_s1": self.s1.accuracy(a, 0.5),
            "accuracy_s2": self.s2.accuracy(b, 0.5),
            "significance": metrics.paper_significance(
                yields.s, yields.b2, yields.sigma_b
            ),
            "significance_asimov": metrics.asimov_significance(
                yields.s, yields.b2, yields.sigma_b
            ),
            "s": yields.s,
            "b1": yields.b1,
            "b2": yields.b2,
            "sigma_b": yields.sigma_b,
            "bias_ks": self._ks(a, b),
            "bias_js": self._js(a, b),
            # 1 when one domain's responses all take one value (see
            # Trainer._freeze_saturated); the trainer drops it from the history.
            "saturated": float(a.score[0] == a.score[-1] or b.score[0] == b.score[-1]),
        }
        row["significance_tune"] = self._tune_significance(a, b)
        return row

    def _yields(
        self, eff_s: float, eff_b1: float, eff_b2: float
    ) -> metrics.PaperYields:
        sig = self.config.significance
        n, f = sig.n_events, sig.signal_fraction
        return metrics.PaperYields(
            s=n * eff_s * f, b1=n * eff_b1 * (1 - f), b2=n * eff_b2 * (1 - f)
        )

    def _tune_significance(self, a: _Sorted, b: _Sorted) -> float:
        """The significance on the tune halves, which choose the best epoch.

        The events above the cut are the last ones of each order: only
        their tune weights are gathered and summed.
        """
        cut = self.config.significance.cut
        d1, d2 = self.s1, self.s2
        pass1, pass2 = a.order[a.below(cut) :], b.order[b.below(cut) :]
        yields = self._yields(
            float(d2.tune_w_sig[pass2].sum()) / d2.tune_total_sig,
            float(d1.tune_w_bkg[pass1].sum()) / d1.tune_total_bkg,
            float(d2.tune_w_bkg[pass2].sum()) / d2.tune_total_bkg,
        )
        return metrics.paper_significance(yields.s, yields.b2, yields.sigma_b)

    def _ks(self, a: _Sorted, b: _Sorted) -> float:
        """Largest |F_1 - F_2| of the weighted background CDFs.

        The largest gap lies at a response where F_1 or F_2 steps, so it is
        the largest over each distinct response v of S1's backgrounds and u
        of S2's. One binary search places every v among the u: ``left[r]``
        S2 responses lie below v_r, so F_2(v_r) = F_2 at those when no u
        equals v_r (a v that is also a u is read at the u). The same search
        gives F_1 at every u: v_r <= u_j exactly when left[r] < (the S2
        responses <= u_j), so counting the v by their ``left`` gives the S1
        responses <= u_j without a second search.
        """
        x1, x2 = a.bkg_score, b.bkg_score
        f1 = a.cum_bkg_only / self.s1.total_bkg
        f2 = b.cum_bkg_only / self.s2.total_bkg
        ends1, ends2 = _run_ends(x1), _run_ends(x2)  # S1 (S2) responses <= v (u)
        v = x1[ends1 - 1]
        left = np.searchsorted(x2, v, "left")
        also_in_s2 = x2[np.minimum(left, x2.size - 1)] == v
        gap_at_v = np.abs(f1[ends1] - f2[left])[~also_in_s2]
        # distinct S1 values with left <= m, for m = 0 .. len(x2)
        runs_below = np.cumsum(np.bincount(left, minlength=x2.size + 1))
        s1_below_u = np.r_[0, ends1][runs_below[ends2 - 1]]
        gap_at_u = np.abs(f1[s1_below_u] - f2[ends2])
        return float(max(gap_at_v.max(initial=0.0), gap_at_u.max(initial=0.0)))

    def _js(self, a: _Sorted, b: _Sorted) -> float:
        """JS distance of the 40-bin background histograms on [0, 1], numpy's bins."""
        hists = []
        for s in (a, b):
            left = np.searchsorted(s.bkg_score, self.edges, "left")
            # the last bin includes its upper edge
            left[-1] = np.searchsorted(s.bkg_score, self.edges[-1], "right")
            hists.append(np.diff(s.cum_bkg_only[left]))
        return metrics._js_of_histograms(hists[0], hists[1], (0.0, 1.0))


def response_order(score: NDArray[np.floating]) -> NDArray[np.intp]:
    """Indices that put ``score`` in increasing order.

    A network's responses are float32 sigmoids in [0, 1]. Read as unsigned
    integers, the bits of non-negative float32 values order as the values do,
    so two stable passes over 16-bit halves (NumPy's radix sort, low half
    first) order them in linear time, several times faster than the
    comparison sort that ``np.argsort`` runs on floats. Float64 responses,
    or any value with its sign bit set (negative numbers, -0.0), take
    ``np.argsort``; either way NaN comes last.
    """
    if score.dtype == np.float32:
        bits = score.view(np.uint32)
        if not np.any(bits >> 31):
            low = np.argsort((bits & 0xFFFF).astype(np.uint16), kind="stable")
            high = (bits[low] >> 16).astype(np.uint16)
            order: NDArray[np.intp] = low[np.argsort(high, kind="stable")]
            return order
    return np.argsort(score)


def _run_ends(x: FloatArray) -> NDArray[np.intp]:
    """For sorted ``x``: one past the last index of each run of equal values."""
    ends: NDArray[np.intp] = np.append(np.flatnonzero(x[1:] != x[:-1]) + 1, x.size)
    return ends


def _cumsum0(w: FloatArray) -> FloatArray:
    """Running sums of ``w`` after a leading 0, in float64.

    PyTorch's running sum is several times faster than ``np.cumsum``, which
    adds one element after another.
    """
    out = np.empty(w.size + 1)
    out[0] = 0.0
    torch.cumsum(
        torch.from_numpy(np.ascontiguousarray(w)), 0, out=torch.from_numpy(out[1:])
    )
    return out

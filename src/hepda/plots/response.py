"""Classifier response (paper Figs. 6-8) and the train/validation overlay."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from hepda.errors import DataError
from hepda.metrics import ks_2samp_weighted
from hepda.plots._common import (
    BACKGROUND_COLOR,
    SIGNAL_COLOR,
    FloatArray,
    as_float_array,
    axes_or_new,
    normalised_histogram,
    style_axes,
    weights_for,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

logger = logging.getLogger(__name__)

ArrayLike = npt.ArrayLike


def _score_edges(bins: int, *scores: FloatArray) -> FloatArray:
    """``bins`` equal bins on [0, 1], widened only if a score lies outside."""
    if bins < 1:
        msg = f"bins must be a positive integer, got {bins!r}"
        raise DataError(msg)
    finite = np.concatenate([s[np.isfinite(s)] for s in scores])
    lo = min(0.0, float(finite.min())) if finite.size else 0.0
    hi = max(1.0, float(finite.max())) if finite.size else 1.0
    if (lo, hi) != (0.0, 1.0):
        logger.info("scores outside [0, 1]; histogram range set to [%g, %g]", lo, hi)
    return np.linspace(lo, hi, bins + 1)


def plot_response(
    score_sig: ArrayLike,
    w_sig: ArrayLike | None,
    score_bkg1: ArrayLike,
    w_bkg1: ArrayLike | None,
    score_bkg2: ArrayLike,
    w_bkg2: ArrayLike | None,
    *,
    labels: tuple[str, str, str] = ("ttH signal", "tt+jets S1", "tt+jets S2"),
    bins: int = 40,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Draw the normalised classifier response of signal and both backgrounds.

    As in the paper's Figs. 6-8: signal as a blue line, the S1 background as
    an orange line and the S2 background as an orange shaded histogram,
    ``bins`` equal bins on [0, 1], each normalised to unit area with its
    event weights. The gap between the two orange histograms is the training
    bias; its weighted Kolmogorov-Smirnov distance D is written as the
    legend title.

    Args:
        score_sig, score_bkg1, score_bkg2: classifier scores per event.
        w_sig, w_bkg1, w_bkg2: event weights, or None for unit weights.
        labels: legend labels of signal, background S1 and background S2.
        bins: number of bins on [0, 1].
        ax: axes to draw on; a new figure is made when None.
        title: axes title, e.g. the network setting.

    Returns:
        The axes drawn on.
    """
    sig = as_float_array(score_sig, "score_sig")
    bkg1 = as_float_array(score_bkg1, "score_bkg1")
    bkg2 = as_float_array(score_bkg2, "score_bkg2")
    wsig = weights_for(sig, w_sig, "score_sig")
    wb1 = weights_for(bkg1, w_bkg1, "score_bkg1")
    wb2 = weights_for(bkg2, w_bkg2, "score_bkg2")
    edges = _score_edges(bins, sig, bkg1, bkg2)

    h_sig, _ = normalised_histogram(sig, wsig, edges, labels[0])
    h_b1, _ = normalised_histogram(bkg1, wb1, edges, labels[1])
    h_b2, _ = normalised_histogram(bkg2, wb2, edges, labels[2])
    ks_d, _ = ks_2samp_weighted(bkg1, bkg2, wb1, wb2)

    ax = axes_or_new(ax)
    # Shaded S2 first so that the two lines stay on top of it.
    b2 = ax.stairs(
        h_b2, edges, fill=True, color=BACKGROUND_COLOR, alpha=0.35, label=labels[2]
    )
    b1 = ax.stairs(h_b1, edges, color=BACKGROUND_COLOR, linewidth=1.8, label=labels[1])
    sg = ax.stairs(h_sig, edges, color=SIGNAL_COLOR, linewidth=1.8, label=labels[0])
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(bottom=0.0, top=1.25 * max(h_sig.max(), h_b1.max(), h_b2.max()))
    ax.set_xlabel("Classifier response")
    ax.set_ylabel("Normalised entries (unit area)")
    ax.legend(
        handles=[sg, b1, b2], title=f"backgrounds: KS D = {ks_d:.3f}", frameon=False
    )
    if title:
        ax.set_title(title)
    style_axes(ax)
    return ax


def plot_overtraining(
    score_train: ArrayLike,
    w_train: ArrayLike | None,
    label_train: ArrayLike,
    score_val: ArrayLike,
    w_val: ArrayLike | None,
    label_val: ArrayLike,
    *,
    bins: int = 40,
    ax: Axes | None = None,
) -> Axes:
    """Overlay the response on training and validation events, per class.

    Training events are filled histograms, validation events points with
    their statistical errors, both normalised to unit area per class. The
    legend gives, per class, the p-value of the weighted two-sample
    Kolmogorov-Smirnov test between training and validation scores
    (:func:`hepda.metrics.ks_2samp_weighted`): a small p-value means the
    classifier scores its training events differently, i.e. overtraining.

    Returns:
        The axes drawn on.
    """
    s_tr = as_float_array(score_train, "score_train")
    s_va = as_float_array(score_val, "score_val")
    w_tr = weights_for(s_tr, w_train, "score_train")
    w_va = weights_for(s_va, w_val, "score_val")
    y_tr = as_float_array(label_train, "label_train")
    y_va = as_float_array(label_val, "label_val")
    for y, s, name in ((y_tr, s_tr, "label_train"), (y_va, s_va, "label_val")):
        if y.shape != s.shape:
            msg = f"{name} has {y.size} entries but the scores have {s.size}"
            raise DataError(msg)
    edges = _score_edges(bins, s_tr, s_va)
    centres = 0.5 * (edges[1:] + edges[:-1])

    ax = axes_or_new(ax)
    top = 0.0
    for cls, name, color in ((1, "Signal", SIGNAL_COLOR), (0, "Background", "tab:red")):
        in_tr, in_va = y_tr == cls, y_va == cls
        h_tr, _ = normalised_histogram(
            s_tr[in_tr], w_tr[in_tr], edges, f"{name.lower()} training events"
        )
        h_va, e_va = normalised_histogram(
            s_va[in_va], w_va[in_va], edges, f"{name.lower()} validation events"
        )
        _, p_value = ks_2samp_weighted(
            s_tr[in_tr], s_va[in_va], w_tr[in_tr], w_va[in_va]
        )
        ax.stairs(
            h_tr, edges, fill=True, color=color, alpha=0.3, label=f"{name} (training)"
        )
        ax.errorbar(
            centres,
            h_va,
            yerr=e_va,
            fmt="o",
            markersize=3,
            color=color,
            label=f"{name} (validation), KS p = {p_value:.3f}",
        )
        top = max(top, float(h_tr.max()), float(np.nanmax(h_va + e_va)))

    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(0.0, 1.3 * top)
    ax.set_xlabel("Classifier response")
    ax.set_ylabel("Normalised entries (unit area)")
    ax.legend(frameon=False, fontsize="small")
    style_axes(ax)
    return ax

"""ROC curves, significance per epoch and training curves (paper Figs. 9-11)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from hepda.errors import ConfigError, DataError
from hepda.metrics import roc_auc, roc_curve, smooth
from hepda.plots._common import as_float_array, axes_or_new, column, style_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

RocCurves = Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike | None]]

# The paper's Fig. 9 draws baseline S1 / S2 and DANN S1 / S2 as red dotted,
# black dash-dotted, orange solid and blue dashed; further curves continue.
_ROC_STYLES = (
    ("tab:red", ":"),
    ("black", "-."),
    ("tab:orange", "-"),
    ("tab:blue", "--"),
    ("tab:green", (0, (5, 1, 1, 1, 1, 1))),
    ("tab:purple", (0, (1, 1))),
    ("tab:brown", (0, (8, 2))),
    ("tab:gray", "-"),
)

# Fig. 11: L_y on S1 blue dashed, L_y on S2 green dotted, L_d orange
# dash-dotted, significance red solid (right axis).
_TRAINING_LINES = (
    ("loss_label_s1", "$L_y$ on S1", "tab:blue", "--"),
    ("loss_label_s2", "$L_y$ on S2", "tab:green", ":"),
    ("loss_domain", "$L_d$ (domain)", "tab:orange", "-."),
)


def _check_window(window: int) -> None:
    if window < 1:
        msg = f"window must be a positive number of epochs, got {window!r}"
        raise ConfigError(msg)


def plot_roc(
    curves: RocCurves,
    ax: Axes | None = None,
    *,
    kind: Literal["efficiency", "rejection"] = "efficiency",
) -> Axes:
    """Draw ROC curves with their weighted AUC in the legend.

    Each curve is computed with :func:`hepda.metrics.roc_curve` and its area
    with :func:`hepda.metrics.roc_auc`. With ``kind="efficiency"`` the
    signal efficiency (true positive rate) is drawn against the background
    efficiency (false positive rate), as in the paper's Fig. 9, with the
    diagonal of a random guess; with ``kind="rejection"`` the background
    rejection (1 - false positive rate) is drawn against the signal
    efficiency, as TMVA does. The axis labels say which.

    Args:
        curves: legend name -> (true labels, scores, weights or None), e.g.
            "baseline S1", "baseline S2", "DANN S1", "DANN S2".
        ax: axes to draw on; a new figure is made when None.
        kind: which pair of rates to draw.

    Returns:
        The axes drawn on.
    """
    if kind not in ("efficiency", "rejection"):
        msg = f"kind must be 'efficiency' or 'rejection', got {kind!r}"
        raise ConfigError(msg)
    if not curves:
        msg = "plot_roc needs at least one curve, got none"
        raise DataError(msg)
    ax = axes_or_new(ax, figsize=(5.6, 5.0))

    for index, (name, (label, score, weight)) in enumerate(curves.items()):
        fpr, tpr, _ = roc_curve(label, score, weight)
        auc = roc_auc(label, score, weight)
        color, linestyle = _ROC_STYLES[index % len(_ROC_STYLES)]
        x, y = (fpr, tpr) if kind == "efficiency" else (tpr, 1.0 - fpr)
        ax.plot(
            x,
            y,
            color=color,
            linestyle=linestyle,
            linewidth=1.8,
            label=f"{name} (AUC = {auc:.3f})",
        )

    if kind == "efficiency":
        ax.plot(
            [0.0, 1.0],
            [0.0, 1.0],
            color="lightgrey",
            linewidth=1.0,
            label="_random guess",
        )
        ax.set_xlabel("Background efficiency (false positive rate)")
        ax.set_ylabel("Signal efficiency (true positive rate)")
    else:
        ax.set_xlabel("Signal efficiency (true positive rate)")
        ax.set_ylabel("Background rejection (1 - false positive rate)")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.legend(
        frameon=False, loc="lower right" if kind == "efficiency" else "lower left"
    )
    style_axes(ax)
    return ax


def plot_significance_curves(
    curves: Mapping[str, npt.ArrayLike],
    *,
    window: int = 10,
    ax: Axes | None = None,
) -> Axes:
    """Draw the significance per epoch of several runs, smoothed.

    The paper's Fig. 10 (one curve per optimizer). Each curve is the
    trailing moving average of ``window`` epochs
    (:func:`hepda.metrics.smooth`); epochs are counted from 1.

    Returns:
        The axes drawn on; its lines hold the smoothed values.
    """
    _check_window(window)
    if not curves:
        msg = "plot_significance_curves needs at least one curve, got none"
        raise DataError(msg)
    ax = axes_or_new(ax)
    for index, (name, values) in enumerate(curves.items()):
        z = as_float_array(values, f"significance of {name!r}")
        color, linestyle = _ROC_STYLES[index % len(_ROC_STYLES)]
        ax.plot(
            np.arange(1, z.size + 1),
            smooth(z, window=window),
            color=color,
            linestyle=linestyle,
            linewidth=1.6,
            label=name,
        )
    ax.set_xlabel("Epoch")
    ax.set_ylabel(f"Significance, Eq. 16 ({window}-epoch moving average)")
    ax.legend(frameon=False)
    style_axes(ax)
    return ax


def plot_training_curves(
    history: Mapping[str, npt.ArrayLike],
    *,
    window: int = 10,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Draw the losses (left axis) and the significance (right axis) per epoch.

    The paper's Fig. 11: the label loss on S1 and on S2, the domain loss,
    and the significance on a twin right axis, all smoothed with a trailing
    moving average of ``window`` epochs (:func:`hepda.metrics.smooth`).
    History columns used: ``epoch`` (row number + 1 when absent),
    ``loss_label_s1``, ``loss_label_s2``, ``loss_domain``, ``significance``;
    absent ones are left out, at least one must be there.

    Returns:
        The left (loss) axes; the significance axes is its twin, found in
        ``ax.figure.axes``.
    """
    _check_window(window)
    wanted = [c for c, *_ in _TRAINING_LINES] + ["significance"]
    present = [c for c in wanted if c in history]
    if not present:
        msg = (
            f"history has none of the columns {wanted!r}; got {sorted(history)!r}. "
            "Pass the per-epoch history of a training run"
        )
        raise DataError(msg)
    n = as_float_array(history[present[0]], present[0]).size
    epoch = (
        column(history, "epoch", "history")
        if "epoch" in history
        else (np.arange(1, n + 1, dtype=np.float64))
    )

    ax = axes_or_new(ax, figsize=(7.0, 4.6))
    lines = []
    for name, label, color, linestyle in _TRAINING_LINES:
        if name in history:
            values = smooth(column(history, name, "history"), window=window)
            lines += ax.plot(
                epoch,
                values,
                color=color,
                linestyle=linestyle,
                linewidth=1.6,
                label=label,
            )
    ax.set_xlabel("Epoch")
    ax.set_ylabel(
        f"Cross-entropy loss ({window}-epoch moving average)", fontsize="small"
    )
    style_axes(ax, right_ticks="significance" not in history)

    if "significance" in history:
        right = ax.twinx()
        values = smooth(column(history, "significance", "history"), window=window)
        lines += right.plot(
            epoch,
            values,
            color="tab:red",
            linewidth=1.6,
            label="Significance (right axis)",
        )
        right.set_ylabel("Significance, Eq. 16", color="tab:red")
        right.tick_params(axis="y", colors="tab:red", direction="in", which="both")
        right.minorticks_on()
    # Below the axes: the oscillating curves leave no empty corner inside.
    ax.legend(
        handles=lines,
        frameon=False,
        fontsize="small",
        ncols=2,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.13),
    )
    if title:
        ax.set_title(title)
    return ax

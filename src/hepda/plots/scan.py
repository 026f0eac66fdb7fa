"""Metrics of a scan against lambda, and the AUC / generator-bias trade-off."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from hepda.errors import ConfigError, DataError, did_you_mean
from hepda.plots._common import (
    FloatArray,
    axes_or_new,
    column,
    new_figure,
    save_figure,
    style_axes,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

ScanTable = Mapping[str, npt.ArrayLike]

METRIC_LABELS = {
    "lambda": r"$\lambda$ (adversary strength)",
    "auc_s1": "AUC on S1",
    "auc_s2": "AUC on S2",
    "accuracy": "Accuracy on S2",
    "significance": "Significance $Z$ (paper, Eq. 16)",
    "significance_asimov": "Asimov significance $Z_A$",
    "bias_ks": "Background KS distance, S1 vs S2",
}

_GROUP_COLORS = (
    "tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple",
    "tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan",
)  # fmt: skip
_GROUP_STYLES = ("-", "--", "-.", ":")


def _label(name: str) -> str:
    return METRIC_LABELS.get(name, name)


def _diverged(scan: ScanTable, n: int) -> npt.NDArray[np.bool_]:
    if "diverged" not in scan:
        return np.zeros(n, dtype=bool)
    flags = np.asarray(scan["diverged"]).astype(bool)
    if flags.shape != (n,):
        msg = f"scan column 'diverged' has shape {flags.shape}, expected ({n},)"
        raise DataError(msg)
    return flags


def scan_groups(
    scan: ScanTable, group_by: Sequence[str], n: int
) -> tuple[list[str], npt.NDArray[np.str_]]:
    """Return the grouping columns present and one group key per row.

    The key joins the row's values of those columns with " / ", e.g.
    ``"45,30,25 / background / adadelta"``; without grouping columns every
    row belongs to the group ``"all runs"``.
    """
    present = [c for c in group_by if c in scan]
    if not present:
        return present, np.full(n, "all runs")
    parts = [np.asarray(scan[c]).astype(str) for c in present]
    keys = parts[0]
    for part in parts[1:]:
        keys = np.char.add(np.char.add(keys, " / "), part)
    return present, keys


def band_over_repeats(
    x: FloatArray, y: FloatArray, band: Literal["minmax", "std"]
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Mean of ``y`` per distinct ``x`` with a band over the repeats (seeds, folds).

    Returns (x values, mean, lower, upper); the band is the minimum and
    maximum (``"minmax"``) or the mean plus and minus one standard deviation
    (``"std"``, population form). Non-finite values are left out.
    """
    ok = np.isfinite(x) & np.isfinite(y)
    ux = np.unique(x[ok])
    mean, lower, upper = (np.empty(ux.size) for _ in range(3))
    for i, value in enumerate(ux):
        ys = y[ok & (x == value)]
        mean[i] = ys.mean()
        if band == "minmax":
            lower[i], upper[i] = ys.min(), ys.max()
        else:
            lower[i], upper[i] = mean[i] - ys.std(), mean[i] + ys.std()
    return ux, mean, lower, upper


def plot_scan(
    scan: ScanTable,
    *,
    metrics: Sequence[str] = ("auc_s1", "auc_s2", "significance", "bias_ks"),
    x: str = "lambda",
    group_by: Sequence[str] = ("hidden", "disc_mode", "optimizer"),
    path: str | Path | None = None,
    band: Literal["minmax", "std"] = "minmax",
) -> Figure:
    """Draw scan metrics against lambda, one panel per metric, one line per group.

    Rows with the same group (the values of the ``group_by`` columns present
    in ``scan``) and the same ``x`` are repeats over seeds or folds: the
    line is their mean and the shaded band their minimum to maximum
    (``band="minmax"``) or mean +- one standard deviation (``band="std"``);
    the page title says which. Rows whose ``diverged`` column is true are
    left out of lines and bands and marked with a cross, at the bottom edge
    of the panel when their metric is not finite.

    Args:
        scan: column table, one row per trained model.
        metrics: columns to draw; those absent from ``scan`` are skipped.
        x: column for the horizontal axis.
        group_by: columns that tell groups apart (absent ones are ignored).
        path: if given, the figure is also saved there.
        band: what the shaded band shows.

    Returns:
        The figure.
    """
    if band not in ("minmax", "std"):
        msg = f"band must be 'minmax' or 'std', got {band!r}"
        raise ConfigError(msg)
    xs = column(scan, x, "scan table")
    n = xs.size
    drawn = [m for m in metrics if m in scan]
    if not drawn:
        hint = did_you_mean(metrics[0], scan) if metrics else ""
        msg = (
            f"scan table has none of the metrics {list(metrics)!r}{hint}; "
            f"columns are {sorted(scan)!r}"
        )
        raise DataError(msg)
    diverged = _diverged(scan, n)
    group_cols, keys = scan_groups(scan, group_by, n)
    groups = sorted(set(keys.tolist()))

    ncols = min(2, len(drawn))
    nrows = math.ceil(len(drawn) / ncols)
    fig = new_figure((5.2 * ncols, 3.6 * nrows + 0.4 + 0.25 * len(groups)))
    axes = [fig.add_subplot(nrows, ncols, i + 1) for i in range(len(drawn))]

    from matplotlib.lines import Line2D

    handles = []
    for ax, metric in zip(axes, drawn, strict=True):
        ys = column(scan, metric, "scan table")
        if ys.size != n:
            msg = f"scan column {metric!r} has {ys.size} rows, {x!r} has {n}"
            raise DataError(msg)
        for g, group in enumerate(groups):
            color = _GROUP_COLORS[g % len(_GROUP_COLORS)]
            style = _GROUP_STYLES[(g // len(_GROUP_COLORS)) % len(_GROUP_STYLES)]
            rows = (keys == group) & ~diverged
            ux, mean, lower, upper = band_over_repeats(xs[rows], ys[rows], band)
            (line,) = ax.plot(
                ux,
                mean,
                color=color,
                linestyle=style,
                marker="o",
                markersize=3,
                linewidth=1.5,
                label=group,
            )
            ax.fill_between(ux, lower, upper, color=color, alpha=0.2, linewidth=0)
            if ax is axes[0]:
                handles.append(line)

            # Diverged runs: crosses at their value, or on the bottom edge
            # (in axes coordinates) when the value is NaN.
            bad = (keys == group) & diverged
            finite, lost = bad & np.isfinite(ys), bad & ~np.isfinite(ys)
            if finite.any():
                ax.plot(xs[finite], ys[finite], "x", color=color, markersize=7)
            if lost.any():
                on_edge = np.full(int(lost.sum()), 0.04)
                ax.plot(
                    xs[lost],
                    on_edge,
                    "x",
                    color=color,
                    markersize=7,
                    transform=ax.get_xaxis_transform(),
                )
        ax.set_xlabel(_label(x))
        ax.set_ylabel(_label(metric))
        style_axes(ax)

    if diverged.any():
        handles.append(
            Line2D(
                [],
                [],
                marker="x",
                linestyle="none",
                color="black",
                label="diverged run (excluded)",
            )
        )
    spread = "min to max" if band == "minmax" else "mean +- 1 std. dev."
    fig.suptitle(f"Lines: mean over seeds/folds; bands: {spread}", fontsize=10)
    fig.legend(
        handles=handles,
        loc="outside lower center",
        frameon=False,
        ncols=min(3, len(handles)),
        fontsize="small",
        title=" / ".join(group_cols) if group_cols else None,
    )
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_tradeoff(
    scan: ScanTable,
    *,
    x: str = "bias_ks",
    y: str = "auc_s1",
    color: str = "lambda",
    ax: Axes | None = None,
) -> Axes:
    """Scatter AUC on S1 against the background shift between generators.

    One point per scan row, coloured by ``color`` (lambda) with a colour
    bar; diverged rows are grey crosses. The best working points lie at the
    top left: high AUC on the source and a small shift between generators.

    Returns:
        The axes drawn on.
    """
    xs = column(scan, x, "scan table")
    ys = column(scan, y, "scan table")
    cs = column(scan, color, "scan table")
    diverged = _diverged(scan, xs.size)

    ax = axes_or_new(ax, figsize=(6.2, 4.6))
    good = ~diverged
    points = ax.scatter(
        xs[good],
        ys[good],
        c=cs[good],
        cmap="viridis",
        s=28,
        edgecolors="black",
        linewidths=0.4,
    )
    ax.figure.colorbar(points, ax=ax, label=_label(color))
    if diverged.any():
        ax.scatter(
            xs[diverged], ys[diverged], marker="x", color="grey", label="diverged run"
        )
        ax.legend(frameon=False, loc="lower right")
    ax.set_xlabel(_label(x))
    ax.set_ylabel(_label(y))
    ax.text(
        0.02,
        0.97,
        "better: up and left",
        transform=ax.transAxes,
        va="top",
        fontsize="small",
        color="dimgrey",
    )
    style_axes(ax)
    return ax

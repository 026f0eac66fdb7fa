"""Input variables per generator (paper Figs. 4-5) and correlation matrices."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from hepda.errors import ConfigError, DataError
from hepda.plots._common import (
    SAMPLE_COLORS,
    FloatArray,
    as_float_array,
    axes_or_new,
    column,
    new_figure,
    normalised_histogram,
    ratio_with_error,
    save_figure,
    weights_for,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Samples = Mapping[str, tuple[Mapping[str, npt.ArrayLike], npt.ArrayLike | None]]

# Integer-valued variables (jet counts) get one bin per value up to this span.
_MAX_INTEGER_SPAN = 60
# Other variables are binned between these percentiles of all samples
# together; the tails are folded into the first and last bins, so a long
# tail does not squeeze the bulk into a few bins.
_PERCENTILES = (0.5, 99.5)


def variable_edges(values: FloatArray, bins: int) -> FloatArray:
    """Bin edges for one variable, from the values of all samples together.

    Integer-valued variables spanning at most 60 units get one bin per
    integer; others get ``bins`` equal bins between the 0.5 and 99.5
    percentiles.
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.linspace(-0.5, 0.5, bins + 1)
    lo, hi = float(finite.min()), float(finite.max())
    if np.all(finite == np.round(finite)) and hi - lo <= _MAX_INTEGER_SPAN:
        return np.arange(lo - 0.5, hi + 1.0, 1.0)
    lo, hi = (float(v) for v in np.percentile(finite, _PERCENTILES))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, bins + 1)


def _ratio_limits(ratio: FloatArray, error: FloatArray) -> tuple[float, float]:
    """A y range around 1 holding the ratio points: at least 0.75-1.25, at most 0-2."""
    ok = np.isfinite(ratio)
    if not ok.any():
        return 0.5, 1.5
    spread = float(np.max(np.abs(ratio[ok] - 1.0) + np.nan_to_num(error[ok])))
    half = min(1.0, max(0.25, 1.1 * spread))
    return 1.0 - half, 1.0 + half


def plot_input_variables(
    samples: Samples,
    variables: Sequence[str],
    path: str | Path | None = None,
    *,
    bins: int = 40,
) -> Figure:
    """Draw every input variable of every sample on one page.

    The paper's Figs. 4-5 for all variables at once: one panel per variable
    with the weighted histogram of each sample normalised to unit area, and
    below it the ratio of the third sample to the second (background S2 over
    background S1) with statistical errors. With two samples the ratio is
    second over first; with one there is no ratio panel. Values beyond the
    0.5/99.5 percentiles are folded into the outer bins.

    Args:
        samples: legend label -> (features by name, weights or None), in
            drawing order; usually signal, background S1, background S2.
        variables: names of the variables to draw, one panel each.
        path: if given, the page is also saved there (see
            :func:`hepda.plots.save_figure`).
        bins: number of bins for non-integer variables.

    Returns:
        The figure; 41 variables fit on one page readable at 100 dpi.
    """
    if not samples:
        msg = "plot_input_variables needs at least one sample, got none"
        raise DataError(msg)
    if not variables:
        msg = "plot_input_variables needs at least one variable name, got none"
        raise ConfigError(msg)
    if bins < 1:
        msg = f"bins must be a positive integer, got {bins!r}"
        raise ConfigError(msg)
    labels = list(samples)
    ratio_pair = (2, 1) if len(labels) >= 3 else (1, 0) if len(labels) == 2 else None

    # Page layout: a grid of cells, each a main panel over a ratio panel.
    ncols = min(7, math.ceil(math.sqrt(len(variables))))
    nrows = math.ceil(len(variables) / ncols)
    width, height = 3.1 * ncols, 2.9 * nrows + 0.6
    fig = new_figure((width, height), constrained=False)
    grid = fig.add_gridspec(
        nrows,
        ncols,
        left=0.6 / width,
        right=1.0 - 0.15 / width,
        bottom=0.5 / height,
        top=1.0 - 0.6 / height,
        wspace=0.3,
        hspace=0.4,
    )

    from matplotlib.ticker import MaxNLocator

    handles = []
    for index, name in enumerate(variables):
        values, weights = [], []
        for label, (table, w) in samples.items():
            v = column(table, name, f"sample {label!r}")
            values.append(v)
            weights.append(weights_for(v, w, f"sample {label!r}"))
        edges = variable_edges(np.concatenate(values), bins)

        cell = grid[index // ncols, index % ncols]
        if ratio_pair is None:
            main, low = fig.add_subplot(cell), None
        else:
            inner = cell.subgridspec(2, 1, height_ratios=(3, 1), hspace=0.0)
            main = fig.add_subplot(inner[0])
            low = fig.add_subplot(inner[1], sharex=main)

        heights = []
        for i, label in enumerate(labels):
            clipped = np.clip(values[i], edges[0], edges[-1])
            h, err = normalised_histogram(
                clipped, weights[i], edges, f"{name} of sample {label!r}"
            )
            heights.append((h, err))
            shaded = i == 2
            artist = main.stairs(
                h,
                edges,
                fill=shaded,
                alpha=0.35 if shaded else 1.0,
                color=SAMPLE_COLORS[i % len(SAMPLE_COLORS)],
                linewidth=1.2,
                label=label,
                zorder=1.0 if shaded else 2.0,
            )
            if index == 0:
                handles.append(artist)
        # Few ticks, set in one call each: on a page of 80 panels matplotlib's
        # tick objects are most of the drawing time.
        integer = bool(np.all(np.diff(edges) == 1.0))
        main.xaxis.set_major_locator(MaxNLocator(5, integer=integer))
        main.yaxis.set_major_locator(MaxNLocator(4))
        main.set_xlim(edges[0], edges[-1])
        main.set_ylim(0.0, 1.2 * max(float(h.max()) for h, _ in heights))
        main.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        main.yaxis.get_offset_text().set_fontsize(7)
        main.tick_params(
            direction="in", top=True, right=True, labelsize=7,
            labelbottom=low is None,
        )  # fmt: skip

        if low is None or ratio_pair is None:
            main.set_xlabel(name, fontsize=9)
            continue
        num, den = ratio_pair
        ratio, error = ratio_with_error(*heights[num], *heights[den])
        centres = 0.5 * (edges[1:] + edges[:-1])
        low.errorbar(
            centres,
            ratio,
            yerr=error,
            fmt="o",
            markersize=2,
            linewidth=0.8,
            color="black",
        )
        low.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
        lo, hi = _ratio_limits(ratio, error)
        step = max(t for t in (0.1, 0.2, 0.25, 0.5) if t <= 0.8 * (hi - 1.0))
        low.set_ylim(lo, hi)
        low.set_yticks([1.0 - step, 1.0, 1.0 + step])
        low.set_xlabel(name, fontsize=9)
        low.tick_params(direction="in", top=True, right=True, labelsize=7)
        if index % ncols == 0:
            low.set_ylabel(f"{labels[num]}\n/ {labels[den]}", fontsize=7)

    fig.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 1.0),
        ncols=len(labels),
        frameon=False,
        fontsize=11,
    )
    if path is not None:
        save_figure(fig, path)
    return fig


def weighted_correlation(
    features: FloatArray, weight: FloatArray | None = None
) -> FloatArray:
    """Pearson correlation matrix of the columns of ``features`` with event weights.

    rho_jk = C_jk / sqrt(C_jj C_kk) with C_jk = sum_i w_i (x_ij - m_j)(x_ik - m_k)
    / sum_i w_i and m_j the weighted mean. A constant column has NaN
    correlations.
    """
    w = np.ones(features.shape[0]) if weight is None else weight
    mean = (w @ features) / w.sum()
    centred = features - mean
    cov = (centred * w[:, None]).T @ centred / w.sum()
    sd = np.sqrt(np.diag(cov))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr: FloatArray = cov / np.outer(sd, sd)
    return corr


def plot_correlation(
    features: npt.ArrayLike | Mapping[str, npt.ArrayLike],
    names: Sequence[str],
    weight: npt.ArrayLike | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Draw the weighted correlation matrix of the input variables.

    Args:
        features: array of shape (events, variables), or a column table
            from which the ``names`` columns are taken.
        names: variable names, one per column.
        weight: event weights, or None for unit weights.
        ax: axes to draw on; a new figure is made when None.
        title: axes title, e.g. the sample.

    Returns:
        The axes; the image data are the matrix of
        :func:`weighted_correlation`, in percent. Values are written in the
        cells when there are at most 15 variables.
    """
    if isinstance(features, Mapping):
        matrix = np.column_stack([column(features, n, "features") for n in names])
    else:
        matrix = np.asarray(features, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != len(names):
        msg = (
            f"features must have shape (events, {len(names)}) to match the names, "
            f"got {matrix.shape}"
        )
        raise DataError(msg)
    w = None if weight is None else as_float_array(weight, "weight")
    if w is not None and w.size != matrix.shape[0]:
        msg = f"weight has {w.size} entries but features have {matrix.shape[0]} rows"
        raise DataError(msg)
    corr = 100.0 * weighted_correlation(matrix, w)

    n = len(names)
    ax = axes_or_new(ax, figsize=(max(5.0, 0.28 * n + 2.5), max(4.2, 0.28 * n + 1.5)))
    image = ax.imshow(corr, cmap="RdBu_r", vmin=-100.0, vmax=100.0)
    ax.figure.colorbar(image, ax=ax, label="Correlation (%)")
    ax.set_xticks(range(n), names, rotation=90, fontsize=7 if n > 15 else 9)
    ax.set_yticks(range(n), names, fontsize=7 if n > 15 else 9)
    if n <= 15:
        for (i, j), value in np.ndenumerate(corr):
            if np.isfinite(value):
                ax.text(
                    j,
                    i,
                    f"{value:.0f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if abs(value) > 60 else "black",
                )
    if title:
        ax.set_title(title)
    return ax

"""Pieces shared by the plot modules: figures, histograms, input checks, saving.

Figures are built as :class:`matplotlib.figure.Figure` objects on an Agg
canvas, never through pyplot, so plotting touches no global state and works
in threads, workers and without a display.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from hepda._atomic import atomic_path
from hepda._extras import require
from hepda.errors import ConfigError, DataError, did_you_mean

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FloatArray = npt.NDArray[np.float64]

# The paper's colours: signal blue, both backgrounds orange (S1 a line,
# S2 shaded); further samples take the following colours.
SAMPLE_COLORS = ("tab:blue", "tab:orange", "tab:orange", "tab:green", "tab:purple")
SIGNAL_COLOR = "tab:blue"
BACKGROUND_COLOR = "tab:orange"

_SAVE_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}


def new_figure(
    figsize: tuple[float, float] = (6.4, 4.8), *, constrained: bool = True
) -> Figure:
    """Return a new figure attached to an Agg canvas (no pyplot involved).

    Constrained layout is on unless ``constrained`` is False: pages of many
    panels place them by hand, since the layout solver takes seconds there.
    """
    require("matplotlib", "draw hepda figures")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained" if constrained else None)
    FigureCanvasAgg(fig)
    return fig


def axes_or_new(ax: Axes | None, figsize: tuple[float, float] = (6.4, 4.8)) -> Axes:
    """Return ``ax``, or the single axes of a new figure when it is None."""
    if ax is not None:
        return ax
    return new_figure(figsize).add_subplot()


def style_axes(ax: Axes, *, right_ticks: bool = True, minor: bool = True) -> None:
    """Ticks inside on all sides with minor ticks, as HEP figures usually have.

    ``minor=False`` leaves minor ticks out: on a page of dozens of panels
    they cost most of the drawing time and are too small to read anyway.
    """
    if minor:
        ax.minorticks_on()
    ax.tick_params(which="both", direction="in", top=True, right=right_ticks)


def as_float_array(values: object, what: str) -> FloatArray:
    """Return ``values`` as a 1-d float64 array, or raise DataError."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        msg = f"{what} must be one-dimensional, got an array of shape {array.shape}"
        raise DataError(msg)
    return array


def weights_for(values: FloatArray, weights: object | None, what: str) -> FloatArray:
    """Return ``weights`` as float64 (ones when None), checked against ``values``."""
    if weights is None:
        return np.ones_like(values)
    w = as_float_array(weights, f"weights of {what}")
    if w.shape != values.shape:
        msg = (
            f"weights of {what} have {w.size} entries but the values have "
            f"{values.size}; pass one weight per event"
        )
        raise DataError(msg)
    return w


def column(table: Mapping[str, Any], name: str, what: str) -> FloatArray:
    """Return ``table[name]`` as float64, with a helpful error when it is absent."""
    if name not in table:
        msg = (
            f"{what} has no column {name!r}{did_you_mean(name, table)}; "
            f"columns are {sorted(table)!r}"
        )
        raise DataError(msg)
    return as_float_array(table[name], f"column {name!r} of {what}")


def normalised_histogram(
    values: FloatArray, weights: FloatArray, edges: FloatArray, what: str
) -> tuple[FloatArray, FloatArray]:
    """Histogram normalised to unit area, and its statistical error per bin.

    Heights are ``numpy.histogram(values, edges, weights=weights,
    density=True)``; the error of a bin is ``sqrt(sum w^2)`` scaled by the
    same factor. Events outside ``edges`` do not count.
    """
    finite = np.isfinite(values)
    values, weights = values[finite], weights[finite]
    sum_w, _ = np.histogram(values, edges, weights=weights)
    sum_w2, _ = np.histogram(values, edges, weights=weights**2)
    total = float(sum_w.sum())
    if total <= 0.0:
        msg = (
            f"{what} has no positive total weight inside [{edges[0]:g}, "
            f"{edges[-1]:g}] ({values.size} events); cannot normalise its histogram"
        )
        raise DataError(msg)
    scale = 1.0 / (total * np.diff(edges))
    return sum_w * scale, np.sqrt(sum_w2) * scale


def ratio_with_error(
    num: FloatArray, num_err: FloatArray, den: FloatArray, den_err: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """``num / den`` per bin with uncorrelated relative errors added in quadrature.

    Bins where either histogram is empty are NaN, so they are not drawn.
    """
    ok = (den > 0) & (num > 0)
    ratio = np.full_like(num, np.nan)
    error = np.full_like(num, np.nan)
    ratio[ok] = num[ok] / den[ok]
    error[ok] = ratio[ok] * np.hypot(num_err[ok] / num[ok], den_err[ok] / den[ok])
    return ratio, error


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 100) -> Path:
    """Write ``fig`` to ``path`` atomically and return the path.

    A ``.png`` path gets a PNG. A ``.pdf`` (or ``.svg``) path gets that file
    and a PNG beside it with the same stem, since the HTML report embeds
    PNGs. A path without a suffix gets ``.png`` appended. Each file is
    written to a temporary name and renamed, so a killed process never
    leaves a truncated image.
    """
    target = Path(path)
    if target.suffix == "":
        target = target.with_suffix(".png")
    suffix = target.suffix.lower()
    if suffix not in _SAVE_FORMATS:
        msg = (
            f"cannot save a figure as {str(target)!r}: expected a path ending in "
            f"one of {sorted(_SAVE_FORMATS)!r}, got suffix {target.suffix!r}"
        )
        raise ConfigError(msg)
    outputs = [(target, _SAVE_FORMATS[suffix])]
    if suffix != ".png":
        outputs.append((target.with_suffix(".png"), "png"))
    for out, fmt in outputs:
        with atomic_path(out) as tmp:
            # The temporary name ends in .tmp, so the format must be explicit.
            fig.savefig(tmp, format=fmt, dpi=dpi)
    return target

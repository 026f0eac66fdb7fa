"""Event tables to training and validation sets: splits, weights, standardisation."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from hepda.errors import ConfigError, DataError

log = logging.getLogger(__name__)


def validation_mask(
    n: int,
    *,
    val_fraction: float = 0.34,
    seed: int = 0,
    method: str = "random",
    event_number: np.ndarray | None = None,
    n_folds: int = 3,
    fold: int = 0,
) -> np.ndarray:
    """Boolean mask of the validation events (True) among ``n``.

    ``random``: a seeded random choice of round(val_fraction * n) events, the
    paper's 66/34 split by default. ``event_number``: events with
    ``event_number % n_folds == fold`` are validation, which stays fixed
    when files are reordered or concatenated (and gives k-fold splits).
    """
    if method == "random":
        n_val = round(val_fraction * n)
        mask = np.zeros(n, dtype=bool)
        mask[np.random.default_rng(seed).permutation(n)[:n_val]] = True
        return mask
    if method == "event_number":
        if event_number is None:  # pragma: no cover - EventTable always has one
            msg = "split = 'event_number' needs an event_number column"
            raise DataError(msg)
        return np.asarray(event_number % n_folds == fold)
    msg = f"split: expected 'random' or 'event_number', got {method!r}"
    raise ConfigError(msg)


def training_weights(
    label: np.ndarray, weight: np.ndarray, mode: str, origin: str
) -> np.ndarray:
    """Weights that enter the losses, normalised to a mean of 1.

    ``balanced`` scales each class to the same total weight, as if the
    sample held equal numbers of signal and background events (the paper
    trains on such samples; tag-rate-weighted simulation is far from it).
    ``raw`` keeps the physical weights. Negative weights are kept; a class
    whose weights sum to zero or less cannot be balanced and is an error.
    """
    w = np.asarray(weight, dtype=np.float64)
    n = len(w)
    if mode == "raw":
        total = w.sum()
        if total <= 0:
            msg = (
                f"{origin}: the event weights sum to {total:.4g}; "
                "they must sum to a positive number"
            )
            raise DataError(msg)
        return np.asarray(w * (n / total))
    out = np.empty_like(w)
    for cls in (0, 1):
        sel = label == cls
        total = w[sel].sum()
        if sel.any() and total <= 0:
            name = "signal" if cls else "background"
            msg = (
                f"{origin}: the {name} weights sum to {total:.4g}; "
                "class balancing needs a positive sum "
                "(use class_weights = 'raw' or check the weight column)"
            )
            raise DataError(msg)
        out[sel] = w[sel] * (n / 2 / total) if sel.any() else 0.0
    n_classes = int((label == 0).any()) + int((label == 1).any())
    return out * (2 / n_classes) if n_classes == 1 else out


def normalise_mean(weight: np.ndarray) -> np.ndarray:
    """Scale weights to a mean of 1 (sum = number of events)."""
    total = weight.sum()
    if weight.size == 0 or total <= 0:
        return np.ones_like(weight)
    return np.asarray(weight * (weight.size / total))


@dataclass(frozen=True)
class Standardizer:
    """Centre and scale each feature with the source training events' statistics.

    ``mean_`` and ``scale_`` are the weighted mean and standard deviation
    (|weight| so negative weights cannot give a negative variance). A
    constant feature gets scale 1 rather than a division by zero.
    """

    mean_: np.ndarray
    scale_: np.ndarray

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        weight: np.ndarray | None = None,
        rows: np.ndarray | None = None,
    ) -> Standardizer:
        """Fit on the ``rows`` (a boolean mask or indices; all if None) of ``x``.

        One column at a time in float64, so memory stays near one column
        however many events there are.
        """
        index = np.arange(len(x)) if rows is None else np.flatnonzero(rows)
        if rows is not None and np.asarray(rows).dtype != np.bool_:
            index = np.asarray(rows)
        w = (
            np.ones(len(index))
            if weight is None
            else np.abs(np.asarray(weight, dtype=np.float64)[index])
        )
        if w.sum() <= 0:
            w = np.ones(len(index))
        mean = np.empty(x.shape[1])
        var = np.empty(x.shape[1])
        for j in range(x.shape[1]):
            column = x[index, j].astype(np.float64)
            mean[j] = np.average(column, weights=w)
            var[j] = np.average((column - mean[j]) ** 2, weights=w)
        scale = np.sqrt(var)
        constant = scale < 1e-12 * np.maximum(1.0, np.abs(mean))
        if constant.any():
            log.warning(
                "%d feature(s) are constant in the source training events",
                constant.sum(),
            )
        scale[constant] = 1.0
        return cls(mean.astype(np.float32), scale.astype(np.float32))

    def transform(self, x: np.ndarray) -> np.ndarray:
        return np.asarray((x - self.mean_) / self.scale_, dtype=np.float32)

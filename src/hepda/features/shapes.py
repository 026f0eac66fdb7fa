"""Event shapes over a set of objects per event: Fox-Wolfram moments,
aplanarity and centrality.

Objects come as flat arrays with the event each belongs to, so every sum
over an event is one ``np.bincount``; nothing loops over events.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations_with_replacement
from typing import TYPE_CHECKING

import numpy as np
from numpy.polynomial import legendre

if TYPE_CHECKING:
    from numpy.typing import NDArray


def _per_event(
    event: NDArray[np.int64], n_events: int, weights: NDArray[np.float64]
) -> NDArray[np.float64]:
    sums = np.bincount(event, weights=weights, minlength=n_events)
    return sums.astype(np.float64, copy=False)


def _safe_ratio(
    num: NDArray[np.float64], den: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``num / den``, and 0 where ``den`` is 0 (an event with no objects)."""
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den > 0)
    return out


def fox_wolfram(
    event: NDArray[np.int64],
    n_events: int,
    p: NDArray[np.float64],
    energy: NDArray[np.float64],
    orders: Sequence[int] = (0, 1, 2, 3),
) -> dict[int, NDArray[np.float64]]:
    """Fox-Wolfram moments per event.

    H_l = sum_ij |p_i| |p_j| P_l(cos theta_ij) / (sum_i E_i)^2, the sum running
    over all ordered pairs *including* i = j (Fox and Wolfram, Phys. Rev.
    Lett. 41 (1978) 1581; the normalisation of FEATURES.md). With massive
    objects H_0 = (sum |p|)^2 / (sum E)^2 is slightly below 1.

    Instead of the O(N^2) pair sum, P_l(c) = sum_k a_k c^k is expanded and
    each power summed as a square of a symmetric tensor:
    sum_ij |p_i||p_j| (n_i . n_j)^k = sum_{a1..ak} (sum_i |p_i| n_a1..n_ak)^2,
    which costs O(N) per event.

    Args:
        event: event index of every object, ``0 <= event < n_events``.
        n_events: number of events.
        p: three-momenta, shape ``(n_objects, 3)``.
        energy: energies, shape ``(n_objects,)``.
        orders: the moments l to return.

    Returns:
        ``{l: H_l}``, float64 arrays of length ``n_events``; 0 for an event
        without objects.

    >>> ev = np.array([0, 0, 0])
    >>> phi = np.array([0.0, 2.0, 4.0]) * np.pi / 3  # "Mercedes" in a plane
    >>> p = np.stack([np.cos(phi), np.sin(phi), np.zeros(3)], axis=1)
    >>> h = fox_wolfram(ev, 1, p, np.ones(3))
    >>> [round(float(h[l][0]), 6) for l in (0, 1, 2, 3)]
    [1.0, 0.0, 0.25, 0.625]
    """
    magnitude = np.sqrt(np.einsum("ij,ij->i", p, p))
    # Unit vectors; an object with p = 0 adds nothing to any power k >= 1.
    unit = np.zeros_like(p)
    np.divide(p, magnitude[:, None], out=unit, where=magnitude[:, None] > 0)

    powers: dict[int, NDArray[np.float64]] = {}
    for k in range(max(orders) + 1):
        total = np.zeros(n_events)
        for axes in combinations_with_replacement(range(3), k):
            # multinomial factor: how many index tuples share this component
            mult = math.factorial(k)
            for a in range(3):
                mult //= math.factorial(axes.count(a))
            weights = magnitude * np.prod(unit[:, list(axes)], axis=1)
            total += mult * _per_event(event, n_events, weights) ** 2
        powers[k] = total

    norm = _per_event(event, n_events, energy) ** 2
    moments = {}
    for order in orders:
        coefficients = legendre.leg2poly([0] * order + [1])
        num = sum(c * powers[k] for k, c in enumerate(coefficients))
        moments[order] = _safe_ratio(np.asarray(num, dtype=np.float64), norm)
    return moments


def aplanarity(
    event: NDArray[np.int64], n_events: int, p: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Aplanarity A = 3/2 lambda_3 of the normalised momentum tensor.

    S_ab = sum_i p_ia p_ib / sum_i |p_i|^2 with eigenvalues
    lambda_1 >= lambda_2 >= lambda_3 (sum 1); A = 1.5 lambda_3 lies in
    [0, 1/2], 0 for a planar event, 1/2 for an isotropic one (Barger,
    Ohnemus and Phillips, Phys. Rev. D 48 (1993) R3953).

    Table 2 of the paper says "1.5 times second eigenvalue". Read literally
    with the usual descending order that is 1.5 lambda_2, which is not zero
    for planar events and so does not measure aplanarity; the paper names
    the variable aplanarity, so the standard smallest eigenvalue is used
    (FEATURES.md). Events with fewer than three objects are planar: A = 0.

    Returns 0 for an event without objects (the sentinel).

    >>> ev = np.zeros(4, dtype=np.int64)
    >>> tetrahedron = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1.0]])
    >>> round(float(aplanarity(ev, 1, tetrahedron)[0]), 6)
    0.5
    """
    norm = _per_event(event, n_events, np.einsum("ij,ij->i", p, p))
    tensor = np.zeros((n_events, 3, 3))
    for a, b in combinations_with_replacement(range(3), 2):
        s_ab = _safe_ratio(_per_event(event, n_events, p[:, a] * p[:, b]), norm)
        tensor[:, a, b] = s_ab
        tensor[:, b, a] = s_ab
    smallest = np.linalg.eigvalsh(tensor)[:, 0]
    # Rounding makes lambda_3 of a planar event about -1e-17; clip to 0.
    result: NDArray[np.float64] = 1.5 * np.clip(smallest, 0.0, None)
    return result


def centrality(
    event: NDArray[np.int64],
    n_events: int,
    pt: NDArray[np.float64],
    energy: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Centrality sum_i pT_i / sum_i E_i per event; 0 without objects.

    >>> centrality(np.array([0, 0]), 1, np.array([3.0, 1.0]), np.array([5.0, 3.0]))
    array([0.5])
    """
    return _safe_ratio(
        _per_event(event, n_events, pt), _per_event(event, n_events, energy)
    )

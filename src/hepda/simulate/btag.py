"""b-tagging: a plain cut on random tags, or tag-rate weighting (TRF).

Both work on padded ``(events, jets)`` arrays of per-jet tagging
probabilities ``eps`` (0 for padding). With the cut, each jet is tagged with
probability eps and events with fewer than k tags are dropped. With TRF
every event is kept with weight

    w = P(>= k tags) = sum over tag patterns t with |t| >= k of
        prod_j eps_j^t_j (1 - eps_j)^(1 - t_j),

and one pattern is drawn from those with >= k tags with probability
P(t) / w. The expectation of any quantity over the kept events is then the
same as with the cut, at a fraction of the generated events: the ``>= 3
b-tags`` cut keeps a few percent of tt events, TRF keeps all with >= 5 jets
(the method of ATLAS ttH(bb) analyses, e.g. arXiv:1503.05066, sec. 5).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hepda.simulate.config import BTagEfficiencies

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def tag_probabilities(
    flavour: npt.NDArray[np.integer], eff: BTagEfficiencies
) -> FloatArray:
    """Per-jet tag probability from truth flavour (5 b, 4 c, 0 light, -1 pad).

    >>> from hepda.simulate.config import BTagEfficiencies
    >>> tag_probabilities(np.array([[5, 4, 0, -1]]), BTagEfficiencies()).round(4)
    array([[0.7   , 0.1111, 0.0033, 0.    ]])
    """
    return np.select(
        [flavour == 5, flavour == 4, flavour >= 0],
        [eff.b, eff.c, eff.light],
        default=0.0,
    ).astype(np.float64)


def prob_at_least(eps: FloatArray, k: int) -> FloatArray:
    """P(at least ``k`` of the jets are tagged), per event (row).

    The Poisson-binomial tail by dynamic programming over jets, with the
    counts from ``k`` up merged into one absorbing bin.

    >>> float(prob_at_least(np.array([[0.5, 0.5, 0.5]]), 2)[0])
    0.5
    """
    return _suffix_tails(eps, k)[:, 0, k]


def _suffix_tails(eps: FloatArray, k: int) -> FloatArray:
    """Q[e, j, r] = P(jets j.. of event e give >= r tags), r = 0..k."""
    n_events, n_jets = eps.shape
    q = np.zeros((n_events, n_jets + 1, k + 1))
    q[:, :, 0] = 1.0
    for j in range(n_jets - 1, -1, -1):
        e = eps[:, j : j + 1]
        q[:, j, 1:] = e * q[:, j + 1, :-1] + (1.0 - e) * q[:, j + 1, 1:]
    return q


def cut_tags(eps: FloatArray, rng: np.random.Generator) -> BoolArray:
    """Tag each jet independently with probability ``eps``."""
    return rng.random(eps.shape) < eps


def trf_tags(
    eps: FloatArray, k: int, rng: np.random.Generator
) -> tuple[FloatArray, BoolArray]:
    """TRF weights P(>= k tags) and one tag pattern drawn given >= k tags.

    Jets are visited in order; jet j is tagged with the conditional
    probability eps_j Q(j+1, r-1) / Q(j, r), where r is the number of tags
    still needed and Q the suffix tail of :func:`_suffix_tails`. The product
    of these factors is P(t) / P(>= k), as required. Events whose weight is
    zero (fewer than k jets that can be tagged) get no tags.
    """
    q = _suffix_tails(eps, k)
    n_events, n_jets = eps.shape
    rows = np.arange(n_events)
    need = np.full(n_events, k)
    tags = np.zeros(eps.shape, dtype=bool)
    u = rng.random(eps.shape)
    for j in range(n_jets):
        denom = q[rows, j, need]
        numer = eps[:, j] * q[rows, j + 1, np.maximum(need - 1, 0)]
        p_tag = np.divide(numer, denom, out=np.zeros(n_events), where=denom > 0)
        tags[:, j] = u[:, j] < p_tag
        need = np.maximum(need - tags[:, j], 0)
    return q[:, 0, k].copy(), tags

"""hepda's optimizers against torch.optim, the second implementation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from hepda import optim


def _views_of_one_vector(
    arrays: list[np.ndarray],
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Tensors that tile one flat buffer, as StackedDANN lays out its parameters."""
    flat = torch.tensor(np.concatenate([a.ravel() for a in arrays]))
    views, offset = [], 0
    for a in arrays:
        views.append(flat[offset : offset + a.size].view(a.shape))
        offset += a.size
    return views, flat


def _strided_views_of_one_vector(
    arrays: list[np.ndarray],
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Transposed views of blocks of one buffer, as StackedDANN's weights are.

    Each 2-d array (r, c) is stored transposed in a block (c, r + 1) whose
    last column holds a 1-d array of length c that follows it in ``arrays``.
    """
    blocks = []
    for w, b in zip(arrays[0::2], arrays[1::2], strict=True):
        blocks.append(np.concatenate([w.T, b[:, None]], axis=1))
    flat = torch.tensor(np.concatenate([blk.ravel() for blk in blocks]))
    views, offset = [], 0
    for blk in blocks:
        block = flat[offset : offset + blk.size].view(blk.shape)
        views += [block[:, :-1].T, block[:, -1]]
        offset += blk.size
    return views, flat


@pytest.mark.parametrize(
    ("name", "ours", "reference"),
    [
        (
            "adadelta",
            lambda p: optim.Adadelta(p),
            lambda p: torch.optim.Adadelta(p, lr=1.0, rho=0.9, eps=1e-6),
        ),
        (
            "adagrad",
            lambda p: optim.Adagrad(p, lr=0.05),
            lambda p: torch.optim.Adagrad(p, lr=0.05),
        ),
        (
            "nesterov",
            lambda p: optim.Nesterov(p, lr=0.05, momentum=0.9),
            lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
        ),
        (
            "adam",
            lambda p: optim.Adam(p, lr=0.01),
            lambda p: torch.optim.Adam(p, lr=0.01),
        ),
    ],
)
@pytest.mark.parametrize(
    "layout", ["separate", "flat", "flat-params-only", "strided", "strided-mixed"]
)
def test_updates_equal_torch_optim(
    name: str,
    ours: Callable[[list[torch.Tensor]], Any],
    reference: Callable[[list[torch.Tensor]], Any],
    layout: str,
) -> None:
    """Each rule, on separate tensors and on views of one vector (the fast path)."""
    rng = np.random.default_rng(1)
    start = [rng.normal(size=(3, 4)), rng.normal(size=(4,))]
    start += [rng.normal(size=(4, 2)), rng.normal(size=(2,))]
    zeros = [np.zeros_like(x) for x in start]
    if layout == "separate":
        a = [torch.tensor(x) for x in start]
    elif layout.startswith("strided"):
        a, flat = _strided_views_of_one_vector(start)
        grad_views, flat_grad = _strided_views_of_one_vector(zeros)
        if layout == "strided-mixed":  # the gradients in another layout
            grad_views, flat_grad = _views_of_one_vector(zeros)
    else:
        a, flat = _views_of_one_vector(start)
        grad_views, flat_grad = _views_of_one_vector(zeros)
    b = [torch.tensor(x, requires_grad=True) for x in start]
    opt_a, opt_b = ours(a), reference(b)
    assert (opt_a._flat is not None) == (layout != "separate")
    for _ in range(30):
        grads = [torch.tensor(rng.normal(size=x.shape)) for x in start]
        for i, (p, g) in enumerate(zip(a, grads, strict=True)):
            if layout in ("flat", "strided", "strided-mixed"):
                p.grad = grad_views[i].copy_(g)
            else:
                p.grad = g.clone()
        for p, g in zip(b, grads, strict=True):
            p.grad = g.clone()
        opt_a.step()
        opt_b.step()
    for p, q in zip(a, b, strict=True):
        torch.testing.assert_close(p, q.detach(), rtol=1e-12, atol=1e-14)
    if layout != "separate":
        # the views still are the flat buffer: nothing was replaced
        assert a[0]._base is flat
        assert min(p.storage_offset() for p in a) == 0
    if layout in ("flat", "strided", "strided-mixed"):
        assert flat_grad.abs().sum() > 0
    # the one-vector update is taken where the gradients share the layout
    taken = opt_a._flat_grads is not None and opt_a._flat_grads[1] is not None
    assert taken == (layout in ("flat", "strided"))


def test_state_moves_between_layouts() -> None:
    """A state saved by the flat fast path loads into separate tensors and back."""
    rng = np.random.default_rng(3)
    start = [rng.normal(size=(2, 3)), rng.normal(size=(4,))]
    grads = [[rng.normal(size=x.shape) for x in start] for _ in range(8)]
    flat_params, _ = _views_of_one_vector(start)
    flat_opt = optim.Adadelta(flat_params)
    sep_params = [torch.tensor(x) for x in start]
    sep_opt = optim.Adadelta(sep_params)
    for step in grads[:4]:
        for p, g in zip(flat_params, step, strict=True):
            p.grad = torch.tensor(g)
        flat_opt.step()
    for p, q in zip(sep_params, flat_params, strict=True):
        p.copy_(q)
    sep_opt.load_state_dict(flat_opt.state_dict())
    for step in grads[4:]:
        for params, opt in ((flat_params, flat_opt), (sep_params, sep_opt)):
            for p, g in zip(params, step, strict=True):
                p.grad = torch.tensor(g)
            opt.step()
    for p, q in zip(flat_params, sep_params, strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_state_round_trip_continues_identically() -> None:
    rng = np.random.default_rng(2)
    grads = [torch.tensor(rng.normal(size=4)) for _ in range(10)]
    p1 = torch.zeros(4, dtype=torch.float64)
    o1 = optim.Adam([p1])
    for g in grads:
        p1.grad = g
        o1.step()

    p2 = torch.zeros(4, dtype=torch.float64)
    o2 = optim.Adam([p2])
    for g in grads[:5]:
        p2.grad = g
        o2.step()
    saved = o2.state_dict()
    p3 = p2.clone()
    o3 = optim.Adam([p3])
    o3.load_state_dict(saved)
    for g in grads[5:]:
        p3.grad = g
        o3.step()
    torch.testing.assert_close(p1, p3, rtol=0, atol=0)


def test_unknown_optimizer_is_named() -> None:
    with pytest.raises(ValueError, match="adadleta"):
        optim.make("adadleta", [torch.zeros(1)], 1.0)

"""hepda's optimizers against torch.optim, the second implementation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hepda import optim


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
def test_updates_equal_torch_optim(name: str, ours, reference) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    start = [rng.normal(size=(3, 4)), rng.normal(size=(5,))]
    a = [torch.tensor(x) for x in start]
    b = [torch.tensor(x, requires_grad=True) for x in start]
    opt_a, opt_b = ours(a), reference(b)
    for _ in range(30):
        grads = [torch.tensor(rng.normal(size=x.shape)) for x in start]
        for p, g in zip(a, grads, strict=True):
            p.grad = g.clone()
        for p, g in zip(b, grads, strict=True):
            p.grad = g.clone()
        opt_a.step()
        opt_b.step()
    for p, q in zip(a, b, strict=True):
        torch.testing.assert_close(p, q.detach(), rtol=1e-12, atol=1e-14)


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

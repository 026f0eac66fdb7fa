"""The optimizers of the paper's section 4.2, written out element by element.

Adadelta (Eqs. 10-15), Adagrad, SGD with Nesterov momentum, and Adam. They
follow PyTorch's definitions (the tests compare them with ``torch.optim``)
but are a few lines each: every update is element-wise, so K models stacked
in one tensor are updated exactly as if each were alone, and building one
does not pull in ``torch.optim``'s compiler machinery, which costs seconds
at every start of a process.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor


class Optimizer(ABC):
    """Base: parameters with ``.grad`` filled, per-parameter state tensors."""

    state_names: tuple[str, ...] = ()

    def __init__(self, params: Sequence[Tensor], lr: float) -> None:
        self.params = list(params)
        self.lr = lr
        self.step_count = 0
        self.state: list[dict[str, Tensor]] = [
            {name: torch.zeros_like(p) for name in self.state_names}
            for p in self.params
        ]

    @torch.no_grad()
    def step(self) -> None:
        self.step_count += 1
        for p, state in zip(self.params, self.state, strict=True):
            if p.grad is not None:
                self.update(p, p.grad, state)

    @abstractmethod
    def update(self, p: Tensor, g: Tensor, state: dict[str, Tensor]) -> None:
        """Apply one step to ``p`` given its gradient ``g`` and its state."""

    def state_dict(self) -> dict[str, Any]:
        return {
            "step_count": self.step_count,
            "state": [{k: v.clone() for k, v in s.items()} for s in self.state],
        }

    def load_state_dict(self, data: dict[str, Any]) -> None:
        self.step_count = int(data["step_count"])
        for mine, saved in zip(self.state, data["state"], strict=True):
            for key, value in saved.items():
                mine[key].copy_(value)


class Adadelta(Optimizer):
    """Zeiler's Adadelta, the paper's Eqs. 10-15 (lr = 1 gives them exactly).

    E[g^2]_t = rho E[g^2]_{t-1} + (1 - rho) g_t^2;
    dtheta_t = -sqrt(E[dtheta^2]_{t-1} + eps) / sqrt(E[g^2]_t + eps) * g_t;
    E[dtheta^2]_t = rho E[dtheta^2]_{t-1} + (1 - rho) dtheta_t^2.
    """

    state_names = ("square_avg", "acc_delta")

    def __init__(
        self,
        params: Sequence[Tensor],
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
    ) -> None:
        super().__init__(params, lr)
        self.rho, self.eps = rho, eps

    def update(self, p: Tensor, g: Tensor, state: dict[str, Tensor]) -> None:
        sq, acc = state["square_avg"], state["acc_delta"]
        sq.mul_(self.rho).addcmul_(g, g, value=1 - self.rho)
        delta = (acc + self.eps).sqrt_().div_((sq + self.eps).sqrt_()).mul_(g)
        acc.mul_(self.rho).addcmul_(delta, delta, value=1 - self.rho)
        p.sub_(delta, alpha=self.lr)


class Adagrad(Optimizer):
    """Adagrad: theta -= lr g / (sqrt(sum of g^2) + eps)."""

    state_names = ("sum",)

    def __init__(
        self, params: Sequence[Tensor], lr: float = 0.01, eps: float = 1e-10
    ) -> None:
        super().__init__(params, lr)
        self.eps = eps

    def update(self, p: Tensor, g: Tensor, state: dict[str, Tensor]) -> None:
        state["sum"].addcmul_(g, g)
        p.addcdiv_(g, state["sum"].sqrt().add_(self.eps), value=-self.lr)


class Nesterov(Optimizer):
    """SGD with Nesterov momentum (PyTorch's formulation).

    b_t = mu b_{t-1} + g_t (b_1 = g_1); theta -= lr (g_t + mu b_t).
    """

    state_names = ("momentum_buffer",)

    def __init__(
        self, params: Sequence[Tensor], lr: float = 0.01, momentum: float = 0.9
    ) -> None:
        super().__init__(params, lr)
        self.momentum = momentum

    def update(self, p: Tensor, g: Tensor, state: dict[str, Tensor]) -> None:
        buf = state["momentum_buffer"]
        if self.step_count == 1:
            buf.copy_(g)
        else:
            buf.mul_(self.momentum).add_(g)
        p.sub_(g + self.momentum * buf, alpha=self.lr)


class Adam(Optimizer):
    """Adam with bias correction (beta1 0.9, beta2 0.999, eps 1e-8)."""

    state_names = ("exp_avg", "exp_avg_sq")

    def __init__(
        self,
        params: Sequence[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        super().__init__(params, lr)
        self.betas, self.eps = betas, eps

    def update(self, p: Tensor, g: Tensor, state: dict[str, Tensor]) -> None:
        b1, b2 = self.betas
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.mul_(b1).add_(g, alpha=1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        t = self.step_count
        denom = (v / (1 - b2**t)).sqrt_().add_(self.eps)
        p.addcdiv_(m, denom, value=-self.lr / (1 - b1**t))


def make(
    name: str, params: Sequence[Tensor], lr: float, momentum: float = 0.9
) -> Optimizer:
    """The optimizer called ``name`` (adadelta, adagrad, nesterov, adam)."""
    if name == "adadelta":
        return Adadelta(params, lr=lr)
    if name == "adagrad":
        return Adagrad(params, lr=lr)
    if name == "nesterov":
        return Nesterov(params, lr=lr, momentum=momentum)
    if name == "adam":
        return Adam(params, lr=lr)
    msg = f"optimizer: expected adadelta, adagrad, nesterov or adam, got {name!r}"
    raise ValueError(msg)


__all__ = ["Adadelta", "Adagrad", "Adam", "Nesterov", "Optimizer", "make"]

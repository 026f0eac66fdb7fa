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


def _flat_base(tensors: Sequence[Tensor]) -> Tensor | None:
    """The 1-d tensor that ``tensors`` are views of and cover exactly once, or None.

    The views may be strided (StackedDANN's weights are transposed slices of
    its blocks): an element-wise update of the base is then the update of
    every view.
    """
    base = tensors[0]._base if tensors else None
    if base is None or base.dim() != 1 or not base.is_contiguous():
        return None
    if any(t._base is not base for t in tensors):
        return None
    if sum(t.numel() for t in tensors) != base.numel():
        return None
    # As many elements as the base and each one of its positions reached:
    # the views tile it without overlap.
    position = torch.arange(base.numel())
    covered = torch.zeros(base.numel(), dtype=torch.bool)
    for t in tensors:
        covered[_same_view(position, t, base)] = True
    return base if bool(covered.all()) else None


def _same_view(flat: Tensor, t: Tensor, base: Tensor) -> Tensor:
    """The view of 1-d ``flat`` that ``t`` is of ``base`` (same shape and strides)."""
    offset = t.storage_offset() - base.storage_offset()
    return flat.as_strided(t.shape, t.stride(), flat.storage_offset() + offset)


class Optimizer(ABC):
    """Base: parameters with ``.grad`` filled, per-parameter state tensors.

    Each rule is written once over lists of tensors with torch's multi-tensor
    (``_foreach``) operations: one call updates every parameter, which matters
    when a step is a few milliseconds of arithmetic.
    """

    state_names: tuple[str, ...] = ()

    def __init__(self, params: Sequence[Tensor], lr: float) -> None:
        self.params = list(params)
        self.lr = lr
        self.step_count = 0
        # Parameters that tile one vector (StackedDANN's) are updated as that
        # vector: a few operations per step instead of a few per tensor. The
        # state then tiles a vector too, and per-parameter views of it keep
        # state_dict() the same either way.
        self._flat = _flat_base(self.params)
        self._flat_state: dict[str, Tensor] = {}
        #: The gradients last checked, and the vector they tile in the
        #: parameters' layout (None if they do not).
        self._flat_grads: tuple[list[Tensor], Tensor | None] | None = None
        if self._flat is not None:
            flat_params = self._flat
            self._flat_state = {
                name: torch.zeros_like(flat_params) for name in self.state_names
            }
            self.state: list[dict[str, Tensor]] = [
                {
                    name: _same_view(flat, p, flat_params)
                    for name, flat in self._flat_state.items()
                }
                for p in self.params
            ]
        else:
            self.state = [
                {name: torch.zeros_like(p) for name in self.state_names}
                for p in self.params
            ]

    @torch.no_grad()
    def step(self) -> None:
        self.step_count += 1
        chosen = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not chosen:
            return
        grads = [self.params[i].grad for i in chosen]
        if self._flat is not None and len(chosen) == len(self.params):
            flat_grad = self._tiled_grads(grads, self._flat)  # type: ignore[arg-type]
            if flat_grad is not None:
                self.update(
                    [self._flat],
                    [flat_grad],
                    {name: [flat] for name, flat in self._flat_state.items()},
                )
                return
        params = [self.params[i] for i in chosen]
        states = {
            name: [self.state[i][name] for i in chosen] for name in self.state_names
        }
        self.update(params, grads, states)  # type: ignore[arg-type]

    def _tiled_grads(self, grads: list[Tensor], flat_params: Tensor) -> Tensor | None:
        """The vector ``grads`` tile in the layout of the parameters, or None.

        Checked once for a given set of gradient tensors (StackedDANN keeps
        the same ones from step to step), not at every step.
        """
        cached = self._flat_grads
        if cached is not None and all(
            g is c for g, c in zip(grads, cached[0], strict=True)
        ):
            return cached[1]
        flat = _flat_base(grads)
        if flat is not None and any(
            g.stride() != p.stride()
            or g.storage_offset() - flat.storage_offset()
            != p.storage_offset() - flat_params.storage_offset()
            for g, p in zip(grads, self.params, strict=True)
        ):
            flat = None
        self._flat_grads = (list(grads), flat)
        return flat

    @abstractmethod
    def update(
        self, params: list[Tensor], grads: list[Tensor], state: dict[str, list[Tensor]]
    ) -> None:
        """Apply one step to ``params`` given their gradients and state lists."""

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

    def update(
        self, params: list[Tensor], grads: list[Tensor], state: dict[str, list[Tensor]]
    ) -> None:
        sq, acc = state["square_avg"], state["acc_delta"]
        torch._foreach_mul_(sq, self.rho)
        torch._foreach_addcmul_(sq, grads, grads, value=1 - self.rho)
        std = torch._foreach_add(sq, self.eps)
        torch._foreach_sqrt_(std)
        delta = torch._foreach_add(acc, self.eps)
        torch._foreach_sqrt_(delta)
        torch._foreach_div_(delta, std)
        torch._foreach_mul_(delta, grads)
        torch._foreach_mul_(acc, self.rho)
        torch._foreach_addcmul_(acc, delta, delta, value=1 - self.rho)
        torch._foreach_add_(params, delta, alpha=-self.lr)


class Adagrad(Optimizer):
    """Adagrad: theta -= lr g / (sqrt(sum of g^2) + eps)."""

    state_names = ("sum",)

    def __init__(
        self, params: Sequence[Tensor], lr: float = 0.01, eps: float = 1e-10
    ) -> None:
        super().__init__(params, lr)
        self.eps = eps

    def update(
        self, params: list[Tensor], grads: list[Tensor], state: dict[str, list[Tensor]]
    ) -> None:
        total = state["sum"]
        torch._foreach_addcmul_(total, grads, grads)
        std = torch._foreach_sqrt(total)
        torch._foreach_add_(std, self.eps)
        torch._foreach_addcdiv_(params, grads, std, value=-self.lr)


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

    def update(
        self, params: list[Tensor], grads: list[Tensor], state: dict[str, list[Tensor]]
    ) -> None:
        buf = state["momentum_buffer"]
        if self.step_count == 1:
            torch._foreach_copy_(buf, grads)
        else:
            torch._foreach_mul_(buf, self.momentum)
            torch._foreach_add_(buf, grads)
        step = torch._foreach_add(grads, buf, alpha=self.momentum)
        torch._foreach_add_(params, step, alpha=-self.lr)


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

    def update(
        self, params: list[Tensor], grads: list[Tensor], state: dict[str, list[Tensor]]
    ) -> None:
        b1, b2 = self.betas
        m, v = state["exp_avg"], state["exp_avg_sq"]
        torch._foreach_mul_(m, b1)
        torch._foreach_add_(m, grads, alpha=1 - b1)
        torch._foreach_mul_(v, b2)
        torch._foreach_addcmul_(v, grads, grads, value=1 - b2)
        t = self.step_count
        denom = torch._foreach_div(v, 1 - b2**t)
        torch._foreach_sqrt_(denom)
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(params, m, denom, value=-self.lr / (1 - b1**t))


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

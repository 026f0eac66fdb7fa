"""The DANN of the paper (section 2.2), stacked: K independent models in one
set of tensors.

Each member has a feature extractor G_f (hidden layers with ReLU), a label head
G_y and a domain head G_d (one linear layer each, sigmoid output). The total
loss is L = L_y + lambda L_d (Eq. 6) and the gradients the optimizer sees are
those of Eqs. 7-9::

    dL/d(theta_y) = dL_y/d(theta_y)
    dL/d(theta_d) = lambda dL_d/d(theta_d)
    dL/d(theta_f) = dL_y/d(theta_f) - lambda dL_d/d(theta_f)

that is, a gradient reversal layer between G_f and G_d. A single model is the
stack with K = 1, so ``hepda train`` and ``hepda scan`` share this code.

The backward pass is written out by hand rather than taken from autograd: for
these small layers autograd's bookkeeping costs as much as the arithmetic
(DESIGN.md, "Training speed"). The tests check it against autograd through an
explicit gradient-reversal function.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

#: Bytes of one stacked activation (K x rows x width) that a training step
#: processes at once; larger batches go in pieces (see rows_per_piece).
PIECE_BYTES = 2 << 20


@dataclass(frozen=True)
class BatchTargets:
    """Per-event targets and loss coefficients of one training batch.

    Row 0 belongs to the label loss, row 1 to the domain loss, matching the
    (K, 2, B) logits of the two heads, so both losses and their gradients
    are computed together. ``coef[0]`` holds w_i / m for source events (0
    for target events), so that L_y = sum_i coef_label_i * BCE_i (Eq. 4 with
    weights); ``coef[1]`` holds the domain weights divided by the number of
    domain events, 0 for events the discriminator mode does not show to G_d
    (Eq. 5). ``target[0]`` (the class label) is ignored where ``coef[0]`` is 0.
    """

    target: Tensor  # (2, B): class label (1 signal), domain label (1 target)
    coef: Tensor  # (2, B): coefficients of L_y and L_d

    @classmethod
    def of(
        cls, label: Tensor, coef_label: Tensor, domain: Tensor, coef_domain: Tensor
    ) -> BatchTargets:
        """Targets from the four per-event vectors, each (B,)."""
        return cls(torch.stack([label, domain]), torch.stack([coef_label, coef_domain]))

    @property
    def label(self) -> Tensor:
        return self.target[0]

    @property
    def domain(self) -> Tensor:
        return self.target[1]

    @property
    def coef_label(self) -> Tensor:
        return self.coef[0]

    @property
    def coef_domain(self) -> Tensor:
        return self.coef[1]

    def __getitem__(self, rows: slice) -> BatchTargets:
        """The targets of a slice of the batch's events."""
        return BatchTargets(self.target[:, rows], self.coef[:, rows])


def _stacked(layer: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    """One layer's (weight, bias) of every member, stacked on a leading axis."""
    return torch.stack([w for w, _ in layer]), torch.stack([b for _, b in layer])


def _bce_with_logits(z: Tensor, target: Tensor) -> Tensor:
    # log(1 + e^z) - t z, stable for large |z|
    return torch.nn.functional.softplus(z) - target * z


def _matmul(a: Tensor, b: Tensor) -> Tensor:
    """Batched product of (K, m, n) and (K, n, p); for K = 1 one plain GEMM.

    A batch of one through ``bmm`` costs a little more than ``mm`` on the
    CPU; a training step makes a dozen of these products.
    """
    if a.shape[0] == 1:
        return torch.mm(a[0], b[0]).unsqueeze(0)
    return torch.bmm(a, b)


class StackedDANN:
    """K DANN members sharing layer shapes, each with its own weights and lambda.

    Parameters are plain tensors with the member as the leading axis:
    ``weights[l]`` is (K, in, out) and ``biases[l]`` (K, 1, out) for the
    hidden layers, then the label head and the domain head. They are leaf
    tensors whose ``.grad`` :meth:`forward_backward` fills, so any
    element-wise optimizer (:mod:`hepda.optim`) updates all members at once, and
    exactly as it would update each member alone.
    """

    def __init__(
        self,
        n_features: int,
        hidden: Sequence[int],
        seeds: Sequence[int],
        *,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ) -> None:
        if n_features <= 0 or not hidden or any(h <= 0 for h in hidden):
            msg = f"need n_features > 0 and positive widths, got {n_features}, {hidden}"
            raise ValueError(msg)
        self.n_features = n_features
        self.hidden = tuple(int(h) for h in hidden)
        self.seeds = tuple(int(s) for s in seeds)
        self.n_members = len(self.seeds)
        self.dtype = dtype
        self.device = torch.device(device)

        # Same law as torch.nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        # for weights and biases, drawn per member from its own seed in float64
        # so float32 and float64 runs start from the same numbers.
        widths = (n_features, *self.hidden)
        shapes = list(itertools.pairwise(widths))
        shapes += [(self.hidden[-1], 1), (self.hidden[-1], 1)]
        per_member: list[list[tuple[Tensor, Tensor]]] = []
        for seed in self.seeds:
            gen = torch.Generator().manual_seed(seed)
            layers = []
            for fan_in, fan_out in shapes:
                bound = 1.0 / math.sqrt(fan_in)
                w = (
                    torch.rand(fan_in, fan_out, generator=gen, dtype=torch.float64) * 2
                    - 1
                ) * bound
                b = (
                    torch.rand(1, fan_out, generator=gen, dtype=torch.float64) * 2 - 1
                ) * bound
                layers.append((w, b))
            per_member.append(layers)

        # All parameters are views of one flat buffer, and their gradients
        # views of another: the optimizer then updates every tensor with a
        # handful of operations on one vector instead of a loop over ten
        # small ones (hepda.optim), which is a tenth of a lean step on a CPU.
        tensors = [
            t for layer in zip(*per_member, strict=True) for t in _stacked(layer)
        ]
        total = sum(t.numel() for t in tensors)
        self._flat = torch.empty(total, dtype=dtype, device=self.device)
        self._flat_grad = torch.zeros(total, dtype=dtype, device=self.device)
        self._grad_views: list[Tensor] = []
        views: list[Tensor] = []
        offset = 0
        for t in tensors:
            size = t.numel()
            view = self._flat[offset : offset + size].view(t.shape)
            view.copy_(t)
            views.append(view)
            self._grad_views.append(
                self._flat_grad[offset : offset + size].view(t.shape)
            )
            offset += size
        self.weights: list[Tensor] = views[0::2]
        self.biases: list[Tensor] = views[1::2]

    # -- parameters ---------------------------------------------------------

    @property
    def n_hidden_layers(self) -> int:
        return len(self.hidden)

    def parameters(self) -> list[Tensor]:
        """All parameter tensors in a fixed order (layer by layer, weight then bias)."""
        out: list[Tensor] = []
        for w, b in zip(self.weights, self.biases, strict=True):
            out += [w, b]
        return out

    def parameter_names(self) -> list[str]:
        names = []
        for i in range(self.n_hidden_layers):
            names += [f"extractor.{i}.weight", f"extractor.{i}.bias"]
        names += ["label_head.weight", "label_head.bias"]
        names += ["domain_head.weight", "domain_head.bias"]
        return names

    def state_dict(self) -> dict[str, Tensor]:
        return {
            n: p.detach().clone()
            for n, p in zip(self.parameter_names(), self.parameters(), strict=True)
        }

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        for name, p in zip(self.parameter_names(), self.parameters(), strict=True):
            if state[name].shape != p.shape:
                msg = (
                    f"checkpoint tensor {name} has shape "
                    f"{tuple(state[name].shape)}, expected {tuple(p.shape)}"
                )
                raise ValueError(msg)
            p.copy_(state[name])

    # -- forward ------------------------------------------------------------

    def _extract(self, x: Tensor) -> list[Tensor]:
        """Activations of every hidden layer, each (K, width, B); x is (B, F).

        Features by events: batched products of a few dozen features with
        a thousand events run about 1.5 times faster in this orientation than
        with events as rows. Biases are added after the product: ``addmm``
        with a broadcast bias first copies the bias into every column, which
        costs more than an in-place add.
        """
        k, n = self.n_members, x.shape[0]
        h0 = self.hidden[0]
        # One GEMM for the first layer of all members: (K*h, F) @ (F, B).
        w0 = self.weights[0].transpose(1, 2).reshape(k * h0, self.n_features)
        a = torch.mm(w0, x.T).view(k, h0, n)
        acts = [a.add_(self.biases[0].transpose(1, 2)).relu_()]
        for w, b in zip(
            self.weights[1 : self.n_hidden_layers], self.biases[1:], strict=False
        ):
            a = _matmul(w.transpose(1, 2), acts[-1])
            acts.append(a.add_(b.transpose(1, 2)).relu_())
        return acts

    def _heads(self, features: Tensor) -> Tensor:
        """Label and domain logits, (K, 2, B), from features (K, width, B)."""
        i = self.n_hidden_layers
        w = torch.cat(self.weights[i:], dim=2).transpose(1, 2)
        b = torch.cat(self.biases[i:], dim=2).transpose(1, 2)
        return _matmul(w, features).add_(b)

    @torch.no_grad()
    def logits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Label and domain logits, each (K, B), for inputs x of shape (B, F)."""
        z = self._heads(self._extract(x)[-1])
        return z[:, 0], z[:, 1]

    @torch.no_grad()
    def features(self, x: Tensor) -> Tensor:
        """The learned representation G_f(x), (K, B, width)."""
        return self._extract(x)[-1].transpose(1, 2)

    # -- training step ------------------------------------------------------

    def rows_per_piece(self, dtype: torch.dtype | None = None) -> int:
        """Rows of a batch processed at once so that a stacked activation stays small.

        An activation is (K, rows, width); kept under :data:`PIECE_BYTES` it
        stays in cache and in memory the allocator reuses, instead of fresh
        pages that fault on every step (DESIGN.md, "Training speed").
        """
        itemsize = torch.empty(0, dtype=dtype or self.dtype).element_size()
        widest = max(self.n_features, *self.hidden)
        return max(256, PIECE_BYTES // (self.n_members * widest * itemsize))

    @torch.no_grad()
    def forward_backward(
        self, x: Tensor, targets: BatchTargets, lambdas: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Fill every parameter's ``.grad`` with Eqs. 7-9; return (L_y, L_d), each (K,).

        ``lambdas`` is (K,): each member's lambda for this step. L_d is the
        plain domain loss (not multiplied by lambda). A large stacked batch
        is processed in pieces of :meth:`rows_per_piece` rows whose
        gradients add up: the losses are sums over events, so this is exact
        up to the order of the floating-point additions.
        """
        n = x.shape[0]
        n_pieces = max(1, math.ceil(n / self.rows_per_piece(x.dtype)))
        if n_pieces == 1:
            return self._forward_backward(x, targets, lambdas)
        bounds = [round(i * n / n_pieces) for i in range(n_pieces + 1)]
        loss_y = loss_d = None
        for a, b in itertools.pairwise(bounds):
            ly, ld = self._forward_backward(x[a:b], targets[a:b], lambdas)
            loss_y = ly if loss_y is None else loss_y.add_(ly)
            loss_d = ld if loss_d is None else loss_d.add_(ld)
        assert loss_y is not None and loss_d is not None  # n_pieces >= 2
        return loss_y, loss_d

    def _forward_backward(
        self, x: Tensor, targets: BatchTargets, lambdas: Tensor
    ) -> tuple[Tensor, Tensor]:
        k = self.n_members
        n_hidden = self.n_hidden_layers
        acts = self._extract(x)  # each (K, width, B)
        feats = acts[-1]
        z = self._heads(feats)  # (K, 2, B): label, domain

        # Both losses (Eqs. 4, 5) at once, and their derivatives with
        # respect to the logits: sigmoid(z) - t, times the coefficients.
        t, c = targets.target, targets.coef
        losses = (_bce_with_logits(z, t) * c).sum(2)  # (K, 2)
        dz = torch.sigmoid(z).sub_(t).mul_(c)
        # Eq. 8: theta_d sees lambda dL_d.
        dz[:, 1].mul_(lambdas.to(dz.dtype).view(k, 1))

        # Heads: weight gradients (K, h, 2) and bias gradients (K, 1, 2).
        grads_w: list[Tensor] = [torch.empty(0)] * len(self.weights)
        grads_b: list[Tensor] = [torch.empty(0)] * len(self.biases)
        gw_heads = _matmul(dz, feats.transpose(1, 2)).transpose(1, 2)
        gb_heads = dz.sum(2).view(k, 1, 2)
        grads_w[n_hidden], grads_w[n_hidden + 1] = gw_heads[..., :1], gw_heads[..., 1:]
        grads_b[n_hidden], grads_b[n_hidden + 1] = gb_heads[..., :1], gb_heads[..., 1:]

        # Gradient reversal (Eq. 9): the extractor receives dL_y - lambda dL_d.
        w_reversed = torch.cat(
            [self.weights[n_hidden], -self.weights[n_hidden + 1]], dim=2
        )
        g = _matmul(w_reversed, dz)  # (K, h, B)

        # Back through the ReLU layers. Weight gradients come out as
        # (K, out, in), g times the transposed activations: with the long
        # event axis contracted in this order the GEMM runs faster.
        for i in range(n_hidden - 1, -1, -1):
            g = torch.ops.aten.threshold_backward(g, acts[i], 0)
            grads_b[i] = g.sum(2).view(k, 1, -1)
            if i > 0:
                grads_w[i] = _matmul(g, acts[i - 1].transpose(1, 2)).transpose(1, 2)
                g = _matmul(self.weights[i], g)
            else:
                gw = g.view(k * self.hidden[0], -1) @ x  # (K*h, F)
                grads_w[0] = gw.view(k, self.hidden[0], -1).transpose(1, 2)

        grads = [g for pair in zip(grads_w, grads_b, strict=True) for g in pair]
        for p, gp, view in zip(self.parameters(), grads, self._grad_views, strict=True):
            if p.grad is None:
                p.grad = view.copy_(gp)
            else:
                p.grad.add_(gp)
        return losses[:, 0], losses[:, 1]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    # -- single members -----------------------------------------------------

    def member_classifier(
        self, k: int, mean: Sequence[float] | Tensor, scale: Sequence[float] | Tensor
    ) -> DANNClassifier:
        """The classifier branch (G_f then G_y, sigmoid) of member ``k`` as a module.

        Standardisation is folded in as a first step, so the module takes raw
        features. Used for export and for scoring new samples.
        """
        layers = [
            (self.weights[i][k].detach().clone(), self.biases[i][k, 0].detach().clone())
            for i in range(self.n_hidden_layers + 1)
        ]
        return DANNClassifier(layers, mean, scale)


class DANNClassifier(nn.Module):
    """G_y(G_f((x - mean) / scale)) with a sigmoid: the deployable part of one member.

    Input: raw features (batch, n_features); output: score (batch,) in [0, 1].
    """

    def __init__(
        self,
        layers: Sequence[tuple[Tensor, Tensor]],
        mean: Sequence[float] | Tensor,
        scale: Sequence[float] | Tensor,
    ) -> None:
        super().__init__()
        first = layers[0][0]
        self.register_buffer(
            "mean", torch.as_tensor(mean, dtype=first.dtype).reshape(-1)
        )
        self.register_buffer(
            "scale", torch.as_tensor(scale, dtype=first.dtype).reshape(-1)
        )
        self.hidden = nn.ModuleList()
        for w, b in layers[:-1]:
            lin = nn.Linear(w.shape[0], w.shape[1], dtype=w.dtype)
            lin.weight.data.copy_(w.T)
            lin.bias.data.copy_(b)
            self.hidden.append(lin)
        w, b = layers[-1]
        self.head = nn.Linear(w.shape[0], 1, dtype=w.dtype)
        self.head.weight.data.copy_(w.T)
        self.head.bias.data.copy_(b)

    def standardise(self, x: Tensor) -> Tensor:
        """Raw features in the scale the network was trained on."""
        # Buffers: mypy sees Tensor | Module; TorchScript cannot take a class
        # annotation here, so the operator check is silenced instead.
        h = (x - self.mean) / self.scale  # type: ignore[operator]
        return h

    def representation(self, x: Tensor) -> Tensor:
        """G_f of the standardised inputs: what the label head reads, (batch, width)."""
        h = self.standardise(x)
        for lin in self.hidden:
            h = torch.relu(lin(h))
        return h

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.head(self.representation(x))).squeeze(-1)

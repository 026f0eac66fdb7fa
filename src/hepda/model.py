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


def _bce_with_logits(z: Tensor, target: Tensor) -> Tensor:
    # log(1 + e^z) - t z, stable for large |z|
    return torch.nn.functional.softplus(z) - target * z


def with_ones(x: Tensor) -> Tensor:
    """x (B, F) with a last column of ones, (B, F + 1): the input a block takes."""
    return torch.nn.functional.pad(x, (0, 1), value=1.0)


def _weight_and_bias_views(blocks: Sequence[Tensor]) -> list[Tensor]:
    """Per-layer (weight (K, in, out), bias (K, 1, out)) views of the blocks.

    The hidden layers' blocks, then the heads' block whose row 0 is the
    label head and row 1 the domain head; flat in parameter order.
    """
    views: list[Tensor] = []
    for block in blocks[:-1]:
        views += [block[:, :, :-1].transpose(1, 2), block[:, :, -1:].transpose(1, 2)]
    heads = blocks[-1]
    for row in (0, 1):
        one = heads[:, row : row + 1]
        views += [one[:, :, :-1].transpose(1, 2), one[:, :, -1:].transpose(1, 2)]
    return views


class StackedDANN:
    """K DANN members sharing layer shapes, each with its own weights and lambda.

    Parameters are plain tensors with the member as the leading axis:
    ``weights[l]`` is (K, in, out) and ``biases[l]`` (K, 1, out) for the
    hidden layers, then the label head and the domain head. They are leaf
    tensors whose ``.grad`` :meth:`forward_backward` fills, so any
    element-wise optimizer (:mod:`hepda.optim`) updates all members at once, and
    exactly as it would update each member alone.

    Storage: each layer is one block (K, out, in + 1) of a single flat
    buffer, its transposed weights with the bias as the last column (the two
    heads share a block, (K, 2, width + 1), label head first). Every layer's
    input carries a last row (or column) of ones, so one product with the
    block applies weights and bias, and one product of the back-propagated
    gradient with that input gives the weight and bias gradients together,
    written straight into the gradient buffer: no bias additions or sums and
    no copies, which cost several per cent of a step at these widths.
    ``weights`` and ``biases`` are views of the blocks, the gradients views
    of a second buffer laid out alike.
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
        k = self.n_members

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

        # The blocks tile one flat buffer, their gradients another: the
        # optimizer then updates every tensor with a handful of operations
        # on one vector instead of a loop over ten small ones (hepda.optim).
        block_shapes = [(out, fan_in + 1) for fan_in, out in shapes[: len(hidden)]]
        block_shapes.append((2, self.hidden[-1] + 1))
        total = k * sum(rows * cols for rows, cols in block_shapes)
        self._flat = torch.empty(total, dtype=dtype, device=self.device)
        self._flat_grad = torch.zeros(total, dtype=dtype, device=self.device)
        self._blocks: list[Tensor] = []
        self._grad_blocks: list[Tensor] = []
        offset = 0
        for rows, cols in block_shapes:
            size = k * rows * cols
            self._blocks.append(self._flat[offset : offset + size].view(k, rows, cols))
            self._grad_blocks.append(
                self._flat_grad[offset : offset + size].view(k, rows, cols)
            )
            offset += size
        views = _weight_and_bias_views(self._blocks)
        self.weights: list[Tensor] = views[0::2]
        self.biases: list[Tensor] = views[1::2]
        self._grad_views = _weight_and_bias_views(self._grad_blocks)
        self._params = views  # weight, bias, layer by layer
        # What the step multiplies: for one member the blocks as matrices, so
        # that every product is one plain GEMM on 2-d tensors (a batch of one
        # through bmm, and the views to get in and out of it, cost more);
        # for a stack the (K, rows, cols) blocks and batched products.
        if k == 1:
            self._mats = [b[0] for b in self._blocks]
            self._grad_mats = [b[0] for b in self._grad_blocks]
        else:
            self._mats, self._grad_mats = self._blocks, self._grad_blocks
        self._itemsize = self._flat.element_size()
        with torch.no_grad():
            for m, layers in enumerate(per_member):
                for (w, b), weight, bias in zip(
                    layers, self.weights, self.biases, strict=True
                ):
                    weight[m] = w
                    bias[m] = b

    # -- parameters ---------------------------------------------------------

    @property
    def n_hidden_layers(self) -> int:
        return len(self.hidden)

    def parameters(self) -> list[Tensor]:
        """All parameter tensors in a fixed order (layer by layer, weight then bias)."""
        return list(self._params)

    def parameter_names(self) -> list[str]:
        names = []
        for i in range(self.n_hidden_layers):
            names += [f"extractor.{i}.weight", f"extractor.{i}.bias"]
        names += ["label_head.weight", "label_head.bias"]
        names += ["domain_head.weight", "domain_head.bias"]
        return names

    def state_dict(self) -> dict[str, Tensor]:
        return {
            n: p.detach().clone(memory_format=torch.contiguous_format)
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

    def finite_members(self) -> Tensor:
        """(K,) bool: whether every weight and bias of each member is finite."""
        k = self.n_members
        finite = [torch.isfinite(b).view(k, -1).all(1) for b in self._blocks]
        return torch.stack(finite).all(0)

    # -- forward ------------------------------------------------------------

    def _extract(self, x: Tensor) -> list[Tensor]:
        """Activations of every hidden layer with a last row of ones, each
        (K, width + 1, B), or (width + 1, B) for one member; x is (B, F + 1)
        with a last column of ones.

        Features by events: batched products of a few dozen features with
        a thousand events run about 1.5 times faster in this orientation than
        with events as rows.
        """
        k, n = self.n_members, x.shape[0]
        acts: list[Tensor] = []
        for i, w in enumerate(self._mats[:-1]):
            h = w.shape[-2]
            a = torch.empty(*w.shape[:-2], h + 1, n, dtype=x.dtype, device=x.device)
            if k == 1:  # the product straight into the activation
                torch.mm(w, acts[-1] if acts else x.T, out=a[:h]).relu_()
            else:
                if i == 0:  # all members in one GEMM: (K*h, F + 1) @ (F + 1, B)
                    z = torch.mm(w.view(k * h, -1), x.T).view(k, h, n)
                else:
                    z = torch.bmm(w, acts[-1])
                torch.clamp_min(z, 0.0, out=a[:, :h])  # ReLU; NaN stays NaN
            a.select(-2, h).fill_(1.0)
            acts.append(a)
        return acts

    def _input(self, x: Tensor, ones_column: bool) -> Tensor:
        width = self.n_features + int(ones_column)
        if x.dim() != 2 or x.shape[1] != width:
            msg = f"expected inputs of shape (B, {width}), got {tuple(x.shape)}"
            raise ValueError(msg)
        return x if ones_column else with_ones(x)

    def _with_member_axis(self, t: Tensor) -> Tensor:
        """(K, ...) from a one-member tensor that lacks the member axis."""
        return t.unsqueeze(0) if self.n_members == 1 else t

    @torch.no_grad()
    def logits(self, x: Tensor, *, ones_column: bool = False) -> tuple[Tensor, Tensor]:
        """Label and domain logits, each (K, B), for inputs x of shape (B, F).

        ``ones_column``: x is (B, F + 1) and its last column is ones (see
        :func:`with_ones`); a caller that scores the same events every epoch
        builds that once instead of a copy per call.
        """
        acts = self._extract(self._input(x, ones_column))
        z = self._with_member_axis(self._matmul(self._mats[-1], acts[-1]))
        return z[:, 0], z[:, 1]

    @torch.no_grad()
    def features(self, x: Tensor, *, ones_column: bool = False) -> Tensor:
        """The learned representation G_f(x), (K, B, width); x as in :meth:`logits`."""
        last = self._extract(self._input(x, ones_column))[-1]
        return self._with_member_axis(last[..., :-1, :]).transpose(1, 2)

    def _matmul(self, a: Tensor, b: Tensor) -> Tensor:
        return torch.mm(a, b) if self.n_members == 1 else torch.bmm(a, b)

    def _matmul_into(self, out: Tensor, a: Tensor, b: Tensor, beta: float) -> None:
        """out = beta out + a @ b; with beta = 0 the old ``out`` is not read."""
        if self.n_members == 1:
            out.addmm_(a, b, beta=beta)
        else:
            out.baddbmm_(a, b, beta=beta)

    # -- training step ------------------------------------------------------

    def rows_per_piece(self) -> int:
        """Rows of a batch processed at once so that a stacked activation stays small.

        An activation is (K, rows, width); kept under :data:`PIECE_BYTES` it
        stays in cache and in memory the allocator reuses, instead of fresh
        pages that fault on every step (DESIGN.md, "Training speed").
        """
        widest = max(self.n_features, *self.hidden) + 1
        return max(256, PIECE_BYTES // (self.n_members * widest * self._itemsize))

    @torch.no_grad()
    def forward_backward(
        self,
        x: Tensor,
        targets: BatchTargets,
        lambdas: Tensor,
        *,
        ones_column: bool = False,
    ) -> tuple[Tensor, Tensor]:
        """Fill every parameter's ``.grad`` with Eqs. 7-9; return (L_y, L_d), each (K,).

        ``lambdas`` is (K,): each member's lambda for this step. L_d is the
        plain domain loss (not multiplied by lambda). Gradients add to those
        already there, as autograd's do, unless :meth:`zero_grad` cleared
        them. A large stacked batch is processed in pieces of
        :meth:`rows_per_piece` rows whose gradients add up: the losses are
        sums over events, so this is exact up to the order of the
        floating-point additions. ``x`` is as in :meth:`logits`.
        """
        x = self._input(x, ones_column)
        params, views = self._params, self._grad_views
        accumulate = any(p.grad is not None for p in params)
        if accumulate:  # gradients to add to: all of them in the buffer
            for p, view in zip(params, views, strict=True):
                if p.grad is None:
                    view.zero_()
                elif p.grad is not view:  # set from outside
                    view.copy_(p.grad)
        lambdas = lambdas.to(self.dtype)
        n = x.shape[0]
        n_pieces = max(1, math.ceil(n / self.rows_per_piece()))
        if n_pieces == 1:
            loss_y, loss_d = self._forward_backward(x, targets, lambdas, accumulate)
        else:
            bounds = [round(i * n / n_pieces) for i in range(n_pieces + 1)]
            loss_y = torch.zeros(self.n_members, dtype=self.dtype, device=x.device)
            loss_d = torch.zeros_like(loss_y)
            for a, b in itertools.pairwise(bounds):
                ly, ld = self._forward_backward(
                    x[a:b], targets[a:b], lambdas, accumulate
                )
                accumulate = True
                loss_y.add_(ly)
                loss_d.add_(ld)
        for p, view in zip(params, views, strict=True):
            if p.grad is not view:
                p.grad = view
        return loss_y, loss_d

    def _forward_backward(
        self, x: Tensor, targets: BatchTargets, lambdas: Tensor, accumulate: bool
    ) -> tuple[Tensor, Tensor]:
        """One piece: (L_y, L_d), each (K,); the gradients into the buffer."""
        one = self.n_members == 1
        mats, grads = self._mats, self._grad_mats
        acts = self._extract(x)  # each ([K,] width + 1, B)
        heads = mats[-1]  # ([K,] 2, width + 1): label, domain
        z = self._matmul(heads, acts[-1])  # ([K,] 2, B)

        # Both losses (Eqs. 4, 5) at once, and their derivatives with
        # respect to the logits: sigmoid(z) - t, times the coefficients.
        t, c = targets.target, targets.coef
        losses = self._with_member_axis((_bce_with_logits(z, t) * c).sum(-1))  # (K, 2)
        dz = torch.sigmoid(z).sub_(t).mul_(c)
        # Eq. 8: theta_d sees lambda dL_d.
        dz.select(-2, 1).mul_(lambdas if one else lambdas.view(-1, 1))
        beta = 1.0 if accumulate else 0.0
        self._matmul_into(grads[-1], dz, acts[-1].mT, beta)

        # Gradient reversal (Eq. 9): the extractor receives dL_y - lambda dL_d.
        dz.select(-2, 1).neg_()
        width = heads.shape[-1] - 1
        g = self._matmul(heads.narrow(-1, 0, width).mT, dz)  # ([K,] width, B)

        # Back through the ReLU layers. Each block's gradient ([K,] out, in + 1)
        # is g times the transposed input with its ones: weights and bias.
        for i in range(self.n_hidden_layers - 1, -1, -1):
            h = self.hidden[i]
            g = torch.ops.aten.threshold_backward(g, acts[i].narrow(-2, 0, h), 0)
            if i > 0:
                self._matmul_into(grads[i], g, acts[i - 1].mT, beta)
                g = self._matmul(mats[i].narrow(-1, 0, self.hidden[i - 1]).mT, g)
            elif one:
                grads[0].addmm_(g, x, beta=beta)
            else:  # all members in one GEMM: (K*h, B) @ (B, F + 1)
                h0 = self.hidden[0]
                rows = self.n_members * h0
                grads[0].view(rows, -1).addmm_(g.reshape(rows, -1), x, beta=beta)
        return losses[:, 0], losses[:, 1]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients: to None (as ``torch.optim`` does by default), or
        with ``set_to_none=False`` to zeros in place, one operation on the
        gradient vector that a training loop pays at every step."""
        if set_to_none:
            for p in self._params:
                p.grad = None
        else:
            for p, view in zip(self._params, self._grad_views, strict=True):
                if p.grad is not view:
                    p.grad = view
            self._flat_grad.zero_()

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

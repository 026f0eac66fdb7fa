"""The stacked DANN against an independent autograd implementation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from hepda.model import BatchTargets, StackedDANN


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[no-untyped-def]
        return -grad


class ReferenceDANN(nn.Module):
    """Textbook DANN: nn.Linear layers and a gradient reversal function."""

    def __init__(self, n_features: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        widths = (n_features, *hidden)
        self.extractor = nn.ModuleList(
            nn.Linear(a, b, dtype=torch.float64) for a, b in itertools.pairwise(widths)
        )
        self.label_head = nn.Linear(hidden[-1], 1, dtype=torch.float64)
        self.domain_head = nn.Linear(hidden[-1], 1, dtype=torch.float64)

    def load_member(self, model: StackedDANN, k: int) -> None:
        layers = [*self.extractor, self.label_head, self.domain_head]
        for lin, w, b in zip(layers, model.weights, model.biases, strict=False):
            lin.weight.data.copy_(w[k].T)
            lin.bias.data.copy_(b[k, 0])

    def loss(self, x, t: BatchTargets, lam: float):  # type: ignore[no-untyped-def]
        h = x
        for lin in self.extractor:
            h = torch.relu(lin(h))
        zy = self.label_head(h).squeeze(-1)
        zd = self.domain_head(_Reverse.apply(h)).squeeze(-1)
        bce = nn.functional.binary_cross_entropy_with_logits
        ly = (bce(zy, t.label, reduction="none") * t.coef_label).sum()
        ld = (bce(zd, t.domain, reduction="none") * t.coef_domain).sum()
        return ly, ld, ly + lam * ld


def _batch(n: int, f: int, seed: int) -> tuple[torch.Tensor, BatchTargets]:
    rng = np.random.default_rng(seed)
    x = torch.tensor(rng.normal(size=(n, f)))
    is_target = torch.tensor(rng.random(n) < 0.4, dtype=torch.float64)
    label = torch.tensor(rng.integers(0, 2, n), dtype=torch.float64)
    w = torch.tensor(rng.uniform(-0.2, 1.5, n))  # negative weights too
    coef_label = (1 - is_target) * w / n
    shown = (label == 0) | (is_target == 1)
    coef_domain = shown * w.abs() / n
    return x, BatchTargets.of(label, coef_label, is_target, coef_domain)


@pytest.mark.parametrize("hidden", [(7,), (6, 5, 4)])
@pytest.mark.parametrize("lambdas", [[0.0, 0.7, 2.0], [1.3]])  # K = 1 takes mm
def test_gradients_equal_autograd_with_reversal(
    hidden: tuple[int, ...], lambdas: list[float]
) -> None:
    lambdas_t = torch.tensor(lambdas, dtype=torch.float64)
    seeds = list(range(1, len(lambdas) + 1))
    model = StackedDANN(5, hidden, seeds=seeds, dtype=torch.float64)
    x, t = _batch(64, 5, seed=0)
    ly, ld = model.forward_backward(x, t, lambdas_t)
    for k, lam in enumerate(lambdas):
        ref = ReferenceDANN(5, hidden)
        ref.load_member(model, k)
        ref_ly, ref_ld, total = ref.loss(x, t, lam)
        total.backward()
        assert ly[k].item() == pytest.approx(ref_ly.item(), rel=1e-12)
        assert ld[k].item() == pytest.approx(ref_ld.item(), rel=1e-12)
        layers = [*ref.extractor, ref.label_head, ref.domain_head]
        for lin, w, b in zip(layers, model.weights, model.biases, strict=False):
            torch.testing.assert_close(
                w.grad[k], lin.weight.grad.T, rtol=1e-10, atol=1e-12
            )
            torch.testing.assert_close(
                b.grad[k, 0], lin.bias.grad, rtol=1e-10, atol=1e-12
            )


def test_gradients_follow_eqs_7_to_9_numerically() -> None:
    """Finite differences of L_y and L_d give the three relations of Eqs. 7-9."""
    lam = 1.3
    model = StackedDANN(3, (4, 3), seeds=[5], dtype=torch.float64)
    x, t = _batch(40, 3, seed=1)
    model.forward_backward(x, t, torch.tensor([lam], dtype=torch.float64))
    analytic = [p.grad.clone() for p in model.parameters()]

    def losses() -> tuple[float, float]:
        ly, ld = model.forward_backward(x, t, torch.tensor([lam], dtype=torch.float64))
        model.zero_grad()
        return ly.item(), ld.item()

    n_params = len(model.parameters())
    for i, p in enumerate(model.parameters()):
        # groups: extractor (theta_f), label head (theta_y), domain head (theta_d)
        group = "f" if i < n_params - 4 else ("y" if i < n_params - 2 else "d")
        for j in range(0, p.numel(), max(1, p.numel() // 4)):
            # p is a strided view of the model's buffer: index it in place
            idx = tuple(int(a) for a in np.unravel_index(j, tuple(p.shape)))
            eps = 1e-6
            old = p[idx].item()
            p[idx] = old + eps
            ly_p, ld_p = losses()
            p[idx] = old - eps
            ly_m, ld_m = losses()
            p[idx] = old
            d_ly = (ly_p - ly_m) / (2 * eps)
            d_ld = (ld_p - ld_m) / (2 * eps)
            expected = {"f": d_ly - lam * d_ld, "y": d_ly, "d": lam * d_ld}[group]
            if group == "y":
                assert d_ld == pytest.approx(0.0, abs=1e-8)
            if group == "d":
                assert d_ly == pytest.approx(0.0, abs=1e-8)
            assert analytic[i][idx].item() == pytest.approx(
                expected, rel=1e-5, abs=1e-8
            )


def test_members_are_independent() -> None:
    """A member's gradients do not depend on which other members share the stack."""
    x, t = _batch(50, 4, seed=2)
    alone = StackedDANN(4, (6, 5), seeds=[11], dtype=torch.float64)
    alone.forward_backward(x, t, torch.tensor([1.2], dtype=torch.float64))
    stack = StackedDANN(4, (6, 5), seeds=[3, 11, 4], dtype=torch.float64)
    stack.forward_backward(x, t, torch.tensor([0.1, 1.2, 2.0], dtype=torch.float64))
    for a, s in zip(alone.parameters(), stack.parameters(), strict=False):
        torch.testing.assert_close(a[0], s[1])
        torch.testing.assert_close(a.grad[0], s.grad[1])


def test_init_matches_torch_linear_law() -> None:
    model = StackedDANN(41, (45, 30, 25), seeds=list(range(20)))
    w = model.weights[0]
    bound = 1 / np.sqrt(41)
    assert w.abs().max().item() <= bound
    assert w.std().item() == pytest.approx(bound / np.sqrt(3), rel=0.02)
    assert not torch.equal(w[0], w[1])


def test_member_classifier_scores_equal_stack_logits() -> None:
    model = StackedDANN(4, (6, 5), seeds=[0, 1])
    x = torch.randn(30, 4)
    mean, scale = torch.randn(4), torch.rand(4) + 0.5
    zy, _ = model.logits((x - mean) / scale)
    clf = model.member_classifier(1, mean, scale)
    torch.testing.assert_close(clf(x), torch.sigmoid(zy[1]))


@pytest.mark.parametrize("seeds", [[4], [4, 9]])
def test_gradients_add_up_until_cleared(seeds: list[int]) -> None:
    """Like autograd: a second step adds, zero_grad clears, a grad set by hand adds."""
    model = StackedDANN(4, (6, 5), seeds=seeds, dtype=torch.float64)
    lambdas = torch.full((len(seeds),), 0.8, dtype=torch.float64)
    x, t = _batch(60, 4, seed=3)
    model.forward_backward(x, t, lambdas)
    once = [p.grad.clone() for p in model.parameters()]
    model.forward_backward(x, t, lambdas)
    for p, g in zip(model.parameters(), once, strict=True):
        torch.testing.assert_close(p.grad, 2 * g)
    model.zero_grad(set_to_none=False)  # zeros in place: the next step alone
    model.forward_backward(x, t, lambdas)
    for p, g in zip(model.parameters(), once, strict=True):
        torch.testing.assert_close(p.grad, g)
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    extra = torch.ones_like(model.biases[0])
    model.biases[0].grad = extra.clone()  # one gradient set from outside
    model.forward_backward(x, t, lambdas)
    for i, (p, g) in enumerate(zip(model.parameters(), once, strict=True)):
        torch.testing.assert_close(p.grad, g + extra if i == 1 else g)


def test_inputs_with_a_column_of_ones_give_the_same_step() -> None:
    from hepda.model import with_ones

    x, t = _batch(50, 4, seed=4)
    lam = torch.tensor([0.5, 1.5], dtype=torch.float64)
    a = StackedDANN(4, (6, 5), seeds=[1, 2], dtype=torch.float64)
    b = StackedDANN(4, (6, 5), seeds=[1, 2], dtype=torch.float64)
    ly_a, ld_a = a.forward_backward(x, t, lam)
    ly_b, ld_b = b.forward_backward(with_ones(x), t, lam, ones_column=True)
    torch.testing.assert_close((ly_a, ld_a), (ly_b, ld_b))
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad)
    torch.testing.assert_close(a.logits(x), b.logits(with_ones(x), ones_column=True))
    torch.testing.assert_close(
        a.features(x), b.features(with_ones(x), ones_column=True)
    )
    with pytest.raises(ValueError, match=r"\(B, 5\)"):
        a.logits(x, ones_column=True)  # four columns where five are promised


def test_parameters_are_views_of_one_vector_the_optimizer_updates() -> None:
    """The fast path: one update of the flat buffer moves every parameter."""
    from hepda import optim

    model = StackedDANN(4, (6, 5), seeds=[1, 2, 3], dtype=torch.float64)
    opt = optim.Adadelta(model.parameters())
    assert opt._flat is model._flat
    before = model.state_dict()
    x, t = _batch(40, 4, seed=5)
    model.forward_backward(x, t, torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64))
    opt.step()
    assert opt._flat_grads is not None and opt._flat_grads[1] is model._flat_grad
    after = model.state_dict()
    for name, p in after.items():
        assert p.is_contiguous()
        assert not torch.equal(p, before[name]), name
    # a state dict loads back into the strided views exactly
    fresh = StackedDANN(4, (6, 5), seeds=[7, 8, 9], dtype=torch.float64)
    fresh.load_state_dict(after)
    for p, q in zip(fresh.parameters(), model.parameters(), strict=True):
        assert torch.equal(p, q)

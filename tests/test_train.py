"""Training: the optimizer equations, discriminator modes, determinism, divergence."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from hepda.config import TrainConfig
from hepda.data.events import EventTable, load_events
from hepda.errors import DataError, TrainingDiverged
from hepda.model import BatchTargets
from hepda.runs import train_run
from hepda.train import (
    Member,
    Trainer,
    domain_masks,
    lambda_factor,
    make_optimizer,
    prepare_data,
)


def _trainer(files: tuple[Path, Path], **changes: object) -> Trainer:
    config = TrainConfig(epochs=2, batch_size=300, **changes)  # type: ignore[arg-type]
    src = load_events([str(files[0])])
    tgt = load_events([str(files[1])])
    data = prepare_data(src, tgt, config)
    return Trainer(config, data, [Member(config.lambda_, config.seed)])


def test_adadelta_is_eqs_10_to_15() -> None:
    """torch's Adadelta with our settings is the paper's update, written out by hand."""
    rng = np.random.default_rng(0)
    theta0 = rng.normal(size=6)
    grads = rng.normal(size=(25, 6))
    param = torch.tensor(theta0.copy(), requires_grad=True)
    opt = make_optimizer([param], TrainConfig(optimizer="adadelta"))

    rho, eps = 0.9, 1e-6
    theta, eg2, edx2 = theta0.copy(), np.zeros(6), np.zeros(6)
    for g in grads:
        param.grad = torch.tensor(g)
        opt.step()
        eg2 = rho * eg2 + (1 - rho) * g**2  # Eq. 15
        rms_g = np.sqrt(eg2 + eps)  # Eq. 12
        rms_dx = np.sqrt(edx2 + eps)  # Eq. 13, with the previous E[dx^2]
        dx = -rms_dx / rms_g * g  # Eq. 11
        edx2 = rho * edx2 + (1 - rho) * dx**2  # Eq. 14
        theta = theta + dx  # Eq. 10
        np.testing.assert_allclose(param.detach().numpy(), theta, rtol=1e-12)


@pytest.mark.parametrize(
    ("mode", "source_labels", "target_labels"),
    [
        ("background", {0}, {0}),
        ("all", {0, 1}, {0, 1}),
        ("source-background", {0}, {0, 1}),
    ],
)
def test_discriminator_modes_feed_the_promised_events(
    toy_files: tuple[Path, Path],
    mode: str,
    source_labels: set[int],
    target_labels: set[int],
) -> None:
    trainer = _trainer(toy_files, disc_mode=mode)
    src, tgt = trainer.data.source, trainer.data.target
    seen_s: set[int] = set()
    seen_t: set[int] = set()
    labels_s: set[int] = set()
    labels_t: set[int] = set()

    original = trainer.batch_targets
    events_s, events_t = trainer.train_events
    # L_d weights: each domain's shown training weights scaled to mean 1
    shown_train_s = domain_masks(mode, src.events.label, tgt.events.label)[0]
    mean_s = float(src.weight_train[np.flatnonzero(shown_train_s & ~src.val)].mean())
    mean_t = float(tgt.weight_train[events_t].mean())

    def spy(
        idx_s: torch.Tensor, idx_t: torch.Tensor, n_domain: int
    ) -> tuple[torch.Tensor, BatchTargets]:
        x, t = original(idx_s, idx_t, n_domain)
        n_s = len(idx_s)
        # positions in the training tables -> events of each domain
        ev_s, ev_t = events_s[idx_s.numpy()], events_t[idx_t.numpy()]
        shown = (t.coef_domain[:n_s] != 0).numpy()
        seen_s.update(ev_s[shown].tolist())
        labels_s.update(src.events.label[ev_s[shown]].tolist())
        assert (t.coef_domain[n_s:] != 0).all()  # every target row is a domain event
        assert (t.coef_label[n_s:] == 0).all()  # and never enters L_y
        assert (t.domain[:n_s] == 0).all()
        assert (t.domain[n_s:] == 1).all()
        np.testing.assert_array_equal(t.label[:n_s].numpy(), src.events.label[ev_s])
        # the features of those events, and the model's column of ones
        torch.testing.assert_close(x[:, :-1], torch.cat([src.x[ev_s], tgt.x[ev_t]]))
        assert (x[:, -1] == 1).all()
        # L_y: the mean over the source events of their training weights
        torch.testing.assert_close(t.coef_label[:n_s], src.weight_train[ev_s] / n_s)
        # the two domains carry equal numbers of events into L_d, its mean
        assert len(idx_t) == int(shown.sum())
        assert n_domain == int(shown.sum()) + len(idx_t)
        torch.testing.assert_close(
            t.coef_domain[:n_s][shown] * n_domain,
            src.weight_train[ev_s[shown]] / mean_s,
        )
        torch.testing.assert_close(
            t.coef_domain[n_s:] * n_domain, tgt.weight_train[ev_t] / mean_t
        )
        seen_t.update(ev_t.tolist())
        labels_t.update(tgt.events.label[ev_t].tolist())
        return x, t

    trainer.batch_targets = spy  # type: ignore[method-assign]
    trainer.train_epoch(0)
    assert labels_s == source_labels
    assert labels_t == target_labels
    # no validation event is ever used in training
    assert not src.val[list(seen_s)].any()
    assert not tgt.val[list(seen_t)].any()
    expected_s, expected_t = domain_masks(mode, src.events.label, tgt.events.label)
    assert seen_s == set(np.flatnonzero(expected_s & ~src.val).tolist())
    # the target pool is exactly the training events the mode shows
    np.testing.assert_array_equal(events_t, np.flatnonzero(expected_t & ~tgt.val))
    assert seen_t <= set(events_t.tolist())


@pytest.mark.parametrize("mode", ["source-background", "background"])
def test_source_background_training_never_reads_target_labels(
    toy_files: tuple[Path, Path], mode: str
) -> None:
    """With S2's labels shuffled, source-background trains the same weights
    (only the validation metrics on S2, which need labels, change); the
    background mode, which selects S2 events by label, does not."""
    config = TrainConfig(
        epochs=2,
        batch_size=300,
        disc_mode=mode,  # type: ignore[arg-type]
    )
    src = load_events([str(toy_files[0])])
    tgt = load_events([str(toy_files[1])])
    shuffled = dataclasses.replace(
        tgt, label=np.random.default_rng(1).permutation(tgt.label)
    )

    def weights(target: EventTable) -> dict[str, torch.Tensor]:
        trainer = Trainer(config, prepare_data(src, target, config), [Member(1.0, 0)])
        trainer.fit()
        return trainer.model.state_dict()

    a, b = weights(tgt), weights(shuffled)
    same = all(torch.equal(a[k], b[k]) for k in a)
    assert same == (mode == "source-background")


def test_same_seed_same_history_other_seed_differs(
    toy_files: tuple[Path, Path],
) -> None:
    def history(seed: int) -> list[dict[str, float]]:
        trainer = _trainer(toy_files, seed=seed)
        return trainer.fit()[0].history

    a, b, c = history(3), history(3), history(4)
    assert a == b
    assert a[-1]["auc_s1"] != c[-1]["auc_s1"]


def test_lambda_zero_leaves_domain_head_untrained(toy_files: tuple[Path, Path]) -> None:
    trainer = _trainer(toy_files, lambda_=0.0)
    before = [p.clone() for p in trainer.model.parameters()]
    trainer.train_epoch(0)
    after = trainer.model.parameters()
    assert torch.equal(before[-1], after[-1])
    assert torch.equal(before[-2], after[-2])
    assert not torch.equal(before[0], after[0])


def test_ganin_schedule() -> None:
    assert lambda_factor("constant", 5, 10) == 1.0
    assert lambda_factor("ganin", 0, 10) == 0.0
    assert lambda_factor("ganin", 5, 10) == pytest.approx(2 / (1 + math.exp(-5)) - 1)


def test_divergence_is_reported_and_never_written_as_valid(
    toy_files: tuple[Path, Path], tmp_path: Path
) -> None:
    config = TrainConfig(
        epochs=6, batch_size=300, optimizer="nesterov", learning_rate=1e6, lambda_=5.0
    )
    with pytest.raises(TrainingDiverged, match="diverged in epoch"):
        train_run([str(toy_files[0])], [str(toy_files[1])], config, tmp_path)
    import json

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["diverged"] is True
    assert all(
        v is None or not isinstance(v, float) or math.isfinite(v)
        for v in metrics.values()
    )
    from hepda.runs import load_classifier

    _clf, names, state = load_classifier(tmp_path)
    assert all(torch.isfinite(p).all() for p in state["model"].values())
    assert len(names) == 5


def test_a_saturated_classifier_is_reported_as_diverged(
    toy_files: tuple[Path, Path], tmp_path: Path
) -> None:
    # Adam at lr 1e8 blows the weights up without overflowing: every event
    # then scores exactly 1, which would pass for a valid model with the
    # paper's no-cut significance.
    config = TrainConfig(epochs=4, batch_size=300, optimizer="adam", learning_rate=1e8)
    with pytest.raises(TrainingDiverged, match="diverged in epoch 1"):
        train_run([str(toy_files[0])], [str(toy_files[1])], config, tmp_path)
    import json

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["diverged"] is True
    assert metrics["epochs_trained"] == 0
    # frozen where epoch 1 began: the initial weights still tell events apart
    import pyarrow.parquet as pq

    scores = pq.read_table(tmp_path / "scores.parquet").column("score").to_numpy()
    assert len(np.unique(scores)) > 100


def test_diverged_member_does_not_disturb_the_others(
    toy_files: tuple[Path, Path],
) -> None:
    config = TrainConfig(
        epochs=3,
        batch_size=300,
        optimizer="nesterov",
        learning_rate=0.05,
        dtype="float64",
    )
    src = load_events([str(toy_files[0])])
    tgt = load_events([str(toy_files[1])])
    data = prepare_data(src, tgt, config)
    alone = Trainer(config, data, [Member(1.0, 7)]).fit()[0]
    stack = Trainer(config, data, [Member(1e200, 1), Member(1.0, 7)]).fit()
    assert stack[0].diverged
    assert not stack[1].diverged
    # Equal to float tolerance: BLAS may block a wider stacked product differently.
    assert len(stack[1].history) == len(alone.history)
    for row_stack, row_alone in zip(stack[1].history, alone.history, strict=False):
        assert row_stack == pytest.approx(row_alone, rel=1e-9, abs=1e-12)


def test_weights_turned_nan_by_a_step_on_a_finite_loss_freeze_the_member(
    toy_files: tuple[Path, Path],
) -> None:
    """The last step of epoch 2 leaves member 1's weights NaN while every loss
    of that epoch was finite: the member is frozen where epoch 2 began."""
    config = TrainConfig(epochs=3, batch_size=300)
    src = load_events([str(toy_files[0])])
    tgt = load_events([str(toy_files[1])])
    trainer = Trainer(
        config, prepare_data(src, tgt, config), [Member(1.0, 0), Member(1.0, 1)]
    )
    n_steps = -(-len(trainer.train_events[0]) // config.batch_size)
    step = trainer.optimizer.step
    calls = 0
    starts: list[dict[str, torch.Tensor]] = []

    def poisoning_step() -> None:
        nonlocal calls
        if calls % n_steps == 0:
            starts.append(trainer.model.state_dict())
        step()
        calls += 1
        if calls == 2 * n_steps:
            trainer.model.weights[0][1, 0, 0] = float("nan")

    trainer.optimizer.step = poisoning_step  # type: ignore[method-assign]
    results = trainer.fit()
    assert trainer.diverged_epoch == [None, 1]
    assert not results[0].diverged and results[1].diverged
    assert len(results[0].history) == 3 and len(results[1].history) == 1
    for name, p in zip(
        trainer.model.parameter_names(), trainer.model.parameters(), strict=True
    ):
        torch.testing.assert_close(p[1], starts[1][name][1], rtol=0, atol=0)
    assert all(
        math.isfinite(v) for v in results[1].metrics.values() if isinstance(v, float)
    )


def test_standardizer_matches_numpy_on_the_chosen_rows() -> None:
    from hepda.data.prepare import Standardizer

    rng = np.random.default_rng(3)
    x = rng.normal(3.0, 2.0, size=(500, 4)).astype(np.float32)
    x[:, 3] = 7.0  # a constant column gets scale 1
    w = rng.uniform(-0.2, 2.0, 500)
    rows = rng.random(500) < 0.6
    std = Standardizer.fit(x, w, rows=rows)
    ref_mean = np.average(x[rows].astype(np.float64), axis=0, weights=np.abs(w[rows]))
    ref_var = np.average((x[rows] - ref_mean) ** 2, axis=0, weights=np.abs(w[rows]))
    np.testing.assert_allclose(std.mean_, ref_mean, rtol=1e-6)
    np.testing.assert_allclose(std.scale_[:3], np.sqrt(ref_var[:3]), rtol=1e-5)
    assert std.scale_[3] == 1.0
    by_index = Standardizer.fit(x, w, rows=np.flatnonzero(rows))
    np.testing.assert_array_equal(by_index.mean_, std.mean_)


def _table_with(
    rng: np.random.Generator, n: int, weight: np.ndarray, start: int = 0
) -> EventTable:
    return EventTable(
        features=rng.normal(size=(n, 3)).astype(np.float32),
        feature_names=("a", "b", "c"),
        label=np.arange(n) % 2,
        weight=weight,
        event_number=rng.permutation(np.arange(start, start + n)),
    )


def test_split_by_event_number_is_the_fold_whatever_the_row_order() -> None:
    rng = np.random.default_rng(4)
    src = _table_with(rng, 600, np.ones(600))
    tgt = _table_with(rng, 600, np.ones(600), start=5000)
    config = TrainConfig(split="event_number", n_folds=4, fold=1)
    data = prepare_data(src, tgt, config)
    for domain, events in ((data.source, src), (data.target, tgt)):
        np.testing.assert_array_equal(domain.val, events.event_number % 4 == 1)
    # the same events are validation after the rows are shuffled
    order = rng.permutation(600)
    shuffled = prepare_data(src.take(order), tgt, config)
    assert set(src.take(order).event_number[shuffled.source.val]) == set(
        src.event_number[data.source.val]
    )


def test_random_split_is_66_34_and_follows_the_data_seed() -> None:
    rng = np.random.default_rng(5)
    src = _table_with(rng, 1000, np.ones(1000))
    tgt = _table_with(rng, 700, np.ones(700))
    a = prepare_data(src, tgt, TrainConfig(data_seed=1))
    b = prepare_data(src, tgt, TrainConfig(data_seed=1, seed=9))
    c = prepare_data(src, tgt, TrainConfig(data_seed=2))
    assert a.source.val.sum() == 340 and a.target.val.sum() == 238
    np.testing.assert_array_equal(a.source.val, b.source.val)
    assert not np.array_equal(a.source.val, c.source.val)
    # standardised with the source training events' weighted statistics only
    x = src.features[~a.source.val].astype(np.float64)
    mean = x.mean(axis=0)
    np.testing.assert_allclose(a.standardizer.mean_, mean, rtol=1e-5)


@pytest.mark.parametrize("mode", ["balanced", "raw"])
def test_training_weights_balance_the_classes_and_keep_negative_weights(
    mode: str,
) -> None:
    rng = np.random.default_rng(6)
    n = 900
    weight = rng.uniform(0.1, 3.0, n)
    weight[::7] *= -0.5  # NLO-style negative weights
    weight[np.arange(n) % 2 == 1] *= 0.01  # signal (odd rows) with tiny weights
    src = _table_with(rng, n, weight)
    tgt = _table_with(rng, n, np.ones(n))
    config = TrainConfig(class_weights=mode)  # type: ignore[arg-type]
    data = prepare_data(src, tgt, config)
    train = ~data.source.val
    w = data.source.weight_train.numpy()[train]
    phys, signal = weight[train], src.label[train] == 1
    assert w.mean() == pytest.approx(1.0)
    if mode == "balanced":  # equal class totals, each class scaled as a whole
        assert w[signal].sum() == pytest.approx(w[~signal].sum())
        for cls in (signal, ~signal):
            np.testing.assert_allclose(w[cls] / phys[cls], w[cls][0] / phys[cls][0])
    else:  # the physical weights, scaled to mean 1
        np.testing.assert_allclose(w / phys, w[0] / phys[0])
        assert w[signal].sum() < 0.05 * w[~signal].sum()
    assert (w[phys < 0] < 0).all()  # negative weights stay negative


def test_features_that_never_vary_are_named() -> None:
    rng = np.random.default_rng(8)
    flat = EventTable(
        features=np.zeros((600, 3), dtype=np.float32),
        feature_names=("a", "b", "c"),
        label=np.arange(600) % 2,
        weight=np.ones(600),
        event_number=np.arange(600),
    )
    good = _table_with(rng, 600, np.ones(600))
    with pytest.raises(DataError, match=r"source sample .*every feature holds one"):
        prepare_data(flat, good, TrainConfig())
    with pytest.raises(DataError, match=r"target sample .*\(a, b, c\)"):
        prepare_data(good, flat, TrainConfig())

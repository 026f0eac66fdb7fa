"""The per-epoch record against the metrics computed one by one (hepda.metrics)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss

from hepda import metrics
from hepda.config import TrainConfig
from hepda.data.events import EventTable, load_events
from hepda.errors import DataError
from hepda.train import Member, Trainer, evaluate_scores, prepare_data
from hepda.validation import EpochRecord, response_order


def _table(rng: np.random.Generator, n: int, *, negative: bool) -> EventTable:
    label = rng.integers(0, 2, n).astype(np.int8)
    weight = rng.uniform(0.2, 2.0, n)
    if negative:  # NLO-style: a tenth of the events carry negative weights
        flip = rng.random(n) < 0.1
        weight[flip] *= -0.3
    return EventTable(
        features=np.zeros((n, 1), dtype=np.float32),
        feature_names=("x",),
        label=label,
        weight=weight,
        event_number=np.arange(n, dtype=np.int64),
    )


def _scores(rng: np.random.Generator, label: np.ndarray, *, ties: bool) -> np.ndarray:
    s = np.clip(rng.beta(2.0, 2.0, label.size) + 0.1 * label, 0.0, 1.0)
    if ties:
        # coarse scores, and events exactly on the cuts and the bin edges
        s = np.round(s, 2)
        s[:40] = rng.choice([0.0, 0.5, 0.6, 0.025, 0.975, 1.0], 40)
    return s


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("negative", [False, True])
def test_record_equals_the_metrics_one_by_one(ties: bool, negative: bool) -> None:
    rng = np.random.default_rng(11 + 2 * ties + negative)
    t1, t2 = _table(rng, 3000, negative=negative), _table(rng, 2500, negative=negative)
    tune1, tune2 = rng.random(len(t1)) < 0.5, rng.random(len(t2)) < 0.5
    config = TrainConfig()
    record = EpochRecord(t1, t2, tune1, tune2, config)
    for _ in range(3):  # the same object serves every epoch
        s1 = _scores(rng, t1.label, ties=ties)
        s2 = _scores(rng, t2.label, ties=ties)
        row = record(s1, s2)
        ref = evaluate_scores(s1, t1, s2, t2, config, pvalue=False)
        ref["significance_tune"] = evaluate_scores(
            s1[tune1],
            t1.take(tune1),
            s2[tune2],
            t2.take(tune2),
            config,
            only_significance=True,
        )["significance"]
        ref["saturated"] = 0.0
        assert set(row) == set(ref)
        for key, value in ref.items():
            assert row[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
        assert 0 < row["bias_ks"] < 1 and row["significance"] > 0


def test_float32_responses_give_the_record_of_their_float64_values() -> None:
    """The trainer hands over float32 sigmoids; the record must not depend on it."""
    rng = np.random.default_rng(23)
    t1, t2 = _table(rng, 3000, negative=True), _table(rng, 2500, negative=True)
    tune1, tune2 = rng.random(len(t1)) < 0.5, rng.random(len(t2)) < 0.5
    record = EpochRecord(t1, t2, tune1, tune2, TrainConfig())
    s1 = _scores(rng, t1.label, ties=True).astype(np.float32)
    s2 = _scores(rng, t2.label, ties=True).astype(np.float32)
    s2[:5] = np.float32(0.6)  # on the cut: 0.6 in float32 lies just above it
    row = record(s1, s2)
    ref = record(s1.astype(np.float64), s2.astype(np.float64))
    assert row == pytest.approx(ref, rel=1e-12, abs=1e-15)
    full = evaluate_scores(
        s1.astype(np.float64), t1, s2.astype(np.float64), t2, TrainConfig()
    )
    assert row["significance"] == pytest.approx(full["significance"], rel=1e-9)


def test_ks_of_small_tied_samples_equals_the_pooled_sort() -> None:
    """The record's KS (one binary search) against metrics' (one pooled sort),
    on samples where most responses are tied within and across the domains
    and some background weights are negative (so F can step down)."""
    rng = np.random.default_rng(31)
    values = np.array([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    for _ in range(300):
        tables, scores = [], []
        for n in rng.integers(4, 30, 2):
            label = np.r_[1, 1, np.zeros(n - 2, dtype=np.int8)].astype(np.int8)
            weight = rng.uniform(0.5, 2.0, n)
            weight[3:][rng.random(n - 3) < 0.2] *= -0.2
            weight[2] = 0.4 * n  # keeps the background total positive
            tables.append(
                EventTable(
                    features=np.zeros((n, 1), dtype=np.float32),
                    feature_names=("x",),
                    label=label,
                    weight=weight,
                    event_number=np.arange(n, dtype=np.int64),
                )
            )
            scores.append(rng.choice(values[: rng.integers(1, 7)], n))
        t1, t2 = tables
        ones1, ones2 = np.ones(len(t1), bool), np.ones(len(t2), bool)
        row = EpochRecord(t1, t2, ones1, ones2, TrainConfig())(*scores)
        b1, b2 = t1.label == 0, t2.label == 0
        ref, _ = metrics.ks_2samp_weighted(
            scores[0][b1], scores[1][b2], t1.weight[b1], t2.weight[b2]
        )
        assert row["bias_ks"] == pytest.approx(ref, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("case", ["random", "ties", "edges", "signed", "nan"])
def test_response_order_sorts_as_argsort(case: str) -> None:
    rng = np.random.default_rng(3)
    score = rng.random(20_000).astype(np.float32)
    if case == "ties":
        score = np.round(score, 2)
    elif case == "edges":  # zeros, ones and the smallest subnormal
        score[rng.integers(0, score.size, 300)] = 0.0
        score[rng.integers(0, score.size, 300)] = 1.0
        score[:3] = np.float32(1e-45)
    elif case == "signed":  # negative values and -0.0 take np.argsort
        score -= 0.5
        score[:4] = -0.0
    elif case == "nan":
        score[rng.integers(0, score.size, 50)] = np.nan
    order = response_order(score)
    assert order.dtype == np.intp
    assert np.array_equal(np.sort(order), np.arange(score.size))  # a permutation
    # the same ordered values as NumPy's sort (NaN last), ties in any order
    np.testing.assert_array_equal(score[order], np.sort(score))
    wide = score.astype(np.float64)
    np.testing.assert_array_equal(wide[response_order(wide)], np.sort(wide))


def test_responses_of_one_value_are_flagged_saturated() -> None:
    rng = np.random.default_rng(5)
    t1, t2 = _table(rng, 400, negative=False), _table(rng, 300, negative=False)
    record = EpochRecord(
        t1, t2, rng.random(400) < 0.5, rng.random(300) < 0.5, TrainConfig()
    )
    varied = _scores(rng, t1.label, ties=False)
    assert record(varied, _scores(rng, t2.label, ties=False))["saturated"] == 0.0
    # every S2 event at 1: all pass the cut, b1 and b2 are taken from S1 and S2
    row = record(varied, np.ones(len(t2)))
    assert row["saturated"] == 1.0
    assert record(np.zeros(len(t1)), varied[:300])["saturated"] == 1.0


def test_a_tune_half_without_signal_is_named_before_training() -> None:
    rng = np.random.default_rng(5)
    t1, t2 = _table(rng, 400, negative=False), _table(rng, 400, negative=False)
    tune2 = t2.label == 0  # the events choosing the best epoch hold no S2 signal
    with pytest.raises(DataError, match=r"target S2.*signal.*best epoch"):
        EpochRecord(t1, t2, t1.label >= 0, tune2, TrainConfig())


def test_validate_losses_against_sklearn(toy_files: tuple[Path, Path]) -> None:
    """L_y and L_d of the history from the logits, against log_loss on the scores."""
    config = TrainConfig(epochs=1, batch_size=300)
    src = load_events([str(toy_files[0])])
    tgt = load_events([str(toy_files[1])])
    data = prepare_data(src, tgt, config)
    trainer = Trainer(config, data, [Member(1.0, 0), Member(0.3, 1)])
    trainer.train_epoch(0)
    rows = trainer.validate(0)
    s, t = data.source, data.target
    vs, vt = s.val_index, t.val_index
    score_s = trainer.scores(s.x[vs])
    score_t = trainer.scores(t.x[vt])
    w_s = s.weight_val[vs].double().numpy()
    w_t = t.weight_val[vt].double().numpy()
    # background mode: L_d over the validation backgrounds, each domain's
    # weights normalised to mean 1
    bkg_s, bkg_t = s.events.label[vs] == 0, t.events.label[vt] == 0
    w_dom = np.r_[w_s[bkg_s] / w_s[bkg_s].mean(), w_t[bkg_t] / w_t[bkg_t].mean()]
    dom = np.r_[np.zeros(bkg_s.sum()), np.ones(bkg_t.sum())]
    for m, row in enumerate(rows):
        ref_s = log_loss(
            s.events.label[vs], score_s[m], sample_weight=w_s, normalize=False
        )
        ref_t = log_loss(
            t.events.label[vt], score_t[m], sample_weight=w_t, normalize=False
        )
        assert row["loss_label_s1"] == pytest.approx(ref_s / len(vs), rel=1e-5)
        assert row["loss_label_s2"] == pytest.approx(ref_t / len(vt), rel=1e-5)
        with torch.no_grad():
            zd_s = trainer.model.logits(s.x[vs])[1][m].double().numpy()[bkg_s]
            zd_t = trainer.model.logits(t.x[vt])[1][m].double().numpy()[bkg_t]
        p_dom = 1 / (1 + np.exp(-np.r_[zd_s, zd_t]))
        ref_d = log_loss(dom, p_dom, sample_weight=w_dom, normalize=False)
        assert row["loss_domain"] == pytest.approx(ref_d / len(dom), rel=1e-5)
        ref = evaluate_scores(
            score_s[m], s.events.take(vs), score_t[m], t.events.take(vt), config
        )
        assert row["auc_s1"] == pytest.approx(ref["auc_s1"], rel=1e-12)
        assert row["significance"] == pytest.approx(ref["significance"], rel=1e-9)


def test_source_background_domain_loss_weighs_s2_without_labels(
    toy_files: tuple[Path, Path],
) -> None:
    """Validation L_d takes S2's physical weights, as training does in this mode."""
    config = TrainConfig(epochs=1, batch_size=300, disc_mode="source-background")
    src = load_events([str(toy_files[0])])
    tgt = load_events([str(toy_files[1])])
    # signal with a tenth of the weight: balancing the classes would show
    tgt.weight = np.where(tgt.label == 1, 0.1, 1.0) * tgt.weight
    data = prepare_data(src, tgt, config)
    trainer = Trainer(config, data, [Member(1.0, 0)])
    trainer.train_epoch(0)
    (row,) = trainer.validate(0)
    s, t = data.source, data.target
    vs, vt = s.val_index, t.val_index
    w_s = s.weight_val[vs].double().numpy()
    bkg_s = s.events.label[vs] == 0
    w_t = t.events.weight[vt]  # every S2 event, its physical weight
    w_dom = np.r_[w_s[bkg_s] / w_s[bkg_s].mean(), w_t / w_t.mean()]
    dom = np.r_[np.zeros(bkg_s.sum()), np.ones(len(vt))]
    with torch.no_grad():
        zd_s = trainer.model.logits(s.x[vs])[1][0].double().numpy()[bkg_s]
        zd_t = trainer.model.logits(t.x[vt])[1][0].double().numpy()
    p_dom = 1 / (1 + np.exp(-np.r_[zd_s, zd_t]))
    ref = log_loss(dom, p_dom, sample_weight=w_dom, normalize=False) / len(dom)
    assert row["loss_domain"] == pytest.approx(ref, rel=1e-5)

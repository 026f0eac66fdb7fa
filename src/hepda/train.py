"""The fit loop: K stacked DANN members trained on the same batches.

One loop serves ``hepda train`` (K = 1) and ``hepda scan`` (one block of
members that share widths, optimizer, discriminator mode and data split;
each member has its own lambda and seed). The loop is split into small steps
(:meth:`Trainer.train_epoch`, :meth:`Trainer.validate`, :meth:`Trainer.fit`)
with a recorded per-epoch history, and reports progress through callbacks.

Batching follows the paper: a pass over the source training events in
batches of ``batch_size`` is one epoch; each batch is joined by as many target
events as the batch shows source events to the discriminator, so L_d sees
the two domains in equal measure (Eq. 5). Batches come from a permutation
drawn from ``(data_seed, epoch)``, so a resumed run repeats them exactly.
"""

from __future__ import annotations

import copy
import logging
import math
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from hepda import metrics, optim
from hepda.config import TrainConfig
from hepda.data.events import EventTable, check_same_features
from hepda.data.prepare import (
    Standardizer,
    normalise_mean,
    training_weights,
    validation_mask,
)
from hepda.errors import ConfigError, DataError
from hepda.model import BatchTargets, StackedDANN, with_ones
from hepda.validation import EpochRecord

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "hepda-checkpoint/1"


@dataclass(frozen=True)
class Member:
    """What distinguishes one member of a stack: its lambda and its seed."""

    lambda_: float
    seed: int


# --------------------------------------------------------------------- data


@dataclass
class DomainData:
    """One domain's events on the device, standardised, with their split.

    ``rows`` holds, per event, the standardised features, the label and the
    training weight side by side, (n, F + 2); ``x``, ``label`` and
    ``weight_train`` are views of it. The trainer builds its batch tables
    from these rows (:meth:`Trainer._training_table`).
    """

    events: EventTable  # raw, as read
    val: np.ndarray  # bool mask
    rows: Tensor  # (n, F + 2): features, label, training weight
    weight_val: Tensor  # same treatment, mean 1 over validation events
    tune: np.ndarray = field(
        default_factory=lambda: np.zeros(0, dtype=bool)
    )  # bool, within val

    @property
    def x(self) -> Tensor:
        """(n, F) standardised features (a strided view of ``rows``)."""
        return self.rows[:, :-2]

    @property
    def label(self) -> Tensor:
        """(n,) 1 signal, 0 background, in the training dtype."""
        return self.rows[:, -2]

    @property
    def weight_train(self) -> Tensor:
        """(n,) class-balanced (or raw) weights, mean 1 over training events."""
        return self.rows[:, -1]

    @property
    def train_index(self) -> np.ndarray:
        return np.flatnonzero(~self.val)

    @property
    def val_index(self) -> np.ndarray:
        return np.flatnonzero(self.val)


@dataclass
class PreparedData:
    source: DomainData
    target: DomainData
    standardizer: Standardizer
    feature_names: tuple[str, ...]


def data_settings(config: TrainConfig) -> tuple[object, ...]:
    """The settings :func:`prepare_data` reads: configurations that agree on
    them can share its result (a scan reuses it from block to block)."""
    return (
        config.split,
        config.val_fraction,
        config.n_folds,
        config.fold,
        config.data_seed,
        config.class_weights,
        config.disc_mode == "source-background",  # S2's weights then ignore labels
        config.device,
        config.dtype,
    )


def _split(
    events: EventTable, role: str, salt: int, config: TrainConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Validation and "tune" masks of one domain."""
    val = validation_mask(
        len(events),
        val_fraction=config.val_fraction,
        seed=config.data_seed * 2 + salt,
        method=config.split,
        event_number=events.event_number,
        n_folds=config.n_folds,
        fold=config.fold,
    )
    n_train, n_val = int((~val).sum()), int(val.sum())
    if n_train == 0 or n_val == 0:
        msg = (
            f"{role} sample {events.origin}: the split leaves "
            f"{n_train} training and {n_val} validation events; "
            "it needs more events or another val_fraction"
        )
        raise DataError(msg)
    # Two halves of the validation events: "tune" chooses the best epoch,
    # the other half measures it, so the reported best is not selected on itself.
    val_index = np.flatnonzero(val)
    rng = np.random.default_rng([config.data_seed, salt, 7])
    tune = np.zeros(len(events), dtype=bool)
    tune[rng.permutation(val_index)[: len(val_index) // 2]] = True
    return val, tune


def split_domains(
    source: EventTable, target: EventTable, config: TrainConfig
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(validation, tune) masks of the source and the target, checked.

    Each split must leave signal and background on both sides (the target's
    training part may lack one class), and the discriminator mode must find
    target training events to show. Cheap: a scan checks every fold's split
    with it before anything is written.
    """
    check_same_features(source, target)
    for events, role in ((source, "source"), (target, "target")):
        x = events.features
        if len(x) and bool((x.max(axis=0) == x.min(axis=0)).all()):
            msg = (
                f"{role} sample {events.origin}: every feature holds one value "
                f"for all events ({', '.join(events.feature_names[:5])}"
                f"{', ...' if x.shape[1] > 5 else ''}), so no event can be told "
                "from another; check the feature columns or --features"
            )
            raise DataError(msg)
    val_s, tune_s = _split(source, "source", 0, config)
    val_t, tune_t = _split(target, "target", 1, config)
    for events, val, role in ((source, val_s, "source"), (target, val_t, "target")):
        for part, mask in (("training", ~val), ("validation", val)):
            labels = set(np.unique(events.label[mask]).tolist())
            if labels != {0, 1} and not (role == "target" and part == "training"):
                msg = (
                    f"{role} sample {events.origin}: the {part} events hold only "
                    f"label(s) {sorted(labels)}; "
                    "signal (1) and background (0) are both needed"
                )
                raise DataError(msg)
    # Each half of a validation part (one chooses the best epoch, the other
    # measures it) needs signal and background of positive total weight.
    for events, val, tune, role in (
        (source, val_s, tune_s, "source"),
        (target, val_t, tune_t, "target"),
    ):
        for half, purpose in ((tune, "choose"), (val & ~tune, "measure")):
            for cls, name in ((1, "signal"), (0, "background")):
                total = float(events.weight[half & (events.label == cls)].sum())
                if not total > 0:
                    msg = (
                        f"{role} sample {events.origin}: the validation {name} "
                        f"events that {purpose} the best epoch have total weight "
                        f"{total:.4g}; it must be positive (use more events, "
                        "another val_fraction, or fewer folds)"
                    )
                    raise DataError(msg)
    _, shown_t = domain_masks(config.disc_mode, source.label, target.label)
    if not (shown_t & ~val_t).any():
        msg = (
            f"target sample {target.origin}: no training events for disc_mode "
            f"{config.disc_mode!r} (the mode shows "
            f"{'background' if config.disc_mode == 'background' else 'all'} events "
            "of the target; check its labels or the split)"
        )
        raise DataError(msg)
    return (val_s, tune_s), (val_t, tune_t)


def loss_weights(
    events: EventTable, val: np.ndarray, role: str, config: TrainConfig
) -> tuple[np.ndarray, np.ndarray]:
    """The weights the losses give the training and the validation events
    (each 0 elsewhere); see :func:`~hepda.data.prepare.training_weights`."""
    w_train = np.zeros(len(events))
    w_val = np.zeros(len(events))
    # With source-background, S2 stands for data: training must not read
    # its labels, so its events keep their physical weights, unbalanced.
    blind = role == "target" and config.disc_mode == "source-background"
    w_train[~val] = training_weights(
        events.label[~val],
        events.weight[~val],
        "raw" if blind else config.class_weights,
        f"{role} {events.origin}",
    )
    w_val[val] = training_weights(
        events.label[val],
        events.weight[val],
        config.class_weights,
        f"{role} {events.origin}",
    )
    return w_train, w_val


def prepare_data(
    source: EventTable, target: EventTable, config: TrainConfig
) -> PreparedData:
    """Split both domains, fit the standardisation on source training events,
    move to the device."""
    device = torch.device(config.device)
    dtype = getattr(torch, config.dtype)
    (val_s, tune_s), (val_t, tune_t) = split_domains(source, target, config)

    standardizer = Standardizer.fit(source.features, source.weight, rows=~val_s)

    def to_device(
        events: EventTable, val: np.ndarray, tune: np.ndarray, role: str
    ) -> DomainData:
        w_train, w_val = loss_weights(events, val, role, config)
        n, n_features = events.features.shape
        rows = torch.empty(n, n_features + 2, dtype=dtype, device=device)
        rows[:, :n_features] = torch.as_tensor(standardizer.transform(events.features))
        rows[:, n_features] = torch.as_tensor(events.label)
        rows[:, n_features + 1] = torch.as_tensor(w_train)
        return DomainData(
            events=events,
            val=val,
            tune=tune,
            rows=rows,
            weight_val=torch.as_tensor(w_val, device=device).to(dtype),
        )

    return PreparedData(
        source=to_device(source, val_s, tune_s, "source"),
        target=to_device(target, val_t, tune_t, "target"),
        standardizer=standardizer,
        feature_names=source.feature_names,
    )


def domain_masks(
    disc_mode: str, label_s: np.ndarray, label_t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Which source and target events the discriminator sees, per mode.

    ``background``: background of both domains (both are labelled simulation).
    ``all``: every event of both domains. ``source-background``: background of
    the source against all of the target (an unlabelled target such as data).
    """
    if disc_mode == "background":
        return label_s == 0, label_t == 0
    if disc_mode == "all":
        return np.ones(len(label_s), bool), np.ones(len(label_t), bool)
    if disc_mode == "source-background":
        return label_s == 0, np.ones(len(label_t), bool)
    msg = f"disc_mode: expected background, all or source-background, got {disc_mode!r}"
    raise ConfigError(msg)


# ---------------------------------------------------------------- optimizer


def make_optimizer(params: list[Tensor], config: TrainConfig) -> optim.Optimizer:
    """The optimizers of the paper's section 4.2 (and Adam), see :mod:`hepda.optim`.

    All are element-wise, so members stacked in one tensor are updated
    exactly as if each were alone. Adadelta with lr = 1, rho = 0.9 and
    eps = 1e-6 is Eqs. 10-15.
    """
    return optim.make(config.optimizer, params, config.lr, config.momentum)


def lambda_factor(schedule: str, epoch: int, epochs: int) -> float:
    """Multiplier of lambda at ``epoch`` (0-based).

    ``constant`` gives 1. ``ganin`` is the warm-up of Ganin et al. (2016),
    2 / (1 + exp(-10 p)) - 1 with p the fraction of training done, which
    keeps the adversary weak while the features are still noise.
    """
    if schedule == "constant":
        return 1.0
    p = epoch / max(1, epochs)
    return 2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0


# ------------------------------------------------------------------ trainer

EpochCallback = Callable[[int, list[dict[str, float]]], None]


@dataclass
class MemberResult:
    member: Member
    history: list[dict[str, float]]
    metrics: dict[str, Any]
    diverged: bool
    diverged_epoch: int | None
    best_epoch: int


class Trainer:
    """Train a stack of DANN members on prepared data.

    Subclass and override :meth:`batch_targets`, :meth:`train_epoch` or
    :meth:`validate` for variants of the method; the loop in :meth:`fit`
    stays the same.
    """

    def __init__(
        self,
        config: TrainConfig,
        data: PreparedData,
        members: Sequence[Member],
        *,
        callbacks: Sequence[EpochCallback] = (),
        checkpoint_path: Path | None = None,
        checkpoint_extra: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.data = data
        self.members = list(members)
        self.callbacks = list(callbacks)
        self.checkpoint_path = checkpoint_path
        self.checkpoint_extra = checkpoint_extra or {}
        self.device = torch.device(config.device)
        self.dtype = getattr(torch, config.dtype)
        self.model = StackedDANN(
            len(data.feature_names),
            config.hidden,
            [m.seed for m in self.members],
            dtype=self.dtype,
            device=self.device,
        )
        self.optimizer = make_optimizer(self.model.parameters(), config)
        self.lambdas = torch.tensor(
            [m.lambda_ for m in self.members], dtype=self.dtype, device=self.device
        )

        src, tgt = data.source, data.target
        shown_s, shown_t = domain_masks(
            config.disc_mode, src.events.label, tgt.events.label
        )
        train_s = src.train_index
        pool_t = np.flatnonzero(shown_t & ~tgt.val)  # not empty: split_domains
        # Domain weights: each pool's training weights normalised to mean 1,
        # so that neither domain dominates L_d; a factor per domain (None
        # where normalise_mean falls back to unit weights).
        self._domain_scale = (
            _mean_one_factor(src.weight_train.cpu().numpy()[shown_s & ~src.val]),
            _mean_one_factor(tgt.weight_train.cpu().numpy()[pool_t]),
        )
        # The events a training batch draws from, each a row of features and
        # loss columns (see _training_table): the source training events and
        # the target pool (the training events the discriminator sees).
        self.train_rows = (
            self._training_table(src, train_s, shown_s[train_s], is_target=False),
            self._training_table(tgt, pool_t, shown_t[pool_t], is_target=True),
        )
        #: Which events of each domain the rows of ``train_rows`` hold.
        self.train_events = (train_s, pool_t)
        # Which source training events L_d sees, on the CPU: the epoch plan
        # (permutations, target events per batch) is made there, without
        # device round trips.
        self._shown_train_cpu = torch.as_tensor(shown_s[train_s])

        k = len(self.members)
        self.history: list[list[dict[str, float]]] = [[] for _ in range(k)]
        self.active = [True] * k
        self.diverged_epoch: list[int | None] = [None] * k
        self.best_score = [-math.inf] * k
        self.best_epoch = [-1] * k
        self.best_state = self.model.state_dict()
        self.epoch = 0  # next epoch to run
        self._epoch_start = self.model.state_dict()  # where the running epoch began
        #: Scores of every source and target event, (K, n) each, from the
        #: model the final metrics describe; set by :meth:`results`.
        self.final_scores: tuple[np.ndarray, np.ndarray] | None = None
        self._stop_requested = False

        # Validation tables, taken once: the per-epoch metrics read them every epoch.
        vs, vt = src.val_index, tgt.val_index
        self._val_s, self._val_t = src.events.take(vs), tgt.events.take(vt)
        self._tune_s, self._tune_t = src.tune[vs], tgt.tune[vt]
        # With the model's column of ones (StackedDANN.logits), built once.
        self._x_val = (
            with_ones(src.x.index_select(0, torch.as_tensor(vs, device=self.device))),
            with_ones(tgt.x.index_select(0, torch.as_tensor(vt, device=self.device))),
        )
        shown_vs, shown_vt = domain_masks(
            config.disc_mode, self._val_s.label, self._val_t.label
        )
        self._shown_val = (shown_vs, shown_vt)
        self._record = EpochRecord(
            self._val_s, self._val_t, self._tune_s, self._tune_t, config
        )
        # What the per-epoch losses need, as float64 tensors on the CPU: the
        # labels and validation weights for L_y, and for L_d the shown events
        # of both domains with their domain labels and weights (each domain's
        # normalised to mean 1, as in training).
        f64 = torch.float64
        w_vs = src.weight_val[vs].double().cpu()
        w_vt = tgt.weight_val[vt].double().cpu()
        self._loss_label_targets = (
            (torch.as_tensor(self._val_s.label, dtype=f64), w_vs),
            (torch.as_tensor(self._val_t.label, dtype=f64), w_vt),
        )
        self._shown_val_t = (torch.as_tensor(shown_vs), torch.as_tensor(shown_vt))
        n_shown_s, n_shown_t = int(shown_vs.sum()), int(shown_vt.sum())
        # L_d weighs S2 as training does: without its labels in source-background.
        w_dom_t = (
            self._val_t.weight
            if config.disc_mode == "source-background"
            else w_vt.numpy()
        )
        w_dom = np.concatenate(
            [
                normalise_mean(w_vs.numpy()[shown_vs]),
                normalise_mean(np.asarray(w_dom_t, dtype=np.float64)[shown_vt]),
            ]
        )
        self._domain_targets = (
            torch.cat(
                [torch.zeros(n_shown_s, dtype=f64), torch.ones(n_shown_t, dtype=f64)]
            ),
            torch.as_tensor(w_dom, dtype=f64),
        )

    # -- training tables ----------------------------------------------------

    def _training_table(
        self,
        domain: DomainData,
        index: np.ndarray,
        shown: np.ndarray,
        *,
        is_target: bool,
    ) -> Tensor:
        """Rows (n, F + 5) of the events ``index``: features, a one, the loss columns.

        The column of ones makes the features the model's input as is (its
        layers take their bias from it, :class:`~hepda.model.StackedDANN`).
        The four loss columns are the class label, the domain label (0
        source, 1 target), the event's L_y weight (its training weight for
        source events, 0 for target ones) and its L_d weight (the domain
        weight, 0 where the discriminator mode does not show the event). A
        batch is then one gather of whole rows per domain and two scalings,
        whatever the mode: a random row costs a few cache misses whether it
        holds 41 numbers or 45, so one gather costs about half of gathering
        features and per-event numbers from separate tensors.
        """
        rows = domain.rows.index_select(0, torch.as_tensor(index, device=self.device))
        n_features = len(self.data.feature_names)
        table = torch.empty(
            len(index), n_features + 5, dtype=self.dtype, device=self.device
        )
        table[:, :n_features] = rows[:, :n_features]
        table[:, n_features] = 1.0
        table[:, n_features + 1] = rows[:, n_features]  # the class label
        table[:, n_features + 2] = float(is_target)  # the domain label
        weight = rows[:, n_features + 1]
        table[:, n_features + 3] = 0.0 if is_target else weight
        scale = self._domain_scale[int(is_target)]
        table[:, n_features + 4] = (
            1.0 if scale is None else weight * scale
        ) * torch.as_tensor(shown, dtype=self.dtype, device=self.device)
        return table

    # -- one batch ----------------------------------------------------------

    def batch_targets(
        self, idx_s: Tensor, idx_t: Tensor, n_domain: int
    ) -> tuple[Tensor, BatchTargets]:
        """Inputs and loss coefficients of one batch.

        ``idx_s`` and ``idx_t`` are positions in ``train_rows[0]`` (the
        source training events) and ``train_rows[1]`` (the target pool);
        ``n_domain`` is how many of the batch's events the discriminator
        sees: L_y is the mean over the source events, L_d over those. The
        inputs carry the model's column of ones, (n, F + 1).
        """
        table_s, table_t = self.train_rows
        n_s, n = len(idx_s), len(idx_s) + len(idx_t)
        # Whole rows gathered straight into one buffer (index_select is
        # several times faster than advanced indexing).
        rows = torch.empty(n, table_s.shape[1], dtype=self.dtype, device=self.device)
        torch.index_select(table_s, 0, idx_s, out=rows[:n_s])
        torch.index_select(table_t, 0, idx_t, out=rows[n_s:])
        columns = rows[:, -4:].T  # (4, n): label, domain, L_y weight, L_d weight
        coef = torch.empty(2, n, dtype=self.dtype, device=self.device)
        torch.mul(columns[2], 1.0 / max(n_s, 1), out=coef[0])
        torch.mul(columns[3], 1.0 / max(n_domain, 1), out=coef[1])
        return rows[:, :-4], BatchTargets(columns[:2], coef)

    # -- one epoch ----------------------------------------------------------

    def _epoch_generator(self, epoch: int) -> torch.Generator:
        return torch.Generator().manual_seed(self.config.data_seed * 100_003 + epoch)

    def train_epoch(self, epoch: int) -> tuple[Tensor, Tensor]:
        """One pass over source training events; returns mean (L_y, L_d) per member."""
        # The epoch plan, made on the CPU: source order, target stream, and
        # how many target events each batch takes (as many as it shows of
        # the source to the discriminator).
        gen = self._epoch_generator(epoch)
        n_pool = len(self.train_rows[1])
        order_cpu = torch.randperm(len(self.train_rows[0]), generator=gen)
        shown = self._shown_train_cpu.index_select(0, order_cpu)
        n_needed = int(shown.sum())
        n_perm = max(1, math.ceil(n_needed / n_pool))
        t_stream = torch.cat(
            [torch.randperm(n_pool, generator=gen) for _ in range(n_perm)]
        ).to(self.device)
        order = order_cpu.to(self.device)
        bs = self.config.batch_size
        starts = list(range(0, len(order), bs))
        # Batch i takes as many target events as it shows source events to
        # the discriminator: t_bounds[i]..t_bounds[i + 1] of the stream.
        ends = np.cumsum(shown.numpy())[[min(a + bs, len(order)) - 1 for a in starts]]
        t_bounds = np.concatenate([[0], ends]).tolist()

        factor = lambda_factor(self.config.lambda_schedule, epoch, self.config.epochs)
        lambdas = self.lambdas * factor
        k = len(self.members)
        sum_ly = torch.zeros(k, dtype=torch.float64, device=self.device)
        sum_ld = torch.zeros(k, dtype=torch.float64, device=self.device)
        # A member whose loss turns NaN or infinite is put back to where this
        # epoch started and frozen. Members never mix, so checking the summed
        # losses once at the end of the epoch freezes the same members at the
        # same weights as checking after every step, without a device sync
        # per step.
        start_state = self._epoch_start = self.model.state_dict()
        for i, start in enumerate(starts):
            idx_s = order[start : start + bs]
            idx_t = t_stream[t_bounds[i] : t_bounds[i + 1]]
            # L_d sees the batch's shown source events and as many target ones.
            n_t = t_bounds[i + 1] - t_bounds[i]
            x, targets = self.batch_targets(idx_s, idx_t, 2 * n_t)
            self.model.zero_grad(set_to_none=False)
            ly, ld = self.model.forward_backward(x, targets, lambdas, ones_column=True)
            self.optimizer.step()
            sum_ly.add_(ly)
            sum_ld.add_(ld)
        # The weights too: a step on a finite loss can still leave them NaN
        # (an infinite gradient), and the loss would show it only an epoch
        # later, when the snapshot to go back to holds the NaN.
        loss_ok = (torch.isfinite(sum_ly) & torch.isfinite(sum_ld)).cpu()
        weights_ok = self.model.finite_members().cpu()
        for m in torch.nonzero(~(loss_ok & weights_ok)).flatten().tolist():
            if self.active[m]:
                reason = (
                    "its loss is not finite"
                    if not loss_ok[m]
                    else "its weights are not finite"
                )
                self._mark_diverged(m, epoch, reason)
        if not all(self.active):
            self._restore_frozen(start_state)
        n_steps = len(starts)
        return (sum_ly / n_steps).cpu(), (sum_ld / n_steps).cpu()

    def _mark_diverged(self, m: int, epoch: int, reason: str) -> None:
        self.active[m] = False
        self.diverged_epoch[m] = epoch
        log.warning(
            "member %d (lambda=%g, seed=%d) diverged in epoch %d: %s; "
            "it is frozen at its last good epoch",
            m,
            self.members[m].lambda_,
            self.members[m].seed,
            epoch + 1,
            reason,
        )

    def _freeze_saturated(self, epoch: int, rows: list[dict[str, float]]) -> None:
        """Treat members whose responses saturated in ``epoch`` as diverged.

        Weights that blew up without overflowing give every event the same
        response (the sigmoid rounds to 0 or 1), so the model has stopped
        learning; its metrics would still look valid (with every event past
        the cut, b1 = b2 and the paper's Z is the no-cut value N f_s /
        sqrt(N (1 - f_s))), and the best epoch could pick it. Such a member
        is frozen where the epoch started, as for a non-finite loss.
        """
        saturated = [
            m for m, row in enumerate(rows) if self.active[m] and row.get("saturated")
        ]
        for m in saturated:
            self._mark_diverged(
                m,
                epoch,
                "every validation event of S1 or S2 gets the same response "
                "(the classifier saturated)",
            )
        if saturated:
            self._restore_frozen(self._epoch_start)

    @torch.no_grad()
    def _restore_frozen(self, snapshot: dict[str, Tensor]) -> None:
        frozen = [m for m, a in enumerate(self.active) if not a]
        for name, p in zip(
            self.model.parameter_names(), self.model.parameters(), strict=True
        ):
            p[frozen] = snapshot[name][frozen]

    # -- validation ---------------------------------------------------------

    def _chunk_rows(self, chunk: int | None) -> int:
        # Inference holds no gradients: pieces twice the training ones.
        return chunk or 2 * self.model.rows_per_piece()

    @torch.no_grad()
    def scores(self, x: Tensor, chunk: int | None = None) -> np.ndarray:
        """Classifier scores of every member, (K, n), in chunks to bound memory."""
        step = self._chunk_rows(chunk)
        out = []
        for start in range(0, len(x), step):
            zy, _ = self.model.logits(x[start : start + step])
            out.append(torch.sigmoid(zy).double().cpu())
        return (
            torch.cat(out, dim=1).numpy() if out else np.zeros((len(self.members), 0))
        )

    @torch.no_grad()
    def _logits(self, x: Tensor, chunk: int | None = None) -> tuple[Tensor, Tensor]:
        """Label and domain logits of every member, each (K, n) on the CPU, for
        inputs with the model's column of ones (as ``_x_val`` holds them)."""
        step = self._chunk_rows(chunk)
        label, domain = [], []
        for start in range(0, len(x), step):
            zy, zd = self.model.logits(x[start : start + step], ones_column=True)
            label.append(zy.cpu())
            domain.append(zd.cpu())
        return torch.cat(label, dim=1), torch.cat(domain, dim=1)

    def validate(self, epoch: int) -> list[dict[str, float]]:
        """Everything the paper records per epoch, on the validation parts of S1, S2.

        The metrics come from :class:`~hepda.validation.EpochRecord` (one sort
        per domain); the losses straight from the logits, in float64.
        """
        (zy_s, zd_s), (zy_t, zd_t) = (self._logits(x) for x in self._x_val)
        # Scores as the model gives them (a float32 sigmoid); the record
        # sorts them in that type and widens them for the sums.
        score_s = torch.sigmoid(zy_s).numpy()
        score_t = torch.sigmoid(zy_t).numpy()
        (y_s, w_s), (y_t, w_t) = self._loss_label_targets
        loss_s = _bce_sums(zy_s, y_s, w_s)
        loss_t = _bce_sums(zy_t, y_t, w_t)
        shown_s, shown_t = self._shown_val_t
        dom, w_dom = self._domain_targets
        loss_d = _bce_sums(
            torch.cat([zd_s[:, shown_s], zd_t[:, shown_t]], dim=1), dom, w_dom
        )
        rows = []
        for m in range(len(self.members)):
            row = self._record(score_s[m], score_t[m])
            row["loss_label_s1"] = float(loss_s[m]) / len(y_s)
            row["loss_label_s2"] = float(loss_t[m]) / len(y_t)
            row["loss_domain"] = float(loss_d[m]) / len(dom)
            rows.append(row)
        return rows

    # -- the loop -----------------------------------------------------------

    def fit(self, callbacks: Sequence[EpochCallback] = ()) -> list[MemberResult]:
        """Run the remaining epochs, then compute the final metrics of every member."""
        callbacks = [*self.callbacks, *callbacks]
        previous = signal.getsignal(signal.SIGINT)
        if previous is signal.default_int_handler:
            signal.signal(signal.SIGINT, self._request_stop)
        try:
            while self.epoch < self.config.epochs and any(self.active):
                epoch = self.epoch
                loss_y, loss_d = self.train_epoch(epoch)

                # Validate and record.
                rows = self.validate(epoch)
                self._freeze_saturated(epoch, rows)
                factor = lambda_factor(
                    self.config.lambda_schedule, epoch, self.config.epochs
                )
                for m, row in enumerate(rows):
                    if not self.active[m] and self.diverged_epoch[m] is not None:
                        continue  # frozen: its history ends at its last good epoch
                    row = {
                        "epoch": epoch + 1,
                        "lambda": self.members[m].lambda_ * factor,
                        "train_loss_label": float(loss_y[m]),
                        "train_loss_domain": float(loss_d[m]),
                        **{k: v for k, v in row.items() if k != "saturated"},
                    }
                    self.history[m].append(row)
                self._track_best(epoch)
                self.epoch = epoch + 1

                # Checkpoint, then tell the callbacks.
                if self.checkpoint_path is not None and (
                    self.epoch % self.config.checkpoint_every == 0
                    or self.epoch == self.config.epochs
                ):
                    self.save_checkpoint(self.checkpoint_path)
                for cb in callbacks:
                    cb(epoch + 1, [h[-1] if h else {} for h in self.history])
                if self._stop_requested:
                    if self.checkpoint_path is not None:
                        self.save_checkpoint(self.checkpoint_path)
                    raise KeyboardInterrupt
        finally:
            if previous is signal.default_int_handler:
                signal.signal(signal.SIGINT, previous)
        return self.results()

    def _request_stop(self, signum: int, frame: object) -> None:
        if self._stop_requested:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        log.warning("stopping after this epoch (Ctrl-C again to stop now)")
        self._stop_requested = True

    def _track_best(self, epoch: int) -> None:
        window = self.config.smooth_window
        state = None
        for m in range(len(self.members)):
            if not self.active[m] or not self.history[m]:
                continue
            tune = [r["significance_tune"] for r in self.history[m]]
            value = float(np.mean(tune[-window:]))
            if value > self.best_score[m]:
                self.best_score[m] = value
                self.best_epoch[m] = epoch
                state = state or self.model.state_dict()
                for name, p in state.items():
                    self.best_state[name][m] = p[m]

    # -- results ------------------------------------------------------------

    def results(self) -> list[MemberResult]:
        """Final metrics per member: the last epoch on all validation events, the
        best epoch (chosen on the tune half) on the other half."""
        src, tgt = self.data.source, self.data.target
        vs, vt = src.val_index, tgt.val_index
        test_s, test_t = vs[~src.tune[vs]], vt[~tgt.tune[vt]]
        last_state = self.model.state_dict()

        # Scores of every event, (K, n) per domain, kept as ``final_scores``:
        # the metrics are computed on exactly the numbers a run writes out
        # (the same events scored in other batches can round differently
        # in float32, which moves tied responses across each other).
        self.final_scores = (self.scores(src.x), self.scores(tgt.x))
        score_s_val = self.final_scores[0][:, vs]
        score_t_val = self.final_scores[1][:, vt]
        score_s_train = self.final_scores[0][:, src.train_index]
        x_val_s, x_val_t = self._x_val
        shown_s, shown_t = self._shown_val
        # Representations of the events the discriminator sees, for the
        # proxy A-distance.
        feats_s = self._features(x_val_s[torch.as_tensor(shown_s, device=self.device)])
        feats_t = self._features(x_val_t[torch.as_tensor(shown_t, device=self.device)])
        self.model.load_state_dict(self.best_state)
        best_s = self.scores(src.x[test_s])
        best_t = self.scores(tgt.x[test_t])
        self.model.load_state_dict(last_state)

        x_s = x_val_s.double().cpu().numpy()[shown_s]
        x_t = x_val_t.double().cpu().numpy()[shown_t]
        # The discriminator's events with their physical weights.
        w_pad = (self._val_s.weight[shown_s], self._val_t.weight[shown_t])
        pad_input = metrics.proxy_a_distance(
            x_s, x_t, *w_pad, seed=self.config.data_seed
        )
        # Event tables taken once for all members (a take copies the features).
        val_ev, val_ev_t = self._val_s, self._val_t
        train_ev = src.events.take(src.train_index)
        test_ev, test_ev_t = src.events.take(test_s), tgt.events.take(test_t)
        out = []
        for m, member in enumerate(self.members):
            diverged = self.diverged_epoch[m] is not None
            result = evaluate_scores(
                score_s_val[m], val_ev, score_t_val[m], val_ev_t, self.config
            )
            result["proxy_a_distance_input"] = pad_input
            result["proxy_a_distance_features"] = metrics.proxy_a_distance(
                feats_s[m], feats_t[m], *w_pad, seed=self.config.data_seed
            )
            for cls, name in ((1, "signal"), (0, "background")):
                tr, va = train_ev.label == cls, val_ev.label == cls
                result[f"overtraining_ks_pvalue_{name}"] = metrics.overtraining_ks(
                    score_s_train[m][tr],
                    train_ev.weight[tr],
                    score_s_val[m][va],
                    val_ev.weight[va],
                )
            best = evaluate_scores(
                best_s[m], test_ev, best_t[m], test_ev_t, self.config
            )
            result.update({f"best_{k}": v for k, v in best.items()})
            result["best_epoch"] = self.best_epoch[m] + 1
            result["epochs_trained"] = len(self.history[m])
            result["diverged"] = diverged
            bad_epoch = self.diverged_epoch[m]
            result["diverged_epoch"] = None if bad_epoch is None else bad_epoch + 1
            out.append(
                MemberResult(
                    member=member,
                    history=self.history[m],
                    metrics=result,
                    diverged=diverged,
                    diverged_epoch=result["diverged_epoch"],
                    best_epoch=self.best_epoch[m] + 1,
                )
            )
        return out

    @torch.no_grad()
    def _features(self, x: Tensor, chunk: int | None = None) -> np.ndarray:
        # x with the model's column of ones. Kept in the model's dtype:
        # (K, n, width) for all members is the largest array of a stacked
        # run (the metrics widen it exactly).
        step = self._chunk_rows(chunk)
        parts = [
            self.model.features(x[s : s + step], ones_column=True).cpu()
            for s in range(0, len(x), step)
        ]
        return torch.cat(parts, dim=1).numpy()

    # -- checkpoints --------------------------------------------------------

    def checkpoint(self) -> dict[str, Any]:
        """Everything needed to resume or use the model, as plain data and tensors."""
        from hepda import __version__

        return {
            "format": CHECKPOINT_FORMAT,
            "hepda_version": __version__,
            "config": self.config.to_dict(),
            "members": [{"lambda": m.lambda_, "seed": m.seed} for m in self.members],
            "feature_names": list(self.data.feature_names),
            "standardizer": {
                "mean": self.data.standardizer.mean_.tolist(),
                "scale": self.data.standardizer.scale_.tolist(),
            },
            "n_features": len(self.data.feature_names),
            "hidden": list(self.config.hidden),
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "best_model": copy.deepcopy(self.best_state),
            "optimizer": self.optimizer.state_dict(),
            "history": copy.deepcopy(self.history),
            "active": list(self.active),
            "diverged_epoch": list(self.diverged_epoch),
            "best_score": list(self.best_score),
            "best_epoch": list(self.best_epoch),
            **self.checkpoint_extra,
        }

    def save_checkpoint(self, path: Path) -> None:
        from hepda._atomic import atomic_path

        with atomic_path(path) as tmp:
            torch.save(self.checkpoint(), tmp)

    def load_checkpoint(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint written by :meth:`save_checkpoint`."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.best_state = state["best_model"]
        self.history = state["history"]
        self.active = list(state["active"])
        self.diverged_epoch = list(state["diverged_epoch"])
        self.best_score = list(state["best_score"])
        self.best_epoch = list(state["best_epoch"])
        self.epoch = int(state["epoch"])


# ------------------------------------------------------------------ metrics


def _class_balanced(label: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Physical weights with each class scaled to the same total.

    The accuracy is quoted for equal amounts of signal and background, as in
    the paper's samples; with cross-section weights it would otherwise only
    measure how much background is rejected.
    """
    out = np.asarray(weight, dtype=np.float64).copy()
    for cls in (0, 1):
        sel = label == cls
        total = out[sel].sum()
        if total > 0:
            out[sel] /= total
    return out


def _mean_one_factor(weight: np.ndarray) -> float | None:
    """The factor that :func:`normalise_mean` applies, or None where it gives ones."""
    total = float(weight.sum())
    if weight.size == 0 or total <= 0:
        return None
    return weight.size / total


def _bce_sums(logits: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """Per member (row of ``logits``), sum_i w_i BCE(z_i, t_i), in float64."""
    z = logits.double()
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    return (bce(z, target.expand_as(z), reduction="none") * weight).sum(1)


def evaluate_scores(
    score_s1: np.ndarray,
    events_s1: EventTable,
    score_s2: np.ndarray,
    events_s2: EventTable,
    config: TrainConfig,
    *,
    only_significance: bool = False,
    pvalue: bool = True,
) -> dict[str, Any]:
    """The paper's metrics (and the ones beyond it) from scores on S1 and S2 events.

    AUC uses the physical weights; accuracy too, with the two classes scaled
    to equal totals (see :func:`_class_balanced`). The significance follows
    Eqs. 16-19: signal from S2, backgrounds from S1 and S2, the generator
    difference |b2 - b1| as the background uncertainty. ``pvalue=False``
    (the per-epoch history) leaves out the KS p-value of the backgrounds.
    """
    sig = config.significance
    y1, y2 = events_s1.label, events_s2.label
    w1, w2 = events_s1.weight, events_s2.weight
    s2, b1, b2 = y2 == 1, y1 == 0, y2 == 0
    yields = metrics.paper_yields(
        score_s2[s2],
        w2[s2],
        score_s1[b1],
        w1[b1],
        score_s2[b2],
        w2[b2],
        cut=sig.cut,
        n_events=sig.n_events,
        signal_fraction=sig.signal_fraction,
    )
    z = metrics.paper_significance(yields.s, yields.b2, yields.sigma_b)
    if only_significance:
        return {"significance": z}
    distances = metrics.response_distances(
        score_s1[b1], w1[b1], score_s2[b2], w2[b2], pvalue=pvalue
    )
    return {
        "auc_s1": metrics.roc_auc(y1, score_s1, w1),
        "auc_s2": metrics.roc_auc(y2, score_s2, w2),
        "accuracy_s1": metrics.accuracy(y1, score_s1, _class_balanced(y1, w1)),
        "accuracy_s2": metrics.accuracy(y2, score_s2, _class_balanced(y2, w2)),
        "significance": z,
        "significance_asimov": metrics.asimov_significance(
            yields.s, yields.b2, yields.sigma_b
        ),
        "s": yields.s,
        "b1": yields.b1,
        "b2": yields.b2,
        "sigma_b": yields.sigma_b,
        **distances,
    }

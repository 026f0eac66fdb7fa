"""DANN training grids: lambda, widths, discriminator modes, optimizers, seeds, folds.

Members of a grid that share widths, optimizer, discriminator mode and data
split train *stacked*: one :class:`~hepda.train.Trainer` holds K members
(each with its own lambda and seed) in one set of tensors and shows them the
same batches. Every member gets exactly the numbers a separate
``hepda train`` with its settings would get (to float rounding), because
initialisation, batches and optimizers are all per member.

A block of stacked members is also the unit of work handed out: in this
process, to ``workers`` local processes of one torch thread each, or to a
Dask cluster (``distributed.Client``; dask-jobqueue for HTCondor or SLURM).
A work unit carries file paths and a configuration dictionary, never arrays:
workers read the inputs themselves.

Outputs of :func:`run_scan` in ``out_dir``: ``scan.csv`` (one row per
member), ``histories/<member>.csv``, ``scan.toml`` (the resolved
configuration and grid), and with the plots extra ``scan_metrics.png`` and
``tradeoff.png``.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast, get_args

import numpy as np

from hepda._atomic import write_text
from hepda._dask import connect
from hepda.config import (
    DiscMode,
    OptimizerName,
    TrainConfig,
    dump_toml,
    train_config_from_mapping,
)
from hepda.errors import ConfigError, HepdaError, did_you_mean

if TYPE_CHECKING:
    from hepda.data.events import EventTable

log = logging.getLogger(__name__)

SCAN_CSV = "scan.csv"
SCAN_TOML = "scan.toml"
HISTORY_DIR = "histories"
DEFAULT_STACK = 20

#: Columns of scan.csv before the metrics: what tells the members apart.
SETTING_COLUMNS = (
    "member",
    "lambda",
    "hidden",
    "disc_mode",
    "optimizer",
    "seed",
    "fold",
)
_TEXT_COLUMNS = frozenset({"member", "hidden", "disc_mode", "optimizer"})
_INT_COLUMNS = frozenset({"seed", "fold", "best_epoch", "epochs_trained"})

ScanCallback = Callable[["ScanBlock", int, list[dict[str, float]]], None]


# ------------------------------------------------------------------ parsing


def parse_lambdas(text: str) -> list[float]:
    """Lambda values from ``"0,0.5,1.2"`` (a list) or ``"start:stop:count"``.

    ``start:stop:count`` gives ``count`` evenly spaced values from ``start``
    to ``stop``, both included (``numpy.linspace``). Values must be finite
    and non-negative (lambda = 0 is the baseline without adversary).

    >>> parse_lambdas("0,0.5,1.2")
    [0.0, 0.5, 1.2]
    >>> parse_lambdas("0:2:5")
    [0.0, 0.5, 1.0, 1.5, 2.0]
    """
    spec = text.strip()
    usage = "a list such as 0,0.5,1.2 or start:stop:count such as 0:2:20"
    if ":" in spec:
        parts = spec.split(":")
        try:
            if len(parts) != 3:
                raise ValueError
            start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            msg = f"lambdas: expected {usage}, got {text!r}"
            raise ConfigError(msg) from None
        if count < 1:
            msg = (
                "lambdas: the count in start:stop:count must be at least 1, "
                f"got {text!r}"
            )
            raise ConfigError(msg)
        values = [float(v) for v in np.linspace(start, stop, count)]
    else:
        try:
            values = [float(v) for v in spec.split(",") if v.strip()]
        except ValueError:
            msg = f"lambdas: expected {usage}, got {text!r}"
            raise ConfigError(msg) from None
    if not values:
        msg = f"lambdas: expected {usage}, got {text!r}"
        raise ConfigError(msg)
    bad = [v for v in values if not math.isfinite(v) or v < 0]
    if bad:
        msg = (
            "lambdas: every lambda must be a finite number >= 0, "
            f"got {bad} from {text!r}"
        )
        raise ConfigError(msg)
    return values


def parse_seeds(text: str) -> list[int]:
    """Seeds from a count (``"3"`` = seeds 0, 1, 2) or a list (``"0,4,7"``).

    A text with a comma is a list; a single explicit seed is written with a
    trailing comma (``"7,"``).

    >>> parse_seeds("3")
    [0, 1, 2]
    >>> parse_seeds("0,4,7"), parse_seeds("7,")
    ([0, 4, 7], [7])
    """
    spec = text.strip()
    usage = "a count such as 5 (seeds 0..4) or a list such as 0,4,7 (one seed: 7,)"
    try:
        if "," in spec:
            seeds = [int(v) for v in spec.split(",") if v.strip()]
        else:
            seeds = list(range(int(spec)))
    except ValueError:
        msg = f"seeds: expected {usage}, got {text!r}"
        raise ConfigError(msg) from None
    if not seeds or any(s < 0 for s in seeds):
        msg = f"seeds: expected {usage} (seeds >= 0, count >= 1), got {text!r}"
        raise ConfigError(msg)
    return seeds


# --------------------------------------------------------------------- grid


@dataclass(frozen=True)
class ScanGrid:
    """The settings a scan varies; every combination is one member.

    ``folds = 1`` trains on the split of the base configuration; ``folds = k``
    (k >= 2) repeats every setting k times with k-fold cross-validation by
    event number: fold f validates on events with ``event_number % k == f``.
    """

    lambdas: tuple[float, ...] = (0.0,)
    hidden: tuple[tuple[int, ...], ...] = ((45, 30, 25),)
    disc_modes: tuple[DiscMode, ...] = ("background",)
    optimizers: tuple[OptimizerName, ...] = ("adadelta",)
    seeds: tuple[int, ...] = (0,)
    folds: int = 1

    def __post_init__(self) -> None:
        # Accept any sequences; keep tuples so the grid is hashable and frozen.
        object.__setattr__(self, "lambdas", tuple(float(v) for v in self.lambdas))
        object.__setattr__(
            self, "hidden", tuple(tuple(int(h) for h in w) for w in self.hidden)
        )
        object.__setattr__(self, "disc_modes", tuple(self.disc_modes))
        object.__setattr__(self, "optimizers", tuple(self.optimizers))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        problems = self._problems()
        if problems:
            listing = "\n  ".join(problems)
            msg = f"{len(problems)} problem(s) in the scan grid:\n  {listing}"
            raise ConfigError(msg)

    def _problems(self) -> list[str]:
        problems = []
        for name in ("lambdas", "hidden", "disc_modes", "optimizers", "seeds"):
            if not getattr(self, name):
                problems.append(f"{name}: expected at least one value, got none")
        bad_lambdas = [v for v in self.lambdas if not math.isfinite(v) or v < 0]
        if bad_lambdas:
            problems.append(f"lambdas: expected finite numbers >= 0, got {bad_lambdas}")
        for widths in self.hidden:
            if not widths or any(h <= 0 for h in widths):
                problems.append(
                    "hidden: expected positive widths such as (45, 30, 25), "
                    f"got {widths!r}"
                )
        for key, values, allowed in (
            ("disc_mode", self.disc_modes, get_args(DiscMode)),
            ("optimizer", self.optimizers, get_args(OptimizerName)),
        ):
            for v in values:
                if v not in allowed:
                    problems.append(
                        f"{key}: expected one of {', '.join(allowed)}, got {v!r}"
                        f"{did_you_mean(str(v), allowed)}"
                    )
        if any(not 0 <= s < 2**32 for s in self.seeds):
            problems.append(
                f"seeds: expected integers from 0 to 4294967295, got {list(self.seeds)}"
            )
        if isinstance(self.folds, bool) or not isinstance(self.folds, int):
            problems.append(f"folds: expected an integer, got {self.folds!r}")
        elif self.folds < 1:
            problems.append(
                f"folds: expected 1 (no cross-validation) or k >= 2, got {self.folds}"
            )
        return problems

    @property
    def n_members(self) -> int:
        return (
            len(self.lambdas)
            * len(self.hidden)
            * len(self.disc_modes)
            * len(self.optimizers)
            * len(self.seeds)
            * self.folds
        )

    @classmethod
    def single(cls, config: TrainConfig) -> ScanGrid:
        """The one-point grid of a training configuration."""
        return cls(
            lambdas=(config.lambda_,),
            hidden=(config.hidden,),
            disc_modes=(config.disc_mode,),
            optimizers=(config.optimizer,),
            seeds=(config.seed,),
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``[scan]`` table of scan.toml."""
        return {
            "lambdas": list(self.lambdas),
            "hidden": [list(w) for w in self.hidden],
            "disc_mode": list(self.disc_modes),
            "optimizer": list(self.optimizers),
            "seeds": list(self.seeds),
            "folds": self.folds,
        }


@dataclass(frozen=True)
class ScanMember:
    """One model of the grid, with what tells it apart from the others."""

    index: int
    lambda_: float
    hidden: tuple[int, ...]
    disc_mode: str
    optimizer: str
    seed: int
    fold: int

    @property
    def id(self) -> str:
        """History file name: index, lambda and seed, e.g. ``m0003-lambda0.5-seed1``."""
        return f"m{self.index:04d}-lambda{self.lambda_:g}-seed{self.seed}"

    def settings(self) -> dict[str, Any]:
        """The setting columns of its scan.csv row."""
        return {
            "member": self.id,
            "lambda": self.lambda_,
            "hidden": ",".join(str(h) for h in self.hidden),
            "disc_mode": self.disc_mode,
            "optimizer": self.optimizer,
            "seed": self.seed,
            "fold": self.fold,
        }


@dataclass(frozen=True)
class ScanBlock:
    """Members trained stacked: same widths, optimizer, disc mode and split."""

    index: int
    config: TrainConfig
    members: tuple[ScanMember, ...]


def fold_config(base: TrainConfig, folds: int, fold: int) -> TrainConfig:
    """``base`` for fold ``fold`` of a k-fold split by event number (k = ``folds``)."""
    if folds == 1:
        return base
    return base.replace(split="event_number", n_folds=folds, fold=fold)


def member_config(base: TrainConfig, member: ScanMember, folds: int) -> TrainConfig:
    """The configuration of a ``hepda train`` run equal to ``member``."""
    return fold_config(base, folds, member.fold).replace(
        lambda_=member.lambda_,
        seed=member.seed,
        hidden=member.hidden,
        disc_mode=member.disc_mode,
        optimizer=member.optimizer,
    )


def plan_scan(
    grid: ScanGrid, base: TrainConfig, stack: int = DEFAULT_STACK
) -> list[ScanBlock]:
    """Members of ``grid`` grouped into blocks of at most ``stack`` stacked models.

    Members are numbered by widths, disc mode, optimizer, fold, lambda and
    seed (the last varying fastest). A group that needs several blocks is
    split into blocks of nearly equal size; the split does not change any
    member's numbers.
    """
    if isinstance(stack, bool) or not isinstance(stack, int) or stack < 1:
        msg = f"stack: expected a positive number of members per block, got {stack!r}"
        raise ConfigError(msg)
    folds = list(range(grid.folds)) if grid.folds > 1 else [base.fold]
    blocks: list[ScanBlock] = []
    index = 0
    for hidden in grid.hidden:
        for disc_mode in grid.disc_modes:
            for optimizer in grid.optimizers:
                for fold in folds:
                    group = []
                    for lam in grid.lambdas:
                        for seed in grid.seeds:
                            group.append(
                                ScanMember(
                                    index, lam, hidden, disc_mode, optimizer, seed, fold
                                )
                            )
                            index += 1
                    config = fold_config(base, grid.folds, fold).replace(
                        hidden=hidden,
                        disc_mode=disc_mode,
                        optimizer=optimizer,
                        lambda_=group[0].lambda_,
                        seed=group[0].seed,
                    )
                    n_blocks = math.ceil(len(group) / stack)
                    for part in np.array_split(np.arange(len(group)), n_blocks):
                        members = tuple(group[i] for i in part)
                        blocks.append(ScanBlock(len(blocks), config, members))
    return blocks


# ------------------------------------------------------------- work units


def block_spec(
    block: ScanBlock,
    source: Sequence[str],
    target: Sequence[str],
    *,
    threads: int | None = None,
) -> dict[str, Any]:
    """The work unit of a block as plain data: file paths and a configuration dict."""
    return {
        "block": block.index,
        "source": list(source),
        "target": list(target),
        "config": block.config.to_dict(),
        "members": [{"lambda": m.lambda_, "seed": m.seed} for m in block.members],
        "threads": threads,
    }


@dataclass
class _LocalData:
    """Inputs kept between blocks run in one process: read once, split once per fold."""

    domains: Any = None
    prepared: dict[tuple[Any, ...], Any] = field(default_factory=dict)


def run_block(
    spec: Mapping[str, Any],
    *,
    on_epoch: Callable[[int, list[dict[str, float]]], None] | None = None,
    local: _LocalData | None = None,
) -> dict[str, Any]:
    """Train one block of stacked members; the function a worker runs.

    ``spec`` comes from :func:`block_spec`. The worker reads the input files
    itself, so the paths must be valid where it runs (a shared file system
    on a cluster). With ``spec["threads"]`` set, torch uses that many
    threads in this process. Returns plain data: the resolved feature names
    and, per member, its metrics (the keys of metrics.json) and history.
    """
    import torch

    from hepda.runs import load_domains
    from hepda.train import Member, Trainer, data_settings, prepare_data

    started = time.perf_counter()
    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    config = train_config_from_mapping(
        spec["config"], origin=f"configuration of scan block {spec['block']}"
    )
    if local is not None and local.domains is not None:
        src, tgt = local.domains
    else:
        src, tgt = load_domains(spec["source"], spec["target"], config)
        if local is not None:
            local.domains = (src, tgt)
    config = config.replace(features=tuple(src.feature_names))

    key = data_settings(config)
    if local is not None and key in local.prepared:
        data = local.prepared[key]
    else:
        data = prepare_data(src, tgt, config)
        if local is not None:
            local.prepared = {key: data}  # folds come one after another

    members = [Member(float(m["lambda"]), int(m["seed"])) for m in spec["members"]]
    trainer = Trainer(
        config, data, members, callbacks=[on_epoch] if on_epoch is not None else []
    )
    results = trainer.fit()
    return {
        "block": spec["block"],
        "features": list(src.feature_names),
        "members": [{"metrics": r.metrics, "history": r.history} for r in results],
        "seconds": time.perf_counter() - started,
    }


# Set in each local worker process by _init_process: where epoch progress goes.
_PROGRESS_QUEUE: Any = None


def _init_process(queue: Any, threads: int) -> None:
    global _PROGRESS_QUEUE
    _PROGRESS_QUEUE = queue
    # Ctrl-C is handled by the parent, which stops the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(threads)


def _run_block_in_process(spec: dict[str, Any]) -> dict[str, Any]:
    block = spec["block"]

    def report(epoch: int, rows: list[dict[str, float]]) -> None:
        _PROGRESS_QUEUE.put((block, epoch, rows))

    return run_block(spec, on_epoch=report)


# ---------------------------------------------------------------- running


class _Progress:
    """A bar over blocks x epochs, and the scan callbacks, fed from any runner."""

    def __init__(
        self,
        blocks: Sequence[ScanBlock],
        epochs: int,
        callbacks: Sequence[ScanCallback],
        enabled: bool,
    ) -> None:
        from tqdm.auto import tqdm

        self.blocks = blocks
        self.epochs = epochs
        self.callbacks = list(callbacks)
        self.seen = [0] * len(blocks)
        self.done = 0
        self.bar = tqdm(
            total=len(blocks) * epochs,
            unit="epoch",
            desc=f"scan ({len(blocks)} blocks)",
            disable=not enabled,
            dynamic_ncols=True,
        )

    def epoch(self, block: int, epoch: int, rows: list[dict[str, float]]) -> None:
        for cb in self.callbacks:
            cb(self.blocks[block], epoch, rows)
        self.bar.update(max(0, epoch - self.seen[block]))
        self.seen[block] = max(self.seen[block], epoch)

    def block_done(
        self, block: int, replay: list[list[dict[str, float]]] | None
    ) -> None:
        """A block ended; ``replay`` holds its histories when no live epochs came."""
        if replay is not None and self.callbacks:
            n_epochs = max((len(h) for h in replay), default=0)
            for e in range(n_epochs):
                rows = [h[min(e, len(h) - 1)] if h else {} for h in replay]
                for cb in self.callbacks:
                    cb(self.blocks[block], e + 1, rows)
        self.bar.update(self.epochs - self.seen[block])  # members may stop early
        self.seen[block] = self.epochs
        self.done += 1
        self.bar.set_postfix(blocks=f"{self.done}/{len(self.blocks)}")

    def close(self) -> None:
        self.bar.close()


def _run_here(
    specs: list[dict[str, Any]],
    progress: _Progress,
    on_result: Callable[[dict[str, Any]], None],
) -> None:
    local = _LocalData()
    for spec in specs:
        block = spec["block"]

        def on_epoch(
            epoch: int, rows: list[dict[str, float]], block: int = block
        ) -> None:
            progress.epoch(block, epoch, rows)

        result = run_block(spec, on_epoch=on_epoch, local=local)
        progress.block_done(block, None)
        on_result(result)


def _run_processes(
    specs: list[dict[str, Any]],
    workers: int,
    progress: _Progress,
    on_result: Callable[[dict[str, Any]], None],
) -> None:
    import multiprocessing as mp
    import queue as queue_module

    # Not fork: a forked child of a process that ran OpenMP threads can hang.
    # A fork server that has imported torch (but run nothing) starts workers
    # in a fraction of the time spawn takes to import torch in each.
    if "forkserver" in mp.get_all_start_methods():
        ctx: Any = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["hepda.scan", "hepda.train"])
    else:  # pragma: no cover - Windows
        ctx = mp.get_context("spawn")
    epochs_queue = ctx.Queue()
    pool = ctx.Pool(workers, initializer=_init_process, initargs=(epochs_queue, 1))

    def drain(timeout: float) -> None:
        try:
            item = epochs_queue.get(timeout=timeout)
            while True:
                progress.epoch(*item)
                item = epochs_queue.get_nowait()
        except queue_module.Empty:
            pass

    try:
        pending = {
            spec["block"]: pool.apply_async(_run_block_in_process, (spec,))
            for spec in specs
        }
        while pending:
            drain(0.2)
            for block, handle in list(pending.items()):
                if handle.ready():
                    result = handle.get()  # re-raises the worker's error
                    del pending[block]
                    drain(0.0)
                    progress.block_done(block, None)
                    on_result(result)
        pool.close()
        pool.join()
    finally:
        pool.terminate()


def _require_distributed() -> Any:
    from hepda._extras import require

    return require("distributed", "send scan blocks to a Dask cluster")


def _run_dask(
    specs: list[dict[str, Any]],
    scheduler: Any,
    progress: _Progress,
    on_result: Callable[[dict[str, Any]], None],
) -> None:
    distributed = _require_distributed()
    client, owned = connect(scheduler, "send scan blocks to a Dask cluster")
    token = os.urandom(4).hex()
    futures = [
        client.submit(
            run_block,
            {**spec, "threads": 1},
            key=f"hepda-scan-{token}-block-{spec['block']}",
            pure=False,
        )
        for spec in specs
    ]
    try:
        for _, result in distributed.as_completed(futures, with_results=True):
            progress.block_done(
                result["block"], [m["history"] for m in result["members"]]
            )
            on_result(result)
    except BaseException:
        client.cancel(futures)
        raise
    finally:
        if owned:
            client.close()


def _check_run_options(workers: Any, scheduler: Any) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        msg = f"workers: expected a positive number of processes, got {workers!r}"
        raise ConfigError(msg)
    if scheduler is not None and workers != 1:
        msg = (
            f"give workers ({workers}) or a scheduler ({scheduler!r}), not both: with "
            "a scheduler the cluster's workers do the work"
        )
        raise ConfigError(msg)


def check_scan(
    source: EventTable,
    target: EventTable,
    grid: ScanGrid,
    base: TrainConfig,
    *,
    workers: int = 1,
    scheduler: Any = None,
    stack: int = DEFAULT_STACK,
) -> None:
    """Everything :func:`run_scan` would find wrong before its first block,
    found without training: the run options, the blocks, and the split of
    every fold and its loss weights. ``hepda scan`` calls it before it
    replaces an earlier scan."""
    from hepda.train import data_settings, loss_weights, split_domains

    _check_run_options(workers, scheduler)
    checked = set()
    for block in plan_scan(grid, base, stack):
        # as run_block will read it
        train_config_from_mapping(
            block.config.to_dict(), origin=f"configuration of scan block {block.index}"
        )
        settings = data_settings(block.config)
        if settings not in checked:
            (val_s, _), (val_t, _) = split_domains(source, target, block.config)
            loss_weights(source, val_s, "source", block.config)
            loss_weights(target, val_t, "target", block.config)
            checked.add(settings)


def run_scan(
    source: Sequence[str],
    target: Sequence[str],
    grid: ScanGrid,
    base: TrainConfig,
    out_dir: Path,
    *,
    workers: int = 1,
    scheduler: Any = None,
    stack: int = DEFAULT_STACK,
    callbacks: Sequence[ScanCallback] = (),
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Train every member of ``grid`` and write the scan outputs to ``out_dir``.

    ``base`` supplies everything the grid does not vary. Blocks of at most
    ``stack`` members run in this process (``workers = 1``), in ``workers``
    local processes of one torch thread each, or on the Dask cluster at
    ``scheduler`` (an address such as ``tcp://host:8786``, a
    ``distributed.Client`` or a cluster object with ``scheduler_address``);
    the numbers are the same in every case. Keep torch threads times
    workers at or below the number of cores.

    ``callbacks`` are called in this process as ``cb(block, epoch, rows)``
    with the latest history row of each member of the block; blocks run on
    Dask report their epochs when the block ends.

    Returns the rows of scan.csv (one per member, in member order).
    """
    _check_run_options(workers, scheduler)
    cores = os.cpu_count() or 1
    if workers > cores:
        log.warning(
            "%d worker processes on %d cores: processes will compete for cores and "
            "run slower; use --workers %d or fewer",
            workers,
            cores,
            cores,
        )
    blocks = plan_scan(grid, base, stack)
    members = [m for b in blocks for m in b.members]
    out_dir = Path(out_dir)
    (out_dir / HISTORY_DIR).mkdir(parents=True, exist_ok=True)
    write_scan_toml(out_dir / SCAN_TOML, source, target, base, grid, stack)
    log.info(
        "scan of %d members in %d stacked blocks (at most %d per block)%s",
        len(members),
        len(blocks),
        stack,
        f" on {scheduler}"
        if scheduler is not None
        else (f" over {workers} processes" if workers > 1 else ""),
    )

    # Results arrive block by block, in any order; rows are kept in member order.
    rows: dict[int, dict[str, Any]] = {}
    features: list[str] = []

    from hepda.runs import write_history

    def on_result(result: dict[str, Any]) -> None:
        block = blocks[result["block"]]
        features[:] = result["features"]
        for member, out in zip(block.members, result["members"], strict=True):
            write_history(out_dir / HISTORY_DIR / f"{member.id}.csv", out["history"])
            rows[member.index] = {**member.settings(), **out["metrics"]}
        write_scan_csv(out_dir / SCAN_CSV, [rows[i] for i in sorted(rows)])
        log.info(
            "block %d of %d done (%d members, %.0f s)",
            block.index + 1,
            len(blocks),
            len(block.members),
            result["seconds"],
        )

    specs = [block_spec(b, source, target) for b in blocks]
    bar = _Progress(blocks, base.epochs, callbacks, progress)
    try:
        if scheduler is not None:
            _run_dask(specs, scheduler, bar, on_result)
        elif workers > 1:
            _run_processes(specs, workers, bar, on_result)
        else:
            _run_here(specs, bar, on_result)
    finally:
        bar.close()

    # The resolved feature list goes into scan.toml; then the figures.
    ordered = [rows[m.index] for m in members]
    write_scan_toml(
        out_dir / SCAN_TOML,
        source,
        target,
        base.replace(features=tuple(features)),
        grid,
        stack,
    )
    write_scan_plots(scan_columns(ordered), out_dir)
    return ordered


# ------------------------------------------------------------------ writing


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return str(value)


def write_scan_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """scan.csv: the setting columns, then the metrics in the order of metrics.json.

    Floats are written with ``repr`` (they read back exactly), booleans as
    ``true``/``false``, missing values as empty cells.
    """
    columns: list[str] = list(SETTING_COLUMNS)
    for row in rows:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    write_text(path, buf.getvalue())


def _column_array(name: str, cells: list[str]) -> np.ndarray:
    if name in _TEXT_COLUMNS:
        return np.array(cells, dtype=str)
    if cells and all(c in ("true", "false") for c in cells):
        return np.array([c == "true" for c in cells], dtype=bool)
    try:
        values = np.array([float(c) if c else math.nan for c in cells])
    except ValueError:
        return np.array(cells, dtype=str)
    if name in _INT_COLUMNS and np.all(np.isfinite(values)):
        return values.astype(np.int64)
    return values


def scan_columns(rows: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Rows of :func:`run_scan` as columns, typed as :func:`read_scan` types them."""
    columns: list[str] = list(SETTING_COLUMNS)
    for row in rows:
        columns += [k for k in row if k not in columns]
    return {c: _column_array(c, [_cell(r.get(c)) for r in rows]) for c in columns}


def read_scan(path: str | Path) -> dict[str, np.ndarray]:
    """scan.csv (or a scan directory) as columns.

    Text columns (``member``, ``hidden``, ``disc_mode``, ``optimizer``) are
    strings, ``diverged`` is boolean, ``seed``, ``fold`` and ``best_epoch``
    are integers, every other column is float (NaN where a value is missing).
    """
    p = Path(path)
    if p.is_dir():
        p = p / SCAN_CSV
    if not p.is_file():
        msg = (
            f"no scan table at {str(p)!r}; give the --out directory of a hepda scan or "
            f"its {SCAN_CSV}"
        )
        raise ConfigError(msg)
    with p.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        body = list(reader)
    if header is None or "lambda" not in header:
        msg = f"{str(p)!r} is not a hepda scan table (no header with a 'lambda' column)"
        raise ConfigError(msg)
    return {
        name: _column_array(name, [row[i] for row in body])
        for i, name in enumerate(header)
    }


def write_scan_toml(
    path: Path,
    source: Sequence[str],
    target: Sequence[str],
    base: TrainConfig,
    grid: ScanGrid,
    stack: int,
) -> None:
    """scan.toml: inputs, the training keys the grid does not vary, and ``[scan]``.

    ``hepda scan --config scan.toml --out NEW`` repeats the scan.
    """
    train = base.to_dict()
    for key in ("lambda", "seed", "hidden", "disc_mode", "optimizer"):
        train.pop(key, None)
    data = {
        "source": list(source),
        "target": list(target),
        **train,
        "scan": {**grid.to_dict(), "stack": stack},
    }
    write_text(path, dump_toml(data))


def write_scan_plots(columns: Mapping[str, np.ndarray], out_dir: Path) -> list[Path]:
    """scan_metrics.png (metrics against lambda) and tradeoff.png; skipped with a
    warning when the plots extra is missing or a figure cannot be drawn."""
    written: list[Path] = []
    try:
        from hepda.plots import plot_scan, plot_tradeoff, save_figure

        plot_scan(columns, path=out_dir / "scan_metrics.png")
        written.append(out_dir / "scan_metrics.png")
        ax = plot_tradeoff(columns)
        save_figure(cast(Any, ax.figure), out_dir / "tradeoff.png")
        written.append(out_dir / "tradeoff.png")
    except (ImportError, HepdaError) as exc:
        log.warning("scan plots not drawn: %s", exc)
    return written

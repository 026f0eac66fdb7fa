"""``hepda scan``: a grid of DANNs, stacked per block, here or on a Dask cluster."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from hepda.cli._common import (
    check_out_dir,
    echo_table,
    inputs_and_out,
    parse_int_list,
    prepare_out_dir,
    shared_options,
)
from hepda.cli.train import _OPTION_KEYS, _features_value
from hepda.config import (
    TrainConfig,
    override,
    read_toml,
    train_config_from_mapping,
)
from hepda.errors import ConfigError, did_you_mean
from hepda.scan import ScanGrid, parse_lambdas, parse_seeds

#: Keys of a scan file's ``[scan]`` table (also accepted at its top level).
SCAN_KEYS = ("lambdas", "hidden", "disc_mode", "optimizer", "seeds", "folds", "stack")
_RUN_KEYS = ("workers", "scheduler")


def split_scan_mapping(
    data: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a scan file's keys into training keys and scan keys.

    Scan keys sit in a ``[scan]`` table or at the top level: ``lambdas``,
    ``seeds``, ``folds``, ``stack``, ``workers``, ``scheduler``, and
    ``hidden``, ``disc_mode``, ``optimizer`` when they hold several values
    (a list of width lists, a list of names). A plain training file is a
    one-point scan.
    """
    train = dict(data)
    scan: dict[str, Any] = {}
    table = train.pop("scan", {})
    if not isinstance(table, Mapping):
        msg = (
            f"scan: expected a table of scan keys ({', '.join(SCAN_KEYS)}), "
            f"got {table!r}"
        )
        raise ConfigError(msg)
    for key in ("lambdas", "seeds", "folds", "stack", *_RUN_KEYS):
        if key in train:
            scan[key] = train.pop(key)
    hidden = train.get("hidden")
    if isinstance(hidden, list) and hidden and all(isinstance(w, list) for w in hidden):
        scan["hidden"] = train.pop("hidden")
    for key in ("disc_mode", "optimizer"):
        if isinstance(train.get(key), list):
            scan[key] = train.pop(key)
    unknown = [k for k in table if k not in (*SCAN_KEYS, *_RUN_KEYS)]
    if unknown:
        allowed = (*SCAN_KEYS, *_RUN_KEYS)
        hints = "".join(did_you_mean(k, allowed) for k in unknown)
        msg = f"scan: unknown key(s) {unknown}{hints}; allowed: {', '.join(allowed)}"
        raise ConfigError(msg)
    scan.update(table)
    return train, scan


def grid_from_mapping(
    data: Mapping[str, Any], base: TrainConfig, *, origin: str = "scan configuration"
) -> ScanGrid:
    """A :class:`ScanGrid` from scan keys; settings not given come from ``base``.

    ``lambdas``: a list of numbers or a string for :func:`parse_lambdas`;
    ``hidden``: a list of width lists (or one list of widths); ``disc_mode``,
    ``optimizer``: a name or a list of names; ``seeds``: a list of seeds or a
    count; ``folds``: an integer.
    """
    problems: list[str] = []

    def guard(fn: Callable[[], Any], default: Any) -> Any:
        try:
            return fn()
        except ConfigError as exc:
            problems.append(str(exc))
            return default

    def lambdas() -> list[float]:
        value = data.get("lambdas", [base.lambda_])
        if isinstance(value, str):
            return parse_lambdas(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value
        ):
            msg = (
                "lambdas: expected a list of numbers or 'start:stop:count', "
                f"got {value!r}"
            )
            raise ConfigError(msg)
        return [float(v) for v in value]

    def hidden() -> list[tuple[int, ...]]:
        value = data.get("hidden", [list(base.hidden)])
        if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
            value = [value]
        ok = isinstance(value, list) and all(
            isinstance(w, list)
            and w
            and all(isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in w)
            for w in value
        )
        if not ok:
            msg = (
                "hidden: expected a list of width lists such as "
                f"[[45, 30, 25], [35, 30, 15]], got {value!r}"
            )
            raise ConfigError(msg)
        return [tuple(w) for w in value]

    def names(key: str, default: str) -> list[str]:
        value = data.get(key, [default])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            msg = f"{key}: expected a name or a list of names, got {value!r}"
            raise ConfigError(msg)
        return list(value)

    def seeds() -> list[int]:
        value = data.get("seeds", [base.seed])
        if isinstance(value, str):
            return parse_seeds(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 1:
                msg = f"seeds: a count of seeds must be at least 1, got {value}"
                raise ConfigError(msg)
            return list(range(value))
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            msg = f"seeds: expected a count or a list of integers, got {value!r}"
            raise ConfigError(msg)
        return list(value)

    def folds() -> int:
        value = data.get("folds", 1)
        if isinstance(value, bool) or not isinstance(value, int):
            msg = f"folds: expected an integer (1 = no cross-validation), got {value!r}"
            raise ConfigError(msg)
        return value

    parts = {
        "lambdas": guard(lambdas, [0.0]),
        "hidden": guard(hidden, [(1,)]),
        "disc_modes": guard(lambda: names("disc_mode", base.disc_mode), ["all"]),
        "optimizers": guard(lambda: names("optimizer", base.optimizer), ["adam"]),
        "seeds": guard(seeds, [0]),
        "folds": guard(folds, 1),
    }
    if not problems:
        try:
            return ScanGrid(**parts)
        except ConfigError as exc:
            problems.append(str(exc))
    listing = "\n  ".join(problems)
    msg = f"{len(problems)} problem(s) in the {origin}:\n  {listing}"
    raise ConfigError(msg)


def scan_config_from_mapping(
    data: Mapping[str, Any], *, origin: str = "scan configuration"
) -> tuple[TrainConfig, ScanGrid, dict[str, Any]]:
    """(base configuration, grid, other scan keys) from a scan file's contents."""
    train, scan = split_scan_mapping(data)
    extra: dict[str, Any] = {
        k: train.pop(k) for k in ("source", "target", "out") if k in train
    }
    base = train_config_from_mapping(
        train, origin=origin, other_keys=(*SCAN_KEYS, *_RUN_KEYS)
    )
    grid = grid_from_mapping(scan, base, origin=origin)
    extra.update({k: scan[k] for k in ("stack", *_RUN_KEYS) if k in scan})
    return base, grid, extra


def scan_summary(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """Rows of the end-of-scan summary: counts, and the best settings.

    A setting is a lambda, widths, discriminator mode and optimizer; its
    members differ only in seed and fold, and each "best" line gives the
    mean and standard deviation over them (diverged members left out), so
    that a setting is chosen on its average, not on one lucky seed. The
    numbers are the held-out ``best_*`` ones (and ``bias_ks`` of the last
    epoch); the largest of several means still favours a lucky setting
    somewhat, so confirm a choice on events the scan did not use.
    """
    n_div = sum(bool(r.get("diverged")) for r in rows)
    out = [("members", str(len(rows))), ("diverged", str(n_div))]
    setting_keys = ("lambda", "hidden", "disc_mode", "optimizer")
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in setting_keys), []).append(row)

    def stats(members: list[Mapping[str, Any]], key: str) -> tuple[float, float, int]:
        values = [
            float(r[key])
            for r in members
            if not r.get("diverged")
            and isinstance(r.get(key), int | float)
            and math.isfinite(r[key])
        ]
        if not values:
            return math.nan, math.nan, 0
        mean = sum(values) / len(values)
        var = sum((v - mean) ** 2 for v in values) / max(len(values) - 1, 1)
        return mean, math.sqrt(var), len(values)

    choices: Iterable[tuple[str, str, bool]] = (
        ("best_significance", "best significance (best epoch)", True),
        ("best_auc_s2", "best AUC on S2 (best epoch)", True),
        ("bias_ks", "smallest background shift (KS)", False),
    )
    diverged = {
        setting: sum(bool(r.get("diverged")) for r in members)
        for setting, members in groups.items()
    }
    for key, label, highest in choices:
        scored = [(stats(members, key), setting) for setting, members in groups.items()]
        scored = [(st, setting) for st, setting in scored if st[2] > 0]
        if not scored:
            continue
        # Only the settings that lost the smallest share of their seeds to
        # divergence compete: a mean over the seeds that happened to survive
        # would flatter a setting that lost more.
        share = {s: diverged[s] / len(groups[s]) for _, s in scored}
        least = min(share.values())
        scored = [(st, s) for st, s in scored if share[s] == least]
        (mean, std, n), setting = (max if highest else min)(
            scored, key=lambda item: item[0][0]
        )
        lam, hidden, mode, optimizer = setting
        spread = f" +- {std:.2g} over {n} seeds/folds" if n > 1 else " (one member)"
        lost = diverged[setting]
        if lost:
            spread += f", {lost} of {len(groups[setting])} diverged"
        out.append(
            (
                label,
                f"{mean:.4g}{spread}: lambda {lam:g}, hidden {hidden}, {mode}, "
                f"{optimizer}",
            )
        )
    return out


def resolve_scan_config(
    config_file: str | None, options: dict[str, Any], grid_options: dict[str, Any]
) -> tuple[TrainConfig, ScanGrid, dict[str, Any]]:
    """Defaults, then the TOML file, then the command line: (base, grid, other keys)."""
    data: dict[str, Any] = dict(read_toml(config_file)) if config_file else {}
    train, scan = split_scan_mapping(data)

    # Training options, with the same option -> key table as hepda train.
    for option, key in _OPTION_KEYS.items():
        value = options.get(option)
        if value is None:
            continue
        override(train, key, _features_value(value) if option == "features" else value)

    # Grid options replace the file's values of the same key.
    if grid_options["lambdas"] is not None:
        scan["lambdas"] = grid_options["lambdas"]
    if grid_options["hidden"]:
        scan["hidden"] = [
            list(parse_int_list(h, "--hidden")) for h in grid_options["hidden"]
        ]
    for key in ("disc_mode", "optimizer"):
        if grid_options[key]:
            scan[key] = list(grid_options[key])
    for key in ("seeds", "folds", "stack", "workers", "scheduler"):
        if grid_options[key] is not None:
            scan[key] = grid_options[key]

    origin = (
        f"configuration file {config_file!r} and options" if config_file else "options"
    )
    return scan_config_from_mapping({**train, "scan": scan}, origin=origin)


@click.command("scan")
@shared_options("source", "target")
@click.option(
    "--out", "out", type=click.Path(path_type=Path), help="Scan directory to create."
)
@click.option(
    "--config",
    "config_file",
    type=str,
    metavar="FILE.toml",
    help=(
        "TOML file: the keys of hepda train, plus lambdas, seeds, folds, stack, "
        "workers, scheduler (top level or in a [scan] table)."
    ),
)
@click.option(
    "--lambdas",
    type=str,
    help=(
        "Lambda values: a list (0,0.5,1.2) or start:stop:count "
        "(0:2:20 = 20 values from 0 to 2). [default: the config's lambda]"
    ),
)
@click.option(
    "--hidden",
    type=str,
    multiple=True,
    help=(
        "Widths of the feature extractor; repeat for several "
        "(--hidden 45,30,25 --hidden 35,30,15). [default: 45,30,25]"
    ),
)
@click.option(
    "--disc-mode",
    "disc_mode",
    type=click.Choice(["background", "all", "source-background"]),
    multiple=True,
    help="Discriminator mode; repeat for several. [default: background]",
)
@click.option(
    "--optimizer",
    type=click.Choice(["adadelta", "adagrad", "nesterov", "adam"]),
    multiple=True,
    help="Optimizer; repeat for several. [default: adadelta]",
)
@click.option(
    "--seeds",
    type=str,
    help=(
        "Weight seeds: a count (5 = seeds 0..4) or a list (0,4,7; one seed: 7,). "
        "[default: 0]"
    ),
)
@click.option(
    "--folds",
    type=int,
    help=(
        "k-fold cross-validation by event number "
        "(fold f validates on event_number % k == f); 1 = the plain split. "
        "[default: 1]"
    ),
)
@click.option(
    "--stack",
    type=int,
    help="At most this many models trained stacked in one block. [default: 20]",
)
@click.option(
    "--workers",
    type=int,
    help=(
        "Run blocks in N local processes of one torch thread each (N <= cores). "
        "[default: 1, this process]"
    ),
)
@click.option(
    "--scheduler",
    type=str,
    metavar="ADDRESS",
    help=(
        "Send blocks to the Dask scheduler at ADDRESS (tcp://host:8786); "
        "workers read the input paths themselves."
    ),
)
@shared_options(
    "features",
    "epochs",
    "batch_size",
    "data_seed",
    "learning_rate",
    "lambda_schedule",
    "class_weights",
    "val_fraction",
    "device",
    "dtype",
    "overwrite",
    "no_progress",
)
def command(
    source: tuple[str, ...],
    target: tuple[str, ...],
    out: Path | None,
    config_file: str | None,
    lambdas: str | None,
    hidden: tuple[str, ...],
    disc_mode: tuple[str, ...],
    optimizer: tuple[str, ...],
    seeds: str | None,
    folds: int | None,
    stack: int | None,
    workers: int | None,
    scheduler: str | None,
    overwrite: bool,
    no_progress: bool,
    **options: Any,
) -> None:
    """Train a grid of DANNs (lambda, widths, modes, optimizers, seeds, folds)."""
    from hepda._dask import connect
    from hepda.runs import load_domains
    from hepda.scan import DEFAULT_STACK, check_scan, run_scan

    grid_options = {
        "lambdas": lambdas,
        "hidden": hidden,
        "disc_mode": disc_mode,
        "optimizer": optimizer,
        "seeds": seeds,
        "folds": folds,
        "stack": stack,
        "workers": workers,
        "scheduler": scheduler,
    }
    base, grid, extra = resolve_scan_config(config_file, options, grid_options)
    sources, targets, out = inputs_and_out(source, target, out, extra)
    workers = extra.get("workers", 1)
    stack = extra.get("stack", DEFAULT_STACK)
    # Everything is checked before an earlier scan is replaced on disk: the
    # inputs, the run options, every fold's split, and the Dask scheduler.
    # The blocks read the inputs again where they run (here, in workers, on Dask).
    check_out_dir(out, overwrite, marker="scan.toml")
    src, tgt = load_domains(sources, targets, base)
    scheduler_value = extra.get("scheduler")
    check_scan(
        src, tgt, grid, base, workers=workers, scheduler=scheduler_value, stack=stack
    )
    del src, tgt
    client = None
    if scheduler_value is not None:
        client, _ = connect(scheduler_value, "send scan blocks to a Dask cluster")
    prepare_out_dir(out, overwrite, marker="scan.toml")

    started = time.perf_counter()
    try:
        rows = run_scan(
            sources,
            targets,
            grid,
            base,
            out,
            workers=workers,
            scheduler=client,
            stack=stack,
            progress=not no_progress,
        )
    finally:
        if client is not None:
            client.close()
    summary = scan_summary(rows)
    summary.append(("wall time", f"{time.perf_counter() - started:.1f} s"))
    summary.append(("outputs", f"{out}/scan.csv, histories/, scan.toml, *.png"))
    echo_table(summary, f"hepda scan: {out}")

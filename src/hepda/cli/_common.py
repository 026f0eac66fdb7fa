"""Pieces shared by the subcommands: option parsing and output directories."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from hepda.errors import ConfigError, RunDirectoryError

F = TypeVar("F", bound=Callable[..., Any])


def parse_int_list(text: str, option: str) -> tuple[int, ...]:
    """Parse ``"45,30,25"`` into ``(45, 30, 25)``."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        msg = (
            f"{option} expects comma-separated integers such as 45,30,25, got {text!r}"
        )
        raise ConfigError(msg) from None
    if not values or any(v <= 0 for v in values):
        msg = f"{option} expects positive integers such as 45,30,25, got {text!r}"
        raise ConfigError(msg)
    return values


def prepare_out_dir(path: Path, overwrite: bool, marker: str) -> None:
    """Make sure ``path`` can receive a new run: check it, then empty it.

    See :func:`check_out_dir`.
    """
    if check_out_dir(path, overwrite, marker):
        target = path.resolve()  # through a link: replace what it points at
        shutil.rmtree(target)
        target.mkdir(parents=True)
    path.mkdir(parents=True, exist_ok=True)


def check_out_dir(path: Path, overwrite: bool, marker: str) -> bool:
    """Whether ``path`` holds an earlier output to replace; raise if it may not.

    An existing non-empty directory is only replaced with ``--overwrite``,
    and only if it holds ``marker`` (a file hepda writes), so a typo in
    ``--out`` never deletes someone's data. Nothing is changed on disk.
    """
    if path.exists() and not path.is_dir():
        msg = f"--out {str(path)!r} is a file; give a directory path"
        raise RunDirectoryError(msg)
    here = Path.cwd().resolve()
    if path.resolve() == here or path.resolve() in here.parents:
        msg = (
            f"--out {str(path)!r} is the working directory or holds it; an output "
            "directory is replaced as a whole: give a directory below it"
        )
        raise RunDirectoryError(msg)
    if path.is_dir() and any(path.iterdir()):
        if not overwrite:
            msg = (
                f"output directory {str(path)!r} exists and is not empty; "
                "pass --overwrite to replace it or choose another --out"
            )
            raise RunDirectoryError(msg)
        if not (path / marker).exists():
            msg = (
                f"refusing to overwrite {str(path)!r}: it does not look like a hepda "
                f"output (no {marker}); remove it by hand if you really mean it"
            )
            raise RunDirectoryError(msg)
        return True
    return False


def inputs_and_out(
    source: tuple[str, ...],
    target: tuple[str, ...],
    out: Path | None,
    from_file: dict[str, Any],
) -> tuple[list[str], list[str], Path]:
    """Source, target and output from the options, else from the --config file.

    Input paths come back absolute: the run's config.toml and checkpoint
    record them, and a resumed run or a Dask worker may read them from
    another working directory.
    """
    from hepda.data.io import absolute_spec

    sources = list(source) or _specs_from_file(from_file, "source")
    targets = list(target) or _specs_from_file(from_file, "target")
    if out is None and "out" in from_file:
        if not isinstance(from_file["out"], str) or not from_file["out"]:
            msg = (
                f"out in the --config file: expected a directory path as a string, "
                f"got {from_file['out']!r}"
            )
            raise ConfigError(msg)
        out = Path(from_file["out"])
    missing = [
        name
        for name, given in (
            ("--source", sources),
            ("--target", targets),
            ("--out", out),
        )
        if not given
    ]
    if missing or out is None:
        msg = (
            f"missing {', '.join(missing)} "
            "(on the command line or in the --config file)"
        )
        raise ConfigError(msg)
    return [absolute_spec(s) for s in sources], [absolute_spec(t) for t in targets], out


def _specs_from_file(from_file: dict[str, Any], key: str) -> list[str]:
    """A --config file's ``source`` or ``target``: one spec or a list of them."""
    value = from_file.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(
        isinstance(v, str) and v.strip() for v in value
    ):
        msg = (
            f"{key} in the --config file: expected a path or a list of paths "
            f"(PATH or PATH:TREE strings), got {value!r}"
        )
        raise ConfigError(msg)
    return value


def echo_table(rows: list[tuple[str, str]], title: str) -> None:
    """Print a two-column summary table (the one-screen end-of-run summary)."""
    width = max(len(k) for k, _ in rows) if rows else 0
    click.echo(title)
    click.echo("-" * max(len(title), width + 14))
    for key, value in rows:
        click.echo(f"{key:<{width}}  {value}")


# Options that ``hepda train`` and ``hepda scan`` share, defined once. Each
# defaults to None so that a value given in the --config file is kept unless
# the command line sets it.
_SHARED: dict[str, Callable[[Any], Any]] = {
    "source": click.option(
        "--source",
        "source",
        multiple=True,
        metavar="PATH",
        help="Source (S1) table: PATH for Parquet/CSV, PATH:TREE for ROOT. "
        "Repeat for several files.",
    ),
    "target": click.option(
        "--target",
        "target",
        multiple=True,
        metavar="PATH",
        help="Target (S2) table(s).",
    ),
    "features": click.option(
        "--features",
        type=str,
        help="Comma-separated columns, or 'tth41' for the 41 ttH(bb) variables. "
        "Default: every numeric column that is not label/weight/event_number/"
        "process/generator.",
    ),
    "lambda_schedule": click.option(
        "--lambda-schedule",
        type=click.Choice(["constant", "ganin"]),
        help="Constant lambda, or Ganin's warm-up 2/(1+exp(-10p))-1. "
        "[default: constant]",
    ),
    "learning_rate": click.option(
        "--lr",
        "learning_rate",
        type=float,
        help="Learning rate. [default: 1 adadelta, 0.01 adagrad/nesterov, 0.001 adam]",
    ),
    "epochs": click.option("--epochs", type=int, help="[default: 300]"),
    "batch_size": click.option("--batch-size", type=int, help="[default: 5000]"),
    "data_seed": click.option(
        "--data-seed", type=int, help="Seed of the split and batch order. [default: 0]"
    ),
    "val_fraction": click.option(
        "--val-fraction",
        type=float,
        help="Validation fraction of each sample. [default: 0.34]",
    ),
    "class_weights": click.option(
        "--class-weights",
        type=click.Choice(["balanced", "raw"]),
        help="Scale each class to equal total training weight, or use raw weights. "
        "[default: balanced]",
    ),
    "device": click.option(
        "--device", type=str, help="cpu, cuda, cuda:N or mps. [default: cpu]"
    ),
    "dtype": click.option(
        "--dtype", type=click.Choice(["float32", "float64"]), help="[default: float32]"
    ),
    "overwrite": click.option(
        "--overwrite", is_flag=True, help="Replace an existing output directory."
    ),
    "no_progress": click.option("--no-progress", is_flag=True, help="No progress bar."),
}


def shared_options(*names: str) -> Callable[[F], F]:
    """Apply the shared options ``names`` in the order given (as in --help)."""

    def decorate(func: F) -> F:
        for name in reversed(names):
            func = _SHARED[name](func)
        return func

    return decorate

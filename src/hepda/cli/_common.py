"""Pieces shared by the subcommands: option parsing and output directories."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from hepda.errors import ConfigError, RunDirectoryError


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
    """Make sure ``path`` can receive a new run.

    An existing non-empty directory is only replaced with ``--overwrite``,
    and only if it holds ``marker`` (a file hepda writes), so a typo in
    ``--out`` never deletes someone's data.
    """
    if path.exists() and not path.is_dir():
        msg = f"--out {str(path)!r} is a file; give a directory path"
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
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)


def echo_table(rows: list[tuple[str, str]], title: str) -> None:
    """Print a two-column summary table (the one-screen end-of-run summary)."""
    width = max(len(k) for k, _ in rows) if rows else 0
    click.echo(title)
    click.echo("-" * max(len(title), width + 14))
    for key, value in rows:
        click.echo(f"{key:<{width}}  {value}")

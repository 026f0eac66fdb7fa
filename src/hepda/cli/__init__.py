"""The ``hepda`` command: thin subcommands over the library.

Subcommands are imported only when called, so ``hepda --help`` stays fast and
a missing optional dependency only affects the command that needs it. Each
subcommand lives in ``hepda/cli/<name>.py`` as a click command called
``command``.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from hepda import __version__
from hepda.errors import HepdaError

_SUBCOMMANDS = {
    "simulate": "Generate the open ttH(bb) benchmark with Pythia 8.",
    "features": "Compute the 41 ttH(bb) variables from an object table.",
    "train": "Train a DANN (or the lambda=0 baseline) on source and target tables.",
    "evaluate": "Apply a trained run to other samples and write its metrics.",
    "scan": "Train a grid of models stacked on one device or on a Dask cluster.",
    "export": "Export a trained classifier to ONNX or TorchScript.",
    "report": "Build Table 1 and the HTML report from runs and scans.",
    "reproduce": "Reproduce the paper's study on the open benchmark.",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(_SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _SUBCOMMANDS:
            return None
        module = importlib.import_module(f"hepda.cli.{cmd_name}")
        command: click.Command = module.command
        return command

    def format_commands(self, ctx: click.Context, formatter: Any) -> None:
        # Help text without importing every subcommand (and torch with it).
        rows = [(name, text) for name, text in _SUBCOMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HepdaError as exc:
            click.echo(f"hepda: error: {exc}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("hepda: interrupted", err=True)
            sys.exit(130)


def setup_logging(verbose: int, quiet: bool) -> None:
    """Configure the ``hepda`` logger; only the command line does this."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S")
    )
    root = logging.getLogger("hepda")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hepda")
@click.option("-v", "--verbose", count=True, help="More log output (debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
def main(verbose: int, quiet: bool) -> None:
    """Train particle-physics classifiers that do not learn one generator's quirks."""
    setup_logging(verbose, quiet)

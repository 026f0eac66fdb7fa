"""``hepda report``: Table 1 and an HTML report from finished runs and scans."""

from __future__ import annotations

from pathlib import Path

import click

from hepda.cli._common import prepare_out_dir
from hepda.errors import ConfigError


@click.command("report")
@click.argument("runs", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--scan",
    "scans",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A hepda scan directory to include; repeat for several.",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="Directory for table1.*, figures/ and report.html.",
)
@click.option(
    "--title",
    default="hepda report",
    show_default=True,
    help="Title of the HTML report.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing report directory.")
def command(
    runs: tuple[Path, ...],
    scans: tuple[Path, ...],
    out: Path,
    title: str,
    overwrite: bool,
) -> None:
    """Build Table 1 (md, csv, tex) and report.html from RUNS (hepda train
    directories) and --scan directories.
    """
    from hepda.reproduce import report_runs

    if not runs and not scans:
        msg = "give at least one run directory or --scan directory"
        raise ConfigError(msg)
    prepare_out_dir(out, overwrite, marker="report.html")
    path = report_runs(list(runs), list(scans), out, title=title)
    click.echo(f"hepda report: {path}")

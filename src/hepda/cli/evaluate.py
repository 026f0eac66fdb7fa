"""``hepda evaluate``: a trained run applied to other samples."""

from __future__ import annotations

from pathlib import Path

import click

from hepda.cli._common import echo_table, prepare_out_dir
from hepda.errors import RunDirectoryError


@click.command("evaluate")
@click.option(
    "--run",
    "run_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Directory of a hepda train run.",
)
@click.option(
    "--source",
    multiple=True,
    required=True,
    metavar="PATH",
    help="Source (S1) table(s) to score.",
)
@click.option(
    "--target",
    multiple=True,
    required=True,
    metavar="PATH",
    help="Target (S2) table(s) to score.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    help="Directory for metrics.json and scores.parquet. [default: RUN/evaluate]",
)
@click.option(
    "--model",
    "which",
    type=click.Choice(["last", "best"]),
    default="last",
    show_default=True,
    help="The last epoch's model or the best epoch's.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output directory.")
def command(
    run_dir: Path,
    source: tuple[str, ...],
    target: tuple[str, ...],
    out: Path | None,
    which: str,
    overwrite: bool,
) -> None:
    """Apply a trained classifier to other samples; every event counts as validation."""
    from hepda.cli.train import summary_rows
    from hepda.runs import evaluate_run

    out = out or run_dir / "evaluate"
    metrics = evaluate_run(
        run_dir,
        list(source),
        list(target),
        out,
        which=which,
        before_write=lambda d: _prepare_evaluate_dir(d, overwrite),
    )
    echo_table(summary_rows(metrics), f"hepda evaluate: {out}")


def _prepare_evaluate_dir(out: Path, overwrite: bool) -> None:
    """The --out of an evaluation; never a training run, whose metrics.json
    would otherwise pass for an earlier evaluation's."""
    from hepda.runs import CHECKPOINT_FILE

    if (out / CHECKPOINT_FILE).exists():
        msg = (
            f"--out {str(out)!r} holds a training run ({CHECKPOINT_FILE}); "
            "hepda evaluate never replaces one: choose another --out"
        )
        raise RunDirectoryError(msg)
    prepare_out_dir(out, overwrite, marker="metrics.json")

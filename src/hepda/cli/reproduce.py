"""``hepda reproduce``: the paper's study on the open benchmark, in one command."""

from __future__ import annotations

from pathlib import Path

import click

from hepda.cli._common import echo_table, prepare_out_dir


@click.command("reproduce")
@click.option(
    "--scale",
    type=click.Choice(["quick", "paper"]),
    default="quick",
    show_default=True,
    help=(
        "quick: 10k events per sample and 100 epochs (minutes); "
        "paper: 100k and 300 epochs (hours)."
    ),
)
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    default=Path("reproduce-out"),
    show_default=True,
    help="Directory for the tables, figures, runs and report.html.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Local processes, one thread each. [default: 2, or the cores if fewer]",
)
@click.option(
    "--scheduler",
    type=str,
    default=None,
    help="Dask scheduler address for event generation and the scan.",
)
@click.option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    help="Seed of the event generation.",
)
@click.option(
    "--source",
    multiple=True,
    metavar="PATH",
    help="Run the study on your own S1 table(s) instead of the open benchmark "
    "(with --target).",
)
@click.option("--target", multiple=True, metavar="PATH", help="Your own S2 table(s).")
@click.option(
    "--features",
    type=str,
    default=None,
    help="Features of --source/--target: comma-separated, 'tth41', or every "
    "numeric column when not given. [default with the benchmark: tth41]",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace an existing output directory of an earlier reproduction.",
)
@click.option("--no-progress", is_flag=True, help="No progress bars.")
def command(
    scale: str,
    out: Path,
    workers: int | None,
    scheduler: str | None,
    seed: int,
    source: tuple[str, ...],
    target: tuple[str, ...],
    features: str | None,
    overwrite: bool,
    no_progress: bool,
) -> None:
    """Simulate, train, scan and report the paper's study; writes report.html."""
    from hepda._atomic import write_text
    from hepda.cli.train import _features_value
    from hepda.errors import ConfigError
    from hepda.reproduce import reproduce

    if bool(source) != bool(target):
        msg = (
            "give both --source and --target (your S1 and S2), "
            "or neither for the open benchmark"
        )
        raise ConfigError(msg)
    # Absolute, as hepda train records them: workers may run elsewhere.
    from hepda.data.io import absolute_spec

    source = tuple(absolute_spec(s) for s in source)
    target = tuple(absolute_spec(t) for t in target)
    chosen = (
        _features_value(features) if features else ("tth41" if not source else None)
    )
    if source:
        # The analyst's samples are checked before an earlier output is replaced.
        from hepda.config import TrainConfig
        from hepda.runs import load_and_prepare

        features_value = tuple(chosen) if isinstance(chosen, list) else chosen
        load_and_prepare(
            list(source), list(target), TrainConfig(features=features_value)
        )
    client = None
    if scheduler is not None:  # reached before an earlier output is replaced
        from hepda._dask import connect

        client, _ = connect(scheduler, "run the study on a Dask cluster")
    try:
        prepare_out_dir(out, overwrite, marker="reproduce.toml")
        write_text(out / "reproduce.toml", f'scale = "{scale}"\nseed = {seed}\n')
        result = reproduce(
            out,
            scale=scale,  # type: ignore[arg-type]
            workers=workers,
            scheduler=client,
            seed=seed,
            progress=not no_progress,
            source=list(source) or None,
            target=list(target) or None,
            features=chosen,
        )
    finally:
        if client is not None:
            client.close()
    rows = [
        (
            f"{r['hidden']} lambda {r['lambda']:.2f}",
            f"AUC S2 {r['auc']:.3f}  Z {r['significance']:.2f}",
        )
        for r in result.table1
    ]
    rows.append(("report", str(result.report)))
    rows.append(("run time", f"{result.runtime_s / 60:.1f} min"))
    echo_table(rows, f"hepda reproduce ({scale}): {out}")

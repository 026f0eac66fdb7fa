"""``hepda simulate``: generate the open ttH(bb) benchmark with Pythia 8."""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path

import click

from hepda._atomic import replacing_directory
from hepda._dask import connect
from hepda.cli._common import check_out_dir, echo_table


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@click.command(name="simulate")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Output directory (objects/, features/, s1, s2, plot, simulate.json).",
)
@click.option(
    "--events",
    "n_events",
    default=25_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Selected events per background setup and per signal half (ttH gets 2N).",
)
@click.option(
    "--seed",
    default=1,
    show_default=True,
    type=click.IntRange(min=0),
    help="Master seed; each chunk's seed derives from (seed, sample, chunk).",
)
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(min=1),
    help="Local worker processes, one thread each  [default: all cores]",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="Dask scheduler address (tcp://host:8786); its workers run the chunks.",
)
@click.option(
    "--level",
    type=click.Choice(["parton", "hadron"]),
    default="parton",
    show_default=True,
    help="parton: no MPI and no hadronisation (fast); hadron: full events.",
)
@click.option(
    "--btag",
    type=click.Choice(["trf", "cut"]),
    default="trf",
    show_default=True,
    help="trf: weight events by P(>=3 b-tags); cut: require 3 random tags.",
)
@click.option(
    "--setups",
    default="s1,s2",
    show_default=True,
    metavar="A,B",
    help="Background generator setups of S1 and S2 (s1, s2, monash, a14).",
)
@click.option(
    "--btag-eff",
    default="0.7,1/9,1/300",
    show_default=True,
    metavar="B,C,L",
    help="Tag efficiencies of b, c and light jets (numbers or fractions).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["parquet", "root"]),
    default="parquet",
    show_default=True,
    help="File format of every table.",
)
@click.option(
    "--chunk-size",
    default=None,
    type=click.IntRange(min=1),
    help="Generated events per chunk  [default: 2N within 500-4000 (hadron: 100-400)]",
)
@click.option(
    "--no-cache", is_flag=True, help="Neither read nor write the sample cache."
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--no-plot", is_flag=True, help="Skip the input-variable plot.")
@click.option("--overwrite", is_flag=True, help="Replace an earlier output directory.")
def command(
    out: Path,
    n_events: int,
    seed: int,
    workers: int | None,
    scheduler: str | None,
    level: str,
    btag: str,
    setups: str,
    btag_eff: str,
    fmt: str,
    chunk_size: int | None,
    no_cache: bool,
    no_progress: bool,
    no_plot: bool,
    overwrite: bool,
) -> None:
    """Generate ttH(bb) and tt+jets from two generator setups with Pythia 8.

    Writes the object and feature tables of each sample, the S1 and S2
    tables (each half of the signal plus one background) and a one-page
    plot of all 41 input variables. Samples are cached by configuration.
    """
    from hepda.errors import ConfigError
    from hepda.simulate import BTagEfficiencies, SimulationConfig, build_benchmark
    from hepda.simulate.benchmark import SUMMARY_FILE

    names = tuple(s.strip() for s in setups.split(",") if s.strip())
    if len(names) != 2:
        msg = f"--setups expects two names such as s1,s2, got {setups!r}"
        raise ConfigError(msg)
    try:
        b, c, light = (float(Fraction(v.strip())) for v in btag_eff.split(","))
    except (ValueError, ZeroDivisionError):
        msg = (
            f"--btag-eff expects three numbers such as 0.7,1/9,1/300, got {btag_eff!r}"
        )
        raise ConfigError(msg) from None
    config = SimulationConfig(
        n_events=n_events,
        seed=seed,
        level=level,  # type: ignore[arg-type]
        btag=btag,  # type: ignore[arg-type]
        setups=(names[0], names[1]),
        efficiencies=BTagEfficiencies(b=b, c=c, light=light),
        chunk_size=chunk_size,
    )

    # Everything that can be checked is checked before any file is touched;
    # the tables are then written to a directory beside --out that replaces
    # it only when all is written, so an earlier output survives a failure.
    check_out_dir(out, overwrite, SUMMARY_FILE)
    client = None
    if scheduler is not None:
        client, _ = connect(scheduler, "run simulation chunks on a Dask cluster")
    try:
        with replacing_directory(out) as staging:
            written = build_benchmark(
                staging,
                config,
                workers=workers or _cores(),
                scheduler=client,
                fmt=fmt,  # type: ignore[arg-type]
                progress=not no_progress,
                cache=not no_cache,
                plot=not no_plot,
            )
    finally:
        if client is not None:
            client.close()
    paths = written.moved(staging, out)

    summary = json.loads(paths.summary.read_text(encoding="utf-8"))
    rows = [
        (
            name,
            (
                f"{s['n_selected']} of {s['n_generated']} generated, "
                f"{s['selected_fb']:.4g} fb"
            ),
        )
        for name, s in summary["samples"].items()
    ]
    for var, means in summary["generator_difference"]["mean"].items():
        ks = summary["generator_difference"]["ks"][var]
        mean = " ".join(f"{k} {v:.3g}" for k, v in means.items())
        rows.append((var, f"mean {mean}; KS S1-S2 {ks['S1 vs S2']:.3f}"))
    rows += [("S1", str(paths.s1)), ("S2", str(paths.s2))]
    rows.append(
        ("plot", str(paths.variables_plot) if paths.variables_plot else "not drawn")
    )
    echo_table(rows, f"hepda simulate: {out}")

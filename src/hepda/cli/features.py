"""``hepda features IN OUT``: the 41 ttH(bb) variables of an object table."""

from __future__ import annotations

import logging
import time

import click

from hepda.errors import RunDirectoryError

log = logging.getLogger(__name__)


@click.command(name="features")
@click.argument("source", metavar="IN")
@click.argument("target", metavar="OUT")
@click.option(
    "--overwrite", is_flag=True, help="Replace OUT if it exists (the whole file)."
)
def command(source: str, target: str, overwrite: bool) -> None:
    """Compute the 41 ttH(bb) variables of FEATURES.md for an object table.

    IN is an object table (jets as lists per event): PATH of a Parquet file,
    or PATH:TREE / PATH.root for a ROOT TTree. OUT receives the event table
    (41 float32 columns, then label, process, generator, weight,
    event_number): PATH.parquet, PATH.csv or PATH.root[:TREE] (tree
    'events' by default).

    Example: hepda features objects.parquet events.parquet
    """
    from hepda.data.io import parse_spec, read_table, write_table
    from hepda.features.compute import compute_features

    out_path, out_tree = parse_spec(target)
    if out_path.exists() and not overwrite:
        msg = (
            f"output {str(out_path)!r} exists; pass --overwrite to replace it "
            "or choose another OUT"
        )
        raise RunDirectoryError(msg)

    start = time.perf_counter()
    objects = read_table(source)
    log.info("read %d events from %s", objects.num_rows, source)
    events = compute_features(objects)
    write_table(events, out_path, tree=out_tree or "events")
    seconds = time.perf_counter() - start
    rate = events.num_rows / seconds if seconds > 0 else float("inf")
    log.info(
        "wrote 41 variables of %d events to %s in %.1f s (%.0f events/s)",
        events.num_rows,
        target,
        seconds,
        rate,
    )

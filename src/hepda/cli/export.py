"""``hepda export``: a trained classifier as one ONNX or TorchScript file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from hepda.cli._common import echo_table

if TYPE_CHECKING:
    from hepda.export import ExportFormat, Which


@click.command("export")
@click.option(
    "--run",
    "run_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Directory of a hepda train run.",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="File to write, e.g. model.onnx or model.pt.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["onnx", "torchscript"]),
    default=None,
    help="Output format. [default: from the --out suffix: .onnx, or .pt/.pth/.ts]",
)
@click.option(
    "--model",
    "which",
    type=click.Choice(["last", "best"]),
    default="last",
    show_default=True,
    help="The last epoch's model or the best epoch's.",
)
@click.option(
    "--member",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Which model of a checkpoint holding several (scan blocks).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
def command(
    run_dir: Path,
    out: Path,
    fmt: str | None,
    which: str,
    member: int,
    overwrite: bool,
) -> None:
    """Export the classifier branch, standardisation included, for deployment.

    The file has one input, 'features' (float32, batch x n_features, raw
    values in the order of the feature_names metadata), and one output,
    'score' (float32, batch, in [0, 1]).
    """
    from hepda.export import (
        export_model,
        format_from_suffix,
        read_onnx_metadata,
        read_torchscript_metadata,
    )

    resolved = cast("ExportFormat", fmt) if fmt else format_from_suffix(out)
    path = export_model(
        run_dir,
        out,
        format=resolved,
        which=cast("Which", which),
        member=member,
        overwrite=overwrite,
    )
    reader = read_onnx_metadata if resolved == "onnx" else read_torchscript_metadata
    meta = reader(path)
    names = json.loads(meta["feature_names"])
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    rows = [
        ("format", resolved),
        ("model", f"{meta['model']} (lambda = {meta['lambda']})"),
        ("input", f"features: float32 (batch, {meta['n_features']})"),
        ("output", "score: float32 (batch,)"),
        ("features", f"{len(names)}: {shown}"),
        ("size", f"{path.stat().st_size / 1024:.1f} KiB"),
    ]
    echo_table(rows, f"hepda export: {path}")

"""``hepda train``: one DANN (or the lambda = 0 baseline) into a run directory."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from hepda.cli._common import (
    check_out_dir,
    echo_table,
    inputs_and_out,
    prepare_out_dir,
    shared_options,
)
from hepda.config import (
    TrainConfig,
    override,
    read_toml,
    train_config_from_mapping,
)
from hepda.errors import ConfigError, TrainingDiverged

# option name -> configuration key; options left unset keep the file's or default value
_OPTION_KEYS = {
    "features": "features",
    "lambda_": "lambda",
    "lambda_schedule": "lambda_schedule",
    "hidden": "hidden",
    "disc_mode": "disc_mode",
    "optimizer": "optimizer",
    "learning_rate": "learning_rate",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "seed": "seed",
    "data_seed": "data_seed",
    "val_fraction": "val_fraction",
    "split": "split",
    "class_weights": "class_weights",
    "device": "device",
    "dtype": "dtype",
    "checkpoint_every": "checkpoint_every",
}


def _features_value(text: str) -> Any:
    if text.lower() == "tth41":
        return "tth41"
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        msg = (
            "--features expects a comma-separated list of columns or 'tth41', "
            f"got {text!r}"
        )
        raise ConfigError(msg)
    return names


def resolve_config(
    config_file: str | None, options: dict[str, Any]
) -> tuple[TrainConfig, dict[str, Any]]:
    """Defaults, then the TOML file, then the command line.

    Returns (config, data keys).
    """
    data: dict[str, Any] = dict(read_toml(config_file)) if config_file else {}
    extra: dict[str, Any] = {
        k: data.pop(k) for k in ("source", "target", "out") if k in data
    }
    for option, key in _OPTION_KEYS.items():
        value = options.get(option)
        if value is None:
            continue
        if option == "features":
            value = _features_value(value)
        elif option == "hidden":
            from hepda.cli._common import parse_int_list

            value = list(parse_int_list(value, "--hidden"))
        override(data, key, value)
    origin = (
        f"configuration file {config_file!r} and options" if config_file else "options"
    )
    return train_config_from_mapping(data, origin=origin), extra


def progress_callback(total: int, enabled: bool) -> Any:
    """A tqdm bar over epochs with the latest S2 AUC and significance."""
    from tqdm.auto import tqdm

    bar = tqdm(
        total=total,
        unit="epoch",
        disable=not enabled,
        file=sys.stderr,
        dynamic_ncols=True,
    )

    def update(epoch: int, rows: list[dict[str, float]]) -> None:
        row = rows[0] if rows else {}
        bar.n = epoch
        if row:
            bar.set_postfix(
                auc_s1=f"{row['auc_s1']:.3f}",
                auc_s2=f"{row['auc_s2']:.3f}",
                Z=f"{row['significance']:.2f}",
            )
        bar.refresh()

    update.close = bar.close  # type: ignore[attr-defined]
    return update


def _diverged_summary(exc: TrainingDiverged, out: Path) -> None:
    """The summary of the kept model, before the error says why training stopped."""
    if exc.metrics:
        echo_table(summary_rows(exc.metrics), f"hepda train: {out} (diverged)")


def summary_rows(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    keys = [
        ("auc_s1", "AUC on S1 (source)"),
        ("auc_s2", "AUC on S2 (target)"),
        ("accuracy_s1", "accuracy on S1"),
        ("accuracy_s2", "accuracy on S2"),
        ("significance", "significance (paper, Eq. 16)"),
        ("significance_asimov", "Asimov significance (Cowan)"),
        ("bias_ks", "background KS distance S1-S2"),
        ("proxy_a_distance_input", "proxy A-distance, inputs"),
        ("proxy_a_distance_features", "proxy A-distance, features"),
        ("best_epoch", "best epoch"),
        ("best_significance", "significance at best epoch"),
    ]
    rows = []
    for key, label in keys:
        value = metrics.get(key)
        if value is None:
            continue
        rows.append((label, f"{value:.4g}" if isinstance(value, float) else str(value)))
    return rows


def _interrupted(run_dir: Path, *, started: bool = True) -> None:
    """Say what an interrupted run left; ``started``: whether it had begun to
    write ``run_dir`` (an earlier run there is not this one's to resume)."""
    if started and (run_dir / "checkpoint.pt").is_file():
        text = (
            "hepda: interrupted; the last finished epoch is saved in "
            f"{run_dir}/checkpoint.pt. "
            f"Continue with: hepda train --resume {run_dir}"
        )
    else:
        text = (
            "hepda: interrupted before the first epoch ended; nothing was saved "
            "to resume: start the run again"
        )
        if not started and (run_dir / "config.toml").is_file():
            text += f" ({run_dir} still holds the earlier run)"
    click.echo(text, err=True)
    sys.exit(130)


@click.command("train")
@shared_options("source", "target")
@click.option(
    "--out", "out", type=click.Path(path_type=Path), help="Run directory to create."
)
@click.option(
    "--config",
    "config_file",
    type=str,
    help="TOML file; every option but --resume, --overwrite and --no-progress "
    "is also a key there.",
)
@shared_options("features")
@click.option(
    "--lambda",
    "lambda_",
    type=float,
    help="Adversary strength lambda (0 = baseline). [default: 1.2]",
)
@shared_options("lambda_schedule")
@click.option(
    "--hidden", type=str, help="Widths of the feature extractor. [default: 45,30,25]"
)
@click.option(
    "--disc-mode",
    type=click.Choice(["background", "all", "source-background"]),
    help="Events shown to the discriminator. [default: background]",
)
@click.option(
    "--optimizer",
    type=click.Choice(["adadelta", "adagrad", "nesterov", "adam"]),
    help="[default: adadelta]",
)
@shared_options("learning_rate", "epochs", "batch_size")
@click.option(
    "--seed", type=int, help="Seed of the weight initialisation. [default: 0]"
)
@shared_options("data_seed", "val_fraction")
@click.option(
    "--split",
    type=click.Choice(["random", "event_number"]),
    help="random (seeded) or event_number modulo n_folds. [default: random]",
)
@shared_options("class_weights", "device", "dtype")
@click.option(
    "--checkpoint-every",
    type=int,
    help="Save a checkpoint every N epochs. [default: 1]",
)
@click.option(
    "--resume",
    "resume",
    type=click.Path(path_type=Path),
    help="Continue the stopped run in this directory.",
)
@shared_options("overwrite", "no_progress")
def command(
    source: tuple[str, ...],
    target: tuple[str, ...],
    out: Path | None,
    config_file: str | None,
    resume: Path | None,
    overwrite: bool,
    no_progress: bool,
    **options: Any,
) -> None:
    """Train a DANN on source (S1) and target (S2) event tables."""
    from hepda.runs import load_and_prepare, resume_run, train_run

    if resume is not None:
        given = [k for k, v in options.items() if v is not None]
        given += [n for n, v in (("--source", source), ("--target", target)) if v]
        given += ["--out"] if out is not None else []
        given += ["--overwrite"] if overwrite else []
        if given or config_file:
            msg = (
                "--resume continues a run with its own configuration and directory; "
                "give no other options but --no-progress"
            )
            raise ConfigError(msg)
        from hepda.runs import load_checkpoint, read_run_config

        load_checkpoint(resume)  # a clear error for what is not a run
        epochs = read_run_config(resume)[2].epochs
        bar = progress_callback(epochs, not no_progress)
        try:
            result = resume_run(resume, callbacks=[bar])
        except KeyboardInterrupt:
            bar.close()
            _interrupted(resume)
        except TrainingDiverged as exc:
            bar.close()
            _diverged_summary(exc, resume)
            raise
        finally:
            bar.close()
        echo_table(
            summary_rows(result.result.metrics), f"hepda train: resumed {resume}"
        )
        return

    config, extra = resolve_config(config_file, options)
    sources, targets, out = inputs_and_out(source, target, out, extra)
    # An earlier run is replaced only once this one can start: the inputs
    # are read and checked and the model is built first (make_out_dir).
    check_out_dir(out, overwrite, marker="config.toml")
    prepared = load_and_prepare(sources, targets, config)

    started: list[bool] = []  # whether this run has taken over --out

    def make_out_dir() -> None:
        prepare_out_dir(out, overwrite, marker="config.toml")
        started.append(True)

    bar = progress_callback(config.epochs, not no_progress)
    try:
        result = train_run(
            sources,
            targets,
            config,
            out,
            callbacks=[bar],
            prepared=prepared,
            make_out_dir=make_out_dir,
        )
    except KeyboardInterrupt:
        bar.close()
        _interrupted(out, started=bool(started))
    except TrainingDiverged as exc:
        bar.close()
        _diverged_summary(exc, out)
        raise
    finally:
        bar.close()
    echo_table(summary_rows(result.result.metrics), f"hepda train: {out}")

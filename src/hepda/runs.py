"""Run directories: train into one, resume one, read a trained model back, evaluate it.

A run directory holds ``config.toml`` (the resolved configuration, data
paths included), ``checkpoint.pt``, ``history.csv``, ``scores.parquet`` and
``metrics.json``. Every file is written to a temporary name and renamed.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from hepda._atomic import write_text
from hepda.config import TrainConfig, dump_toml, read_toml, train_config_from_mapping
from hepda.data.events import (
    ColumnNames,
    EventTable,
    default_features,
    load_events,
)
from hepda.errors import DataError, RunDirectoryError, TrainingDiverged
from hepda.metrics import proxy_a_distance
from hepda.model import DANNClassifier, StackedDANN
from hepda.train import (
    EpochCallback,
    Member,
    MemberResult,
    PreparedData,
    Trainer,
    domain_masks,
    evaluate_scores,
    prepare_data,
)

log = logging.getLogger(__name__)

CONFIG_FILE = "config.toml"
CHECKPOINT_FILE = "checkpoint.pt"


def column_names(config: TrainConfig) -> ColumnNames:
    return ColumnNames(
        label=config.label_column,
        weight=config.weight_column,
        event_number=config.event_number_column,
    )


def load_domains(
    source: Sequence[str], target: Sequence[str], config: TrainConfig
) -> tuple[EventTable, EventTable]:
    """Read the source (S1) and target (S2) samples with the configured columns."""
    cols = column_names(config)
    src = load_events(source, features=config.features, columns=cols, role="source")
    features = (
        config.features if config.features is not None else list(src.feature_names)
    )
    tgt = load_events(target, features=features, columns=cols, role="target")
    if config.features is None:
        # The default features are the source's numeric columns; the target is
        # read with them, so a numeric column only the target has would be
        # dropped without a word.
        for spec in target:
            extra = [
                f for f in default_features(spec, cols) if f not in src.feature_names
            ]
            if extra:
                msg = (
                    f"target file {spec} has {len(extra)} numeric column(s) the "
                    f"source lacks: {', '.join(repr(f) for f in extra[:10])}; the "
                    "default features are the source's numeric columns, so pass "
                    "--features to choose them, or add these to the source"
                )
                raise DataError(msg)
    return src, tgt


def load_and_prepare(
    source: Sequence[str], target: Sequence[str], config: TrainConfig
) -> tuple[TrainConfig, PreparedData]:
    """Read and check both samples and split them; the config gets the feature list."""
    src, tgt = load_domains(source, target, config)
    config = config.replace(features=tuple(src.feature_names))
    return config, prepare_data(src, tgt, config)


# ------------------------------------------------------------------ writing


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.floating | np.integer | np.bool_):
        return _finite_or_none(value.item())
    return value


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    clean = {k: _finite_or_none(v) for k, v in data.items()}
    write_text(path, json.dumps(clean, indent=2, allow_nan=False) + "\n")


def write_history(path: Path, history: Sequence[Mapping[str, float]]) -> None:
    """Write the per-epoch history as CSV, one row per epoch."""
    if not history:
        write_text(path, "epoch\n")
        return
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(history[0]), lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow(
            {k: repr(float(v)) if isinstance(v, float) else v for k, v in row.items()}
        )
    write_text(path, buf.getvalue())


def read_history(path: Path) -> dict[str, np.ndarray]:
    """history.csv as columns."""
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return {}
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def scores_table(
    domains: Sequence[tuple[str, EventTable, np.ndarray, np.ndarray]],
) -> pa.Table:
    """A row per event: ``domains`` holds (name, events, validation mask, score)."""
    parts = []
    for name, ev, val, score in domains:
        columns: dict[str, Any] = {
            "domain": pa.array([name] * len(ev), pa.string()),
            "split": pa.array(np.where(val, "val", "train"), pa.string()),
            "label": pa.array(ev.label.astype(np.int8)),
            "weight": pa.array(ev.weight.astype(np.float64)),
            "event_number": pa.array(ev.event_number.astype(np.int64)),
            "score": pa.array(score.astype(np.float32)),
        }
        if ev.process is not None:
            columns["process"] = pa.array(ev.process.astype(str), pa.string())
        parts.append(pa.table(columns))
    if any("process" in p.column_names for p in parts):
        parts = [
            p
            if "process" in p.column_names
            else p.append_column("process", pa.nulls(len(p), pa.string()))
            for p in parts
        ]
    return pa.concat_tables(parts)


def write_parquet(path: Path, table: pa.Table) -> None:
    import pyarrow.parquet as pq

    from hepda._atomic import atomic_path

    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


# ----------------------------------------------------------------- training


@dataclass
class RunResult:
    out_dir: Path
    result: MemberResult
    config: TrainConfig


def run_config_dict(
    config: TrainConfig, source: Sequence[str], target: Sequence[str]
) -> dict[str, Any]:
    return {"source": list(source), "target": list(target), **config.to_dict()}


def run_config_text(
    config: TrainConfig, source: Sequence[str], target: Sequence[str]
) -> str:
    """config.toml of a run. A learning rate left to the optimizer's default
    is not written as a key (the file may be reused with another optimizer),
    but a comment says which rate that was."""
    text = dump_toml(run_config_dict(config, source, target))
    if config.learning_rate is None:
        text = (
            f"# learning_rate: not set, so {config.optimizer}'s default, "
            f"{config.lr:g}\n" + text
        )
    return text


def train_run(
    source: Sequence[str],
    target: Sequence[str],
    config: TrainConfig,
    out_dir: Path,
    *,
    callbacks: Sequence[EpochCallback] = (),
    resume_state: dict[str, Any] | None = None,
    prepared: tuple[TrainConfig, PreparedData] | None = None,
    make_out_dir: Callable[[], None] | None = None,
) -> RunResult:
    """Train one model and write the run directory.

    ``out_dir`` must be ready, or ``make_out_dir`` makes it ready once the
    inputs are read and the model is built: a caller that replaces an
    earlier run then loses it only to a run that can start. ``prepared`` is
    what :func:`load_and_prepare` returned, for callers that check the
    inputs first.
    """
    config, data = prepared or load_and_prepare(source, target, config)
    trainer = Trainer(
        config,
        data,
        [Member(config.lambda_, config.seed)],
        callbacks=callbacks,
        checkpoint_path=out_dir / CHECKPOINT_FILE,
        checkpoint_extra={"source": list(source), "target": list(target)},
    )
    if make_out_dir is not None:
        make_out_dir()
    write_text(out_dir / CONFIG_FILE, run_config_text(config, source, target))
    if resume_state is not None:
        trainer.load_checkpoint(resume_state)
        log.info(
            "resuming %s at epoch %d of %d", out_dir, trainer.epoch + 1, config.epochs
        )
    log.info(
        "training on %d source and %d target events (%d features), %d epochs",
        len(data.source.events),
        len(data.target.events),
        len(data.feature_names),
        config.epochs,
    )
    (result,) = trainer.fit()
    trainer.save_checkpoint(out_dir / CHECKPOINT_FILE)

    # Outputs of the run, each written whole.
    write_history(out_dir / "history.csv", result.history)
    assert trainer.final_scores is not None  # set by fit()
    score_s, score_t = (s[0] for s in trainer.final_scores)
    domains = [
        ("source", data.source.events, data.source.val, score_s),
        ("target", data.target.events, data.target.val, score_t),
    ]
    write_parquet(out_dir / "scores.parquet", scores_table(domains))
    write_json(out_dir / "metrics.json", result.metrics)
    if result.diverged:
        msg = (
            f"training diverged in epoch {result.diverged_epoch} "
            "(the loss or the weights became NaN or infinite, or the classifier "
            "saturated: "
            "every event got the same response); "
            f"the model of epoch {len(result.history)} is kept in "
            f"{out_dir / CHECKPOINT_FILE} and metrics.json says diverged = true. "
            "A smaller lambda or learning rate usually helps"
        )
        raise TrainingDiverged(msg, result.metrics)
    return RunResult(out_dir, result, config)


def read_run_config(run_dir: Path) -> tuple[list[str], list[str], TrainConfig]:
    """The inputs and configuration a run's config.toml records, checked."""
    path = Path(run_dir) / CONFIG_FILE
    stored = read_toml(path)
    missing = [k for k in ("source", "target") if k not in stored]
    if missing:
        msg = (
            f"{str(path)!r} lacks {' and '.join(missing)}; it was edited or is "
            "not a hepda train run's: restore it or train anew"
        )
        raise RunDirectoryError(msg)
    source, target = stored.pop("source"), stored.pop("target")
    sources = [source] if isinstance(source, str) else list(source)
    targets = [target] if isinstance(target, str) else list(target)
    return sources, targets, train_config_from_mapping(stored, origin=str(path))


def resume_run(run_dir: Path, *, callbacks: Sequence[EpochCallback] = ()) -> RunResult:
    """Continue a stopped ``hepda train`` run from its last checkpoint.

    A run whose last epoch was saved but whose outputs were not all written
    (stopped in between) is finished: only its outputs are written. The
    configuration must be the checkpoint's, but for ``epochs``, which may be
    raised to train further.
    """
    state = load_checkpoint(run_dir)
    source, target, config = read_run_config(run_dir)
    saved = train_config_from_mapping(
        state.get("config", {}), origin=f"{run_dir}/{CHECKPOINT_FILE}"
    )
    changed = sorted(
        key
        for key, value in config.replace(learning_rate=config.lr).to_dict().items()
        if key != "epochs"
        and saved.replace(learning_rate=saved.lr).to_dict().get(key) != value
    )
    if config.epochs < state["epoch"]:
        changed.append(f"epochs (below the {state['epoch']} already trained)")
    if changed:
        msg = (
            f"{str(run_dir / CONFIG_FILE)!r} differs from the run's checkpoint in "
            f"{', '.join(changed)}; a resumed run keeps its configuration (only "
            "epochs may change, not below the epochs trained): restore those keys "
            "or train anew"
        )
        raise RunDirectoryError(msg)
    diverged = not any(state["active"])
    finished = state["epoch"] >= config.epochs or diverged
    outputs = ("history.csv", "scores.parquet", "metrics.json")
    if finished and all((run_dir / name).is_file() for name in outputs):
        how = (
            "it diverged, so it cannot train further"
            if diverged
            else "raise epochs in its config.toml to train further"
        )
        msg = (
            f"run {str(run_dir)!r} is already complete ({state['epoch']} epochs); "
            f"nothing to resume ({how})"
        )
        raise RunDirectoryError(msg)
    return train_run(
        source, target, config, run_dir, callbacks=callbacks, resume_state=state
    )


# ------------------------------------------------------------------ reading


def load_checkpoint(run_dir: Path) -> dict[str, Any]:
    """The checkpoint of a run directory, with clear errors if missing or broken."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        msg = (
            f"run directory {str(run_dir)!r} does not exist; "
            "give the --out of a hepda train run"
        )
        raise RunDirectoryError(msg)
    path = run_dir / CHECKPOINT_FILE
    if not path.is_file():
        msg = (
            f"{str(run_dir)!r} has no {CHECKPOINT_FILE}; "
            "it is not a hepda run directory "
            "or its training stopped before the first epoch ended"
        )
        raise RunDirectoryError(msg)
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many kinds for a damaged file
        msg = (
            f"cannot read {str(path)!r}: {exc}; "
            "the file is damaged, retrain or restore it"
        )
        raise RunDirectoryError(msg) from None
    if state.get("format") != "hepda-checkpoint/1":
        msg = (
            f"{str(path)!r} is not a hepda checkpoint (format {state.get('format')!r})"
        )
        raise RunDirectoryError(msg)
    return state


def classifier_from_checkpoint(
    state: Mapping[str, Any], *, member: int = 0, which: str = "last"
) -> DANNClassifier:
    """The classifier branch of one member, standardisation included."""
    key = {"last": "model", "best": "best_model"}[which]
    seeds = [int(m["seed"]) for m in state["members"]]
    model = StackedDANN(
        int(state["n_features"]),
        state["hidden"],
        seeds,
        dtype=state[key]["extractor.0.weight"].dtype,
    )
    model.load_state_dict(state[key])
    return model.member_classifier(
        member, state["standardizer"]["mean"], state["standardizer"]["scale"]
    )


def load_classifier(
    run_dir: Path, *, which: str = "last"
) -> tuple[DANNClassifier, tuple[str, ...], dict[str, Any]]:
    """(classifier, ordered feature names, checkpoint) of a trained run."""
    state = load_checkpoint(run_dir)
    clf = classifier_from_checkpoint(state, which=which)
    clf.eval()
    return clf, tuple(state["feature_names"]), state


@torch.no_grad()
def score_events(
    clf: DANNClassifier, events: EventTable, chunk: int = 65536
) -> np.ndarray:
    """The classifier's score of every event, (n,)."""
    dtype = clf.head.weight.dtype
    parts = [
        clf(torch.as_tensor(events.features[s : s + chunk]).to(dtype)).double().numpy()
        for s in range(0, len(events), chunk)
    ]
    return np.concatenate(parts) if parts else np.zeros(0)


@torch.no_grad()
def _pad_inputs(
    clf: DANNClassifier, features: np.ndarray, chunk: int = 65536
) -> tuple[np.ndarray, np.ndarray]:
    """(standardised inputs, learned features) of events, for the proxy A-distances."""
    dtype = clf.head.weight.dtype
    inputs, learned = [], []
    for s in range(0, len(features), chunk):
        x = torch.as_tensor(features[s : s + chunk]).to(dtype)
        inputs.append(clf.standardise(x).numpy())
        learned.append(clf.representation(x).numpy())
    width = clf.head.weight.shape[1]
    if not inputs:
        return np.zeros((0, features.shape[1])), np.zeros((0, width))
    return np.concatenate(inputs), np.concatenate(learned)


def evaluate_run(
    run_dir: Path,
    source: Sequence[str],
    target: Sequence[str],
    out_dir: Path,
    *,
    which: str = "last",
    before_write: Callable[[Path], None] | None = None,
) -> dict[str, Any]:
    """Apply a trained run to other samples (every event counts as validation).

    ``before_write(out_dir)`` runs once everything is computed and before any
    file is written (the command line makes the output directory there).
    """
    clf, feature_names, state = load_classifier(run_dir, which=which)
    # Scoring runs on the CPU, wherever the run was trained.
    stored = {**state["config"], "device": "cpu"}
    config = train_config_from_mapping(stored, origin=f"{run_dir}/{CHECKPOINT_FILE}")
    config = config.replace(features=feature_names)
    src, tgt = load_domains(source, target, config)
    for role, events in (("source", src), ("target", tgt)):
        for cls, name in ((1, "signal"), (0, "background")):
            total = float(events.weight[events.label == cls].sum())
            if not total > 0:
                msg = (
                    f"{role} sample {events.origin}: its {name} events (label {cls}) "
                    f"have total weight {total!r}; evaluating needs signal and "
                    "background of positive total weight in both samples"
                )
                raise DataError(msg)
    score_s, score_t = score_events(clf, src), score_events(clf, tgt)
    result = evaluate_scores(score_s, src, score_t, tgt, config)

    # Proxy A-distances on the events the run's discriminator mode shows.
    shown_s, shown_t = domain_masks(config.disc_mode, src.label, tgt.label)
    (in_s, feat_s), (in_t, feat_t) = (
        _pad_inputs(clf, ev.features[shown])
        for ev, shown in ((src, shown_s), (tgt, shown_t))
    )
    w_pad = (src.weight[shown_s], tgt.weight[shown_t])
    seed = config.data_seed
    result["proxy_a_distance_input"] = proxy_a_distance(in_s, in_t, *w_pad, seed=seed)
    result["proxy_a_distance_features"] = proxy_a_distance(
        feat_s, feat_t, *w_pad, seed=seed
    )
    # Whether the model was trained to the end or frozen where it diverged.
    bad_epoch = state["diverged_epoch"][0]
    result["diverged"] = bad_epoch is not None
    result["diverged_epoch"] = None if bad_epoch is None else bad_epoch + 1
    result.update({"run": str(run_dir), "model": which})
    domains = [
        ("source", src, np.ones(len(src), bool), score_s),
        ("target", tgt, np.ones(len(tgt), bool), score_t),
    ]
    if before_write is not None:
        before_write(out_dir)
    write_parquet(out_dir / "scores.parquet", scores_table(domains))
    write_json(out_dir / "metrics.json", result)
    return result

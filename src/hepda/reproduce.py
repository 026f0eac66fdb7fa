"""The paper's whole study on the open benchmark, in one call.

:func:`reproduce` simulates S1 and S2 (or takes them from the cache), trains
the Table 1 settings (baseline and DANN), the optimizer comparison and the
two discriminator modes, scans lambda, and writes Table 1, the paper's
figures 4 to 11, the lambda-scan plots and a self-contained ``report.html``.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import logging
import multiprocessing
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from hepda.config import TrainConfig, read_toml
from hepda.errors import ConfigError

log = logging.getLogger(__name__)

Scale = Literal["quick", "paper"]


@dataclass(frozen=True)
class ScaleSettings:
    """How big the reproduction is."""

    n_events: (
        int  # selected events per sample (signal of each of S1, S2; each background)
    )
    epochs: int
    scan_lambdas: str  # hepda.scan.parse_lambdas syntax
    scan_seeds: tuple[int, ...]
    batch_size: int = 5000


SCALES: dict[str, ScaleSettings] = {
    # Minutes on a laptop: a tenth of the paper's events, a third of its epochs.
    "quick": ScaleSettings(
        n_events=10_000, epochs=100, scan_lambdas="0:2:20", scan_seeds=(0, 1)
    ),
    # The paper's sizes: 100k signal and 100k background per dataset, 300 epochs.
    "paper": ScaleSettings(
        n_events=100_000, epochs=300, scan_lambdas="0:2:20", scan_seeds=(0, 1, 2)
    ),
}


@dataclass(frozen=True)
class RunSpec:
    """One training run of the study."""

    name: str
    hidden: tuple[int, ...]
    lambda_: float
    disc_mode: str = "background"
    optimizer: str = "adadelta"
    table1: bool = False


#: Table 1's settings (baseline and DANN for three widths), and the runs the
#: figures need beyond them: Fig. 8 (mode "all"), Fig. 10 (optimizers),
#: Fig. 11 right (lambda 1.2 with every event shown to the discriminator).
STUDY_RUNS: tuple[RunSpec, ...] = (
    RunSpec("w353015_l0", (35, 30, 15), 0.0, table1=True),
    RunSpec("w353015_l1.30", (35, 30, 15), 1.30, table1=True),
    RunSpec("w402525_l0", (40, 25, 25), 0.0, table1=True),
    RunSpec("w402525_l1.24", (40, 25, 25), 1.24, table1=True),
    RunSpec("w453025_l0", (45, 30, 25), 0.0, table1=True),
    RunSpec("w453025_l2.00", (45, 30, 25), 2.00, table1=True),
    RunSpec("w453025_l1.2", (45, 30, 25), 1.2, table1=True),
    RunSpec("w453025_l2.00_all", (45, 30, 25), 2.00, disc_mode="all"),
    RunSpec("w453025_l1.2_all", (45, 30, 25), 1.2, disc_mode="all"),
    RunSpec("w453025_l1.2_adagrad", (45, 30, 25), 1.2, optimizer="adagrad"),
    RunSpec("w453025_l1.2_nesterov", (45, 30, 25), 1.2, optimizer="nesterov"),
)


@dataclass
class ReproduceResult:
    out_dir: Path
    table1: list[dict[str, Any]]
    report: Path
    runtime_s: float
    files: dict[str, Path] = field(default_factory=dict)


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _train_one(
    spec: RunSpec, s1: list[str], s2: list[str], base: dict[str, Any], out: str
) -> dict[str, Any]:
    """Train one run of the study in its own directory (runs in a worker process)."""
    from hepda.config import train_config_from_mapping
    from hepda.runs import train_run

    config = train_config_from_mapping(
        {
            **base,
            "hidden": list(spec.hidden),
            "lambda": spec.lambda_,
            "disc_mode": spec.disc_mode,
            "optimizer": spec.optimizer,
        }
    )
    run_dir = Path(out) / spec.name
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        result = train_run(s1, s2, config, run_dir)
        return result.result.metrics
    except Exception as exc:  # a diverged run is a result of the study, not a failure
        from hepda.errors import TrainingDiverged

        if not isinstance(exc, TrainingDiverged):
            raise
        log.warning("%s: %s", spec.name, exc)
        return dict(json.loads((run_dir / "metrics.json").read_text()))


def _load_run(
    run_dir: Path,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """(scores columns, history columns, metrics) of a finished run directory."""
    import pyarrow.parquet as pq

    from hepda.runs import read_history

    table = pq.read_table(run_dir / "scores.parquet").to_pydict()
    scores = {k: np.asarray(v) for k, v in table.items()}
    return (
        scores,
        read_history(run_dir / "history.csv"),
        json.loads((run_dir / "metrics.json").read_text()),
    )


def table1_row(run_dir: Path) -> dict[str, Any]:
    """A Table 1 row from a run directory: its settings and validation metrics.

    Accuracy and AUC are those on S2, the generator the label loss never saw,
    as in the paper's table; AUC on S1 and the background shift stand beside.
    """
    config = read_toml(run_dir / "config.toml")
    m = json.loads((run_dir / "metrics.json").read_text())
    return {
        "run": run_dir.name,
        "hidden": ",".join(str(h) for h in config["hidden"]),
        "lambda": float(config["lambda"]),
        "disc_mode": config["disc_mode"],
        "accuracy": m.get("accuracy_s2"),
        "auc": m.get("auc_s2"),
        "significance": m.get("significance"),
        "auc_s1": m.get("auc_s1"),
        "significance_asimov": m.get("significance_asimov"),
        "bias_ks": m.get("bias_ks"),
    }


def _select(
    scores: Mapping[str, np.ndarray],
    domain: str,
    split: str = "val",
    label: int | None = None,
) -> np.ndarray:
    sel = (scores["domain"] == domain) & (scores["split"] == split)
    if label is not None:
        sel &= scores["label"] == label
    return np.asarray(sel, dtype=bool)


def _draw_response(ax: Any, run_dir: Path) -> None:
    """The response of one run on S2 signal and both backgrounds (Figs. 6-8)."""
    from hepda import plots

    scores, _, m = _load_run(run_dir)
    sig = _select(scores, "target", label=1)
    b1 = _select(scores, "source", label=0)
    b2 = _select(scores, "target", label=0)
    plots.plot_response(
        scores["score"][sig], scores["weight"][sig],
        scores["score"][b1], scores["weight"][b1],
        scores["score"][b2], scores["weight"][b2],
        ax=ax, title=f"{run_dir.name}: Z = {m['significance']:.2f}",
    )  # fmt: skip


def _draw_overtraining(ax: Any, scores: Mapping[str, np.ndarray]) -> None:
    """Training against validation response of S1, per class."""
    from hepda import plots

    tr = (scores["domain"] == "source") & (scores["split"] == "train")
    va = _select(scores, "source")
    plots.plot_overtraining(
        scores["score"][tr], scores["weight"][tr], scores["label"][tr],
        scores["score"][va], scores["weight"][va], scores["label"][va],
        ax=ax,
    )  # fmt: skip


def _roc_inputs(
    scores: Mapping[str, np.ndarray], domain: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sel = _select(scores, domain)
    return scores["label"][sel], scores["score"][sel], scores["weight"][sel]


def reproduce(
    out_dir: Path,
    *,
    scale: Scale = "quick",
    workers: int | None = None,
    scheduler: Any = None,
    seed: int = 1,
    progress: bool = True,
    settings: ScaleSettings | None = None,
    source: list[str] | None = None,
    target: list[str] | None = None,
    features: str | list[str] | None = "tth41",
) -> ReproduceResult:
    """Run the whole study and write its tables, figures and report into ``out_dir``.

    ``workers`` local processes (one torch thread each; default: the number
    of cores) share the event generation and the training runs; with
    ``scheduler`` the generation and the lambda scan go to that Dask cluster.
    The generated samples are cached, so a second call starts at training.
    ``settings`` replaces the scale's sizes (tests use a tiny one).

    With ``source`` and ``target`` the study runs on those tables (the
    analyst's own S1 and S2, with ``features``) instead of the benchmark.
    """
    if scale not in SCALES:
        msg = f"--scale: expected one of {', '.join(SCALES)}, got {scale!r}"
        raise ConfigError(msg)
    settings = settings or SCALES[scale]
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        msg = f"workers: expected a positive number of processes, got {workers!r}"
        raise ConfigError(msg)
    workers = workers or min(2, os.cpu_count() or 1)
    started = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = out_dir / "figures"
    figures.mkdir(exist_ok=True)

    # 1. The data: the open benchmark (ttH and two tt+jets setups), or the user's.
    sim_config = None
    inputs_plot: Path | None = None
    if source is None or target is None:
        from hepda.simulate import SimulationConfig, build_benchmark

        sim_config = SimulationConfig(n_events=settings.n_events, seed=seed)
        log.info("step 1/5: event generation (%d events per sample)", settings.n_events)
        bench = build_benchmark(
            None,
            sim_config,
            workers=workers if scheduler is None else 1,
            scheduler=scheduler,
            progress=progress,
        )
        source, target = [str(bench.s1)], [str(bench.s2)]
        inputs_plot = bench.variables_plot
    else:
        log.info("step 1/5: the study on %s (S1) and %s (S2)", source, target)
    s1, s2 = source, target

    # 2. The study's single runs, two at a time on two cores.
    base = TrainConfig(
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        features=_features(features),
    ).to_dict()
    runs_dir = out_dir / "runs"
    log.info(
        "step 2/5: %d training runs (Table 1, optimizers, modes), %d epochs each",
        len(STUDY_RUNS),
        settings.epochs,
    )
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_init_worker, initargs=(1,)
    ) as pool:
        futures = {
            pool.submit(_train_one, spec, s1, s2, base, str(runs_dir)): spec
            for spec in STUDY_RUNS
        }
        for done, future in enumerate(cf.as_completed(futures), 1):
            spec = futures[future]
            future.result()  # a failed run stops the study here
            log.info("  run %d/%d done: %s", done, len(STUDY_RUNS), spec.name)

    # 3. The lambda scan, both discriminator modes, stacked.
    from hepda.scan import ScanGrid, parse_lambdas, run_scan

    grid = ScanGrid(
        lambdas=tuple(parse_lambdas(settings.scan_lambdas)),
        hidden=((45, 30, 25),),
        disc_modes=("background", "all"),
        optimizers=("adadelta",),
        seeds=settings.scan_seeds,
    )
    log.info(
        "step 3/5: lambda scan (%s, %d seeds, both modes)",
        settings.scan_lambdas,
        len(settings.scan_seeds),
    )
    scan_dir = out_dir / "scan"
    base_config = TrainConfig(
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        features=_features(features),
    )
    run_scan(
        s1,
        s2,
        grid,
        base_config,
        scan_dir,
        workers=workers if scheduler is None else 1,
        scheduler=scheduler,
        progress=progress,
    )

    # 4. Table 1, ours beside the paper's.
    from hepda import report

    log.info("step 4/5: Table 1 and figures")
    rows = [table1_row(runs_dir / spec.name) for spec in STUDY_RUNS if spec.table1]
    table_files = report.write_table1(rows, out_dir)

    # 5. Figures and the report.
    figure_files = _figures(
        runs_dir, scan_dir, figures, s1, s2, _features(features), inputs_plot
    )
    log.info("step 5/5: report")
    runtime = time.monotonic() - started
    report_path = _report(
        out_dir, rows, figure_files, scale, settings, sim_config, runtime, s1, s2
    )
    return ReproduceResult(
        out_dir, rows, report_path, runtime, {**table_files, **figure_files}
    )


def _features(features: str | list[str] | None) -> str | tuple[str, ...] | None:
    return tuple(features) if isinstance(features, list) else features


def _figures(
    runs_dir: Path,
    scan_dir: Path,
    out: Path,
    s1: list[str],
    s2: list[str],
    features: str | tuple[str, ...] | None,
    inputs_plot: Path | None,
) -> dict[str, Path]:
    """Draw the paper's figures 4-11 and the ones beyond them; return name -> PNG."""
    from matplotlib.figure import Figure

    from hepda import plots

    files: dict[str, Path] = {}

    def save(fig: Any, name: str) -> None:
        files[name] = plots.save_figure(fig, out / f"{name}.png")

    # Figs. 4-5: the input variables per generator. The simulation draws them
    # for the benchmark; for the user's samples they are drawn here.
    from hepda.data.events import load_events

    src = load_events(s1, features=features)
    tgt = load_events(s2, features=features, role="target")
    if inputs_plot is None:
        samples = {}
        for name, events, cls in (
            ("signal (S2)", tgt, 1),
            ("background S1", src, 0),
            ("background S2", tgt, 0),
        ):
            part = events.take(events.label == cls)
            columns = {n: part.features[:, i] for i, n in enumerate(part.feature_names)}
            samples[name] = (columns, part.weight)
        fig = plots.plot_input_variables(samples, list(src.feature_names))
        save(fig, "fig4_5_inputs")
    else:
        import shutil

        for suffix in (".png", ".pdf"):
            drawn = Path(inputs_plot).with_suffix(suffix)
            if drawn.is_file():
                shutil.copyfile(drawn, out / f"fig4_5_inputs{suffix}")
        if (out / "fig4_5_inputs.png").is_file():
            files["fig4_5_inputs"] = out / "fig4_5_inputs.png"

    # Figs. 6-8: response of baseline (left) and DANN (right).
    pairs = {
        "fig6_response": (
            "w453025_l0",
            "w453025_l1.2",
            "widths 45,30,25; lambda 0 and 1.2; background to the discriminator",
        ),
        "fig7_response": (
            "w353015_l0",
            "w353015_l1.30",
            "widths 35,30,15; lambda 0 and 1.3; background to the discriminator",
        ),
        "fig8_response": (
            "w453025_l0",
            "w453025_l2.00_all",
            "widths 45,30,25; lambda 0 and 2; all events to the discriminator",
        ),
    }
    for name, (left, right, _) in pairs.items():
        fig = Figure(figsize=(12, 4.5), layout="constrained")
        for ax, run in zip(fig.subplots(1, 2), (left, right), strict=True):
            _draw_response(ax, runs_dir / run)
        save(fig, name)

    # Fig. 9: ROC of baseline and DANN on S1 and S2.
    curves = {}
    for run, label in (("w453025_l0", "baseline"), ("w453025_l1.2", "DANN lambda 1.2")):
        scores, _, _ = _load_run(runs_dir / run)
        for domain, dname in (("source", "S1"), ("target", "S2")):
            curves[f"{label}, {dname}"] = _roc_inputs(scores, domain)
    fig = Figure(figsize=(6.4, 5.2), layout="constrained")
    plots.plot_roc(curves, ax=fig.subplots())
    save(fig, "fig9_roc")

    # Fig. 10: significance per epoch for the three optimizers.
    sig_curves = {}
    for run, label in (
        ("w453025_l1.2", "Adadelta"),
        ("w453025_l1.2_adagrad", "Adagrad"),
        ("w453025_l1.2_nesterov", "Nesterov"),
    ):
        _, history, _ = _load_run(runs_dir / run)
        sig_curves[label] = history["significance"]
    fig = Figure(figsize=(6.4, 4.8), layout="constrained")
    plots.plot_significance_curves(sig_curves, ax=fig.subplots())
    save(fig, "fig10_significance")

    # Fig. 11: training curves, background-only (left) and all events (right).
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    for ax, run, title in zip(
        fig.subplots(1, 2),
        ("w453025_l1.2", "w453025_l1.2_all"),
        ("background events to the discriminator", "all events to the discriminator"),
        strict=True,
    ):
        _, history, _ = _load_run(runs_dir / run)
        plots.plot_training_curves(history, ax=ax, title=title)
    save(fig, "fig11_training")

    # Beyond the paper: lambda scan, trade-off, overtraining, correlations.
    from hepda.scan import read_scan

    scan = read_scan(scan_dir / "scan.csv")
    save(plots.plot_scan(scan), "scan_metrics")
    fig = Figure(figsize=(6.4, 4.8), layout="constrained")
    plots.plot_tradeoff(scan, ax=fig.subplots())
    save(fig, "scan_tradeoff")

    scores, _, _ = _load_run(runs_dir / "w453025_l1.2")
    fig = Figure(figsize=(6.4, 4.8), layout="constrained")
    _draw_overtraining(fig.subplots(), scores)
    save(fig, "overtraining")

    bkg = src.take(src.label == 0)
    fig = Figure(figsize=(11, 10), layout="constrained")
    plots.plot_correlation(
        bkg.features,
        bkg.feature_names,
        bkg.weight,
        ax=fig.subplots(),
        title="background of S1",
    )
    save(fig, "correlation_s1_background")
    return files


CAPTIONS = {
    "fig4_5_inputs": (
        "Figs. 4-5: every input variable for ttH signal and the two tt+jets generator "
        "setups, with the ratio of the two backgrounds; the generator difference is "
        "what the DANN must not learn."
    ),
    "fig6_response": (
        "Fig. 6: classifier response on S2 signal and on the S1 and S2 backgrounds, "
        "baseline (left) and DANN with lambda 1.2, background-only discriminator "
        "(right). The gap between the two background curves is the training bias."
    ),
    "fig7_response": "Fig. 7: as Fig. 6 for widths 35,30,15, lambda 0 and 1.3.",
    "fig8_response": (
        "Fig. 8: as Fig. 6 with every event shown to the discriminator and lambda 2."
    ),
    "fig9_roc": (
        "Fig. 9: ROC curves of the baseline and the DANN on the validation parts of S1 "
        "and S2; the DANN narrows the gap between the two generators."
    ),
    "fig10_significance": (
        "Fig. 10: the paper's significance per epoch (10-epoch smoothing) for "
        "Adadelta, Adagrad and SGD with Nesterov momentum."
    ),
    "fig11_training": (
        "Fig. 11: label loss on S1 and S2, domain loss and significance per epoch, for "
        "the two discriminator modes."
    ),
    "scan_metrics": (
        "Lambda scan: AUC on S1 and S2, significance and background shift against "
        "lambda, bands over seeds, for both discriminator modes."
    ),
    "scan_tradeoff": (
        "Trade-off between separation on S1 and the generator bias (KS distance "
        "between the S1 and S2 background responses), coloured by lambda."
    ),
    "overtraining": (
        "Overtraining check: response on training and validation events of S1 per "
        "class, with KS p-values."
    ),
    "correlation_s1_background": (
        "Correlations between the input variables in the S1 background."
    ),
}


def _report(
    out_dir: Path,
    rows: list[dict[str, Any]],
    figures: Mapping[str, Path],
    scale: str,
    settings: ScaleSettings,
    sim_config: Any,
    runtime: float,
    s1_paths: list[str],
    s2_paths: list[str],
) -> Path:
    from hepda import report

    def entries(*names: str) -> list[report.FigureEntry]:
        return [
            report.FigureEntry(figures[n], CAPTIONS[n]) for n in names if n in figures
        ]

    sections = [
        report.Section(
            "Table 1",
            "Baseline (lambda = 0) and DANN for the paper's settings, on the "
            "validation parts. Accuracy and AUC are on S2 (the generator not used for "
            "the label loss); the significance is the paper's Eq. 16 at the 0.6 cut "
            "with the generator difference as the background uncertainty. The paper's "
            "numbers stand beside ours; they come from the experiment's full "
            "simulation, ours from the samples named under Data, so the comparison is "
            "of trends, not of values.",
            tables_html=[report.table1_html(rows)],
        ),
        report.Section(
            "Data",
            (
                "ttH(bb) signal and tt+jets background from Pythia 8, "
                f"{settings.n_events} selected events per sample, two background "
                "generator setups (S1, S2)."
                if sim_config is not None
                else f"S1: {', '.join(s1_paths)}. S2: {', '.join(s2_paths)}."
            ),
            figures=entries("fig4_5_inputs", "correlation_s1_background"),
        ),
        report.Section(
            "Classifier response and training bias",
            figures=entries(
                "fig6_response", "fig7_response", "fig8_response", "fig9_roc"
            ),
        ),
        report.Section(
            "Training curves and optimizers",
            figures=entries("fig10_significance", "fig11_training"),
        ),
        report.Section("Lambda scan", figures=entries("scan_metrics", "scan_tradeoff")),
        report.Section("Checks", figures=entries("overtraining")),
    ]
    config = {
        "scale": scale,
        "scale_settings": asdict(settings),
        "data": (
            {
                "n_events": sim_config.n_events,
                "seed": sim_config.seed,
                "level": sim_config.level,
                "btag": sim_config.btag,
            }
            if sim_config is not None
            else {"source": s1_paths, "target": s2_paths}
        ),
        "runs": [asdict(r) for r in STUDY_RUNS],
    }
    return report.build_html_report(
        out_dir / "report.html",
        title=f"hepda: the DANN study reproduced on open simulation ({scale} scale)",
        sections=sections,
        config=config,
        runtime_s=runtime,
    )


# --------------------------------------------------------- hepda report


def _run_figures(run_dir: Path, out: Path) -> list[tuple[Path, str]]:
    """Response, training curves and overtraining check of one run."""
    from matplotlib.figure import Figure

    from hepda import plots

    scores, history, _ = _load_run(run_dir)
    name = run_dir.name
    made = []

    fig = Figure(figsize=(6.4, 4.8), layout="constrained")
    _draw_response(fig.subplots(), run_dir)
    path = plots.save_figure(fig, out / f"{name}_response.png")
    made.append(
        (path, f"{name}: response on S2 signal and on the S1 and S2 backgrounds.")
    )

    if history:
        fig = Figure(figsize=(6.4, 4.8), layout="constrained")
        plots.plot_training_curves(history, ax=fig.subplots(), title=name)
        path = plots.save_figure(fig, out / f"{name}_training.png")
        made.append(
            (path, f"{name}: losses and significance per epoch (10-epoch smoothing).")
        )

    tr = (scores["domain"] == "source") & (scores["split"] == "train")
    va = _select(scores, "source")
    if tr.any() and va.any():
        fig = Figure(figsize=(6.4, 4.8), layout="constrained")
        _draw_overtraining(fig.subplots(), scores)
        path = plots.save_figure(fig, out / f"{name}_overtraining.png")
        made.append(
            (path, f"{name}: training against validation response on S1, per class.")
        )
    return made


def report_runs(
    run_dirs: list[Path], scan_dirs: list[Path], out_dir: Path, *, title: str
) -> Path:
    """Table 1 and an HTML report for finished ``hepda train`` runs and scans."""
    from matplotlib.figure import Figure

    from hepda import plots, report
    from hepda.errors import RunDirectoryError
    from hepda.scan import read_scan

    started = time.monotonic()
    for d in run_dirs:
        if not (d / "metrics.json").is_file() or not (d / "scores.parquet").is_file():
            msg = (
                f"{str(d)!r} is not a finished hepda train run (no metrics.json or "
                "scores.parquet)"
            )
            raise RunDirectoryError(msg)
    for d in scan_dirs:
        if not (d / "scan.csv").is_file():
            msg = f"{str(d)!r} is not a hepda scan directory (no scan.csv)"
            raise RunDirectoryError(msg)
    figures = out_dir / "figures"
    figures.mkdir(parents=True, exist_ok=True)

    # Table 1 from the runs.
    rows = [table1_row(d) for d in run_dirs]
    if rows:
        report.write_table1(rows, out_dir)

    # Per-run figures, then the comparisons across runs.
    sections = []
    if rows:
        sections.append(
            report.Section("Table 1", tables_html=[report.table1_html(rows)])
        )
    if run_dirs:
        curves, significance = {}, {}
        for d in run_dirs:
            scores, history, _ = _load_run(d)
            for domain, dname in (("source", "S1"), ("target", "S2")):
                curves[f"{d.name}, {dname}"] = _roc_inputs(scores, domain)
            if history:
                significance[d.name] = history["significance"]
        fig = Figure(figsize=(6.4, 5.2), layout="constrained")
        plots.plot_roc(curves, ax=fig.subplots())
        roc = plots.save_figure(fig, figures / "roc.png")
        fig = Figure(figsize=(6.4, 4.8), layout="constrained")
        plots.plot_significance_curves(significance, ax=fig.subplots())
        sig = plots.save_figure(fig, figures / "significance.png")
        sections.append(
            report.Section(
                "Comparison of the runs",
                figures=[
                    report.FigureEntry(
                        roc,
                        "ROC curves of every run on the validation parts of S1 and S2.",
                    ),
                    report.FigureEntry(
                        sig, "Significance per epoch of every run (10-epoch smoothing)."
                    ),
                ],
            )
        )
        for d in run_dirs:
            made = _run_figures(d, figures)
            sections.append(
                report.Section(
                    d.name, figures=[report.FigureEntry(p, c) for p, c in made]
                )
            )
    for i, d in enumerate(scan_dirs):
        scan = read_scan(d / "scan.csv")
        page = plots.save_figure(
            plots.plot_scan(scan), figures / f"scan{i}_metrics.png"
        )
        fig = Figure(figsize=(6.4, 4.8), layout="constrained")
        plots.plot_tradeoff(scan, ax=fig.subplots())
        trade = plots.save_figure(fig, figures / f"scan{i}_tradeoff.png")
        sections.append(
            report.Section(
                f"Scan {d}",
                figures=[
                    report.FigureEntry(page, CAPTIONS["scan_metrics"]),
                    report.FigureEntry(trade, CAPTIONS["scan_tradeoff"]),
                ],
            )
        )
    config = {"runs": [str(d) for d in run_dirs], "scans": [str(d) for d in scan_dirs]}
    return report.build_html_report(
        out_dir / "report.html",
        title=title,
        sections=sections,
        config=config,
        runtime_s=time.monotonic() - started,
    )

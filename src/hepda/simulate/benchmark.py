"""The open benchmark end to end: samples, features, S1 and S2, one plot.

Layout of an output directory (``ext`` is ``parquet`` or ``root``)::

    objects/ttH.ext, objects/ttbar_s1.ext, objects/ttbar_s2.ext
    features/ttH.ext, features/ttbar_s1.ext, features/ttbar_s2.ext
    s1.ext   first half of ttH + background setup 1
    s2.ext   second half of ttH + background setup 2
    input_variables.pdf
    simulate.json   configuration, versions, per-sample statistics
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from hepda._atomic import atomic_directory, write_text
from hepda.errors import ConfigError, MissingDependencyError
from hepda.features.names import TTH41
from hepda.simulate.cache import cache_root, load_sample, store_sample, versions
from hepda.simulate.config import SampleSpec, SimulationConfig, stable_hash
from hepda.simulate.runner import run_samples
from hepda.simulate.tables import SampleStats, assemble

log = logging.getLogger(__name__)

Format = Literal["parquet", "root"]
SUMMARY_FILE = "simulate.json"
PLOT_FILE = "input_variables.pdf"
#: Variables whose generator dependence is summarised in simulate.json.
KEY_VARIABLES = ("nJets_Pt40", "HT_jets")


@dataclass(frozen=True)
class BenchmarkPaths:
    """Where the benchmark files are (feature tables S1 and S2 first)."""

    root: Path
    s1: Path
    s2: Path
    objects: dict[str, Path]
    features: dict[str, Path]
    variables_plot: Path | None
    summary: Path

    def moved(self, old: Path, new: Path) -> BenchmarkPaths:
        """The same files after the directory ``old`` was renamed ``new``."""

        def move(path: Path) -> Path:
            return new / path.relative_to(old)

        return BenchmarkPaths(
            root=move(self.root),
            s1=move(self.s1),
            s2=move(self.s2),
            objects={k: move(v) for k, v in self.objects.items()},
            features={k: move(v) for k, v in self.features.items()},
            variables_plot=None
            if self.variables_plot is None
            else move(self.variables_plot),
            summary=move(self.summary),
        )


def _layout(root: Path, config: SimulationConfig, fmt: Format) -> BenchmarkPaths:
    names = [s.name for s in config.samples()]
    return BenchmarkPaths(
        root=root,
        s1=root / f"s1.{fmt}",
        s2=root / f"s2.{fmt}",
        objects={n: root / "objects" / f"{n}.{fmt}" for n in names},
        features={n: root / "features" / f"{n}.{fmt}" for n in names},
        variables_plot=root / PLOT_FILE,
        summary=root / SUMMARY_FILE,
    )


def generate_samples(
    config: SimulationConfig,
    *,
    workers: int = 1,
    scheduler: Any = None,
    progress: bool = True,
    cache: bool = True,
) -> dict[str, tuple[pa.Table, SampleStats]]:
    """Object tables of all samples of ``config``, from the cache when there."""
    specs = config.samples()
    out: dict[str, tuple[pa.Table, SampleStats]] = {}
    missing: list[SampleSpec] = []
    for spec in specs:
        hit = load_sample(spec) if cache else None
        if hit is None:
            missing.append(spec)
        else:
            out[spec.name] = hit
    if missing:
        log.info(
            "generating %s (%s level, b-tag %s, %d events each, ttH %d)",
            ", ".join(s.name for s in missing), config.level, config.btag,
            config.n_events, 2 * config.n_events,
        )  # fmt: skip
        chunks = run_samples(
            missing, workers=workers, scheduler=scheduler, progress=progress
        )
        for spec in missing:
            table, stats = assemble(spec, chunks[spec.name])
            log.info(
                "%s: %d selected of %d generated, sigma %.4g fb, selected %.4g fb, "
                "%.0f s in chunks (Pythia %.0f s), %.0f s CPU",
                spec.name, stats.n_selected, stats.n_generated, stats.sigma_fb,
                stats.selected_fb, stats.total_seconds, stats.pythia_seconds,
                stats.cpu_seconds,
            )  # fmt: skip
            if cache:
                store_sample(spec, table, stats)
            out[spec.name] = (table, stats)
    return {s.name: out[s.name] for s in specs}


def build_benchmark(
    out_dir: Path | None,
    config: SimulationConfig,
    *,
    workers: int = 1,
    scheduler: Any = None,
    fmt: Format = "parquet",
    progress: bool = True,
    cache: bool = True,
    plot: bool = True,
) -> BenchmarkPaths:
    """Make the open ttH(bb) benchmark and return where its files are.

    Args:
        out_dir: directory to write (created; existing files of the same
            names are replaced). None keeps the benchmark in the cache only
            (``cache_root()/benchmarks/<key>``) and reuses it when present.
        config: what to generate.
        workers: local processes (one thread each) running chunks.
        scheduler: a Dask scheduler address, ``distributed.Client`` or
            cluster object; its workers run the chunks.
        fmt: ``"parquet"`` or ``"root"`` (TTrees) for every table.
        progress: show a progress bar on stderr (only on a terminal).
        cache: reuse and store generated samples in the cache.
        plot: draw the input-variable page (the slowest step for small
            samples).

    Returns:
        The paths of the S1 and S2 feature tables, the object and feature
        tables per sample, the input-variable plot (None when plotting is
        unavailable) and ``simulate.json``.
    """
    if fmt not in ("parquet", "root"):
        msg = f"format must be 'parquet' or 'root', got {fmt!r}"
        raise ConfigError(msg)
    if out_dir is None and not cache:
        msg = "out_dir=None keeps the benchmark in the cache; it needs cache=True"
        raise ConfigError(msg)

    # A benchmark already in the cache is returned as it is.
    if out_dir is None:
        key = stable_hash(
            {"config": dataclasses.asdict(config), "fmt": fmt, "v": versions()}
        )
        root = cache_root() / "benchmarks" / key[:24]
        paths = _layout(root, config, fmt)
        if paths.summary.is_file():
            log.info("benchmark found in the cache: %s", root)
            return _with_plot(paths)

    samples = generate_samples(
        config, workers=workers, scheduler=scheduler, progress=progress, cache=cache
    )
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        return _write_benchmark(_layout(out_dir, config, fmt), config, samples, plot)
    try:
        with atomic_directory(root) as tmp:
            _write_benchmark(_layout(tmp, config, fmt), config, samples, plot)
    except OSError:
        if not paths.summary.is_file():  # not a concurrent writer finishing first
            raise
    return _with_plot(paths)


def _with_plot(paths: BenchmarkPaths) -> BenchmarkPaths:
    if paths.variables_plot is not None and not paths.variables_plot.is_file():
        return dataclasses.replace(paths, variables_plot=None)
    return paths


def _write_benchmark(
    paths: BenchmarkPaths,
    config: SimulationConfig,
    samples: Mapping[str, tuple[pa.Table, SampleStats]],
    plot: bool,
) -> BenchmarkPaths:
    from hepda.data.io import write_table
    from hepda.features import compute_features

    # Object and feature tables per sample.
    features: dict[str, pa.Table] = {}
    for name, (objects, _) in samples.items():
        write_table(objects, paths.objects[name])
        features[name] = compute_features(objects)
        write_table(features[name], paths.features[name])

    # S1 and S2: disjoint halves of the signal, each weighted up to the full
    # signal cross section, plus one background setup each.
    signal = features["ttH"]
    half = config.n_events
    halves = (signal.slice(0, half), signal.slice(half, half))
    backgrounds = [f"ttbar_{name}" for name in config.setups]
    for path, sig, bkg in zip((paths.s1, paths.s2), halves, backgrounds, strict=True):
        weight = pc.multiply(sig.column("weight"), 2.0)
        sig = sig.set_column(sig.schema.get_field_index("weight"), "weight", weight)
        write_table(pa.concat_tables([sig, features[bkg]]), path)

    drawn = _plot(paths, config, features) if plot else None
    summary = _summary(config, samples, features)
    write_text(paths.summary, json.dumps(summary, indent=2, default=str) + "\n")
    return dataclasses.replace(paths, variables_plot=drawn)


def _columns(table: pa.Table) -> dict[str, npt.NDArray[Any]]:
    return {
        name: table.column(name).to_numpy()
        for name in TTH41
        if name in table.column_names
    }


def _plot(
    paths: BenchmarkPaths, config: SimulationConfig, features: Mapping[str, pa.Table]
) -> Path | None:
    """The one-page input-variable plot, or None (with a warning) without plots."""
    try:
        from hepda.plots import plot_input_variables
    except ImportError as exc:
        log.warning("no input-variable plot: hepda.plots is unavailable (%s)", exc)
        return None
    from hepda.simulate.setups import get_setup

    samples: dict[str, tuple[dict[str, npt.NDArray[Any]], npt.NDArray[np.float64]]] = {}
    samples["ttH(bb) signal"] = (
        _columns(features["ttH"]), features["ttH"].column("weight").to_numpy()
    )  # fmt: skip
    for label, name in zip(("S1", "S2"), config.setups, strict=True):
        table = features[f"ttbar_{name}"]
        title = f"tt+jets {label} ({get_setup(name).label})"
        samples[title] = (_columns(table), table.column("weight").to_numpy())
    try:
        plot_input_variables(samples, list(TTH41), paths.variables_plot)
    except MissingDependencyError as exc:
        log.warning("no input-variable plot: %s", exc)
        return None
    return paths.variables_plot


def weighted_ks(
    x1: npt.ArrayLike, w1: npt.ArrayLike, x2: npt.ArrayLike, w2: npt.ArrayLike
) -> float:
    """Kolmogorov-Smirnov distance sup |F1 - F2| of two weighted samples.

    F are the weighted empirical distribution functions; with unit weights
    this is scipy.stats.ks_2samp's statistic.

    >>> round(weighted_ks([1, 2, 3], [1, 1, 1], [2, 3, 4], [1, 1, 1]), 6)
    0.333333
    """
    a, b = np.asarray(x1, float), np.asarray(x2, float)
    wa, wb = np.asarray(w1, float), np.asarray(w2, float)
    grid = np.union1d(a, b)

    def cdf(
        x: npt.NDArray[np.float64], w: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        order = np.argsort(x, kind="stable")
        cum = np.concatenate([[0.0], np.cumsum(w[order])]) / w.sum()
        out: npt.NDArray[np.float64] = cum[
            np.searchsorted(x[order], grid, side="right")
        ]
        return out

    return float(np.max(np.abs(cdf(a, wa) - cdf(b, wb))))


def generator_difference(
    features: Mapping[str, pa.Table], setups: tuple[str, str]
) -> dict[str, Any]:
    """Weighted means of the key variables, and KS distances between samples."""
    names = {"ttH": "ttH", "S1": f"ttbar_{setups[0]}", "S2": f"ttbar_{setups[1]}"}
    out: dict[str, Any] = {"mean": {}, "ks": {}}
    for var in KEY_VARIABLES:
        data = {
            k: (
                features[n].column(var).to_numpy(),
                features[n].column("weight").to_numpy(),
            )
            for k, n in names.items()
        }
        out["mean"][var] = {
            k: float(np.average(x, weights=w)) for k, (x, w) in data.items()
        }
        out["ks"][var] = {
            "S1 vs S2": weighted_ks(*data["S1"], *data["S2"]),
            "ttH vs S1": weighted_ks(*data["ttH"], *data["S1"]),
            "ttH vs S2": weighted_ks(*data["ttH"], *data["S2"]),
        }
    return out


def _summary(
    config: SimulationConfig,
    samples: Mapping[str, tuple[pa.Table, SampleStats]],
    features: Mapping[str, pa.Table],
) -> dict[str, Any]:
    difference = generator_difference(features, config.setups)
    for var in KEY_VARIABLES:
        log.info(
            "%s: mean ttH %.3g, S1 %.3g, S2 %.3g; KS S1-S2 %.3f, ttH-S1 %.3f",
            var, *difference["mean"][var].values(),
            difference["ks"][var]["S1 vs S2"], difference["ks"][var]["ttH vs S1"],
        )  # fmt: skip
    return {
        "config": dataclasses.asdict(config),
        "versions": versions(),
        "samples": {
            name: dataclasses.asdict(stats) for name, (_, stats) in samples.items()
        },
        "generator_difference": difference,
    }

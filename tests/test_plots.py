"""Plots: each function draws the numbers it is given, and figures save atomically."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.axes import Axes
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.image import imread
from matplotlib.patches import StepPatch
from sklearn.metrics import roc_auc_score

from hepda import plots
from hepda.errors import ConfigError, DataError, MissingDependencyError
from hepda.features.names import TTH41
from hepda.metrics import ks_2samp_weighted, roc_curve


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


def _steps(ax: Axes) -> dict[str, StepPatch]:
    return {p.get_label(): p for p in ax.patches if isinstance(p, StepPatch)}


def _density(values: np.ndarray, weights: np.ndarray, edges: np.ndarray) -> np.ndarray:
    heights, _ = np.histogram(values, edges, weights=weights, density=True)
    return heights


def _trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Independent reference for hepda.metrics.smooth: a loop over the epochs."""
    return np.array(
        [values[max(0, i - window + 1) : i + 1].mean() for i in range(values.size)]
    )


class TestResponse:
    def test_heights_are_the_normalised_weighted_histograms(self, rng):
        sig, bkg1, bkg2 = rng.beta(5, 2, 400), rng.beta(2, 5, 500), rng.beta(2, 4, 300)
        w_sig, w_b1 = rng.uniform(0.5, 1.5, 400), rng.uniform(0.1, 2.0, 500)
        ax = plots.plot_response(sig, w_sig, bkg1, w_b1, bkg2, None, title="lambda 1.2")

        assert isinstance(ax, Axes)
        edges = np.linspace(0.0, 1.0, 41)
        steps = _steps(ax)
        expected = {
            "ttH signal": _density(sig, w_sig, edges),
            "tt+jets S1": _density(bkg1, w_b1, edges),
            "tt+jets S2": _density(bkg2, np.ones(300), edges),
        }
        for label, heights in expected.items():
            values, drawn_edges, _ = steps[label].get_data()
            np.testing.assert_allclose(drawn_edges, edges)
            np.testing.assert_allclose(values, heights, rtol=1e-12)
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert legend == ["ttH signal", "tt+jets S1", "tt+jets S2"]
        assert steps["tt+jets S2"].get_fill()
        assert not steps["tt+jets S1"].get_fill()
        assert ax.get_title() == "lambda 1.2"

    def test_legend_gives_the_ks_distance_of_the_backgrounds(self, rng):
        bkg1, bkg2 = rng.beta(2, 5, 300), rng.beta(2, 3, 300)
        ax = plots.plot_response(rng.beta(5, 2, 100), None, bkg1, None, bkg2, None)
        d, _ = ks_2samp_weighted(bkg1, bkg2)
        assert f"D = {d:.3f}" in ax.get_legend().get_title().get_text()

    def test_draws_on_the_given_axes(self, rng):
        fig = Figure()
        ax = fig.add_subplot()
        scores = rng.uniform(size=50)
        out = plots.plot_response(
            scores, None, scores, None, scores, None, bins=10, ax=ax
        )
        assert out is ax
        assert len(_steps(ax)["ttH signal"].get_data().values) == 10

    def test_weights_of_the_wrong_length_are_refused(self, rng):
        scores = rng.uniform(size=20)
        with pytest.raises(DataError, match="have 3 entries but the values have 20"):
            plots.plot_response(scores, np.ones(3), scores, None, scores, None)


class TestRoc:
    def test_lines_are_the_metrics_roc_curve_and_the_legend_the_auc(self, rng):
        label = np.r_[np.ones(200), np.zeros(300)]
        score_a = np.r_[rng.normal(1, 1, 200), rng.normal(0, 1, 300)]
        score_b = np.r_[rng.normal(0.5, 1, 200), rng.normal(0, 1, 300)]
        weight = rng.uniform(0.5, 2.0, 500)
        curves = {
            "baseline S1": (label, score_a, weight),
            "DANN S1": (label, score_b, None),
        }
        ax = plots.plot_roc(curves)

        lines = [
            line for line in ax.get_lines() if not line.get_label().startswith("_")
        ]
        assert len(lines) == 2
        for line, (name, (y, s, w)) in zip(lines, curves.items(), strict=True):
            fpr, tpr, _ = roc_curve(y, s, w)
            np.testing.assert_allclose(line.get_xdata(), fpr)
            np.testing.assert_allclose(line.get_ydata(), tpr)
            auc = roc_auc_score(y, s, sample_weight=w)
            assert line.get_label() == f"{name} (AUC = {auc:.3f})"
        assert lines[0].get_linestyle() != lines[1].get_linestyle()
        assert "false positive rate" in ax.get_xlabel()
        assert "true positive rate" in ax.get_ylabel()

    def test_rejection_view_draws_one_minus_fpr_against_tpr(self, rng):
        label = np.r_[np.ones(50), np.zeros(50)]
        score = np.r_[rng.normal(1, 1, 50), rng.normal(0, 1, 50)]
        ax = plots.plot_roc({"net": (label, score, None)}, kind="rejection")
        fpr, tpr, _ = roc_curve(label, score)
        np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), tpr)
        np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), 1.0 - fpr)
        assert "rejection" in ax.get_ylabel()

    def test_unknown_kind_is_refused(self):
        kind: Any = "purity"
        with pytest.raises(
            ConfigError, match="kind must be 'efficiency' or 'rejection'"
        ):
            plots.plot_roc({"x": ([0, 1], [0.1, 0.9], None)}, kind=kind)


class TestEpochCurves:
    def test_significance_curves_are_smoothed_with_the_window(self, rng):
        z1, z2 = rng.normal(2, 1, 30), rng.normal(1, 1, 30)
        ax = plots.plot_significance_curves({"Adadelta": z1, "SGD": z2}, window=4)
        lines = ax.get_lines()
        assert [line.get_label() for line in lines] == ["Adadelta", "SGD"]
        np.testing.assert_array_equal(lines[0].get_xdata(), np.arange(1, 31))
        np.testing.assert_allclose(lines[0].get_ydata(), _trailing_mean(z1, 4))
        np.testing.assert_allclose(lines[1].get_ydata(), _trailing_mean(z2, 4))
        assert "4-epoch" in ax.get_ylabel()

    def test_window_one_draws_the_raw_values(self, rng):
        z = rng.normal(size=12)
        ax = plots.plot_significance_curves({"run": z}, window=1)
        np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), z)

    def test_training_curves_put_losses_left_and_significance_right(self, rng):
        n = 25
        history = {
            "epoch": np.arange(n),
            "loss_label_s1": rng.uniform(0.5, 0.7, n),
            "loss_label_s2": rng.uniform(0.5, 0.7, n),
            "loss_domain": rng.uniform(0.6, 0.7, n),
            "significance": rng.uniform(0, 5, n),
        }
        ax = plots.plot_training_curves(history, window=5, title="45,30,25")
        left = ax.get_lines()
        assert len(left) == 3
        for line, name in zip(
            left, ("loss_label_s1", "loss_label_s2", "loss_domain"), strict=True
        ):
            np.testing.assert_array_equal(line.get_xdata(), history["epoch"])
            np.testing.assert_allclose(
                line.get_ydata(), _trailing_mean(history[name], 5)
            )
        (right,) = [a for a in ax.figure.axes if a is not ax]
        np.testing.assert_allclose(
            right.get_lines()[0].get_ydata(), _trailing_mean(history["significance"], 5)
        )
        assert len(ax.get_legend().get_texts()) == 4

    def test_training_curves_need_a_known_column(self):
        with pytest.raises(DataError, match="history has none of the columns"):
            plots.plot_training_curves({"loss": np.ones(3)})

    def test_bad_window_is_refused(self):
        with pytest.raises(ConfigError, match="window must be a positive"):
            plots.plot_significance_curves({"run": np.ones(3)}, window=0)


def _samples(rng, n, variables):
    def table(shift):
        return {
            v: (
                rng.poisson(4 + shift, n).astype(float)
                if v.startswith("n")
                else rng.gamma(2 + shift, 30, n)
            )
            for v in variables
        }

    return {
        "ttH signal": (table(1.0), None),
        "tt+jets S1": (table(0.0), rng.uniform(0.5, 1.5, n)),
        "tt+jets S2": (table(0.3), None),
    }


class TestInputVariables:
    def test_panels_hold_the_normalised_histograms_and_the_s2_over_s1_ratio(self, rng):
        variables = ["nJets", "HT_jets"]
        samples = _samples(rng, 300, variables)
        fig = plots.plot_input_variables(samples, variables, bins=20)

        assert isinstance(fig, Figure)
        assert len(fig.axes) == 4  # a main and a ratio panel per variable
        main, low = fig.axes[2], fig.axes[3]
        assert low.get_xlabel() == "HT_jets"
        steps = _steps(main)
        (_, edges, _) = steps["ttH signal"].get_data()
        assert edges.size == 21
        heights = {}
        for label, (table, w) in samples.items():
            weights = np.ones(300) if w is None else w
            clipped = np.clip(table["HT_jets"], edges[0], edges[-1])
            heights[label] = _density(clipped, weights, edges)
            np.testing.assert_allclose(steps[label].get_data().values, heights[label])
        s1, s2 = heights["tt+jets S1"], heights["tt+jets S2"]
        expected = np.full_like(s1, np.nan)
        filled = (s1 > 0) & (s2 > 0)  # empty bins have no ratio point
        expected[filled] = s2[filled] / s1[filled]
        np.testing.assert_allclose(low.get_lines()[0].get_ydata(), expected)

    def test_integer_variables_get_one_bin_per_value(self, rng):
        samples = _samples(rng, 200, ["nJets"])
        fig = plots.plot_input_variables(samples, ["nJets"])
        _, edges, _ = _steps(fig.axes[0])["ttH signal"].get_data()
        np.testing.assert_allclose(np.diff(edges), 1.0)
        assert edges[0] % 1 == 0.5

    def test_unknown_variable_names_the_nearest_one(self, rng):
        samples = _samples(rng, 20, ["HT_jets"])
        with pytest.raises(DataError, match="did you mean 'HT_jets'"):
            plots.plot_input_variables(samples, ["HT_jet"])

    @pytest.mark.slow
    def test_all_41_variables_fit_on_one_saved_page(self, rng, tmp_path):
        samples = _samples(rng, 150, TTH41)
        fig = plots.plot_input_variables(samples, TTH41, tmp_path / "inputs.png")
        assert len(fig.axes) == 2 * 41
        image = imread(tmp_path / "inputs.png")
        width, height = fig.get_size_inches() * 100
        assert image.shape == (round(height), round(width), 4)
        assert image.shape[1] <= 2400  # one screen-ish page wide at 100 dpi


def _scan_table(rng):
    rows = []
    for hidden in ("45,30,25", "35,30,15"):
        for lam in (0.0, 1.0, 2.0):
            for seed in range(3):
                diverged = lam == 2.0 and seed == 0
                rows.append(
                    {
                        "hidden": hidden,
                        "disc_mode": "background",
                        "lambda": lam,
                        "seed": seed,
                        "auc_s1": 0.75 - 0.01 * lam + rng.normal(0, 0.01),
                        "auc_s2": 0.65 + 0.03 * lam + rng.normal(0, 0.01),
                        "bias_ks": np.nan
                        if diverged
                        else 0.2 - 0.05 * lam + rng.normal(0, 0.01),
                        "diverged": diverged,
                    }
                )
    return {key: np.array([row[key] for row in rows]) for key in rows[0]}


class TestScan:
    def test_lines_are_means_and_bands_min_max_without_diverged_rows(self, rng):
        scan = _scan_table(rng)
        fig = plots.plot_scan(scan, metrics=("auc_s1", "bias_ks"))
        assert isinstance(fig, Figure)
        assert "min to max" in fig.get_suptitle()
        ax = fig.axes[0]
        group = "45,30,25 / background"
        (line,) = [ln for ln in ax.get_lines() if ln.get_label() == group]
        rows = (scan["hidden"] == "45,30,25") & ~scan["diverged"]
        for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True):
            at = rows & (scan["lambda"] == x)
            assert y == pytest.approx(scan["auc_s1"][at].mean())
        bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
        # groups are drawn in sorted order: "35,30,15 ..." first, then this one
        band_y = bands[1].get_paths()[0].vertices[:, 1]
        at_two = rows & (scan["lambda"] == 2.0)
        assert at_two.sum() == 2  # the diverged seed is not in the band
        assert band_y.max() == pytest.approx(scan["auc_s1"][rows].max())
        assert band_y.min() == pytest.approx(scan["auc_s1"][rows].min())

    def test_diverged_rows_are_crosses(self, rng):
        scan = _scan_table(rng)
        fig = plots.plot_scan(scan, metrics=("auc_s1", "bias_ks"))
        crosses = [ln for ln in fig.axes[0].get_lines() if ln.get_marker() == "x"]
        assert sorted(np.concatenate([c.get_xdata() for c in crosses])) == [2.0, 2.0]
        # bias_ks of diverged rows is NaN: the cross sits on the bottom edge
        edge = [ln for ln in fig.axes[1].get_lines() if ln.get_marker() == "x"]
        assert all(np.all(ln.get_ydata() == 0.04) for ln in edge)

    def test_std_band_is_mean_plus_minus_std(self, rng):
        x = np.array([0.0, 0.0, 0.0, 1.0, 1.0])
        y = np.array([1.0, 2.0, 6.0, 4.0, 4.0])
        ux, mean, lo, hi = plots.scan.band_over_repeats(x, y, "std")
        np.testing.assert_allclose(ux, [0.0, 1.0])
        np.testing.assert_allclose(mean, [3.0, 4.0])
        np.testing.assert_allclose(hi - mean, [np.std([1, 2, 6]), 0.0])
        np.testing.assert_allclose(mean - lo, hi - mean)
        fig = plots.plot_scan(_scan_table(rng), metrics=("auc_s2",), band="std")
        assert "std" in fig.get_suptitle()

    def test_missing_columns_are_reported(self, rng):
        scan = _scan_table(rng)
        with pytest.raises(DataError, match="has no column 'lam'"):
            plots.plot_scan(scan, x="lam")
        with pytest.raises(DataError, match="none of the metrics"):
            plots.plot_scan(scan, metrics=("auc_s3",))

    def test_tradeoff_points_are_the_rows_coloured_by_lambda(self, rng):
        scan = _scan_table(rng)
        scan["bias_ks"] = np.where(scan["diverged"], 0.5, scan["bias_ks"])
        ax = plots.plot_tradeoff(scan)
        points = next(c for c in ax.collections if isinstance(c, PathCollection))
        good = ~scan["diverged"]
        np.testing.assert_allclose(
            points.get_offsets(),
            np.column_stack([scan["bias_ks"], scan["auc_s1"]])[good],
        )
        np.testing.assert_allclose(points.get_array(), scan["lambda"][good])


class TestOvertrainingAndCorrelation:
    def test_overtraining_legend_has_ks_p_values_per_class(self, rng):
        y_tr, y_va = rng.integers(0, 2, 400), rng.integers(0, 2, 200)
        s_tr = np.clip(rng.normal(0.3 + 0.4 * y_tr, 0.15), 0, 1)
        s_va = np.clip(rng.normal(0.3 + 0.4 * y_va, 0.15), 0, 1)
        w_tr = rng.uniform(0.5, 1.5, 400)
        ax = plots.plot_overtraining(s_tr, w_tr, y_tr, s_va, None, y_va, bins=20)
        texts = [t.get_text() for t in ax.get_legend().get_texts()]
        for cls, name in ((1, "Signal"), (0, "Background")):
            _, p = ks_2samp_weighted(
                s_tr[y_tr == cls], s_va[y_va == cls], w_tr[y_tr == cls]
            )
            assert f"{name} (validation), KS p = {p:.3f}" in texts
        train = _steps(ax)["Signal (training)"].get_data().values
        np.testing.assert_allclose(
            train, _density(s_tr[y_tr == 1], w_tr[y_tr == 1], np.linspace(0, 1, 21))
        )

    def test_correlation_image_is_the_weighted_correlation(self, rng):
        x = rng.normal(size=(300, 3))
        x[:, 1] += 0.8 * x[:, 0]
        w = rng.uniform(0.2, 3.0, 300)
        ax = plots.plot_correlation(x, ["a", "b", "c"], weight=w, title="S1")
        cov = np.cov(x, rowvar=False, aweights=w)
        expected = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
        np.testing.assert_allclose(ax.get_images()[0].get_array(), 100 * expected)
        assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]

    def test_correlation_from_a_column_table(self, rng):
        table = {"a": rng.normal(size=50), "b": rng.normal(size=50)}
        ax = plots.plot_correlation(table, ["b", "a"])
        expected = np.corrcoef(table["b"], table["a"])
        np.testing.assert_allclose(ax.get_images()[0].get_array(), 100 * expected)
        with pytest.raises(DataError, match=r"shape \(events, 3\)"):
            plots.plot_correlation(np.ones((5, 2)), ["a", "b", "c"])


class TestSaveFigure:
    def _figure(self) -> Figure:
        ax = plots.plot_significance_curves({"run": np.arange(5.0)}, window=2)
        return ax.figure

    def test_png_reads_back_with_the_figure_size(self, tmp_path):
        fig = self._figure()
        out = plots.save_figure(fig, tmp_path / "sub" / "z.png")
        assert out == tmp_path / "sub" / "z.png"
        image = imread(out)
        width, height = fig.get_size_inches() * 100
        assert image.shape == (round(height), round(width), 4)
        assert [p.name for p in out.parent.iterdir()] == ["z.png"]

    def test_pdf_also_writes_a_png_beside_it(self, tmp_path):
        out = plots.save_figure(self._figure(), tmp_path / "z.pdf")
        assert out.read_bytes().startswith(b"%PDF")
        assert (tmp_path / "z.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

    def test_unknown_suffix_is_refused(self, tmp_path):
        with pytest.raises(ConfigError, match=r"suffix '\.jpeg'"):
            plots.save_figure(self._figure(), tmp_path / "z.jpeg")

    def test_a_failed_save_leaves_the_old_file_and_no_temporary(
        self, tmp_path, monkeypatch
    ):
        target = tmp_path / "z.png"
        target.write_bytes(b"old")
        fig = self._figure()

        def broken(fname, **kwargs):
            Path(fname).write_bytes(b"\x89PNG half")
            raise OSError("disk full")

        monkeypatch.setattr(fig, "savefig", broken)
        with pytest.raises(OSError, match="disk full"):
            plots.save_figure(fig, target)
        assert target.read_bytes() == b"old"
        assert [p.name for p in tmp_path.iterdir()] == ["z.png"]


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'hepda\[plots\]'"):
        plots.plot_significance_curves({"run": np.ones(3)})

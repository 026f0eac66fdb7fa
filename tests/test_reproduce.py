"""``hepda reproduce`` and ``hepda report`` end to end, at a tiny scale."""

from __future__ import annotations

import csv
import html.parser
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hepda.cli import main
from hepda.reproduce import STUDY_RUNS, ScaleSettings, reproduce

pytestmark = pytest.mark.slow

TINY = ScaleSettings(
    n_events=300, epochs=2, scan_lambdas="0:2:3", scan_seeds=(0,), batch_size=200
)


class _Images(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.sources.append(dict(attrs).get("src") or "")


@pytest.fixture(scope="module")
def study(
    toy_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The whole study on the toy tables (the simulation has its own tests)."""
    out = tmp_path_factory.mktemp("study")
    reproduce(
        out,
        settings=TINY,
        workers=2,
        progress=False,
        source=[str(toy_files[0])],
        target=[str(toy_files[1])],
        features=None,
    )
    return out


def test_table1_has_the_paper_settings_beside_the_paper(study: Path) -> None:
    with (study / "table1.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    settings = {(r["hidden"], round(float(r["lambda"]), 2)) for r in rows}
    expected = {
        (",".join(map(str, s.hidden)), round(s.lambda_, 2))
        for s in STUDY_RUNS
        if s.table1
    }
    assert settings == expected
    paper = {(r["hidden"], round(float(r["lambda"]), 2)): r for r in rows}
    assert float(paper[("45,30,25", 2.0)]["paper_significance"]) == pytest.approx(11.99)
    # our numbers are the runs' own metrics
    metrics = json.loads(
        (study / "runs" / "w453025_l2.00" / "metrics.json").read_text()
    )
    assert float(paper[("45,30,25", 2.0)]["auc"]) == pytest.approx(
        metrics["auc_s2"], rel=1e-6
    )
    assert (study / "table1.md").read_text().count("\n") >= 8
    assert "\\begin{tabular}" in (study / "table1.tex").read_text()


def test_every_run_scan_and_figure_exists(study: Path) -> None:
    for spec in STUDY_RUNS:
        assert (study / "runs" / spec.name / "metrics.json").is_file()
    with (study / "scan" / "scan.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == 3 * 2  # 3 lambdas x 2 modes
    names = {p.stem for p in (study / "figures").glob("*.png")}
    for fig in (
        "fig4_5_inputs",
        "fig6_response",
        "fig7_response",
        "fig8_response",
        "fig9_roc",
        "fig10_significance",
        "fig11_training",
        "scan_metrics",
    ):
        assert fig in names


def test_report_is_self_contained(study: Path) -> None:
    text = (study / "report.html").read_text()
    parser = _Images()
    parser.feed(text)
    assert len(parser.sources) >= 10
    assert all(src.startswith("data:image/png;base64,") for src in parser.sources)
    assert "http://" not in text and "https://" not in text
    assert "s1.parquet" in text  # the data section names the user's samples
    for caption in ("Fig. 6", "Fig. 9", "Fig. 10", "Fig. 11", "Lambda scan"):
        assert caption in text


def test_report_command_on_the_study_runs(study: Path, tmp_path: Path) -> None:
    runs = [str(study / "runs" / n) for n in ("w453025_l0", "w453025_l1.2")]
    out = tmp_path / "rep"
    result = CliRunner().invoke(
        main, ["report", *runs, "--scan", str(study / "scan"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    with (out / "table1.csv").open() as fh:
        assert [r["lambda"] for r in csv.DictReader(fh)] == ["0.0", "1.2"]
    assert (out / "figures" / "w453025_l1.2_response.png").is_file()

    bad = CliRunner().invoke(
        main, ["report", str(tmp_path), "--out", str(tmp_path / "r2")]
    )
    assert bad.exit_code == 2 and "not a finished hepda train run" in bad.output


def test_reproduce_needs_both_samples(
    toy_files: tuple[Path, Path], tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        main, ["reproduce", "--source", str(toy_files[0]), "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 2 and "--target" in result.output
    assert not (tmp_path / "r").exists()


def test_bad_samples_are_found_before_any_output(
    toy_files: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "r"
    result = CliRunner().invoke(
        main,
        ["reproduce", "--source", str(toy_files[0]),
         "--target", str(tmp_path / "no.parquet"), "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 2 and "no.parquet" in result.output
    assert not out.exists()

"""Report: Table 1 files read back by second readers, and the HTML report parsed."""

from __future__ import annotations

import base64
import csv
import platform
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from hepda import report
from hepda.errors import DataError, InputFileError

if sys.version_info >= (3, 11):
    import tomllib
else:  # a dependency of hepda on Python 3.10
    import tomli as tomllib

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

ROWS = [
    {
        "hidden": "45,30,25",
        "lambda": 2.0,
        "disc_mode": "background",
        "accuracy": 0.6412,
        "auc": 0.7234,
        "significance": 9.1,
        "auc_s1": 0.75,
        "significance_asimov": 3.2,
        "bias_ks": 0.08,
    },
    {   # widths as a tuple, lambda that rounds to the paper's 1.30
        "hidden": (35, 30, 15),
        "lambda": np.float32(1.2999),
        "disc_mode": "all",
        "accuracy": 0.65,
        "auc": 0.71,
        "significance": 3.0,
    },
    {   # no paper row has lambda 1.2 for these widths; text needing escapes
        "hidden": "45, 30, 25",
        "lambda": 1.2,
        "disc_mode": "bkg_only & 50% #1 {x}",
        "accuracy": float("nan"),
        "auc": 0.70,
        "significance": None,
    },
]  # fmt: skip


def test_paper_table1_holds_the_papers_numbers():
    got = [
        (r["hidden"], r["lambda"], r["accuracy"], r["auc"], r["significance"])
        for r in report.PAPER_TABLE1
    ]
    assert got == [
        ("35,30,15", 0.00, 0.62, 0.67, 0.21),
        ("35,30,15", 1.30, 0.65, 0.73, 4.41),
        ("40,25,25", 0.00, 0.62, 0.67, 0.22),
        ("40,25,25", 1.24, 0.64, 0.73, 3.95),
        ("45,30,25", 0.00, 0.62, 0.67, 0.21),
        ("45,30,25", 2.00, 0.64, 0.72, 11.99),
    ]


class TestTable1Files:
    @pytest.fixture
    def paths(self, tmp_path):
        return report.write_table1(ROWS, tmp_path / "out")

    def test_all_three_files_and_no_temporaries(self, paths, tmp_path):
        assert set(paths) == {"md", "csv", "tex"}
        names = sorted(p.name for p in (tmp_path / "out").iterdir())
        assert names == ["table1.csv", "table1.md", "table1.tex"]

    def test_csv_reads_back_with_the_papers_values_where_they_match(self, paths):
        with paths["csv"].open(newline="") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == 3
        first, second, third = rows
        assert first["hidden"] == "45,30,25"
        assert float(first["lambda"]) == 2.0
        assert float(first["auc"]) == 0.7234  # full precision, not the 3 shown
        assert (first["paper_accuracy"], first["paper_auc"]) == ("0.64", "0.72")
        assert first["paper_significance"] == "11.99"
        assert second["hidden"] == "35,30,15"
        assert second["paper_significance"] == "4.41"
        assert second["auc_s1"] == ""
        assert third["disc_mode"] == "bkg_only & 50% #1 {x}"
        assert third["accuracy"] == ""  # NaN is a blank cell
        assert third["paper_auc"] == ""

    def test_markdown_pipe_table_parses(self, paths):
        lines = paths["md"].read_text().splitlines()
        cells = [
            [c.strip() for c in line.strip().strip("|").split("|")] for line in lines
        ]
        header, rule, *body = cells
        assert len(header) == len(report.TABLE1_COLUMNS)
        assert all(re.fullmatch(r"-{3}:?", c) for c in rule)
        assert len(body) == 3
        assert all(len(row) == len(header) for row in body)
        row = dict(zip(header, body[0], strict=True))
        assert row["λ"] == "2.00"
        assert row["AUC S2"] == "0.723"
        assert row["Paper AUC"] == "0.72"
        assert row["Paper significance"] == "11.99"
        assert dict(zip(header, body[2], strict=True))["Paper AUC"] == ""

    def test_latex_is_balanced_and_escaped(self, paths):
        text = paths["tex"].read_text()
        body = [line for line in text.splitlines() if not line.startswith("%")]
        unescaped = re.sub(r"\\[{}&%$#_]", "", "\n".join(body))
        assert unescaped.count("{") == unescaped.count("}")
        assert body[0].startswith(r"\begin{tabular}{") and body[-1] == r"\end{tabular}"
        rows = [line for line in body if line.endswith(r"\\")]
        assert len(rows) == 4  # header and three rows
        for line in rows:
            assert len(re.findall(r"(?<!\\)&", line)) == len(report.TABLE1_COLUMNS) - 1
        # outside math, every underscore and special character is escaped
        assert not re.search(r"(?<!\\)[_%#]", re.sub(r"\$[^$]*\$", "", "\n".join(body)))
        assert r"bkg\_only \& 50\% \#1 \{x\}" in text

    def test_rewriting_replaces_the_files(self, paths, tmp_path):
        report.write_table1(ROWS[:1], tmp_path / "out")
        assert len(paths["csv"].read_text().splitlines()) == 2


class TestHtmlPieces:
    def test_table_html_escapes_and_formats(self):
        html_text = report.table_html(
            [{"name": "<b>x</b>", "value": 0.123456, "n": None}], ["name", "value", "n"]
        )
        assert "&lt;b&gt;x&lt;/b&gt;" in html_text
        assert '<td class="num">0.1235</td>' in html_text
        assert "<td></td>" in html_text

    def test_config_toml_reads_back_as_toml(self):
        config = {
            "seed": 3,
            "name": 'run "a"',
            "out": Path("/tmp/x"),
            "train": {"lambda": 1.2, "hidden": (45, 30, 25), "adam": False},
            "scan": {"inner": {"lambdas": [0.0, 2.0]}},
        }
        parsed = tomllib.loads(report.config_toml(config))
        assert parsed == {
            "seed": 3,
            "name": 'run "a"',
            "out": "/tmp/x",
            "train": {"lambda": 1.2, "hidden": [45, 30, 25], "adam": False},
            "scan": {"inner": {"lambdas": [0.0, 2.0]}},
        }

    def test_config_none_is_a_comment(self):
        assert report.config_toml({"device": None}) == "# device: not set"


class _Collector(HTMLParser):
    """Second reader of the report: tags, attributes and text."""

    def __init__(self):
        super().__init__()
        self.images, self.urls, self.tags, self.text = [], [], [], []
        self._in = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        for key in ("src", "href"):
            if key in attrs:
                self.urls.append(attrs[key])

    def handle_data(self, data):
        self.text.append(data)


def _png(path: Path) -> Path:
    plots = pytest.importorskip("hepda.plots")
    ax = plots.plot_significance_curves({"run": np.arange(6.0)}, window=2)
    return plots.save_figure(ax.figure, path)


CAPTION = "Response of <script>alert('x')</script> & co."


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("report")
    first = _png(tmp_path / "a.png")
    second = _png(tmp_path / "b.pdf")  # the report embeds the PNG beside it
    sections = [
        report.Section(
            "Results & <checks>",
            text="First paragraph.\n\nSecond <i>one</i>.",
            figures=[report.FigureEntry(first, CAPTION)],
            tables_html=[report.table1_html(ROWS)],
        ),
        report.Section("More", figures=[report.Figure(second, "ROC curves.")]),
    ]
    path = report.build_html_report(
        tmp_path / "r" / "report.html",
        title="DANN <study>",
        sections=sections,
        config={"seed": 1, "train": {"lambda": 1.2}},
        runtime_s=3725.0,
        extra_versions={"cuda": "none"},
    )
    parser = _Collector()
    text = path.read_text(encoding="utf-8")
    parser.feed(text)
    return path, text, parser


class TestHtmlReport:
    def test_every_image_is_an_embedded_png(self, built):
        _, _, parser = built
        assert len(parser.images) == 2
        for img in parser.images:
            prefix = "data:image/png;base64,"
            assert img["src"].startswith(prefix)
            assert base64.b64decode(img["src"][len(prefix) :]).startswith(PNG_MAGIC)

    def test_nothing_is_fetched_from_outside(self, built):
        _, text, parser = built
        assert all(not u.startswith(("http:", "https:", "//")) for u in parser.urls)
        assert all(u.startswith(("data:", "#")) for u in parser.urls)
        assert "script" not in parser.tags
        assert "http://" not in text and "https://" not in text

    def test_title_captions_config_versions_and_runtime_are_there(self, built):
        _, text, parser = built
        words = " ".join(parser.text)
        assert "DANN <study>" in words
        assert CAPTION in words
        assert "ROC curves." in words
        assert "Results & <checks>" in words
        assert "&lt;script&gt;" in text and "<script>" not in text
        assert "Second <i>one</i>." in words  # text is shown, not interpreted
        assert "[train]" in words and "lambda = 1.2" in words
        assert platform.python_version() in words
        assert np.__version__ in words
        assert "cuda" in words
        assert "1:02:05" in words  # 3725 s
        assert "Paper significance" in words and "11.99" in words

    def test_missing_or_non_png_figures_are_refused(self, tmp_path):
        with pytest.raises(
            InputFileError, match=r"save it with hepda\.plots\.save_figure"
        ):
            report.build_html_report(
                tmp_path / "r.html",
                title="t",
                sections=[
                    report.Section(
                        "s", figures=[report.FigureEntry(tmp_path / "no.png", "c")]
                    )
                ],
                config={},
                runtime_s=1.0,
            )
        fake = tmp_path / "fake.png"
        fake.write_bytes(b"GIF89a....")
        with pytest.raises(DataError, match="is not a PNG file"):
            report.build_html_report(
                tmp_path / "r.html",
                title="t",
                sections=[report.Section("s", figures=[report.FigureEntry(fake, "c")])],
                config={},
                runtime_s=1.0,
            )
        assert not (tmp_path / "r.html").exists()

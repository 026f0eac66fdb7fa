"""Table 1 (Markdown, CSV, LaTeX) and a self-contained HTML report.

Table 1 puts our accuracy, AUC and significance beside the paper's
(``shared/seed/paper.txt``, Table 1) wherever the network widths and lambda
match a row of the paper. The HTML report is one file that opens anywhere:
figures are embedded as base64 PNG data URIs, the style sheet is inline,
and there are no scripts and no external links.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import datetime as _dt
import html
import io
import json
import logging
import math
import platform
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from numbers import Integral, Real
from pathlib import Path

from hepda._atomic import write_text
from hepda.errors import DataError, InputFileError

logger = logging.getLogger(__name__)

__all__ = [
    "PAPER_TABLE1",
    "TABLE1_COLUMNS",
    "Figure",
    "FigureEntry",
    "Section",
    "build_html_report",
    "config_toml",
    "table1_markdown",
    "table1_with_paper",
    "table_html",
    "write_table1",
]

# The paper's Table 1: hidden widths, lambda, then validation accuracy, ROC
# AUC and significance (paper Eq. 16, cut 0.6) on S2.
_PAPER_ROWS: tuple[tuple[str, float, float, float, float], ...] = (
    ("35,30,15", 0.00, 0.62, 0.67, 0.21),
    ("35,30,15", 1.30, 0.65, 0.73, 4.41),
    ("40,25,25", 0.00, 0.62, 0.67, 0.22),
    ("40,25,25", 1.24, 0.64, 0.73, 3.95),
    ("45,30,25", 0.00, 0.62, 0.67, 0.21),
    ("45,30,25", 2.00, 0.64, 0.72, 11.99),
)

#: The paper's Table 1 rows, keys ``hidden``, ``lambda``, ``accuracy``,
#: ``auc``, ``significance`` (accuracy, AUC and significance on S2).
PAPER_TABLE1: tuple[dict[str, object], ...] = tuple(
    {"hidden": h, "lambda": lam, "accuracy": acc, "auc": auc, "significance": z}
    for h, lam, acc, auc, z in _PAPER_ROWS
)

#: Table 1 columns in order: name, header, number format ("" for text).
TABLE1_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("hidden", "Hidden layers", ""),
    ("lambda", "λ", ".2f"),
    ("disc_mode", "Discriminator", ""),
    ("accuracy", "Accuracy S2", ".3f"),
    ("paper_accuracy", "Paper accuracy", ".2f"),
    ("auc", "AUC S2", ".3f"),
    ("paper_auc", "Paper AUC", ".2f"),
    ("significance", "Significance", ".2f"),
    ("paper_significance", "Paper significance", ".2f"),
    ("auc_s1", "AUC S1", ".3f"),
    ("significance_asimov", "Asimov Z_A", ".2f"),
    ("bias_ks", "Bkg. KS S1-S2", ".3f"),
)

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------- Table 1


def _hidden_key(value: object) -> str:
    """``"45, 30, 25"``, ``"[45,30,25]"`` or ``(45, 30, 25)`` -> ``"45,30,25"``."""
    if isinstance(value, str):
        return ",".join(re.findall(r"\d+", value))
    if isinstance(value, Sequence):
        return ",".join(str(int(v)) for v in value)
    return str(value)


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, Real) and math.isnan(float(value)))


def _plain(value: object) -> object:
    """NumPy scalars as Python numbers, so that formatting treats them alike."""
    if isinstance(value, Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, Real) and not isinstance(value, bool):
        return float(value)
    return value


def table1_with_paper(rows: Sequence[Mapping[str, object]]) -> list[dict[str, object]]:
    """Our Table 1 rows with the paper's values added where the setting matches.

    A row matches a paper row when the hidden widths are equal and lambda
    agrees to two decimals; the paper's accuracy, AUC and significance then
    go into ``paper_accuracy``, ``paper_auc`` and ``paper_significance``
    (None otherwise). Keys of :data:`TABLE1_COLUMNS` absent from a row are
    None.
    """
    paper = {(h, f"{lam:.2f}"): values for h, lam, *values in _PAPER_ROWS}
    out = []
    for row in rows:
        merged: dict[str, object] = {
            name: row.get(name) for name, _, _ in TABLE1_COLUMNS
        }
        hidden = _hidden_key(row.get("hidden", ""))
        merged["hidden"] = hidden
        lam = row.get("lambda")
        match = None
        if isinstance(lam, Real) and not _is_missing(lam):
            match = paper.get((hidden, f"{float(lam):.2f}"))
        for i, key in enumerate(("accuracy", "auc", "significance")):
            merged[f"paper_{key}"] = None if match is None else match[i]
        out.append(merged)
    return out


def _format(value: object, spec: str) -> str:
    """A table cell: blank when missing, numbers with ``spec``, text as is."""
    value = _plain(value)
    if _is_missing(value):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if spec and isinstance(value, int | float):
        return format(value, spec)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _formatted_rows(rows: Sequence[Mapping[str, object]]) -> list[list[str]]:
    return [
        [_format(row[name], spec) for name, _, spec in TABLE1_COLUMNS]
        for row in table1_with_paper(rows)
    ]


def table1_markdown(rows: Sequence[Mapping[str, object]]) -> str:
    """Table 1 as a Markdown pipe table, the paper's values beside ours."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    align = ["---" if not spec else "---:" for _, _, spec in TABLE1_COLUMNS]
    lines = [line([header for _, header, _ in TABLE1_COLUMNS]), line(align)]
    lines += [line(cells) for cells in _formatted_rows(rows)]
    return "\n".join(lines) + "\n"


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    """Escape the characters that LaTeX treats specially in running text."""
    return "".join(_LATEX_SPECIALS.get(c, c) for c in text)


def table1_latex(rows: Sequence[Mapping[str, object]]) -> str:
    """Table 1 as a plain LaTeX ``tabular`` (no packages needed)."""
    math_headers = {"lambda": r"$\lambda$", "significance_asimov": r"Asimov $Z_A$"}
    headers = [
        math_headers.get(name, latex_escape(header))
        for name, header, _ in TABLE1_COLUMNS
    ]
    spec = "".join("r" if fmt else "l" for _, _, fmt in TABLE1_COLUMNS)
    lines = [
        "% Table 1: our results beside the paper's (paper columns blank where",
        "% no paper row has the same hidden widths and lambda).",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\hline",
        " & ".join(headers) + r" \\",
        r"\hline",
    ]
    lines += [
        " & ".join(latex_escape(c) for c in cells) + r" \\"
        for cells in _formatted_rows(rows)
    ]
    lines += [r"\hline", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def _csv_cell(value: object) -> object:
    value = _plain(value)
    if _is_missing(value):
        return ""
    if isinstance(value, float):
        return repr(value)  # shortest string that reads back to the same float
    return value


def table1_csv(rows: Sequence[Mapping[str, object]]) -> str:
    """Table 1 as CSV with a header of column names and full-precision numbers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([name for name, _, _ in TABLE1_COLUMNS])
    for row in table1_with_paper(rows):
        writer.writerow([_csv_cell(row[name]) for name, _, _ in TABLE1_COLUMNS])
    return buffer.getvalue()


def write_table1(
    rows: Sequence[Mapping[str, object]], out_dir: str | Path
) -> dict[str, Path]:
    """Write Table 1 as ``table1.md``, ``table1.csv`` and ``table1.tex``.

    Args:
        rows: one mapping per trained setting with keys ``hidden`` (e.g.
            ``"45,30,25"``), ``lambda``, ``disc_mode``, ``accuracy`` and
            ``auc`` (on S2), ``significance``, ``auc_s1``,
            ``significance_asimov``, ``bias_ks``; a missing key is a blank
            cell.
        out_dir: directory to write into (created if needed).

    Returns:
        ``{"md": ..., "csv": ..., "tex": ...}``, the paths written. Each file
        is written atomically.
    """
    out = Path(out_dir)
    paths = {suffix: out / f"table1.{suffix}" for suffix in ("md", "csv", "tex")}
    write_text(paths["md"], table1_markdown(rows))
    write_text(paths["csv"], table1_csv(rows))
    write_text(paths["tex"], table1_latex(rows))
    logger.info("wrote Table 1 (%d rows) to %s", len(rows), out)
    return paths


# ------------------------------------------------------------------ HTML parts


def _is_number_text(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def table_html(
    rows: Sequence[Mapping[str, object]],
    columns: Sequence[str] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
) -> str:
    """Render rows as an HTML table; every cell and header is escaped.

    Args:
        rows: one mapping per row.
        columns: keys to show, in order; by default every key, in the order
            first seen.
        headers: display names for some columns (the key otherwise).

    Floats are written with four significant digits, missing values
    (None, NaN) as empty cells; numeric cells are right-aligned.
    """
    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    names = headers or {}
    head = "".join(f"<th>{html.escape(names.get(c, c))}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            text = _format(row.get(c), "")
            value = row.get(c)
            numeric = isinstance(value, Real) and not isinstance(value, bool)
            numeric = numeric or _is_number_text(text)
            css = ' class="num"' if numeric and text else ""
            cells.append(f"<td{css}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        "<table>\n<thead><tr>" + head + "</tr></thead>\n<tbody>\n"
        + "\n".join(body) + "\n</tbody>\n</table>"
    )  # fmt: skip


def table1_html(rows: Sequence[Mapping[str, object]]) -> str:
    """Table 1 as an HTML table, formatted as the Markdown one."""
    cells = _formatted_rows(rows)
    keys = [name for name, _, _ in TABLE1_COLUMNS]
    return table_html(
        [dict(zip(keys, row, strict=True)) for row in cells],
        keys,
        headers={name: header for name, header, _ in TABLE1_COLUMNS},
    )


def _toml_key(key: object) -> str:
    text = str(key)
    return text if re.fullmatch(r"[A-Za-z0-9_-]+", text) else json.dumps(text)


def _toml_value(value: object) -> str:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        value = value.tolist()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # TOML spells nan, inf and -inf as Python does
    if isinstance(value, Mapping):
        inner = ", ".join(
            f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()
        )
        return "{" + inner + "}"
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def config_toml(config: Mapping[str, object], _prefix: str = "") -> str:
    """Render a configuration as TOML-like text for reading, not for parsing back.

    Nested mappings (and dataclasses) become ``[section]`` tables; None,
    which TOML cannot hold, becomes a comment ``# key: not set``; paths and
    other objects become strings.
    """
    scalars, tables = [], []
    for key, value in config.items():
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.asdict(value)
        if isinstance(value, Mapping):
            tables.append((key, value))
        elif value is None:
            scalars.append(f"# {_toml_key(key)}: not set")
        else:
            scalars.append(f"{_toml_key(key)} = {_toml_value(value)}")
    parts = ["\n".join(scalars)] if scalars else []
    for key, table in tables:
        name = f"{_prefix}{_toml_key(key)}"
        body = config_toml(table, _prefix=f"{name}.")
        parts.append(f"[{name}]" + (f"\n{body}" if body else ""))
    return "\n\n".join(p for p in parts if p)


def software_versions(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Versions of Python, hepda and the main libraries, and the platform.

    Read from package metadata, so nothing heavy is imported; packages that
    are not installed are left out.
    """
    versions = {"python": platform.python_version()}
    for package in ("hepda", "torch", "numpy", "pythia8mc", "matplotlib"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    versions["platform"] = platform.platform()
    versions.update(extra or {})
    return versions


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{seconds:.0f} s ({hours:d}:{minutes:02d}:{secs:02d})"


# ---------------------------------------------------------------- HTML report


@dataclass
class FigureEntry:
    """A figure of the report: a PNG file and a sentence saying what it shows."""

    path: Path
    caption: str

    def __post_init__(self) -> None:
        self.path = Path(self.path)


#: The name the report's API documents; FigureEntry avoids a clash with
#: :class:`matplotlib.figure.Figure` where both are imported.
Figure = FigureEntry


@dataclass
class Section:
    """A section of the report.

    ``text`` is plain text (blank lines separate paragraphs) and is escaped;
    ``tables_html`` are trusted HTML fragments such as :func:`table_html`
    returns.
    """

    title: str
    text: str = ""
    figures: list[FigureEntry] = field(default_factory=list)
    tables_html: list[str] = field(default_factory=list)


def _png_data_uri(path: Path) -> str:
    """Read a PNG (or the PNG saved beside a PDF/SVG) as a data URI."""
    candidate = path if path.suffix.lower() == ".png" else path.with_suffix(".png")
    if not candidate.is_file():
        msg = (
            f"figure {str(path)!r} not found as a PNG (looked for "
            f"{str(candidate)!r}); save it with hepda.plots.save_figure first"
        )
        raise InputFileError(msg)
    data = candidate.read_bytes()
    if not data.startswith(_PNG_MAGIC):
        msg = (
            f"figure {str(candidate)!r} is not a PNG file (starts with "
            f"{data[:8]!r}); the report embeds PNG images only"
        )
        raise DataError(msg)
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  max-width: 1100px; margin: 2em auto; padding: 0 1.5em; color: #1a1a1a;
  line-height: 1.5; }
h1 { font-size: 1.8em; margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
.meta { color: #555; margin-top: 0; }
nav ol { columns: 2; }
figure { margin: 1.5em 0; text-align: center; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #333; font-size: 0.95em; margin-top: 0.4em; text-align: left; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
th { background: #f2f2f2; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f8fa; border: 1px solid #ddd; padding: 1em; overflow-x: auto;
  font-size: 0.85em; }
footer { margin-top: 3em; color: #777; font-size: 0.85em; }
"""


def build_html_report(
    path: str | Path,
    *,
    title: str,
    sections: Sequence[Section],
    config: Mapping[str, object],
    runtime_s: float,
    extra_versions: Mapping[str, str] | None = None,
) -> Path:
    """Write the report as one self-contained HTML file and return its path.

    Figures are embedded as base64 PNG data URIs, each with a numbered
    caption; the style sheet is inline; there are no scripts and no links
    outside the file, so it can be mailed or archived as it is. After the
    sections come the configuration (TOML-like), the software versions
    (:func:`software_versions` plus ``extra_versions``) and the run time.
    All text is HTML-escaped. The file is written atomically.
    """
    esc = html.escape
    figure_number = 0
    body: list[str] = []

    # Header and table of contents.
    generated = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body.append(f"<header><h1>{esc(title)}</h1>")
    body.append(
        f'<p class="meta">Generated {esc(generated)}; run time '
        f"{esc(_duration(runtime_s))}.</p></header>"
    )
    toc = [(f"section-{i + 1}", s.title) for i, s in enumerate(sections)]
    toc += [("configuration", "Configuration"), ("versions", "Software versions")]
    links = "".join(f'<li><a href="#{a}">{esc(t)}</a></li>' for a, t in toc)
    body.append(f"<nav><h2>Contents</h2><ol>{links}</ol></nav>")

    # Sections: text, tables, figures.
    for i, section in enumerate(sections):
        body.append(f'<section id="section-{i + 1}"><h2>{esc(section.title)}</h2>')
        for paragraph in re.split(r"\n\s*\n", section.text.strip()):
            if paragraph:
                body.append(f"<p>{esc(paragraph)}</p>")
        body.extend(section.tables_html)
        for entry in section.figures:
            figure_number += 1
            uri = _png_data_uri(entry.path)
            body.append(
                f'<figure><img src="{uri}" alt="{esc(entry.caption)}">'
                f"<figcaption><b>Figure {figure_number}.</b> {esc(entry.caption)}"
                "</figcaption></figure>"
            )
        body.append("</section>")

    # Configuration, versions and run time.
    body.append('<section id="configuration"><h2>Configuration</h2>')
    body.append(f"<pre>{esc(config_toml(config))}</pre></section>")
    versions = software_versions(extra_versions)
    rows = [{"package": k, "version": v} for k, v in versions.items()]
    rows.append({"package": "run time", "version": _duration(runtime_s)})
    body.append('<section id="versions"><h2>Software versions</h2>')
    body.append(table_html(rows, ["package", "version"]) + "</section>")
    body.append(f"<footer>Written by hepda {esc(versions.get('hepda', '?'))}.</footer>")

    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body) + "\n</body>\n</html>\n"
    )  # fmt: skip
    target = Path(path)
    write_text(target, page)
    logger.info("wrote HTML report %s (%d figures)", target, figure_number)
    return target

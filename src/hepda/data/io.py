"""Read and write event and object tables: Parquet, CSV and ROOT TTrees.

A table is named by a *spec*: ``PATH`` for Parquet (``.parquet``, ``.pq``) and
CSV (``.csv``, ``.csv.gz``) files, ``PATH:TREE`` for a tree in a ROOT file
(``PATH`` alone when the file holds exactly one tree). Every problem with a
file is raised as :class:`~hepda.errors.InputFileError` (the path) or
:class:`~hepda.errors.DataError` (the content), naming the file and the fix;
errors of pyarrow and uproot never reach the caller unwrapped.

ROOT files are written with uproot's ``mktree`` as TTrees (uproot >= 5.7
writes an RNTuple for ``file[name] = ...``, which older readers cannot read).
List columns sharing a prefix (``jet_pt``, ``jet_eta``, ...) become jagged
branches with one counter branch (``njet``). Strings are written as ROOT
``char*`` branches, which uproot reads back as strings. Beside the tree, a
``TObjString`` named ``<tree>__hepda_schema`` holds the Arrow schema of the
written table, so that reading the file back restores the exact column
names, order and types (the counter branches are left out).
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.parquet as pq

from hepda._atomic import atomic_path
from hepda._extras import require
from hepda.errors import DataError, HepdaError, InputFileError

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "SUPPORTED_SUFFIXES",
    "TableInfo",
    "describe_table",
    "iter_batches",
    "nearest_names",
    "parse_spec",
    "read_table",
    "write_table",
]

log = logging.getLogger(__name__)

Format = Literal["parquet", "csv", "root"]

SUPPORTED_SUFFIXES: tuple[str, ...] = (".parquet", ".pq", ".csv", ".csv.gz", ".root")
DEFAULT_BATCH_ROWS = 131_072

# Class names uproot reads as tables; TNtuple(D) are TTrees with float leaves.
_TREE_CLASSES = ("TTree", "TNtuple", "TNtupleD", "ROOT::RNTuple")
# uproot's errors for a branch of a class it cannot turn into arrays; such
# branches are left out of the schema, every other error is a damaged file.
_UNREADABLE_BRANCH = ("UnknownInterpretation", "CannotBeAwkward", "NotImplementedError")
_SCHEMA_SUFFIX = "__hepda_schema"
_SCHEMA_FORMAT = "hepda-arrow-schema"
_CSV_BLOCK_BYTES = 8 << 20
_CSV_CONVERSION = re.compile(r"CSV column #(\d+):.*?CSV conversion error to (\w+)")
_ROOT_WRITE_ROWS = 100_000


# ---------------------------------------------------------------------------
# specs and paths


def _format_of(path: Path) -> Format | None:
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    if name.endswith(".root"):
        return "root"
    return None


def parse_spec(spec: str) -> tuple[Path, str | None]:
    """Split a table spec into the file path and the ROOT tree name.

    ``"PATH"`` names a Parquet or CSV file, or a ROOT file holding one tree;
    ``"PATH:TREE"`` names a tree (``TREE`` may contain ``/`` for a tree in a
    ROOT directory). The file itself is not opened.

    >>> parse_spec("ntuples/s1.root:events")
    (PosixPath('ntuples/s1.root'), 'events')
    >>> parse_spec("s1.parquet")
    (PosixPath('s1.parquet'), None)
    """
    text = str(spec).strip()
    if not text:
        msg = "empty input spec ''; expected PATH or PATH:TREE, e.g. 's1.parquet'"
        raise InputFileError(msg)
    match = re.fullmatch(r"(.+\.root):(.*)", text, flags=re.IGNORECASE)
    if match is not None and not Path(text).expanduser().is_file():
        path, tree = match.group(1), match.group(2).strip()
        if not tree:
            msg = (
                f"input spec {text!r} ends with ':' but names no tree; "
                f"write {path + ':TREE'!r} or just {path!r}"
            )
            raise InputFileError(msg)
        return Path(path).expanduser(), tree
    other = re.fullmatch(r"(.+\.(?:parquet|pq|csv|csv\.gz)):(.+)", text, re.IGNORECASE)
    if other is not None and not Path(text).expanduser().exists():
        msg = (
            f"input spec {text!r} names a tree, but only ROOT files hold trees; "
            f"write just {other.group(1)!r}"
        )
        raise InputFileError(msg)
    return Path(text).expanduser(), None


def absolute_spec(spec: str) -> str:
    """The spec with its file path made absolute, so that it reads the same from
    any working directory (a resumed run, a Dask worker).

    >>> absolute_spec("/data/s1.root:events")
    '/data/s1.root:events'
    """
    path, tree = parse_spec(spec)
    full = str(path.resolve())
    return full if tree is None else f"{full}:{tree}"


def _check_input_file(path: Path, spec: str) -> Format:
    """Return the format of ``path`` or raise :class:`InputFileError`."""
    if path.is_dir():
        msg = (
            f"input {spec!r} is a directory, but a table file was expected; "
            "name a file inside it "
            f"({_preview(sorted(p.name for p in path.iterdir()))})"
        )
        raise InputFileError(msg)
    if not path.exists():
        near = ""
        if path.parent.is_dir():
            siblings = [p.name for p in path.parent.iterdir()]
            near = nearest_names(path.name, siblings)
        msg = f"input file {str(path)!r} does not exist{near}; check the path"
        raise InputFileError(msg)
    fmt = _format_of(path)
    if fmt is None:
        msg = (
            f"input file {str(path)!r} has an unknown suffix {path.suffix!r}; "
            f"supported: {', '.join(SUPPORTED_SUFFIXES)} (convert it to one of them)"
        )
        raise InputFileError(msg)
    return fmt


def nearest_names(name: str, choices: Sequence[str], n: int = 3) -> str:
    """Return `` (did you mean 'x'?)`` for the closest ``choices``, or ``""``.

    Unlike plain difflib, a name differing only in case is found first.

    >>> nearest_names("met", ["MET", "pT_lep"])
    " (did you mean 'MET'?)"
    """
    import difflib

    choices = list(choices)
    same_case = [c for c in choices if c.lower() == name.lower()]
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)
    found = list(dict.fromkeys(same_case + [lowered[c] for c in close]))[:n]
    if not found:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in found) + "?)"


def _preview(names: Sequence[str], limit: int = 12) -> str:
    if not names:
        return "none"
    shown = ", ".join(repr(n) for n in names[:limit])
    if len(names) > limit:
        shown += f", ... ({len(names) - limit} more)"
    return shown


def _missing_columns(
    display: str, missing: Sequence[str], available: Sequence[str]
) -> DataError:
    parts = [f"{name!r}{nearest_names(name, available)}" for name in missing]
    noun = "column" if len(missing) == 1 else "columns"
    msg = (
        f"{display} has no {noun} {', '.join(parts)}; its {len(available)} columns "
        f"are {_preview(available)}; fix the name or add the column to the file"
    )
    return DataError(msg)


def _corrupt(display: str, exc: BaseException) -> DataError:
    msg = (
        f"could not read {display}: {type(exc).__name__}: {exc}; the file looks "
        "truncated or corrupted (or is not in the format its suffix says); "
        "write it again or fetch a fresh copy"
    )
    return DataError(msg)


# ---------------------------------------------------------------------------
# describing a table without reading it


@dataclass(frozen=True)
class TableInfo:
    """What is known about a table before its rows are read.

    ``num_rows`` is None for CSV, where only reading the file tells.
    ``display`` names the table in messages: ``s1.parquet``, ``b.root:events``.
    """

    path: Path
    format: Format
    tree: str | None
    schema: pa.Schema
    num_rows: int | None
    display: str


def describe_table(spec: str) -> TableInfo:
    """Open ``spec`` and return its schema and row count, reading no rows.

    Raises :class:`InputFileError` or :class:`DataError` as :func:`read_table`.
    """
    path, tree = parse_spec(spec)
    fmt = _check_input_file(path, spec)
    if fmt == "parquet":
        try:
            meta = pq.ParquetFile(path)
            schema, rows = meta.schema_arrow, meta.metadata.num_rows
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise _corrupt(path.name, exc) from exc
        return TableInfo(path, fmt, None, schema, int(rows), path.name)
    if fmt == "csv":
        return TableInfo(path, fmt, None, _csv_schema(path), None, path.name)
    opened = _RootTree(path, tree)
    with opened as (name, obj):
        display = f"{path.name}:{name}"
        try:
            schema = _root_schema(opened.file, name, obj, display)
            rows = int(obj.num_entries)
        except HepdaError:
            raise
        except Exception as exc:
            raise _corrupt(display, exc) from exc
    return TableInfo(path, fmt, name, schema, rows, display)


def _check_columns(info: TableInfo, columns: Sequence[str] | None) -> list[str] | None:
    if columns is None:
        return None
    wanted = list(dict.fromkeys(columns))
    available = info.schema.names
    missing = [c for c in wanted if c not in available]
    if missing:
        raise _missing_columns(info.display, missing, available)
    return wanted


# ---------------------------------------------------------------------------
# reading


def read_table(spec: str, columns: Sequence[str] | None = None) -> pa.Table:
    """Read a whole table (or the named ``columns``) into an Arrow table.

    The format follows the suffix: ``.parquet``/``.pq``, ``.csv``/``.csv.gz``,
    ``.root`` (``PATH:TREE``; jagged branches become list columns, and files
    written by :func:`write_table` come back with their original schema).

    Raises:
        InputFileError: the file is missing, a directory, or of unknown type.
        DataError: the file is unreadable, the tree or a column is missing.
    """
    info = describe_table(spec)
    wanted = _check_columns(info, columns)
    try:
        if info.format == "parquet":
            return pq.read_table(info.path, columns=wanted)
        if info.format == "csv":
            convert = pv.ConvertOptions(include_columns=wanted or [])
            return pv.read_csv(info.path, convert_options=convert)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _corrupt(info.display, exc) from exc
    batches = list(iter_batches(spec, wanted, batch_rows=1 << 62))
    target = info.schema if wanted is None else _select(info.schema, wanted)
    return pa.Table.from_batches(batches, schema=target)


def iter_batches(
    spec: str,
    columns: Sequence[str] | None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Iterator[pa.RecordBatch]:
    """Yield the rows of ``spec`` as record batches of at most ``batch_rows``.

    Only a batch at a time is held in memory: Parquet is read by row group,
    ROOT with ``uproot.iterate``, CSV with pyarrow's streaming reader. A CSV
    whose column changes type after the first block (integers, then a
    ``1.5``) is read twice, the first time only to find each column's type.
    Errors are raised as by :func:`read_table`, when the iteration starts
    (a missing file or column) or at the broken batch (corrupted data).
    """
    if batch_rows < 1:
        msg = f"batch_rows must be a positive number of rows, got {batch_rows!r}"
        raise DataError(msg)
    info = describe_table(spec)
    wanted = _check_columns(info, columns)
    if info.format == "parquet":
        return _parquet_batches(info, wanted, batch_rows)
    if info.format == "csv":
        return _csv_batches(info, wanted, batch_rows)
    return _root_batches(info, wanted, batch_rows)


def _select(schema: pa.Schema, names: Sequence[str]) -> pa.Schema:
    return pa.schema([schema.field(n) for n in names])


def _parquet_batches(
    info: TableInfo, columns: list[str] | None, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    try:
        # Without pre-buffering, a row group is read page by page rather than
        # whole, which halves the memory of reading a 1M-row group.
        reader = pq.ParquetFile(info.path, pre_buffer=False, buffer_size=1 << 22)
        yield from reader.iter_batches(batch_size=batch_rows, columns=columns)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _corrupt(info.display, exc) from exc


def _csv_open(
    path: Path, columns: list[str] | None, types: dict[str, pa.DataType]
) -> pv.CSVStreamingReader:
    read = pv.ReadOptions(block_size=_CSV_BLOCK_BYTES)
    convert = pv.ConvertOptions(include_columns=columns or [], column_types=types)
    return pv.open_csv(path, read_options=read, convert_options=convert)


def _csv_schema(path: Path) -> pa.Schema:
    try:
        with _csv_open(path, None, {}) as reader:
            return reader.schema
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _corrupt(path.name, exc) from exc


def _widen(type_name: str) -> pa.DataType:
    """Type to retry a CSV column with after a value failed to convert."""
    if type_name.startswith(("int", "uint", "null")):
        return pa.float64()
    return pa.string()


def _csv_types(path: Path, columns: list[str] | None) -> dict[str, pa.DataType]:
    """Find column types valid for every block of a CSV file.

    pyarrow's streaming reader infers types from the first block only and
    fails later on a value of another type; each failure widens that column
    (integer -> float -> string) and the scan restarts.
    """
    size = path.stat().st_size
    compressed = path.name.lower().endswith(".gz")
    if size <= _CSV_BLOCK_BYTES // (16 if compressed else 1):
        return {}  # one block: inference sees every value
    header = _csv_schema(path).names
    types: dict[str, pa.DataType] = {}
    for _ in range(2 * len(header) + 1):
        try:
            with _csv_open(path, columns, types) as reader:
                for _batch in reader:
                    pass
            return types
        except pa.ArrowInvalid as exc:
            found = _CSV_CONVERSION.search(str(exc))
            if found is None or int(found.group(1)) >= len(header):
                raise
            name = header[int(found.group(1))]
            types[name] = _widen(found.group(2))
            log.debug("%s: reading column %r as %s", path.name, name, types[name])
    return types


def _csv_batches(
    info: TableInfo, columns: list[str] | None, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    try:
        types = _csv_types(info.path, columns)
        with _csv_open(info.path, columns, types) as reader:
            for batch in reader:
                for start in range(0, batch.num_rows, batch_rows):
                    yield batch.slice(start, batch_rows)
    except (pa.ArrowException, OSError, ValueError, EOFError) as exc:
        raise _corrupt(info.display, exc) from exc


class _RootTree:
    """Context manager: open a ROOT file and find the tree a spec names."""

    def __init__(self, path: Path, tree: str | None) -> None:
        self.path, self.tree = path, tree
        self.file: Any = None

    def __enter__(self) -> tuple[str, Any]:
        uproot = require("uproot", "read ROOT files")
        try:
            self.file = uproot.open(self.path)
            end, size = int(self.file.file.fEND), self.path.stat().st_size
            if size < end:  # uproot would read what is left without noticing
                msg = (
                    f"could not read {self.path.name}: the file is truncated "
                    f"({size} of the {end} bytes its header promises); write it "
                    "again or fetch a fresh copy"
                )
                raise DataError(msg)
            key = self._find(self.file.classnames(recursive=True, cycle=False))
            return key, self.file[key]
        except HepdaError:
            self.__exit__()
            raise
        except Exception as exc:
            self.__exit__()
            raise _corrupt(self.path.name, exc) from exc

    def _find(self, classes: dict[str, str]) -> str:
        name = self.path.name
        trees = [k for k, c in classes.items() if c in _TREE_CLASSES]
        if self.tree is None:
            if len(trees) == 1:
                return trees[0]
            if not trees:
                msg = (
                    f"{name} holds no TTree; its objects are "
                    f"{_preview([f'{k} ({c})' for k, c in classes.items()])}; "
                    "write the events as a TTree (e.g. with hepda's write_table)"
                )
                raise DataError(msg)
            msg = (
                f"{name} holds {len(trees)} trees ({_preview(trees)}); choose one "
                f"with the PATH:TREE syntax, e.g. '{self.path}:{trees[0]}'"
            )
            raise DataError(msg)
        key = self.tree.strip("/")
        if key not in classes:
            msg = (
                f"{name} has no tree {key!r}{nearest_names(key, trees)}; "
                f"its trees are {_preview(trees)}; "
                f"use '{self.path}:TREE' with one of them"
            )
            raise DataError(msg)
        if classes[key] not in _TREE_CLASSES:
            msg = (
                f"{name}:{key} is a {classes[key]}, not a TTree; "
                f"its trees are {_preview(trees)}"
            )
            raise DataError(msg)
        return key

    def __exit__(self, *exc: object) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def _stored_schema(file: Any, tree: str) -> pa.Schema | None:
    """The Arrow schema :func:`write_table` saved beside ``tree``, if any."""
    key = tree + _SCHEMA_SUFFIX
    try:
        if key not in file.keys(recursive=True, cycle=False):
            return None
        record = json.loads(str(file[key]))
        if record.get("format") != _SCHEMA_FORMAT:
            return None
        raw = base64.b64decode(record["schema"])
        return pa.ipc.read_schema(pa.py_buffer(raw))
    except Exception as exc:  # a damaged note must not hide the data
        log.warning("ignoring unreadable %s in %s: %s", key, file.file_path, exc)
        return None


def _nullable(dtype: pa.DataType) -> pa.DataType:
    """``dtype`` with every nested field nullable, as Parquet and CSV give it."""
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        item = pa.field("item", _nullable(dtype.value_type))
        return pa.list_(item) if pa.types.is_list(dtype) else pa.large_list(item)
    if pa.types.is_struct(dtype):
        return pa.struct([pa.field(f.name, _nullable(f.type)) for f in dtype])
    return dtype


def _awkward_to_arrow(array: Any, schema: pa.Schema) -> pa.RecordBatch:
    ak = require("awkward", "read ROOT files")
    table = ak.to_arrow_table(
        array, extensionarray=False, list_to32=True, string_to32=True
    )
    columns = [table.column(f.name).cast(f.type) for f in schema]
    return pa.RecordBatch.from_arrays(
        [c.combine_chunks() for c in columns], schema=schema
    )


def _root_schema(file: Any, key: str, tree: Any, display: str) -> pa.Schema:
    stored = _stored_schema(file, key)
    branches = set(tree.keys())
    if stored is not None and branches.issuperset(stored.names):
        return stored
    ak = require("awkward", "read ROOT files")
    names = list(tree.keys())
    try:
        empty = tree.arrays(names, entry_stop=0, library="ak")
        arrow = ak.to_arrow_table(
            empty, extensionarray=False, list_to32=True, string_to32=True
        ).schema
        fields = [arrow.field(n) for n in names]
    except Exception:
        # Some branches hold classes uproot cannot read; list the others.
        fields = []
        for name in names:
            try:
                one = tree.arrays([name], entry_stop=0, library="ak")
                table = ak.to_arrow_table(
                    one, extensionarray=False, list_to32=True, string_to32=True
                )
                fields.append(table.schema.field(name))
            except Exception as exc:
                if type(exc).__name__ not in _UNREADABLE_BRANCH:
                    raise
                log.warning("%s: skipping branch %r (%s)", display, name, exc)
    return pa.schema([pa.field(f.name, _nullable(f.type)) for f in fields])


def _root_batches(
    info: TableInfo, columns: list[str] | None, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    names = list(info.schema.names) if columns is None else columns
    schema = _select(info.schema, names)
    with _RootTree(info.path, info.tree) as (_, tree):
        try:
            if not names or info.num_rows == 0:
                if info.num_rows:
                    yield from _row_only_batches(info.num_rows, batch_rows)
                return
            chunks = tree.iterate(names, step_size=batch_rows, library="ak")
            for chunk in chunks:
                yield _awkward_to_arrow(chunk, schema)
        except HepdaError:
            raise
        except MemoryError:
            raise
        except Exception as exc:
            raise _corrupt(info.display, exc) from exc


def _row_only_batches(rows: int, batch_rows: int) -> Iterator[pa.RecordBatch]:
    for start in range(0, rows, batch_rows):
        n = min(batch_rows, rows - start)
        yield pa.RecordBatch.from_struct_array(pa.array([{}] * n, pa.struct([])))


# ---------------------------------------------------------------------------
# writing


def write_table(table: pa.Table, path: str | Path, *, tree: str = "events") -> None:
    """Write ``table`` to ``path`` in the format of its suffix, atomically.

    The table is written to a temporary file beside ``path`` and renamed over
    it at the end, so a failed or killed write leaves ``path`` as it was.

    - ``.parquet``/``.pq``: Parquet, zstd-compressed.
    - ``.csv``/``.csv.gz``: CSV with a header row; flat columns only.
    - ``.root``: a TTree named ``tree`` (made with uproot's ``mktree``, never
      an RNTuple). List columns become jagged branches; list columns sharing
      a prefix ``P_`` (``jet_pt``, ``jet_eta``) share one counter branch
      ``nP`` (``njet``) and must have equal lengths in every row. Strings
      are ``char*`` branches. The Arrow schema is saved beside the tree as
      the ``TObjString`` ``<tree>__hepda_schema``, from which
      :func:`read_table` restores column order and types. ROOT has no null
      values, so columns with nulls are refused.

    Raises:
        DataError: unsupported suffix or column types, or nulls in ROOT.
    """
    final = Path(path).expanduser()
    if final.is_dir():
        msg = f"cannot write a table to {str(final)!r}: it is a directory; name a file"
        raise DataError(msg)
    fmt = _format_of(final)
    if fmt is None:
        msg = (
            f"cannot write {str(final)!r}: unknown suffix {final.suffix!r}; "
            f"use one of {', '.join(SUPPORTED_SUFFIXES)}"
        )
        raise DataError(msg)
    table = _decode_dictionaries(table)
    if fmt == "parquet":
        _write_parquet(table, final)
    elif fmt == "csv":
        _write_csv(table, final)
    else:
        _write_root(table, final, tree)
    log.debug("wrote %d rows to %s", table.num_rows, final)


def _decode_dictionaries(table: pa.Table) -> pa.Table:
    for i, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            dense = table.column(i).cast(field.type.value_type)
            table = table.set_column(i, field.name, dense)
    return table


def _write_parquet(table: pa.Table, final: Path) -> None:
    with atomic_path(final) as tmp:
        try:
            pq.write_table(table, tmp, compression="zstd")
        except pa.ArrowException as exc:
            msg = f"cannot write {final.name} as Parquet: {exc}"
            raise DataError(msg) from exc


def _write_csv(table: pa.Table, final: Path) -> None:
    nested = [
        f"{f.name} ({f.type})"
        for f in table.schema
        if pa.types.is_nested(f.type) or pa.types.is_binary(f.type)
    ]
    if nested:
        msg = (
            f"cannot write {final.name} as CSV: columns {', '.join(nested)} are not "
            "flat; CSV holds one value per cell, so write Parquet (.parquet) or "
            "ROOT (.root) instead, or drop these columns"
        )
        raise DataError(msg)
    with atomic_path(final) as tmp:
        try:
            if final.name.lower().endswith(".gz"):
                with pa.CompressedOutputStream(str(tmp), "gzip") as sink:
                    pv.write_csv(table, sink)
            else:
                pv.write_csv(table, tmp)
        except pa.ArrowException as exc:
            msg = f"cannot write {final.name} as CSV: {exc}"
            raise DataError(msg) from exc


def _root_leaf_ok(dtype: pa.DataType) -> bool:
    return bool(
        pa.types.is_boolean(dtype)
        or pa.types.is_integer(dtype)
        or pa.types.is_float32(dtype)
        or pa.types.is_float64(dtype)
    )


def _root_plan(table: pa.Table, final: Path) -> dict[str, list[str]]:
    """Map each branch key of ``mktree`` to the columns it holds.

    A key holding one column is written as that branch; a key holding the
    list columns ``P_a, P_b`` is a record, written as branches ``P_a, P_b``
    with the counter ``nP``.
    """
    bad = []
    for f in table.schema:
        t = f.type
        is_list = pa.types.is_list(t) or pa.types.is_large_list(t)
        if is_list and _root_leaf_ok(t.value_type):
            continue
        if _root_leaf_ok(t) or pa.types.is_string(t) or pa.types.is_large_string(t):
            continue
        bad.append(f"{f.name} ({t})")
    if bad:
        msg = (
            f"cannot write {final.name} as a ROOT TTree: unsupported column types "
            f"{', '.join(bad)}; TTree branches hold numbers, booleans, strings and "
            "lists of numbers; cast these columns or write Parquet instead"
        )
        raise DataError(msg)
    nulls = [
        f.name
        for f, col in zip(table.schema, table.columns, strict=True)
        if col.null_count
    ]
    if nulls:
        msg = (
            f"cannot write {final.name} as a ROOT TTree: columns {_preview(nulls)} "
            "contain null values, which ROOT cannot store; fill or drop them "
            "(pyarrow.compute.fill_null) or write Parquet instead"
        )
        raise DataError(msg)

    plan: dict[str, list[str]] = {}
    names = set(table.schema.names)
    for f in table.schema:
        prefix, sep, rest = f.name.partition("_")
        jagged = pa.types.is_list(f.type) or pa.types.is_large_list(f.type)
        key = prefix if (jagged and sep and prefix and rest) else f.name
        if key != f.name and key in names:
            msg = (
                f"cannot write {final.name} as a ROOT TTree: list column "
                f"{f.name!r} would be grouped as {key!r}, which is also a column; "
                "rename one of them"
            )
            raise DataError(msg)
        plan.setdefault(key, []).append(f.name)
    for key, cols in plan.items():
        counter = "n" + key
        jagged = pa.types.is_list(table.schema.field(cols[0]).type)
        jagged = jagged or pa.types.is_large_list(table.schema.field(cols[0]).type)
        if jagged and counter in names:
            msg = (
                f"cannot write {final.name} as a ROOT TTree: the counter branch "
                f"{counter!r} of the list columns {', '.join(cols)} clashes with the "
                f"column {counter!r}; drop or rename that column"
            )
            raise DataError(msg)
        _check_same_lengths(table, cols, final)
    return plan


def _check_same_lengths(table: pa.Table, cols: list[str], final: Path) -> None:
    if len(cols) < 2 or table.num_rows == 0:
        return
    first = pc.list_value_length(table.column(cols[0])).to_numpy(zero_copy_only=False)
    for other in cols[1:]:
        lengths = pc.list_value_length(table.column(other))
        differ = np.flatnonzero(lengths.to_numpy(zero_copy_only=False) != first)
        if differ.size:
            msg = (
                f"cannot write {final.name} as a ROOT TTree: list columns "
                f"{cols[0]!r} and {other!r} share one counter branch but differ in "
                f"length in {differ.size} rows (first row {int(differ[0])}); give "
                "them equal lengths or names with different prefixes"
            )
            raise DataError(msg)


def _awkward_branches(table: pa.Table, plan: dict[str, list[str]]) -> dict[str, Any]:
    ak = require("awkward", "write ROOT files")

    def convert(column: pa.ChunkedArray) -> Any:
        # Built from NumPy so that no option type (which uproot refuses)
        # comes from Arrow's nullable fields; nulls were refused before.
        dtype = column.type
        if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
            values = pc.list_flatten(column).to_numpy(zero_copy_only=False)
            counts = pc.list_value_length(column).to_numpy(zero_copy_only=False)
            values = values.astype(dtype.value_type.to_pandas_dtype(), copy=False)
            return ak.unflatten(values, counts.astype(np.int64))
        if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
            return ak.from_arrow(column.combine_chunks())
        return ak.Array(column.to_numpy())

    out: dict[str, Any] = {}
    for key, cols in plan.items():
        arrays = {c: convert(table.column(c)) for c in cols}
        if len(cols) == 1 and cols[0] == key:
            out[key] = arrays[key]
        else:
            fields = {c[len(key) + 1 :]: arrays[c] for c in cols}
            out[key] = ak.zip(fields)
    return out


def _write_root(table: pa.Table, final: Path, tree: str) -> None:
    uproot = require("uproot", "write ROOT files")
    tree = tree.strip("/")
    if not tree:
        msg = f"cannot write {final.name}: the tree name is empty; pass tree='events'"
        raise DataError(msg)
    plan = _root_plan(table, final)
    note = json.dumps(
        {
            "format": _SCHEMA_FORMAT,
            "schema": base64.b64encode(table.schema.serialize().to_pybytes()).decode(),
        }
    )
    with atomic_path(final) as tmp:
        try:
            with uproot.recreate(tmp) as sink:
                empty = _awkward_branches(table.slice(0, 0), plan)
                types = {k: v.type.content for k, v in empty.items()}
                out = sink.mktree(tree, types)
                for start in range(0, table.num_rows, _ROOT_WRITE_ROWS):
                    chunk = table.slice(start, _ROOT_WRITE_ROWS)
                    out.extend(_awkward_branches(chunk, plan))
                sink[tree + _SCHEMA_SUFFIX] = note
        except (HepdaError, OSError):
            raise
        except Exception as exc:
            msg = (
                f"cannot write {final.name} as a ROOT TTree: "
                f"{type(exc).__name__}: {exc}"
            )
            raise DataError(msg) from exc

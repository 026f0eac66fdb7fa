"""Event tables in memory: features, labels, weights and event numbers.

:func:`load_events` reads one or more tables (see :mod:`hepda.data.io`),
checks them against the data contract of ``FEATURES.md`` and returns an
:class:`EventTable` whose feature matrix is one float32 array, filled in
place batch by batch so that peak memory stays close to its final size.
Each problem is reported as a :class:`~hepda.errors.DataError` that names
the file, the column and the fix; every problem of a file in one message.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from hepda.data.io import (
    DEFAULT_BATCH_ROWS,
    TableInfo,
    describe_table,
    iter_batches,
    nearest_names,
)
from hepda.errors import DataError, InputFileError

__all__ = [
    "ColumnNames",
    "EventTable",
    "check_same_features",
    "default_features",
    "load_events",
    "to_arrow",
]

log = logging.getLogger(__name__)

_MAX_LISTED_VALUES = 10
_FEATURES_PER_PASS = 8


@dataclass(frozen=True)
class ColumnNames:
    """Names of the columns with a fixed meaning (``FEATURES.md`` defaults)."""

    label: str = "label"
    weight: str = "weight"
    event_number: str = "event_number"
    process: str = "process"
    generator: str = "generator"

    def reserved(self) -> tuple[str, ...]:
        """The names that are never taken as features by default."""
        return tuple(str(v) for v in dataclasses.astuple(self))


@dataclass
class EventTable:
    """Events ready for training: one row per event.

    Attributes:
        features: ``(n, f)`` float32, C-contiguous.
        feature_names: the ``f`` column names, in the order of ``features``.
        label: ``(n,)`` int8, 1 signal and 0 background.
        weight: ``(n,)`` float64; negative weights are allowed.
        event_number: ``(n,)`` int64; k-fold splits use it.
        process: ``(n,)`` str objects, or None when no input had the column.
        origin: the inputs, for messages (``"a.parquet + b.root:events"``).
    """

    features: npt.NDArray[np.float32]
    feature_names: tuple[str, ...]
    label: npt.NDArray[np.int8]
    weight: npt.NDArray[np.float64]
    event_number: npt.NDArray[np.int64]
    process: npt.NDArray[np.object_] | None = None
    origin: str = field(default="<memory>")

    def __post_init__(self) -> None:
        self.features = np.ascontiguousarray(self.features, dtype=np.float32)
        self.feature_names = tuple(self.feature_names)
        self.label = np.asarray(self.label, dtype=np.int8)
        self.weight = np.asarray(self.weight, dtype=np.float64)
        self.event_number = np.asarray(self.event_number, dtype=np.int64)
        if self.process is not None:
            self.process = np.asarray(self.process, dtype=object)
        if self.features.ndim != 2:
            msg = (
                "features must be a 2-d (events, features) array, "
                f"got shape {self.features.shape!r}"
            )
            raise DataError(msg)
        n, f = self.features.shape
        if len(self.feature_names) != f:
            msg = (
                f"{f} feature columns but {len(self.feature_names)} "
                "feature names were given"
            )
            raise DataError(msg)
        for name in ("label", "weight", "event_number", "process"):
            value = getattr(self, name)
            if value is not None and value.shape != (n,):
                msg = (
                    f"{name} must have shape ({n},) like the features, "
                    f"got {value.shape!r}"
                )
                raise DataError(msg)

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def take(self, index: npt.ArrayLike) -> EventTable:
        """Return the rows selected by integer ``index`` or a boolean mask."""
        rows = np.asarray(index)
        if rows.dtype == np.bool_ and rows.shape != (len(self),):
            msg = f"a boolean mask must have shape ({len(self)},), got {rows.shape!r}"
            raise DataError(msg)
        return EventTable(
            features=self.features[rows],
            feature_names=self.feature_names,
            label=self.label[rows],
            weight=self.weight[rows],
            event_number=self.event_number[rows],
            process=None if self.process is None else self.process[rows],
            origin=self.origin,
        )


# ---------------------------------------------------------------------------
# column types


def _is_number(dtype: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(dtype)
        or pa.types.is_floating(dtype)
        or pa.types.is_boolean(dtype)
    )


def _type_name(dtype: pa.DataType) -> str:
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return "string (text)"
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return f"{dtype} (one list per event)"
    return str(dtype)


def _default_names(info: TableInfo, columns: ColumnNames) -> list[str]:
    reserved = set(columns.reserved())
    return [
        f.name for f in info.schema if f.name not in reserved and _is_number(f.type)
    ]


def default_features(spec: str, columns: ColumnNames | None = None) -> tuple[str, ...]:
    """The features taken when none are named: every numeric or boolean column
    of ``spec`` except the reserved ones (label, weight, ...). Reads no rows."""
    return tuple(_default_names(describe_table(spec), columns or ColumnNames()))


def _resolve_features(
    features: Sequence[str] | str | None,
    first: TableInfo,
    columns: ColumnNames,
    role: str,
) -> tuple[str, ...]:
    """Turn the ``features`` argument into the list of column names."""
    if features is None:
        reserved = set(columns.reserved())
        names = _default_names(first, columns)
        if not names:
            described = ", ".join(
                f"{f.name!r} ({_type_name(f.type)})" for f in first.schema
            )
            msg = (
                f"{role} file {first.display} has no numeric column besides "
                f"{', '.join(repr(r) for r in columns.reserved())}; its columns are "
                f"{described}; pass --features explicitly"
            )
            raise DataError(msg)
        skipped = [
            f"{f.name} ({_type_name(f.type)})"
            for f in first.schema
            if f.name not in reserved and not _is_number(f.type)
        ]
        if skipped:
            log.warning(
                "%s file %s: columns %s are not numeric and are not used as "
                "features; if one should be, fix its type in the file or name "
                "the features with --features",
                role,
                first.display,
                ", ".join(skipped),
            )
        return tuple(names)
    if isinstance(features, str):
        if features.strip().lower() == "tth41":
            from hepda.features.names import TTH41

            return TTH41
        names = [part.strip() for part in features.split(",") if part.strip()]
    else:
        names = [str(n) for n in features]
    if not names:
        msg = (
            f"the feature list {features!r} is empty; "
            "name at least one column, or use 'tth41'"
        )
        raise DataError(msg)
    repeated = sorted(n for n, count in Counter(names).items() if count > 1)
    if repeated:
        msg = f"features {repeated!r} are listed more than once; list each feature once"
        raise DataError(msg)
    if columns.label in names:
        msg = (
            f"the label column {columns.label!r} is listed as a feature, which would "
            "hand the answer to the classifier; remove it from --features"
        )
        raise DataError(msg)
    return tuple(names)


def _check_schema(
    info: TableInfo,
    features: tuple[str, ...],
    columns: ColumnNames,
    role: str,
    *,
    types: bool,
) -> None:
    """Raise for missing columns, or (``types``) columns of the wrong type."""
    names = info.schema.names
    where = f"{role} file {info.display}"
    repeated = sorted(n for n, count in Counter(names).items() if count > 1)
    if repeated:
        msg = (
            f"{where} has {len(repeated)} column name(s) more than once: "
            f"{', '.join(repr(n) for n in repeated[:10])}; a column is found by "
            "its name, so rename or drop the copies"
        )
        raise DataError(msg)
    if columns.label not in names:
        msg = (
            f"{where} has no label column {columns.label!r}"
            f"{nearest_names(columns.label, names)}; every input needs a 0/1 label "
            "(1 signal, 0 background); add it, or name the column that holds "
            "it (label_column in the config file, ColumnNames in Python) "
            f"(its columns are {', '.join(repr(n) for n in names[:12])}"
            f"{', ...' if len(names) > 12 else ''})"
        )
        raise DataError(msg)
    missing = [f for f in features if f not in names]
    if missing:
        hints = [nearest_names(m, names) for m in missing]
        parts = [f"{m!r}{hint}" for m, hint in zip(missing, hints, strict=True)]
        listing = ""
        if not any(hints):  # no near name: show the columns there are
            shown = ", ".join(repr(n) for n in names[:20])
            listing = f" (its columns are {shown}{', ...' if len(names) > 20 else ''})"
        msg = (
            f"{where} lacks {len(missing)} of the {len(features)} features: "
            f"{', '.join(parts[:10])}{', ...' if len(parts) > 10 else ''}; "
            f"every input must hold every feature: fix --features or the file{listing}"
        )
        raise DataError(msg)
    if not types:
        return
    wrong = [
        f"{name!r} is {_type_name(info.schema.field(name).type)}"
        for name in (*features, columns.label)
        if not _is_number(info.schema.field(name).type)
    ]
    for name in (columns.weight, columns.event_number):
        if name in names and not _is_number(info.schema.field(name).type):
            wrong.append(f"{name!r} is {_type_name(info.schema.field(name).type)}")
    if wrong:
        msg = (
            f"{where}: features, label, weight and event number must be numbers "
            f"(or booleans), but {'; '.join(wrong)}; convert these columns to "
            "numbers or leave them out of --features"
        )
        raise DataError(msg)


# ---------------------------------------------------------------------------
# value checks, collected per file and reported together


@dataclass
class _Problems:
    where: str
    counts: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    label_values: set[float] = field(default_factory=set)

    def add(
        self, column: str, kind: str, mask: npt.NDArray[np.bool_], offset: int
    ) -> None:
        hits = np.flatnonzero(mask)
        if hits.size == 0:
            return
        entry = self.counts.setdefault((column, kind), [0, int(offset + hits[0])])
        entry[0] += int(hits.size)

    def raise_if_any(self, label: str) -> None:
        parts = []
        for (column, kind), (count, first) in self.counts.items():
            parts.append(
                f"column {column!r} has {count} {kind} value(s) (first at row {first}, "
                "counting from 0)"
            )
        if self.label_values:
            found = sorted(self.label_values)
            shown = ", ".join(f"{v:g}" for v in found[:_MAX_LISTED_VALUES])
            more = ", ..." if len(found) > _MAX_LISTED_VALUES else ""
            parts.append(
                f"column {label!r} must hold only 0 (background) and 1 (signal), "
                f"but also holds {shown}{more}"
            )
        if parts:
            msg = (
                f"{self.where}: {'; '.join(parts)}; drop or fix these events (a "
                "feature's sentinel for 'undefined' must be a finite number)"
            )
            raise DataError(msg)


def _numpy(column: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.generic]:
    return np.asarray(column.to_numpy(zero_copy_only=False))


def _nulls(column: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.bool_] | None:
    if column.null_count == 0:
        return None
    return np.asarray(pc.is_null(column).to_numpy(zero_copy_only=False), dtype=bool)


def _fill_float(
    column: pa.Array,
    out: npt.NDArray[np.floating],
    name: str,
    offset: int,
    problems: _Problems,
) -> None:
    """Copy ``column`` into ``out`` (a slice), recording nulls, NaN and inf."""
    nulls = _nulls(column)
    if nulls is not None:
        problems.add(name, "missing (null)", nulls, offset)
        column = pc.fill_null(column, 0)
    with np.errstate(over="ignore", invalid="ignore"):
        out[...] = _numpy(column)
    if not pa.types.is_floating(column.type):
        return  # integers and booleans are always finite
    if not np.isfinite(out).all():
        problems.add(name, "NaN", np.isnan(out), offset)
        problems.add(name, "infinite", np.isinf(out), offset)


@dataclass
class _Output:
    features: npt.NDArray[np.float32]
    label: npt.NDArray[np.int8]
    weight: npt.NDArray[np.float64]
    event_number: npt.NDArray[np.int64]
    process: npt.NDArray[np.object_] | None


def _column_passes(info: TableInfo, features: tuple[str, ...]) -> list[list[str]]:
    """Split the features into groups read in separate passes over a file.

    Parquet and ROOT store each column apart, so reading a few columns per
    pass costs no extra I/O and bounds the decoded data held at once (whole
    row groups of every column would otherwise sit in memory). CSV is parsed
    row by row, so it is read in one pass.
    """
    if info.format == "csv":
        return [list(features)]
    step = _FEATURES_PER_PASS
    return [list(features[i : i + step]) for i in range(0, len(features), step)]


@dataclass
class _FileFill:
    """Read one file into ``out[start:start + rows]``, checking every value."""

    info: TableInfo
    rows: int
    start: int
    feature_names: tuple[str, ...]
    columns: ColumnNames
    out: _Output
    where: str

    def run(self, batch_rows: int) -> None:
        problems = _Problems(self.where)
        names = self.info.schema.names
        c = self.columns
        extras = [c.label] + [
            n for n in (c.weight, c.event_number, c.process) if n in names
        ]
        index = {name: j for j, name in enumerate(self.feature_names)}
        for k, group in enumerate(_column_passes(self.info, self.feature_names)):
            wanted = list(dict.fromkeys(group + (extras if k == 0 else [])))
            offset = 0
            for batch in iter_batches(_spec_of(self.info), wanted, batch_rows):
                n = batch.num_rows
                if offset + n > self.rows:
                    msg = (
                        f"{self.where} has more rows than its metadata says "
                        f"({self.rows}); it changed while being read, or is damaged"
                    )
                    raise DataError(msg)
                lo = self.start + offset
                for name in group:
                    column = self._numeric(batch, name)
                    target = self.out.features[lo : lo + n, index[name]]
                    _fill_float(column, target, name, offset, problems)
                if k == 0:
                    self._extras(batch, lo, offset, problems)
                offset += n
            if offset != self.rows:
                msg = (
                    f"{self.where} gave {offset} rows but its metadata says "
                    f"{self.rows}; it is damaged or changed while being read"
                )
                raise DataError(msg)
        problems.raise_if_any(c.label)

    def _numeric(self, batch: pa.RecordBatch, name: str) -> pa.Array:
        column = batch.column(name)
        if not _is_number(column.type):
            msg = (
                f"{self.where}: column {name!r} is {_type_name(column.type)} (from "
                "some row on), but a number was expected; fix the values or leave "
                "it out of --features"
            )
            raise DataError(msg)
        return column

    def _extras(
        self, batch: pa.RecordBatch, lo: int, offset: int, problems: _Problems
    ) -> None:
        """Label, weight, event number and process of one batch."""
        c, out, n = self.columns, self.out, batch.num_rows
        names = batch.schema.names

        # label: 0 or 1 only
        values = np.empty(n, dtype=np.float64)
        _fill_float(self._numeric(batch, c.label), values, c.label, offset, problems)
        bad = np.isfinite(values) & (values != 0) & (values != 1)
        if bad.any():
            found = np.unique(values[bad]).tolist()
            problems.label_values.update(found[:_MAX_LISTED_VALUES])
        else:
            out.label[lo : lo + n] = np.nan_to_num(values).astype(np.int8)

        # weight defaults to 1 (preset), event number to the global row index
        if c.weight in names:
            weight = self._numeric(batch, c.weight)
            _fill_float(weight, out.weight[lo : lo + n], c.weight, offset, problems)
        target = out.event_number[lo : lo + n]
        if c.event_number in names:
            number = self._numeric(batch, c.event_number)
            _fill_event_number(number, target, c.event_number, offset, problems)
        else:
            target[...] = np.arange(lo, lo + n, dtype=np.int64)

        if out.process is not None:
            if c.process in names:
                out.process[lo : lo + n] = _strings(batch.column(c.process))
            else:
                out.process[lo : lo + n] = ""


def _fill_event_number(
    column: pa.Array,
    out: npt.NDArray[np.int64],
    name: str,
    offset: int,
    problems: _Problems,
) -> None:
    if pa.types.is_integer(column.type) or pa.types.is_boolean(column.type):
        nulls = _nulls(column)
        if nulls is not None:
            problems.add(name, "missing (null)", nulls, offset)
            column = pc.fill_null(column, 0)
        out[...] = _numpy(column)
        return
    values = np.empty(len(column), dtype=np.float64)
    _fill_float(column, values, name, offset, problems)
    finite = np.isfinite(values)
    problems.add(name, "non-integer", finite & (values != np.round(values)), offset)
    with np.errstate(invalid="ignore"):
        out[...] = np.where(finite, values, 0).astype(np.int64)


def _strings(column: pa.Array) -> npt.NDArray[np.object_]:
    """Process names as str objects, one shared object per distinct name."""
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = pc.cast(column, pa.string())
    encoded = pc.dictionary_encode(pc.fill_null(column, ""))
    names = np.array(encoded.dictionary.to_pylist(), dtype=object)
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    return np.asarray(names[indices], dtype=object)


def _spec_of(info: TableInfo) -> str:
    return f"{info.path}:{info.tree}" if info.tree is not None else str(info.path)


def _count_rows(info: TableInfo, label: str, batch_rows: int) -> int:
    if info.num_rows is not None:
        return info.num_rows
    return sum(b.num_rows for b in iter_batches(_spec_of(info), [label], batch_rows))


# ---------------------------------------------------------------------------
# public API


def load_events(
    specs: Sequence[str],
    *,
    features: Sequence[str] | str | None = None,
    columns: ColumnNames = ColumnNames(),
    role: str = "source",
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> EventTable:
    """Read, check and concatenate event tables into one :class:`EventTable`.

    Args:
        specs: table specs (``PATH`` or ``PATH:TREE``, see
            :func:`hepda.data.io.parse_spec`); several are concatenated.
        features: the feature columns: a list of names, a comma-separated
            string, ``"tth41"`` (any case) for the paper's 41 variables, or
            None for every numeric column of the first file that is not a
            reserved column of ``columns``, in file order.
        columns: names of the label, weight, event-number and process columns.
            ``weight`` defaults to 1; ``event_number`` to the row index counted
            over all files, so it stays unique across them.
        role: ``"source"`` or ``"target"``, used in messages.
        batch_rows: rows read at a time; memory beyond the result stays near
            one batch.

    Files with no rows are skipped (with a warning); a column missing from a
    file, a non-numeric feature, a null, NaN or infinite value, or a label
    other than 0/1 raises :class:`DataError` naming the file and column.
    """
    if isinstance(specs, str):
        specs = [specs]
    if not specs:
        msg = f"no {role} files were given; pass at least one PATH or PATH:TREE"
        raise DataError(msg)

    # every file must exist: report all the missing ones at once
    infos: list[TableInfo] = []
    missing: list[str] = []
    for spec in specs:
        try:
            infos.append(describe_table(spec))
        except InputFileError as exc:
            missing.append(str(exc))
    if len(missing) == 1:
        raise InputFileError(f"{role} input: {missing[0]}")
    if missing:
        msg = f"{len(missing)} {role} inputs are missing or unusable: " + "; ".join(
            missing
        )
        raise InputFileError(msg)

    # names, then rows, then types: cheap checks first
    for info in infos:
        _check_schema(info, (), columns, role, types=False)
    if features is not None:
        names = _resolve_features(features, infos[0], columns, role)
        for info in infos:
            _check_schema(info, names, columns, role, types=False)
    rows = [_count_rows(info, columns.label, batch_rows) for info in infos]
    origin = " + ".join(info.display for info in infos)
    if sum(rows) == 0:
        what = (
            f"{role} file {origin} has"
            if len(infos) == 1
            else f"every {role} file ({origin}) has"
        )
        msg = f"{what} 0 rows (no events); check the selection that made it"
        raise DataError(msg)
    if features is None:
        first = next(i for i, n in zip(infos, rows, strict=True) if n)
        names = _resolve_features(None, first, columns, role)
    for info, n in zip(infos, rows, strict=True):
        # an empty CSV has no values to tell its column types; it is skipped
        _check_schema(info, names, columns, role, types=n > 0)
    for info, n in zip(infos, rows, strict=True):
        if n == 0:
            log.warning("%s file %s has no rows; skipping it", role, info.display)

    # preallocate, then fill file by file
    total = sum(rows)
    with_process = [
        columns.process in info.schema.names
        for info, n in zip(infos, rows, strict=True)
        if n
    ]
    if any(with_process) and not all(with_process):
        log.warning(
            "some %s files have no %r column; their events get ''",
            role,
            columns.process,
        )
    out = _Output(
        features=np.empty((total, len(names)), dtype=np.float32),
        label=np.empty(total, dtype=np.int8),
        weight=np.ones(total, dtype=np.float64),
        event_number=np.empty(total, dtype=np.int64),
        process=np.empty(total, dtype=object) if any(with_process) else None,
    )
    start = 0
    for info, n in zip(infos, rows, strict=True):
        if n:
            where = f"{role} file {info.display}"
            _FileFill(info, n, start, names, columns, out, where).run(batch_rows)
            start += n

    log.info("%s: %d events, %d features from %s", role, total, len(names), origin)
    return EventTable(
        features=out.features,
        feature_names=names,
        label=out.label,
        weight=out.weight,
        event_number=out.event_number,
        process=out.process,
        origin=origin,
    )


def check_same_features(source: EventTable, target: EventTable) -> None:
    """Raise :class:`DataError` unless both tables have the same feature order."""
    s, t = source.feature_names, target.feature_names
    if s == t:
        return
    only_source = [n for n in s if n not in set(t)]
    only_target = [n for n in t if n not in set(s)]
    if only_source or only_target:
        parts = []
        if only_source:
            parts.append(f"only in source ({source.origin}): {only_source!r}")
        if only_target:
            parts.append(f"only in target ({target.origin}): {only_target!r}")
        msg = (
            f"source and target have different features: {'; '.join(parts)}; "
            "give both the same columns, or pass --features explicitly"
        )
        raise DataError(msg)
    first = next(i for i, (a, b) in enumerate(zip(s, t, strict=True)) if a != b)
    msg = (
        f"source ({source.origin}) and target ({target.origin}) have the same "
        f"features in a different order (position {first}: {s[first]!r} against "
        f"{t[first]!r}); the order must match, so pass --features explicitly"
    )
    raise DataError(msg)


def to_arrow(
    events: EventTable, extra: Mapping[str, npt.ArrayLike] | None = None
) -> pa.Table:
    """Return ``events`` as an event table with the default column names.

    Columns: the features (float32), ``label`` (int8), ``weight`` (float64),
    ``event_number`` (int64), ``process`` (string, if known), then ``extra``
    (e.g. ``{"score": s}``), each of length ``len(events)``.
    """
    names = ColumnNames()
    arrays: dict[str, pa.Array] = {
        name: pa.array(np.ascontiguousarray(events.features[:, j]))
        for j, name in enumerate(events.feature_names)
    }
    arrays[names.label] = pa.array(events.label)
    arrays[names.weight] = pa.array(events.weight)
    arrays[names.event_number] = pa.array(events.event_number)
    if events.process is not None:
        arrays[names.process] = pa.array(events.process.tolist(), pa.string())
    for key, value in (extra or {}).items():
        column = np.asarray(value)
        if key in arrays:
            msg = (
                f"extra column {key!r} clashes with a column of the event table; "
                "rename it"
            )
            raise DataError(msg)
        if column.shape != (len(events),):
            msg = (
                f"extra column {key!r} must have shape ({len(events)},), "
                f"got {column.shape!r}"
            )
            raise DataError(msg)
        arrays[key] = pa.array(column)
    return pa.table(arrays)

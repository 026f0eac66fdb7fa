"""Read and check an object table before any variable is computed.

Everything here works on pyarrow and NumPy, so a bad table is reported
with the column and the first event at fault before awkward is involved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hepda.errors import DataError, did_you_mean

if TYPE_CHECKING:
    from numpy.typing import NDArray

#: Per-jet columns: one list per event, one entry per jet.
JET_COLUMNS: tuple[str, ...] = ("jet_pt", "jet_eta", "jet_phi", "jet_m", "jet_btag")
#: Per-event numbers the 41 variables read. ``met_phi`` and ``jet_flavour``
#: belong to the object table but no variable depends on them.
EVENT_COLUMNS: tuple[str, ...] = ("lep_pt", "lep_eta", "lep_phi", "lep_m", "met")
REQUIRED_COLUMNS: tuple[str, ...] = JET_COLUMNS + EVENT_COLUMNS


@dataclass(frozen=True)
class Objects:
    """Validated objects as flat arrays, jets pT-ordered within each event.

    ``jet`` holds the jet columns (float64; ``jet_btag`` bool), event after
    event, ``counts[i]`` jets for event ``i``; ``event`` the per-event columns.
    """

    counts: NDArray[np.int64]
    jet: dict[str, NDArray[Any]]
    event: dict[str, NDArray[np.float64]]

    @property
    def n_events(self) -> int:
        return len(self.counts)


def as_arrow(objects: Any) -> pa.Table:
    """Return ``objects`` (a pyarrow Table or an awkward record array) as a Table."""
    if isinstance(objects, pa.Table):
        return objects
    if isinstance(objects, pa.RecordBatch):
        return pa.Table.from_batches([objects])
    module = type(objects).__module__.split(".")[0]
    if module == "awkward":
        import awkward as ak

        if not ak.fields(objects):
            msg = (
                "expected an awkward record array with one field per column "
                f"(jet_pt, ..., met), got an array of type {str(objects.type)!r}"
            )
            raise DataError(msg)
        table: pa.Table = ak.to_arrow_table(objects, extensionarray=False)
        return table
    msg = (
        "expected the object table as a pyarrow.Table or an awkward record "
        f"array, got {type(objects).__name__!r}; read files with "
        "hepda.data.io.read_table"
    )
    raise DataError(msg)


def read_objects(table: pa.Table) -> Objects:
    """Check the columns the 41 variables need and return them flat.

    Raises :class:`DataError` naming every missing column (with the nearest
    names present), and the column and first event for wrong types, missing
    values, non-finite numbers or jet lists of unequal length.
    """
    _check_present(table.column_names)
    n_events = table.num_rows

    counts: NDArray[np.int64] | None = None
    jet: dict[str, NDArray[Any]] = {}
    for name in JET_COLUMNS:
        lengths, values = _jagged(table, name)
        if counts is None:
            counts = lengths
        elif not np.array_equal(lengths, counts):
            first = int(np.flatnonzero(lengths != counts)[0])
            msg = (
                f"column {name!r} has {lengths[first]} entries in event {first} "
                f"but 'jet_pt' has {counts[first]}; every jet_* list needs one "
                "entry per jet"
            )
            raise DataError(msg)
        jet[name] = values
    assert counts is not None

    event = {name: _flat(table, name) for name in EVENT_COLUMNS}
    event_of_jet = np.repeat(np.arange(n_events), counts)
    for name, values in [*jet.items(), *event.items()]:
        bad = ~np.isfinite(values)
        if bad.any():
            where = event_of_jet if name in jet else np.arange(n_events)
            msg = (
                f"column {name!r} has {int(bad.sum())} non-finite values (first in "
                f"event {int(where[np.argmax(bad)])}); remove or repair those events"
            )
            raise DataError(msg)

    # Values the variables cannot make sense of: a b-tag score instead of
    # the tag decision (every jet with a non-zero score would count as
    # tagged), and negative transverse momenta or missing ET. (Masses are
    # not checked: ntuples often store a tiny negative mass for m^2 < 0.)
    btag = jet["jet_btag"]
    not_decision = (btag != 0) & (btag != 1)
    if not_decision.any():
        first = int(np.argmax(not_decision))
        msg = (
            f"column 'jet_btag' holds {float(btag[first]):g} (first in event "
            f"{int(event_of_jet[first])}), not a tag decision: it must be "
            "True/False (or 1/0); from a b-tagging score, apply the working "
            "point first (jet_btag = score > cut)"
        )
        raise DataError(msg)
    for name, values in (
        ("jet_pt", jet["jet_pt"]),
        ("lep_pt", event["lep_pt"]),
        ("met", event["met"]),
    ):
        negative = values < 0
        if negative.any():
            where = event_of_jet if name.startswith("jet") else np.arange(n_events)
            msg = (
                f"column {name!r} has {int(negative.sum())} negative value(s) "
                f"(first in event {int(where[np.argmax(negative)])}); transverse "
                "momenta and missing ET must be >= 0 (GeV)"
            )
            raise DataError(msg)

    # FEATURES.md promises pT-ordered jets; sorting anyway (stable, so equal
    # pT keeps the input order) makes "leading b-jet" and "5th jet" right
    # for a user table in any order, at the cost of one lexsort.
    pt = jet["jet_pt"]
    next_in_event = event_of_jet[1:] == event_of_jet[:-1]
    if np.any(next_in_event & (pt[1:] > pt[:-1])):
        order = np.lexsort((-pt, event_of_jet))
        jet = {name: values[order] for name, values in jet.items()}
    jet["jet_btag"] = jet["jet_btag"] != 0
    return Objects(counts=counts, jet=jet, event=event)


def _check_present(columns: list[str]) -> None:
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        parts = [f"{name!r}{did_you_mean(name, columns)}" for name in missing]
        msg = (
            f"object table lacks column(s) {', '.join(parts)}; the 41 variables "
            f"need {', '.join(REQUIRED_COLUMNS)} (FEATURES.md, 'Object table'), "
            f"got columns {columns!r}"
        )
        raise DataError(msg)


def _is_number(type_: pa.DataType) -> bool:
    return bool(
        pa.types.is_floating(type_)
        or pa.types.is_integer(type_)
        or pa.types.is_boolean(type_)
    )


def _jagged(table: pa.Table, name: str) -> tuple[NDArray[np.int64], NDArray[Any]]:
    column = table.column(name).combine_chunks()
    type_ = column.type
    is_list = pa.types.is_list(type_) or pa.types.is_large_list(type_)
    if not (is_list and _is_number(type_.value_type)):
        msg = (
            f"column {name!r} should hold one list of numbers per event (one "
            f"entry per jet), got type {str(type_)!r}"
        )
        raise DataError(msg)
    if column.null_count:
        first = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        msg = (
            f"column {name!r} is missing in {column.null_count} events (first: "
            f"event {first}); give events without jets an empty list"
        )
        raise DataError(msg)
    values = pc.list_flatten(column)
    if values.null_count:
        parents = pc.list_parent_indices(column).to_numpy()
        nulls = values.is_null().to_numpy(zero_copy_only=False)
        msg = (
            f"column {name!r} has {values.null_count} missing jet values (first "
            f"in event {int(parents[np.argmax(nulls)])}); repair or drop those events"
        )
        raise DataError(msg)
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    flat = values.to_numpy(zero_copy_only=False)
    if not pa.types.is_boolean(type_.value_type):
        flat = flat.astype(np.float64)
    return lengths.astype(np.int64), flat


def _flat(table: pa.Table, name: str) -> NDArray[np.float64]:
    column = table.column(name).combine_chunks()
    if not _is_number(column.type):
        msg = (
            f"column {name!r} should hold one number per event, got type "
            f"{str(column.type)!r}"
        )
        raise DataError(msg)
    if column.null_count:
        first = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        msg = (
            f"column {name!r} is missing in {column.null_count} events (first: "
            f"event {first}); every selected event needs exactly one lepton and MET"
        )
        raise DataError(msg)
    values: NDArray[np.float64] = column.to_numpy(zero_copy_only=False)
    return values.astype(np.float64)

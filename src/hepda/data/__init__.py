"""Reading, checking and writing event tables (Parquet, ROOT TTree, CSV).

:mod:`hepda.data.io` reads and writes tables; :mod:`hepda.data.events`
loads them into checked, training-ready :class:`EventTable` objects.
"""

from hepda.data.events import (
    ColumnNames,
    EventTable,
    check_same_features,
    load_events,
    to_arrow,
)
from hepda.data.io import (
    SUPPORTED_SUFFIXES,
    TableInfo,
    describe_table,
    iter_batches,
    parse_spec,
    read_table,
    write_table,
)

__all__ = [
    "SUPPORTED_SUFFIXES",
    "ColumnNames",
    "EventTable",
    "TableInfo",
    "check_same_features",
    "describe_table",
    "iter_batches",
    "load_events",
    "parse_spec",
    "read_table",
    "to_arrow",
    "write_table",
]

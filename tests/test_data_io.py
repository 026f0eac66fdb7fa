"""Table I/O: every format written one way and read back another.

Files written by hepda are read back by a second reader (pyarrow.parquet,
uproot, the csv module), and files written by those libraries are read by
hepda. Every error case checks the message names the file or column.
"""

from __future__ import annotations

import csv
import doctest
import gzip
import os
import tempfile
from pathlib import Path

import awkward as ak
import numpy as np
import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.parquet as pq
import pytest
import uproot
from hypothesis import given, settings
from hypothesis import strategies as st

from hepda.data import io as dio
from hepda.data.io import (
    describe_table,
    iter_batches,
    parse_spec,
    read_table,
    write_table,
)
from hepda.errors import DataError, HepdaError, InputFileError


def _objects(n: int = 7, seed: int = 3) -> pa.Table:
    """A small object table: jets as lists, lepton scalars, strings."""
    rng = np.random.default_rng(seed)
    njet = rng.integers(0, 6, n)
    pts = [rng.uniform(25, 300, k).astype(np.float32) for k in njet]
    return pa.table(
        {
            "jet_pt": pa.array([p.tolist() for p in pts], pa.list_(pa.float32())),
            "lep_pt": pa.array(rng.uniform(27, 200, n).astype(np.float32)),
            "jet_eta": pa.array(
                [rng.uniform(-2.5, 2.5, k).astype(np.float32).tolist() for k in njet],
                pa.list_(pa.float32()),
            ),
            "jet_btag": pa.array(
                [rng.integers(0, 2, k).astype(bool).tolist() for k in njet],
                pa.list_(pa.bool_()),
            ),
            "jet_flavour": pa.array(
                [rng.choice([0, 4, 5], k).tolist() for k in njet], pa.list_(pa.int8())
            ),
            "met": pa.array(rng.uniform(0, 100, n)),
            "label": pa.array(rng.integers(0, 2, n).astype(np.int8)),
            "process": pa.array(rng.choice(["ttH", "ttbar"], n).tolist()),
            "generator": pa.array(["pythia-wimpy"] * n),
            "weight": pa.array(rng.normal(1, 0.5, n)),
            "event_number": pa.array(np.arange(100, 100 + n, dtype=np.int64)),
        }
    )


def _events(n: int = 9, seed: int = 4) -> pa.Table:
    """A small flat event table."""
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "MET": pa.array(rng.uniform(0, 200, n).astype(np.float32)),
            "nJets": pa.array(rng.integers(5, 10, n).astype(np.float32)),
            "label": pa.array(rng.integers(0, 2, n).astype(np.int8)),
            "process": pa.array(rng.choice(["ttH", "ttbar"], n).tolist()),
            "weight": pa.array(rng.normal(1, 0.5, n)),
            "event_number": pa.array(np.arange(n, dtype=np.int64)),
        }
    )


def _no_temp_files(directory: Path) -> bool:
    return not [p for p in directory.iterdir() if p.name.endswith(".tmp")]


# ---------------------------------------------------------------------------
# specs


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("s1.parquet", (Path("s1.parquet"), None)),
        ("data/s1.csv.gz", (Path("data/s1.csv.gz"), None)),
        ("s1.root", (Path("s1.root"), None)),
        ("s1.root:events", (Path("s1.root"), "events")),
        ("S1.ROOT:nominal/events", (Path("S1.ROOT"), "nominal/events")),
    ],
)
def test_parse_spec(spec: str, expected: tuple[Path, str | None]) -> None:
    assert parse_spec(spec) == expected


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("", "empty input spec"),
        ("s1.root:", r"'s1\.root:' ends with ':'"),
        ("s1.parquet:events", r"only ROOT files hold trees; write just 's1\.parquet'"),
    ],
)
def test_parse_spec_rejects(spec: str, match: str) -> None:
    with pytest.raises(InputFileError, match=match):
        parse_spec(spec)


def test_parse_spec_prefers_an_existing_file_with_a_colon(tmp_path: Path) -> None:
    odd = tmp_path / "run:1.root"
    write_table(_events(), odd)
    assert parse_spec(str(odd)) == (odd, None)
    assert len(read_table(str(odd))) == 9


# ---------------------------------------------------------------------------
# round trips: hepda writes, a second reader reads


def test_parquet_written_is_read_by_pyarrow(tmp_path: Path) -> None:
    table = _objects()
    write_table(table, tmp_path / "o.parquet")
    back = pq.read_table(tmp_path / "o.parquet")
    assert back.equals(table)
    meta = pq.ParquetFile(tmp_path / "o.parquet").metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert read_table(str(tmp_path / "o.parquet")).equals(table)


@pytest.mark.parametrize("name", ["e.csv", "e.csv.gz"])
def test_csv_written_is_read_by_csv_module(tmp_path: Path, name: str) -> None:
    table = _events()
    write_table(table, tmp_path / name)
    opener = gzip.open if name.endswith(".gz") else open
    with opener(tmp_path / name, "rt", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == table.column_names
    for i, row in enumerate(rows):
        assert np.float32(row["MET"]) == table["MET"][i].as_py()
        assert int(row["label"]) == table["label"][i].as_py()
        assert row["process"] == table["process"][i].as_py()
        assert float(row["weight"]) == table["weight"][i].as_py()
    back = read_table(str(tmp_path / name))
    assert back.column_names == table.column_names
    assert back.cast(table.schema).equals(table)


def test_root_written_is_a_ttree_with_counter(tmp_path: Path) -> None:
    table = _objects()
    write_table(table, tmp_path / "o.root", tree="objects")
    with uproot.open(tmp_path / "o.root") as f:
        assert f.classnames()["objects;1"] == "TTree"  # not ROOT::RNTuple
        tree = f["objects"]
        assert isinstance(tree, uproot.behaviors.TTree.TTree)
        keys = tree.keys()
        assert "njet" in keys
        assert tree["jet_pt"].count_branch.name == "njet"
        assert tree["jet_btag"].count_branch.name == "njet"
        arrays = tree.arrays(library="ak")
    lengths = [len(x) for x in table["jet_pt"].to_pylist()]
    assert arrays["njet"].tolist() == lengths
    for name in ("jet_pt", "jet_eta", "jet_btag", "jet_flavour", "lep_pt", "met"):
        assert arrays[name].tolist() == table[name].to_pylist()
    assert arrays["process"].tolist() == table["process"].to_pylist()
    assert arrays["generator"].tolist() == table["generator"].to_pylist()


def test_root_round_trip_restores_columns_and_types(tmp_path: Path) -> None:
    table = _objects()
    write_table(table, tmp_path / "o.root")
    back = read_table(str(tmp_path / "o.root"))
    assert back.column_names == table.column_names  # no counter, original order
    assert back.equals(table)
    part = read_table(str(tmp_path / "o.root:events"), columns=["process", "jet_pt"])
    assert part.column_names == ["process", "jet_pt"]
    assert part["jet_pt"].equals(table["jet_pt"])


def test_empty_tables_round_trip(tmp_path: Path) -> None:
    table = _objects().slice(0, 0)
    for name in ("z.parquet", "z.root"):
        write_table(table, tmp_path / name)
        back = read_table(str(tmp_path / name))
        assert back.num_rows == 0
        assert back.schema.equals(table.schema)


def test_dictionary_columns_are_written_dense(tmp_path: Path) -> None:
    table = _events().set_column(
        3, "process", pa.compute.dictionary_encode(_events()["process"])
    )
    write_table(table, tmp_path / "d.root")
    assert read_table(str(tmp_path / "d.root"))["process"].to_pylist() == (
        _events()["process"].to_pylist()
    )


# ---------------------------------------------------------------------------
# files from other writers


def test_reads_foreign_root_tree_with_jagged_branches(tmp_path: Path) -> None:
    jets = ak.zip({"pt": ak.Array([[40.0, 30.0], [], [55.0]])})
    with uproot.recreate(tmp_path / "f.root") as f:
        f.mktree("t", {"jet": jets.type.content, "met": np.float64})
        f["t"].extend({"jet": jets, "met": np.array([1.0, 2.0, 3.0])})
    table = read_table(str(tmp_path / "f.root"))
    assert table.column_names == ["njet", "jet_pt", "met"]
    assert table["jet_pt"].to_pylist() == [[40.0, 30.0], [], [55.0]]
    assert table["njet"].to_pylist() == [2, 0, 1]


def test_reads_rntuple(tmp_path: Path) -> None:
    with uproot.recreate(tmp_path / "r.root") as f:
        f["events"] = {"a": np.arange(4, dtype=np.float32), "label": np.ones(4)}
    with uproot.open(tmp_path / "r.root") as f:
        assert f.classnames()["events;1"] == "ROOT::RNTuple"
    table = read_table(str(tmp_path / "r.root"))
    assert table["a"].to_pylist() == [0.0, 1.0, 2.0, 3.0]


def test_reads_csv_from_csv_module(tmp_path: Path) -> None:
    path = tmp_path / "hand.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["x", "label", "process"])
        writer.writerows([[0.5, 1, "ttH"], [1.5, 0, "ttbar"]])
    table = read_table(str(path))
    assert table.to_pydict() == {
        "x": [0.5, 1.5],
        "label": [1, 0],
        "process": ["ttH", "ttbar"],
    }


@pytest.mark.parametrize("name", ["b.parquet", "b.root", "b.csv"])
def test_iter_batches_covers_table_in_order(tmp_path: Path, name: str) -> None:
    table = _events(n=23)
    write_table(table, tmp_path / name)
    batches = list(iter_batches(str(tmp_path / name), ["weight", "MET"], batch_rows=5))
    assert all(b.num_rows <= 5 for b in batches)
    assert all(b.schema.names == ["weight", "MET"] for b in batches)
    joined = pa.Table.from_batches(batches)
    assert joined["weight"].to_pylist() == table["weight"].to_pylist()
    assert np.array_equal(
        joined["MET"].to_numpy().astype(np.float32), table["MET"].to_numpy()
    )


def test_csv_column_changing_type_after_first_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # tiny blocks so that the float appears long after type inference
    monkeypatch.setattr(dio, "_CSV_BLOCK_BYTES", 64)
    path = tmp_path / "late.csv"
    lines = ["w,name,label"] + [f"{i},a,0" for i in range(40)] + ["0.5,b,1", "7,3,1"]
    path.write_text("\n".join(lines) + "\n")
    plain = pv.open_csv(path, read_options=pv.ReadOptions(block_size=64))
    with pytest.raises(pa.ArrowInvalid, match="conversion error"):
        list(plain)  # pyarrow alone fails: what the widening is for
    batches = list(iter_batches(str(path), None, batch_rows=1000))
    joined = pa.Table.from_batches(batches)
    assert joined["w"].type == pa.float64()
    assert joined["w"].to_pylist()[-2:] == [0.5, 7.0]
    assert joined["name"].to_pylist()[-1] == "3"


def test_describe_table(tmp_path: Path) -> None:
    write_table(_events(), tmp_path / "d.root", tree="nominal")
    info = describe_table(str(tmp_path / "d.root"))
    assert (info.tree, info.num_rows, info.display) == ("nominal", 9, "d.root:nominal")
    assert info.schema.names == _events().column_names


# ---------------------------------------------------------------------------
# read errors


def test_missing_file_names_it_and_nearest(tmp_path: Path) -> None:
    write_table(_events(), tmp_path / "s1.parquet")
    with pytest.raises(
        InputFileError, match=r"s2\.parquet' does not exist.*'s1\.parquet'"
    ):
        read_table(str(tmp_path / "s2.parquet"))


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="is a directory"):
        read_table(str(tmp_path))


def test_unknown_suffix_lists_supported(tmp_path: Path) -> None:
    (tmp_path / "e.h5").write_bytes(b"\x89HDF")
    with pytest.raises(InputFileError, match=r"'\.h5'.*\.parquet, \.pq, \.csv"):
        read_table(str(tmp_path / "e.h5"))


def test_missing_tree_lists_trees(tmp_path: Path) -> None:
    write_table(_events(), tmp_path / "t.root", tree="events")
    with pytest.raises(DataError, match=r"no tree 'event' \(did you mean 'events'\?\)"):
        read_table(str(tmp_path / "t.root:event"))


def test_several_trees_need_a_name(tmp_path: Path) -> None:
    with uproot.recreate(tmp_path / "two.root") as f:
        for name in ("nominal", "jes_up"):
            f.mktree(name, {"x": np.float64}).extend({"x": np.zeros(2)})
    with pytest.raises(DataError, match=r"2 trees \('nominal', 'jes_up'\).*PATH:TREE"):
        read_table(str(tmp_path / "two.root"))
    assert read_table(str(tmp_path / "two.root:jes_up")).num_rows == 2


def test_root_without_trees(tmp_path: Path) -> None:
    with uproot.recreate(tmp_path / "h.root") as f:
        f["note"] = "just a string"
    with pytest.raises(
        DataError, match=r"h\.root holds no TTree.*'note \(TObjString\)'"
    ):
        read_table(str(tmp_path / "h.root"))


def test_tree_name_on_a_non_tree(tmp_path: Path) -> None:
    write_table(_events(), tmp_path / "t.root")
    with pytest.raises(DataError, match="is a TObjString, not a TTree"):
        read_table(str(tmp_path / "t.root:events__hepda_schema"))


@pytest.mark.parametrize("name", ["c.parquet", "c.root", "c.csv.gz"])
@pytest.mark.parametrize("keep", [0.2, 0.6, 0.95])
def test_truncated_file_is_a_data_error(tmp_path: Path, name: str, keep: float) -> None:
    write_table(_objects(200) if name != "c.csv.gz" else _events(500), tmp_path / name)
    raw = (tmp_path / name).read_bytes()
    (tmp_path / name).write_bytes(raw[: int(len(raw) * keep)])
    with pytest.raises(DataError, match=f"could not read {name.split('.')[0]}"):
        read_table(str(tmp_path / name))


def test_garbage_parquet_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "g.parquet").write_text("label,x\n1,2\n")
    with pytest.raises(DataError, match=r"could not read g\.parquet.*corrupted"):
        list(iter_batches(str(tmp_path / "g.parquet"), None))


def test_csv_with_ragged_rows_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("a,label\n1,0\n2\n")
    with pytest.raises(DataError, match=r"could not read r\.csv.*Expected 2 columns"):
        read_table(str(tmp_path / "r.csv"))


@pytest.mark.parametrize("name", ["m.parquet", "m.root", "m.csv"])
def test_missing_columns_named_with_nearest(tmp_path: Path, name: str) -> None:
    write_table(_events(), tmp_path / name)
    with pytest.raises(
        DataError, match=r"no columns 'met' \(did you mean 'MET'\?\), 'nJet' "
    ):
        read_table(str(tmp_path / name), columns=["met", "nJet", "label"])
    with pytest.raises(DataError, match=r"no column 'wieght' \(did you mean 'weight'"):
        list(iter_batches(str(tmp_path / name), ["wieght"]))


# ---------------------------------------------------------------------------
# write errors and atomicity


def test_csv_refuses_list_columns(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"jet_pt \(list<item: float>\).*not flat"):
        write_table(_objects(), tmp_path / "o.csv")
    assert not (tmp_path / "o.csv").exists()


def test_root_refuses_nulls(tmp_path: Path) -> None:
    table = _events().set_column(0, "MET", pa.array([None] + [1.0] * 8, pa.float32()))
    with pytest.raises(DataError, match=r"'MET' contain null values"):
        write_table(table, tmp_path / "n.root")


def test_root_refuses_unequal_jet_lists(tmp_path: Path) -> None:
    table = pa.table(
        {
            "jet_pt": pa.array([[1.0], [2.0, 3.0]]),
            "jet_eta": pa.array([[0.1], [0.2]]),
        }
    )
    with pytest.raises(
        DataError, match=r"'jet_pt' and 'jet_eta' share one counter.*row 1"
    ):
        write_table(table, tmp_path / "u.root")


def test_root_refuses_counter_clash(tmp_path: Path) -> None:
    table = pa.table({"jet_pt": pa.array([[1.0]]), "njet": pa.array([1])})
    with pytest.raises(DataError, match="counter branch 'njet'"):
        write_table(table, tmp_path / "c.root")


def test_root_refuses_unsupported_types(tmp_path: Path) -> None:
    table = pa.table({"t": pa.array([1, 2], pa.timestamp("s"))})
    with pytest.raises(DataError, match=r"t \(timestamp\[s\]\).*write Parquet"):
        write_table(table, tmp_path / "t.root")


def test_unknown_output_suffix(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"unknown suffix '\.h5'"):
        write_table(_events(), tmp_path / "e.h5")
    assert list(tmp_path.iterdir()) == []


def _old_content(path: Path) -> bytes:
    write_table(_events(n=3, seed=0), path)
    return path.read_bytes()


@pytest.mark.parametrize("exists", [True, False])
def test_failed_parquet_write_keeps_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exists: bool
) -> None:
    path = tmp_path / "s.parquet"
    old = _old_content(path) if exists else None

    def half_then_fail(table: pa.Table, where: Path, **kwargs: object) -> None:
        Path(where).write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(dio.pq, "write_table", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        write_table(_events(), path)
    assert (path.read_bytes() if exists else path.exists()) == (
        old if exists else False
    )
    assert _no_temp_files(tmp_path)


def test_failed_csv_write_keeps_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.csv.gz"
    old = _old_content(path)
    real = pv.write_csv

    def write_then_fail(table: pa.Table, sink: object) -> None:
        real(table.slice(0, 2), sink)
        raise pa.ArrowIOError("connection lost")

    monkeypatch.setattr(dio.pv, "write_csv", write_then_fail)
    with pytest.raises(OSError, match="connection lost"):
        write_table(_events(), path)
    assert path.read_bytes() == old
    assert _no_temp_files(tmp_path)


@pytest.mark.parametrize("fail_at", [1, 3])
def test_failed_root_write_midway_keeps_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    path = tmp_path / "s.root"
    old = _old_content(path)
    monkeypatch.setattr(dio, "_ROOT_WRITE_ROWS", 2)  # several baskets
    real = dio._awkward_branches
    calls = []

    def fail_later(table: pa.Table, plan: dict[str, list[str]]) -> object:
        calls.append(1)
        if len(calls) > fail_at:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C
        return real(table, plan)

    monkeypatch.setattr(dio, "_awkward_branches", fail_later)
    with pytest.raises(KeyboardInterrupt):
        write_table(_objects(9), path)
    assert path.read_bytes() == old
    assert _no_temp_files(tmp_path)
    assert read_table(str(path)).equals(_events(n=3, seed=0))


def test_write_refuses_directory(tmp_path: Path) -> None:
    (tmp_path / "x.parquet").mkdir()
    with pytest.raises(DataError, match="is a directory"):
        write_table(_events(), tmp_path / "x.parquet")


def test_errors_are_hepda_errors() -> None:
    assert issubclass(InputFileError, FileNotFoundError)
    assert issubclass(DataError, HepdaError)
    assert os.sep  # the messages above use file names, not absolute paths


@settings(max_examples=30, deadline=None)
@given(
    fmt=st.sampled_from(["parquet", "csv", "csv.gz", "root"]),
    exists=st.booleans(),
    rows=st.integers(1, 12),
    fail_after=st.integers(0, 6),
)
def test_interrupted_write_never_leaves_partial_file(
    fmt: str, exists: bool, rows: int, fail_after: int
) -> None:
    table = _events(rows, seed=rows)
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        directory = Path(tmp)
        path = directory / f"out.{fmt}"
        old = _old_content(path) if exists else None

        class Interrupted(Exception):
            pass

        # each writer writes some of its output, then fails
        if fmt == "root":
            mp.setattr(dio, "_ROOT_WRITE_ROWS", 2)
            real_branches = dio._awkward_branches
            calls: list[int] = []

            def branches(t: pa.Table, plan: dict[str, list[str]]) -> object:
                calls.append(1)
                if len(calls) > fail_after:
                    raise Interrupted("interrupted midway")
                return real_branches(t, plan)

            mp.setattr(dio, "_awkward_branches", branches)
        elif fmt == "parquet":

            def parquet(t: pa.Table, where: Path, **kwargs: object) -> None:
                Path(where).write_bytes(b"PAR1" * fail_after)
                raise Interrupted("interrupted midway")

            mp.setattr(dio.pq, "write_table", parquet)
        else:
            real_csv = pv.write_csv

            def csv_writer(t: pa.Table, sink: object) -> None:
                real_csv(t.slice(0, fail_after), sink)
                raise Interrupted("interrupted midway")

            mp.setattr(dio.pv, "write_csv", csv_writer)

        finishes = fmt == "root" and fail_after > (rows + 1) // 2  # empty + chunks
        if finishes:
            write_table(table, path)
            assert read_table(str(path)).equals(table)
        else:
            # the ROOT writer reports a failure inside uproot as a DataError
            with pytest.raises((Interrupted, DataError), match="midway"):
                write_table(table, path)
            assert (path.read_bytes() == old) if exists else not path.exists()
        assert _no_temp_files(directory)


def test_docstring_examples() -> None:
    result = doctest.testmod(dio)
    assert result.attempted >= 3
    assert result.failed == 0


def test_replacing_directory_swaps_on_success_and_keeps_the_old_on_failure(
    tmp_path: Path,
) -> None:
    from hepda._atomic import replacing_directory

    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")

    def interrupted_run() -> None:
        with replacing_directory(out) as staging:
            (staging / "new.txt").write_text("half")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted_run()
    assert [p.name for p in out.iterdir()] == ["old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # nothing left behind
    with replacing_directory(out) as staging:
        (staging / "new.txt").write_text("new")
    assert [p.name for p in out.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    with replacing_directory(tmp_path / "fresh") as staging:
        (staging / "a").write_text("a")
    assert (tmp_path / "fresh" / "a").read_text() == "a"


def test_replacing_directory_writes_through_a_link_with_the_usual_mode(
    tmp_path: Path,
) -> None:
    import os
    import stat

    from hepda._atomic import replacing_directory

    real = tmp_path / "scratch" / "bench"
    real.mkdir(parents=True)
    (real / "old.txt").write_text("old")
    link = tmp_path / "bench"
    link.symlink_to(real, target_is_directory=True)
    with replacing_directory(link) as staging:
        (staging / "new.txt").write_text("new")
    assert link.is_symlink()  # the link stays, its target is replaced
    assert sorted(p.name for p in real.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in real.parent.iterdir()) == ["bench"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(real.stat().st_mode) == 0o777 & ~umask

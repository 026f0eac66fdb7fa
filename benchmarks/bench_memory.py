"""Peak memory of load_events against a naive pandas read, side by side.

Writes a Parquet table of 2,000,000 events x 41 float32 features (plus
label, weight, event_number; pyarrow's default row groups, as a user's file
would have) to a temporary directory, then loads it in fresh subprocesses:

- ``hepda``: ``hepda.data.load_events`` (batched read into a preallocated
  float32 matrix);
- ``naive``: ``pq.read_table(path).to_pandas()``, then the float32 feature
  matrix from the data frame;
- ``imports``: the same imports and nothing else, the floor of any method.

Each child reports its peak RSS (``resource.getrusage(...).ru_maxrss``);
the script prints them, their ratio to the size of the final arrays, and
whether load_events stays under 4 GB. Usage::

    python benchmarks/bench_memory.py [--events 2000000] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N_FEATURES = 41
GB = 1024**3


def _write(path: Path, n_events: int) -> int:
    """Write the benchmark table; return the bytes of the final arrays."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hepda.features.names import TTH41

    rng = np.random.default_rng(1)
    columns = {
        name: pa.array(rng.standard_normal(n_events, dtype=np.float32))
        for name in TTH41
    }
    columns["label"] = pa.array(rng.integers(0, 2, n_events, dtype=np.int8))
    columns["weight"] = pa.array(rng.uniform(0.5, 1.5, n_events))
    columns["event_number"] = pa.array(np.arange(n_events, dtype=np.int64))
    pq.write_table(pa.table(columns), path, compression="zstd")
    # float32 features + int8 label + float64 weight + int64 event number
    return n_events * (N_FEATURES * 4 + 1 + 8 + 8)


def _child(method: str, path: str) -> None:
    """Run one method in this (fresh) process and print a JSON report."""
    if method.startswith("write:"):
        final = _write(Path(path), int(method.split(":")[1]))
        print(json.dumps({"final": final}))
        return

    import numpy as np
    import pyarrow.parquet as pq

    from hepda.data import load_events
    from hepda.features.names import TTH41

    start = time.perf_counter()
    if method == "hepda":
        events = load_events([path], features="tth41")
        shape = events.features.shape
    elif method == "naive":
        frame = pq.read_table(path).to_pandas()
        features = frame[list(TTH41)].to_numpy(dtype=np.float32)
        label = frame["label"].to_numpy(dtype=np.int8)
        shape = (features.shape[0] + 0 * label.shape[0], features.shape[1])
    else:
        shape = (0, 0)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(json.dumps({"peak": peak, "seconds": seconds, "shape": list(shape)}))


def _run(method: str, path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", method, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    report: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "PATH"))
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return

    with tempfile.TemporaryDirectory(prefix="hepda-bench-") as tmp:
        path = Path(tmp) / "events.parquet"
        # written by a child: a child's ru_maxrss starts from its parent's
        # RSS at fork, so the parent must stay small
        t0 = time.perf_counter()
        final = _run(f"write:{args.events}", path)["final"]
        print(
            f"wrote {args.events:,} events x {N_FEATURES} features "
            f"({path.stat().st_size / GB:.2f} GB on disk) in "
            f"{time.perf_counter() - t0:.1f} s; final arrays {final / GB:.3f} GB"
        )
        results: dict[str, list[dict[str, float]]] = {}
        for _ in range(args.repeats):
            for method in ("imports", "hepda", "naive"):
                results.setdefault(method, []).append(_run(method, path))

    print(f"{'method':<9} {'peak RSS GB':>12} {'peak/final':>11} {'time s':>8}")
    peaks = {}
    for method, runs in results.items():
        peak = statistics.median(r["peak"] for r in runs)
        seconds = statistics.median(r["seconds"] for r in runs)
        peaks[method] = peak
        print(f"{method:<9} {peak / GB:>12.3f} {peak / final:>11.2f} {seconds:>8.2f}")
    above_floor = peaks["hepda"] - peaks["imports"]
    print(
        f"load_events above the import floor: {above_floor / GB:.3f} GB "
        f"= {above_floor / final:.2f} x the final arrays"
    )
    print(f"naive / load_events peak: {peaks['naive'] / peaks['hepda']:.2f}")
    verdict = "yes" if peaks["hepda"] < 4 * GB else "NO"
    print(f"load_events peak < 4 GB: {verdict}")


if __name__ == "__main__":
    main()

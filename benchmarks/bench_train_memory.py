"""Peak memory of ``hepda train`` on two million events per domain.

Writes S1 and S2 Parquet tables of ``--events`` events each (41 float32
features, label, weight, event number; signal and background in equal parts)
and runs ``hepda train`` on them for ``--epochs`` epochs in a subprocess,
side by side with a subprocess that only loads the two tables
(``load_events``), the floor of any training. Each child's peak RSS comes
from ``resource.getrusage(RUSAGE_CHILDREN)``; the script prints both, their
ratio, the size of the feature arrays, and whether training stays under
4 GB (issue target). Usage::

    python benchmarks/bench_train_memory.py [--events 2000000] [--epochs 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GB = 1024**3


def _write(path: Path, n: int, shift: float, seed: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hepda.features.names import TTH41

    rng = np.random.default_rng(seed)
    label = (np.arange(n) % 2).astype(np.int8)
    columns = {}
    for i, name in enumerate(TTH41):
        x = rng.standard_normal(n, dtype=np.float32)
        x += (label * 0.3 * (i % 3 == 0)).astype(np.float32)
        x += np.float32(shift * (i % 5 == 0)) * (label == 0)
        columns[name] = pa.array(x)
    columns["label"] = pa.array(label)
    columns["weight"] = pa.array(rng.uniform(0.5, 1.5, n))
    columns["event_number"] = pa.array(np.arange(n, dtype=np.int64))
    pq.write_table(pa.table(columns), path, compression="zstd")


def _peak_of(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd`` in a fresh process; return (peak RSS in GB, seconds)."""
    script = (
        "import resource, subprocess, sys; "
        f"r = subprocess.run({cmd!r}); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)"
    )
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    seconds = time.perf_counter() - start
    kib, code = out.stdout.split()[-2:]
    if code != "0":
        raise SystemExit(
            f"command failed ({code}): {' '.join(cmd)}\n{out.stderr[-2000:]}"
        )
    return int(kib) * 1024 / GB, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", type=int, default=2_000_000, help="events per domain"
    )
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        s1, s2 = d / "s1.parquet", d / "s2.parquet"
        _write(s1, args.events, 0.0, 1)
        _write(s2, args.events, 0.5, 2)
        load = [
            sys.executable, "-c",
            "from hepda.data import load_events; "
            f"load_events([{str(s1)!r}], features='tth41'); "
            f"load_events([{str(s2)!r}], features='tth41', role='target')",
        ]  # fmt: skip
        train = [
            sys.executable, "-m", "hepda", "-q", "train", "--source", str(s1),
            "--target", str(s2), "--out", str(d / "run"), "--features", "tth41",
            "--epochs", str(args.epochs), "--no-progress",
        ]  # fmt: skip
        load_gb, load_s = _peak_of(load)
        train_gb, train_s = _peak_of(train)

    arrays = 2 * args.events * 41 * 4 / GB
    print(f"events per domain: {args.events:,}, 41 features, {args.epochs} epoch(s)")
    print(f"float32 feature arrays of both domains: {arrays:.2f} GB")
    print(f"{'step':<22}{'peak RSS (GB)':>15}{'seconds':>10}")
    print(f"{'load_events only':<22}{load_gb:>15.2f}{load_s:>10.1f}")
    print(f"{'hepda train':<22}{train_gb:>15.2f}{train_s:>10.1f}")
    print(f"train / load peak: {train_gb / load_gb:.2f}")
    verdict = "meets" if train_gb < 4 else "MISSES"
    print(f"target: peak under 4 GB -> {verdict} ({train_gb:.2f} GB)")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    main()

"""What the simulation adds on top of Pythia, per generated event.

For tt (background setup S1) and ttH at parton level, side by side in one
process and interleaved over repeats:

- Pythia alone: ``pythia.next()`` in a loop, same settings and seed;
- our chunk: Pythia init, ``nextBatch``, leptons/jets/flavour, detector,
  selection and tagging (``run_chunk``), then the object table and its
  Parquet file.

Prints medians in ms per generated event and the ratio of everything we
add to Pythia's own time (target: at most 0.5).

    python benchmarks/bench_simulate.py [--events 4000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

from hepda.simulate.config import SimulationConfig
from hepda.simulate.generate import ChunkSpec, make_pythia, run_chunk
from hepda.simulate.tables import assemble


def bare_pythia(spec: ChunkSpec, n: int) -> tuple[float, float]:
    """(init seconds, seconds of n calls of pythia.next())."""
    t0 = time.perf_counter()
    pythia = make_pythia(spec)
    t1 = time.perf_counter()
    for _ in range(n):
        pythia.next()
    return t1 - t0, time.perf_counter() - t1


def ours(spec: ChunkSpec, directory: Path) -> dict[str, float]:
    """Seconds per step of one chunk, plus building and writing its table."""
    from hepda.data.io import write_table

    result = run_chunk(spec)
    seconds = dict(result.seconds)
    t0 = time.perf_counter()
    sample = dataclasses.replace(spec.sample, n_events=len(result.events.jet_count))
    table, _ = assemble(sample, [result])
    write_table(table, directory / f"{spec.sample.name}.parquet")
    seconds["table+write"] = time.perf_counter() - t0
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", type=int, default=4000, help="generated events per run"
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    config = SimulationConfig(n_events=10, chunk_size=args.events)
    specs = {
        s.name: ChunkSpec(s, 0)
        for s in config.samples()
        if s.name in ("ttH", "ttbar_s1")
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # Imports and first-use costs, outside the measurement.
        warm = dataclasses.replace(config, chunk_size=200)
        ours(ChunkSpec(warm.samples()[1], 0), Path(tmp))
        for name, spec in specs.items():
            bare_init, bare_next, steps = [], [], []
            for _ in range(args.repeats):
                init, gen = bare_pythia(spec, args.events)
                bare_init.append(init)
                bare_next.append(gen)
                steps.append(ours(spec, Path(tmp)))
            n = args.events
            next_ms = 1e3 * statistics.median(bare_next) / n
            step_ms = {
                k: 1e3 * statistics.median(s[k] for s in steps) / n for k in steps[0]
            }
            total_ms = sum(step_ms.values())
            rows.append(
                (name, next_ms, 1e3 * statistics.median(bare_init), step_ms, total_ms)
            )

    print(
        f"parton level, {args.events} generated events per run, "
        f"median of {args.repeats}"
    )
    for name, next_ms, init_s_ms, step_ms, total_ms in rows:
        added = total_ms - next_ms
        print(f"\n{name}")
        print(
            f"  Pythia alone: next()          {next_ms:7.3f} ms/event "
            f"(init {init_s_ms:.0f} ms)"
        )
        print(f"  ours, total                   {total_ms:7.3f} ms/event")
        for step, value in step_ms.items():
            print(f"    {step:<26}{value:7.3f} ms/event")
        print(f"  ratio total / Pythia          {total_ms / next_ms:7.3f}")
        print(f"  added / Pythia (target <=0.5) {added / next_ms:7.3f}")


if __name__ == "__main__":
    main()

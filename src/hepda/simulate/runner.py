"""Run chunks until every sample has its events, in-process, locally or on Dask.

The chunks of a sample are numbered 0, 1, 2, ...; a sample is the first
``n_events`` selected events of its chunks taken in that order. Chunks are
submitted as workers free up, as many as the selection efficiency measured
so far says are needed, and may finish in any order; chunks beyond those
needed are dropped. The result is therefore the same for one worker, two,
or a cluster.
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    wait,
)
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from hepda._dask import connect
from hepda.errors import ConfigError
from hepda.simulate._worker import single_thread_worker
from hepda.simulate.config import SampleSpec
from hepda.simulate.generate import ChunkResult, ChunkSpec, run_chunk

log = logging.getLogger(__name__)

#: Selection efficiency assumed before the first chunk of a sample returns;
#: optimistic, so that no more chunks than needed start on a guess.
PRIOR_EFFICIENCY = 0.5


class _InlineExecutor(Executor):
    """Runs each task at submission, in this process (``workers=1``)."""

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller through the future
            future.set_exception(exc)
        return future


@contextmanager
def open_executor(workers: int, scheduler: Any) -> Iterator[tuple[Executor, int]]:
    """An executor and its number of parallel slots.

    ``scheduler`` (a Dask scheduler address) wins over ``workers``; one
    worker runs in this process; more run in spawned processes of one
    thread each (threads x processes must not exceed the cores).
    """
    if scheduler is not None:
        client, owned = connect(scheduler, "run simulation chunks on a Dask cluster")
        try:
            info = client.scheduler_info()
            slots = sum(w.get("nthreads", 1) for w in info.get("workers", {}).values())
            address = info.get("address", scheduler)
            log.info("Dask cluster at %s with %d worker threads", address, slots)
            yield client.get_executor(pure=False), max(slots, 1)
        finally:
            if owned:
                client.close()
    elif workers == 1:
        yield _InlineExecutor(), 1
    elif workers > 1:
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(
            workers, mp_context=context, initializer=single_thread_worker
        )
        try:
            yield pool, workers
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    else:
        msg = f"workers must be a positive integer, got {workers!r}"
        raise ConfigError(msg)


@dataclass
class _Plan:
    spec: SampleSpec
    done: dict[int, ChunkResult] = field(default_factory=dict)
    running: int = 0
    next_index: int = 0

    @property
    def chunk_size(self) -> int:
        return self.spec.config.events_per_chunk

    def prefix(self) -> list[ChunkResult]:
        """Finished chunks 0..k-1 up to the first gap or the target."""
        out: list[ChunkResult] = []
        total = 0
        for i in range(self.next_index):
            if i not in self.done or total >= self.spec.n_events:
                break
            out.append(self.done[i])
            total += len(self.done[i].events.jet_count)
        return out

    def complete(self) -> bool:
        selected = sum(len(r.events.jet_count) for r in self.prefix())
        return selected >= self.spec.n_events

    def wants_more(self) -> bool:
        """Whether the finished and running chunks may fall short."""
        if self.complete():
            return False
        selected = sum(len(r.events.jet_count) for r in self.done.values())
        generated = sum(r.n_generated for r in self.done.values())
        efficiency = selected / generated if generated else PRIOR_EFFICIENCY
        expected = selected + self.running * self.chunk_size * efficiency
        if generated and selected == 0 and generated >= 20 * self.chunk_size:
            msg = (
                f"sample {self.spec.name!r} selected no event in {generated} "
                "generated; check the selection and the generator setup"
            )
            raise ConfigError(msg)
        return expected < self.spec.n_events


def run_samples(
    specs: Sequence[SampleSpec],
    *,
    workers: int = 1,
    scheduler: Any = None,
    progress: bool = True,
) -> dict[str, list[ChunkResult]]:
    """Generate every sample; returns its chunks in order (the prefix used)."""
    plans = [_Plan(spec) for spec in specs]
    if not plans:
        return {}
    tqdm = _progress_bar(sum(p.spec.n_events for p in plans), progress)
    generated = 0
    start = time.perf_counter()
    running: dict[Future[ChunkResult], _Plan] = {}
    with open_executor(workers, scheduler) as (executor, slots):
        try:
            while not all(p.complete() for p in plans):
                # Fill free slots, round-robin over samples still short.
                while len(running) < slots:
                    hungry = [p for p in plans if p.wants_more()]
                    if not hungry:
                        break
                    plan = min(hungry, key=lambda p: p.running)
                    spec = ChunkSpec(plan.spec, plan.next_index)
                    plan.next_index += 1
                    plan.running += 1
                    running[executor.submit(run_chunk, spec)] = plan
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    plan = running.pop(future)
                    plan.running -= 1
                    result = future.result()
                    before = min(plan.spec.n_events, _selected(plan))
                    plan.done[result.spec.index] = result
                    generated += result.n_generated
                    gained = min(plan.spec.n_events, _selected(plan)) - before
                    tqdm.update(gained)
                    rate = generated / max(time.perf_counter() - start, 1e-9)
                    tqdm.set_postfix_str(f"generated {generated}, {rate:.0f}/s")
        finally:
            for future in running:
                future.cancel()
            tqdm.close()
    return {p.spec.name: p.prefix() for p in plans}


def _selected(plan: _Plan) -> int:
    return sum(len(r.events.jet_count) for r in plan.done.values())


def _progress_bar(total: int, progress: bool) -> Any:
    from tqdm.auto import tqdm

    disable = not progress or not sys.stderr.isatty()
    return tqdm(
        total=total,
        unit="ev",
        desc="selected",
        file=sys.stderr,
        disable=disable,
        dynamic_ncols=True,
        smoothing=0.1,
    )

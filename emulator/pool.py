"""The one engine for spreading work over processes or a cluster.

Contract
--------
``run_ordered(func, items, *, context=None, setup=None, jobs=None,
scheduler=None, desc=None, batch=None)`` yields ``func(state, item)`` for
every item, **in item order**, whatever ran where and whenever it finished.

- ``state`` is what a worker needs for every item and is costly to ship or
  to build (a kernel image, a base snapshot, a machine): ``context`` is
  shipped to each worker **once**, and ``setup(context)`` (default: the
  context itself) is built once per worker thread and kept for every batch
  that worker runs.  Items then travel in batches.
- Where it runs:
  * ``scheduler=None, jobs=1`` (or one item): in this process, no pool;
  * ``scheduler=None``: a local process pool of ``jobs`` processes
    (default: the CPUs this process may use; nothing to start), forked
    when this process has no other thread (cheap: the children inherit the
    loaded modules), started through a fork server otherwise;
  * ``scheduler="tcp://HOST:PORT"``: an existing Dask distributed cluster
    (imported only then: it is heavy).  The context is scattered to every
    worker once (``broadcast=True``); batches are tasks.  ``jobs`` is
    ignored; the cluster's workers decide the parallelism.  Workers must be
    able to import irqlab (the same checkout installed on each).
- ``func``, ``setup``, the context, the items and the results must pickle;
  ``func`` and ``setup`` are module-level functions.
- A tqdm progress bar (``desc``), counted in items, is drawn on stderr only
  when stderr is a terminal.
- An exception raised by ``func`` or ``setup`` is raised again here (the
  pool is shut down); so is ``KeyboardInterrupt``.  A scheduler that cannot
  be reached raises ``PoolError`` with a one-line message.

Determinism: results come back in item order and each is a pure function
of (context, item), so the sequence is the same bytes for any ``jobs``,
batch size, or local vs cluster.

Why Dask distributed rather than Ray: it is pure Python on pip (no daemon
binaries), a cluster is two commands (``dask scheduler``, ``dask worker
tcp://HOST:8786``), its ``LocalCluster`` starts in a test in seconds, and
scatter-with-broadcast is exactly "the image and the base snapshot once per
worker".
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
import threading
import uuid
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterable, Iterator, Optional

BATCHES_PER_WORKER = 8      # enough batches to balance uneven item costs
MAX_BATCH = 64              # and small enough that results stream back in order
CONNECT_TIMEOUT_S = 10      # a scheduler that does not answer is an error, not a hang


class PoolError(Exception):
    """The work could not be spread (e.g. the scheduler is unreachable)."""


def default_jobs() -> int:
    """The CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:          # not Linux
        return max(1, os.cpu_count() or 1)


def run_ordered(func: Callable[[Any, Any], Any], items: Iterable, *,
                context: Any = None, setup: Optional[Callable[[Any], Any]] = None,
                jobs: Optional[int] = None, scheduler: Optional[str] = None,
                desc: Optional[str] = None, batch: Optional[int] = None) -> Iterator:
    """Yield func(setup(context), item) for each item, in item order (see the contract)."""
    items = list(items)
    if scheduler is None:
        jobs = default_jobs() if jobs is None else max(1, int(jobs))
    else:
        jobs = None
    size = batch or _batch_size(len(items), jobs or default_jobs())
    batches = [items[i:i + size] for i in range(0, len(items), size)]
    # the workers start before the progress bar exists (its monitor is a thread)
    if scheduler is not None:
        results = _run_dask(scheduler, func, setup, context, batches)
    elif jobs == 1 or len(batches) <= 1:
        results = _run_here(func, setup, context, batches)
    else:
        results = _run_processes(jobs, func, setup, context, batches)
    with _progress(len(items), desc) as bar:
        for out in results:
            bar.update(len(out))
            yield from out


def _batch_size(n: int, workers: int) -> int:
    return max(1, min(MAX_BATCH, math.ceil(n / (workers * BATCHES_PER_WORKER))))


def _progress(total: int, desc: Optional[str]):
    """A tqdm bar on a terminal; otherwise nothing (not even tqdm's monitor
    thread, which would make the next pool use the slower fork server)."""
    if not sys.stderr.isatty():
        return _NoBar()
    from tqdm import tqdm        # only on a terminal: its monitor thread would slow the next pool
    return tqdm(total=total, desc=desc, unit="item", leave=False, file=sys.stderr)


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n: int) -> None:
        pass


# --- the worker side: state built once per worker thread ---------------------

_local = threading.local()      # .token, .state: the state of the current run


def _state(token: str, setup, context):
    """The worker's state for run ``token``, built on first use (one run kept)."""
    if getattr(_local, "token", None) != token:
        _local.state = None             # free the previous run's state first
        _local.state = setup(context) if setup is not None else context
        _local.token = token
    return _local.state


def _run_batch(token: str, func, setup, context, batch: list) -> list:
    state = _state(token, setup, context)
    return [func(state, item) for item in batch]


def _init_process(token: str, setup, context) -> None:
    _state(token, setup, context)       # the context arrives once, with the process


def _run_batch_in_process(token: str, func, batch: list) -> list:
    if getattr(_local, "token", None) != token:
        raise PoolError("worker process was not initialised for this run")
    return [func(_local.state, item) for item in batch]


# --- the three ways to run ----------------------------------------------------

def _run_here(func, setup, context, batches) -> Iterator[list]:
    state = setup(context) if setup is not None else context
    for b in batches:
        yield [func(state, item) for item in b]


def _run_processes(jobs: int, func, setup, context, batches) -> Iterator[list]:
    """Start the pool and submit every batch now; the generator collects in order."""
    token = uuid.uuid4().hex
    pool = ProcessPoolExecutor(min(jobs, len(batches)), mp_context=_mp_context(),
                               initializer=_init_process, initargs=(token, setup, context))
    try:
        futures = [pool.submit(_run_batch_in_process, token, func, b) for b in batches]
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    return _collect(pool, futures)


def _collect(pool, futures) -> Iterator[list]:
    try:
        for f in futures:
            yield f.result()
    except BrokenProcessPool as e:
        raise PoolError(f"a worker process died ({e})") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _mp_context():
    """fork when this process has no other thread (children inherit the loaded
    modules and the context: ~0.04 s against ~1 s for a pool); forkserver
    otherwise, since a fork could copy another thread's lock held."""
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver")


def _run_dask(scheduler: str, func, setup, context, batches) -> Iterator[list]:
    client = _connect(scheduler)
    try:
        token = uuid.uuid4().hex
        shared = client.scatter(context, broadcast=True)
        futures = [client.submit(_run_batch, token, func, setup, shared, b,
                                 pure=False, key=f"irqlab-{token}-{i}")
                   for i, b in enumerate(batches)]
        for f in futures:
            yield f.result()
    finally:
        client.close()


def _connect(scheduler: str):
    if not scheduler.startswith("tcp://"):
        raise PoolError(f"scheduler {scheduler!r}: expected tcp://HOST:PORT")
    # distributed takes ~1 s to import: only a cluster run pays for it
    from distributed import Client
    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError) as e:
        raise PoolError(f"scheduler {scheduler}: cannot connect ({e})") from None

"""emulator/pool.py: results in item order, state built once per worker,
errors raised again, the same results locally and on a real Dask cluster."""

import os

import pytest

from emulator import pool
from emulator.pool import PoolError, run_ordered

_setups = 0     # per worker process: how often setup ran there


def _setup(context):
    global _setups
    _setups += 1
    return {"base": context, "pid": os.getpid(), "nth": _setups}


def _work(state, item):
    # uneven cost, so batches finish out of order on a pool
    n = 0
    for _ in range((50 - item) * 2000 if item < 50 else 10):
        n += 1
    return (state["base"] + item * item, state["pid"], state["nth"])


def _square(state, item):
    return item * item


def _fail_on_three(state, item):
    if item == 3:
        raise ValueError("item three")
    return item


def _values(results):
    return [r[0] for r in results]


def _one_setup_per_process(results) -> bool:
    """Each worker process built its state once: one setup count per pid."""
    return len({(pid, nth) for _, pid, nth in results}) == len({pid for _, pid, _ in results})


def test_results_come_back_in_item_order_in_this_process():
    out = list(run_ordered(_work, range(20), context=1000, setup=_setup, jobs=1))
    assert _values(out) == [1000 + i * i for i in range(20)]


def test_results_come_back_in_item_order_from_two_processes_with_small_batches():
    out = list(run_ordered(_work, range(60), context=7, setup=_setup, jobs=2, batch=3))
    assert _values(out) == [7 + i * i for i in range(60)]
    pids = {r[1] for r in out}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2


def test_setup_runs_once_per_worker_process_not_once_per_batch():
    out = list(run_ordered(_work, range(40), context=0, setup=_setup, jobs=2, batch=2))
    assert _one_setup_per_process(out)
    assert len(out) > 2 * len({r[1] for r in out})     # several batches per process


def test_without_setup_each_item_sees_the_context_itself():
    assert list(run_ordered(_square, [3, 1, 2], jobs=2, batch=1)) == [9, 1, 4]


def test_an_exception_in_a_worker_is_raised_again_in_the_caller():
    with pytest.raises(ValueError, match="item three"):
        list(run_ordered(_fail_on_three, range(10), jobs=2, batch=2))


def test_no_items_yields_nothing():
    assert list(run_ordered(_square, [], jobs=2)) == []


def test_batch_size_spreads_items_over_several_batches_per_worker():
    assert pool._batch_size(1000, 2) == 63
    assert pool._batch_size(10, 2) == 1
    assert pool._batch_size(100_000, 2) == pool.MAX_BATCH


def test_a_scheduler_address_that_is_not_tcp_is_a_pool_error():
    with pytest.raises(PoolError, match="tcp://HOST:PORT"):
        list(run_ordered(_square, [1], scheduler="ray://localhost:10001"))


def test_a_real_local_dask_cluster_with_two_workers_gives_the_local_results():
    from distributed import LocalCluster
    items = list(range(30))
    local = list(run_ordered(_work, items, context=5, setup=_setup, jobs=2))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        remote = list(run_ordered(_work, items, context=5, setup=_setup,
                                  scheduler=cluster.scheduler_address, batch=2))
    assert _values(remote) == _values(local) == [5 + i * i for i in items]
    # the context went once to each worker: setup ran once in each
    assert _one_setup_per_process(remote)
    assert len({r[1] for r in remote}) <= 2 and os.getpid() not in {r[1] for r in remote}


def test_an_unreachable_scheduler_is_a_one_line_pool_error(monkeypatch):
    monkeypatch.setattr(pool, "CONNECT_TIMEOUT_S", 1)
    with pytest.raises(PoolError, match="cannot connect"):
        list(run_ordered(_square, [1], scheduler="tcp://127.0.0.1:9"))


class _Terminal:
    """A stand-in stderr that says it is a terminal and keeps what is written."""

    def __init__(self, tty: bool):
        self.tty, self.text = tty, ""

    def isatty(self):
        return self.tty

    def write(self, s):
        self.text += s

    def flush(self):
        pass


@pytest.mark.parametrize("tty", [True, False])
def test_a_progress_bar_is_drawn_only_on_a_terminal(monkeypatch, tty):
    err = _Terminal(tty)
    monkeypatch.setattr("sys.stderr", err)
    assert list(run_ordered(_square, range(4), jobs=1, desc="points")) == [0, 1, 4, 9]
    assert ("points" in err.text) == tty

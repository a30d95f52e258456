"""``collector_paused()``: Python's cyclic garbage collector paused for a
``with`` block, as it was before when the block ends.

Contract
--------
Used where a command sets itself up (emulator/__main__.py around the
command's imports, emulator/run.py around building the machine, symbols
and observer): tens of thousands of allocations that live for the whole
run and leave no garbage, so each collection there was wasted work (issue
17: about 2% of a short run).  The run itself collects as usual.
"""

from __future__ import annotations

import contextlib
import gc


@contextlib.contextmanager
def collector_paused():
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()

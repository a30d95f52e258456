"""Golden traces: where they live, what form they are kept in, how to compare.

Every scenario under every model on every CPU count of
``guest_kernel.catalog.CPUS`` (``models_for``: every model) has a golden trace: on one CPU
``tests/golden/<model>/<scenario>.jsonl.gz`` (INDEX key ``model/scenario``),
on N CPUs ``tests/golden/cpus<N>/<model>/<scenario>.jsonl.gz`` (key
``cpus<N>/model/scenario``); the SMP scenarios have goldens on 2 CPUs and
more only (``catalog.scenarios_for``).  Each is the run's trace, gzip'ed
deterministically (mtime 0), in one of two forms recorded in
``tests/golden/INDEX.json``:

- ``full``: every event, when the compressed file stays under
  ``LIMIT_BYTES``;
- ``filtered``: for long runs (storm, soak: ~100,000 events, over half a
  megabyte even compressed) the kinds in ``NOISY`` (per-raise PIC traffic,
  stack switches) are left out, the first ``HEAD`` remaining events are
  kept event by event, and one last ``golden.counts`` event holds, for the
  whole run, the count of every kind and the final time — so a change
  anywhere still fails, and the first ``HEAD`` events show where.

On several CPUs the long scenarios (``BUDGET``: soak, storm) are run for a
fixed number of instructions only, so that the 2- and 4-CPU matrix stays
cheap: their goldens record the first ``BUDGET`` instructions (exit status
124), which is where ``HEAD`` events would end anyway; that they pass on
several CPUs, with no violation, is tests/guest_kernel/test_smp.py's.

INDEX also keeps what each run printed (``console``): a rerun must print
it again, and QEMU (``-smp N``, tests/guest_kernel/test_smp.py) must print
the same, so irqlab and QEMU are compared without a second irqlab run.

In both forms addresses are stored symbolised (emulator/trace_symbols.py):
``eip`` as ``symbol+0xoff``, a ``wchan`` by its symbol, ``esp`` as its
owner's stack and the offset from the top, so moving code or data in the
kernel changes no golden; ``t`` and every other field stay exact.
``symbolizer(model)`` reads the symbols of the image the run used.

Only tests/golden/bless.py (``make bless``) writes these files.
"""

from __future__ import annotations

import gzip
import io
import json
import os

from emulator.trace import dumps, read_events
from emulator.trace_symbols import Symbolizer, symbolize_events
from guest_kernel.catalog import CPUS, models_for, scenarios_for
from guest_kernel.harness import kernel_image

HERE = os.path.dirname(os.path.abspath(__file__))
INDEX = os.path.join(HERE, "INDEX.json")
LIMIT_BYTES = 256 * 1024
NOISY = ("irq.raise", "irq.lower", "pic.ack", "pic.eoi", "stack.switch")
HEAD = 4000
TRUNCATED = 124         # the exit status of a run that used up its budget
# scenario -> instructions its golden runs for on several CPUs (a truncated run)
BUDGET = {"soak": 3_000_000, "storm": 3_000_000}


def matrix() -> list:
    """(model, scenario, cpus) with a golden: every configuration the kernel
    runs, every model (``models_for``) on every CPU count."""
    return [(m, s, c) for c in CPUS for m in models_for(c) for s in scenarios_for(c)]


def budget(scenario: str, cpus: int) -> int:
    """The instructions a golden's run may take (``run_config``'s limit)."""
    return BUDGET.get(scenario, 200_000_000) if cpus > 1 else 200_000_000


def key(model: str, scenario: str, cpus: int = 1) -> str:
    """The INDEX key: ``model/scenario`` on one CPU, ``cpusN/model/scenario``."""
    return f"{model}/{scenario}" if cpus == 1 else f"cpus{cpus}/{model}/{scenario}"


def parse_key(k: str) -> tuple:
    """(model, scenario, cpus) back from an INDEX key (or a bless argument)."""
    parts = k.split("/")
    if len(parts) == 3 and parts[0].startswith("cpus") and parts[0][4:].isdigit():
        return parts[1], parts[2], int(parts[0][4:])
    if len(parts) != 2:
        raise ValueError(f"{k!r} is not MODEL/SCENARIO or cpusN/MODEL/SCENARIO")
    return parts[0], parts[1], 1


def path(model: str, scenario: str, cpus: int = 1) -> str:
    top = HERE if cpus == 1 else os.path.join(HERE, f"cpus{cpus}")
    return os.path.join(top, model, f"{scenario}.jsonl.gz")


def load_index() -> dict:
    if not os.path.exists(INDEX):
        return {}
    with open(INDEX, encoding="utf-8") as f:
        return json.load(f)


def symbolizer(model: str) -> Symbolizer:
    """The address form for runs of ``model``'s image (its kernel.sym.json)."""
    return Symbolizer.from_file(kernel_image(model))


def form_events(events, form: str, symbolizer: Symbolizer = None):
    """The events as a golden keeps them: symbolised (when a symbolizer is
    given), then ``full`` or ``filtered``."""
    if symbolizer is not None:
        events = symbolize_events(events, symbolizer)
    if form == "filtered":
        return _filtered(events)
    return iter(events)


def _filtered(events):
    counts: dict = {}
    last_t = 0
    kept = 0
    for e in events:
        counts[e["ev"]] = counts.get(e["ev"], 0) + 1
        last_t = e["t"]
        if e["ev"] in NOISY or kept >= HEAD:
            continue
        kept += 1
        yield e
    yield dict({"t": last_t, "cpu": 0, "ev": "golden.counts"}, **dict(sorted(counts.items())))


def encode(events) -> bytes:
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        for e in events:
            gz.write(dumps(e).encode("ascii") + b"\n")
    return raw.getvalue()


def golden_events(model: str, scenario: str, cpus: int = 1):
    return read_events(path(model, scenario, cpus))

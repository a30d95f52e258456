"""Golden traces: where they live, what form they are kept in, how to compare.

Every scenario under every model has a golden trace
``tests/golden/<model>/<scenario>.jsonl.gz``: the run's trace, gzip'ed
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

Only tests/golden/bless.py (``make bless``) writes these files.
"""

from __future__ import annotations

import gzip
import io
import json
import os

from emulator.checks.runs import MODELS, SCENARIOS
from emulator.trace import dumps, read_events

HERE = os.path.dirname(os.path.abspath(__file__))
INDEX = os.path.join(HERE, "INDEX.json")
LIMIT_BYTES = 256 * 1024
NOISY = ("irq.raise", "irq.lower", "pic.ack", "pic.eoi", "stack.switch")
HEAD = 4000


def matrix() -> list:
    """(model, scenario) pairs with a golden: every pair the kernel runs."""
    try:
        from guest_kernel import scenarios as gk
        pairs = getattr(gk, "MATRIX", None)
        if pairs:
            return [tuple(p) for p in pairs]
    except ImportError:
        pass
    return [(m, s) for m in MODELS for s in SCENARIOS]


def path(model: str, scenario: str) -> str:
    return os.path.join(HERE, model, f"{scenario}.jsonl.gz")


def load_index() -> dict:
    if not os.path.exists(INDEX):
        return {}
    with open(INDEX, encoding="utf-8") as f:
        return json.load(f)


def form_events(events, form: str):
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


def golden_events(model: str, scenario: str):
    return read_events(path(model, scenario))

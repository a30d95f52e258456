"""The comparison's matrix and the run of one configuration.

Contract
--------
``Job(model, scenario, cpus, variant, drivers)`` is one configuration:
``variant`` is ``"default"`` or comma-separated kernel options
(``intr-stack=separate``, ``softint=fast``), ``drivers`` a tuple of
``NAME=MODEL[,mpsafe|,biglock]`` overrides (the kernel's per-driver models;
refused while guest_kernel.build's Config has no ``drivers``).
``make_jobs(models, scenarios, cpus, variants, drivers)`` is their product
in a fixed order, leaving out the SMP scenarios on one CPU (there they only
print that they skip); ``DEFAULT_MATRIX`` is what ``make compare`` runs.
``parse_variant(text)`` -> the Config keyword arguments, or MatrixError.

``run_job_to(job, build_dir, trace_dir, max_instructions)`` is the same
with the trace kept in ``trace_dir`` (or a temporary directory).
``run_job(job, build_dir, trace_path, max_instructions)`` builds the
configuration when stale (one process at a time) and runs it in this
process exactly as ``python -m guest_kernel run`` runs it — the scenario's
command line and injections, the observer and the 12 checkers attached,
the trace written to ``trace_path`` — then computes emulator/metrics.py
over that trace file (the same file ``trace summary`` would read).  It
returns ``(entry, samples)``: ``entry`` is the configuration's object in
metrics.json (the Job's keys, ``status``, ``result``, then the metrics,
``instructions`` being the machine's own count at the end), ``samples``
the raw raise -> work-done latencies per line (for the CDF plots; not
written to metrics.json).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field

from emulator.metrics import Metrics
from emulator.trace import read_events
from guest_kernel.build import BuildError, Config
from guest_kernel.catalog import (INTR_STACKS, MAX_CPUS, MODELS, SCENARIO_NAMES, SMP_SCENARIOS,
                                  SOFTINTS)
from guest_kernel.harness import image_for, run_image

UP_SCENARIOS = ("storm", "nested", "ithread_block", "biglock", "soak")
DEFAULT_SMP = (("smp_mpsafe", 2), ("smp_mpsafe", 4))
VARIANT_KEYS = {"intr-stack": ("intr_stack", INTR_STACKS), "softint": ("softint", SOFTINTS)}
RESULTS = {0: "PASS", 120: "VIOLATION", 124: "BUDGET", 126: "CRASH", 130: "STOPPED"}


class MatrixError(Exception):
    """A matrix the command cannot run (one line for the user)."""


@dataclass(frozen=True)
class Job:
    model: str
    scenario: str
    cpus: int = 1
    variant: str = "default"
    drivers: tuple = field(default=())

    @property
    def name(self) -> str:
        """A file-name-safe label: ``storm-ithread-1cpu`` (+ variant, drivers)."""
        parts = [self.scenario, self.model, f"{self.cpus}cpu"]
        if self.variant != "default":
            parts.append(self.variant.replace("=", "_").replace(",", "+"))
        parts += [d.replace("=", "_").replace(",", "+") for d in self.drivers]
        return "-".join(parts)

    def config(self) -> Config:
        extra = parse_variant(self.variant)
        if self.drivers:
            extra["drivers"] = self.drivers
        return Config(self.model, **extra)


def parse_variant(text: str) -> dict:
    """``intr-stack=separate,softint=fast`` -> Config keyword arguments."""
    if text == "default":
        return {}
    out = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or key not in VARIANT_KEYS:
            raise MatrixError(f"--variant {text}: expected intr-stack=shared|separate "
                              f"or softint=thread|fast, got {part!r}")
        name, allowed = VARIANT_KEYS[key]
        if value not in allowed:
            raise MatrixError(f"--variant {text}: {key} must be {' or '.join(allowed)}")
        out[name] = value
    return out


def check_drivers(drivers: tuple) -> None:
    if drivers and "drivers" not in getattr(Config, "__dataclass_fields__", {}):
        raise MatrixError("--driver needs the kernel's per-driver models (issue 11), "
                          "which this build of guest_kernel does not have yet")


def make_jobs(models, scenarios, cpus, variants=("default",), drivers=()) -> list:
    """The product in a fixed order (scenario, cpus, variant, model)."""
    for m in models:
        if m not in MODELS:
            raise MatrixError(f"unknown model {m!r} (choose from {', '.join(MODELS)})")
    for s in scenarios:
        if s not in SCENARIO_NAMES:
            raise MatrixError(f"unknown scenario {s!r} (choose from {', '.join(SCENARIO_NAMES)})")
    for c in cpus:
        if not 1 <= c <= MAX_CPUS:
            raise MatrixError(f"--cpus {c}: must be between 1 and {MAX_CPUS}")
    for v in variants:
        parse_variant(v)
    check_drivers(tuple(drivers))
    jobs = [Job(m, s, c, v, tuple(drivers)) for s in scenarios for c in cpus
            for v in variants for m in models
            if not (c == 1 and s in SMP_SCENARIOS)]
    if not jobs:
        raise MatrixError("the matrix is empty (SMP scenarios need --cpus 2 or more)")
    return jobs


def default_matrix(models=MODELS) -> list:
    """``make compare``: every model over the one-CPU scenarios, then the
    big-lock scenario on 2 and 4 CPUs (what the SMP kernel supports)."""
    jobs = make_jobs(models, UP_SCENARIOS, (1,))
    jobs += [Job(m, s, c) for s, c in DEFAULT_SMP for m in models]
    return jobs


# ------------------------------------------------------------------- running
def kernel_for(job: Job, build_dir: str) -> str:
    """The job's kernel.elf under build_dir, built when stale (locked, so
    parallel workers build each configuration once)."""
    return image_for(job.config(), build_dir)


def run_job(job: Job, build_dir: str, trace_path: str,
            max_instructions: int = 200_000_000) -> tuple:
    """Run one configuration, checked and traced; metrics from the trace."""
    run = run_image(kernel_for(job, build_dir), job.scenario, cpus=job.cpus,
                    trace_path=trace_path, max_instructions=max_instructions)
    status = run.status
    metrics = Metrics()
    for ev in read_events(trace_path):
        metrics.add(ev)
    entry = {"model": job.model, "scenario": job.scenario, "cpus": job.cpus,
             "variant": job.variant, "drivers": list(job.drivers),
             "status": status, "result": RESULTS.get(status, "FAIL")}
    entry.update(metrics.result())
    entry["instructions"] = run.instructions
    entry["virtual_ms"] = round(run.instructions / 1_000_000, 3)
    samples = {str(line): sorted(metrics.done_values(line)[0]) for line in metrics.lines()}
    return entry, samples


def run_job_to(job: Job, build_dir: str, trace_dir, max_instructions: int) -> tuple:
    """``run_job`` with the trace kept as ``trace_dir/NAME.jsonl.gz``, or,
    when ``trace_dir`` is None, in a temporary directory of the worker's own."""
    try:
        if trace_dir is not None:
            return run_job(job, build_dir, os.path.join(trace_dir, job.name + ".jsonl.gz"),
                           max_instructions)
        with tempfile.TemporaryDirectory(prefix="irqlab-compare-") as tmp:
            return run_job(job, build_dir, os.path.join(tmp, "trace.jsonl"), max_instructions)
    except BuildError as e:
        raise MatrixError(f"{job.name}: {e}") from None

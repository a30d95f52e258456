"""``python -m guest_kernel compare``: the interrupt models side by side (issue 14).

    python -m guest_kernel compare [--models classic,ithread,threaded]
        [--scenarios storm,nested,...] [--cpus 1,2,4]
        [--variant intr-stack=separate] [--variant softint=fast]
        [--driver NAME=MODEL[,mpsafe|,biglock]] [-j N | --scheduler tcp://H:P]
        [--traces] [--build-dir build] [--max-instructions N] -o DIR
    make compare          # the default matrix into build/compare/

Contract
--------
Runs every configuration of the matrix (matrix.py: models x scenarios x
CPU counts x variants, SMP scenarios on 2 CPUs and more only; without
--scenarios and --cpus, ``matrix.default_matrix``), ``-j`` at a time
(default: the machine's cores) in worker processes or on a Dask cluster
(``--scheduler``), through emulator/pool.py (results in matrix order; a
tqdm progress bar on stderr when stderr is a terminal).  Each run is the in-process
``guest_kernel run`` path with the observer and the checkers on and a
trace; its numbers are emulator/metrics.py over that trace.  Writes:

- ``DIR/metrics.json``: a JSON array, one object per configuration in
  matrix order (keys: README "The comparison"); the same matrix gives the
  same bytes on any machine (no times, paths or host facts in it);
- ``DIR/report.md``, ``DIR/report.html`` (self-contained) and the plots
  ``DIR/*.png`` (plots.py); ``DIR/traces/NAME.jsonl.gz`` with --traces;
- stdout: the tables and sentences (report.render_text).

--variant adds configurations besides the default one ("default" names
it); --driver applies to every configuration.  Exit status: 0 when every
configuration ran (whatever its result: a failing or violating run is a
finding, shown in its column); 2 for a bad matrix or option (one line);
130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from emulator.pool import PoolError, default_jobs, run_ordered
from guest_kernel.compare import plots, report
from guest_kernel.catalog import MODELS
from guest_kernel.compare.matrix import (MatrixError, UP_SCENARIOS, default_matrix, make_jobs,
                                         run_job_to)


class _Parser(argparse.ArgumentParser):
    def error(self, message):              # one line, status 2
        sys.stderr.write(f"compare: {message}\n")
        raise SystemExit(2)


def _csv(text: str) -> list:
    return [x for x in text.split(",") if x]


def _cpus(text: str) -> list:
    try:
        return [int(x) for x in _csv(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 1,2,4, got {text!r}") from None


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m guest_kernel compare",
                description="Run the interrupt models over scenarios and compare them.")
    p.add_argument("--models", type=_csv, default=list(MODELS),
                   help=f"comma-separated (default {','.join(MODELS)})")
    p.add_argument("--scenarios", type=_csv, default=None,
                   help=f"comma-separated (default {','.join(UP_SCENARIOS)}, "
                        "and smp_mpsafe on 2 and 4 CPUs)")
    p.add_argument("--cpus", type=_cpus, default=None, help="CPU counts, e.g. 1,2,4 (default 1)")
    p.add_argument("--variant", action="append", default=[], metavar="OPT=VALUE[,...]",
                   help="also run this kernel variant: intr-stack=separate, softint=fast")
    p.add_argument("--driver", action="append", default=[], metavar="NAME=MODEL[,mpsafe|,biglock]",
                   help="a driver's own interrupt model, in every configuration")
    p.add_argument("-j", "--jobs", type=int, default=default_jobs(),
                   help="configurations run at once (default: the machine's cores)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="run on this Dask distributed cluster instead (emulator/pool.py)")
    p.add_argument("--traces", action="store_true", help="keep each trace in DIR/traces/")
    p.add_argument("--build-dir", default="build", help="where kernels are built (build)")
    p.add_argument("--max-instructions", type=int, default=200_000_000, metavar="N",
                   help="budget of each run (200000000)")
    p.add_argument("-o", "--out", required=True, metavar="DIR")
    return p


def jobs_from(a) -> list:
    variants = ["default"] + [v for v in a.variant if v != "default"]
    if a.scenarios is None and a.cpus is None and variants == ["default"] and not a.driver:
        return default_matrix(a.models)
    return make_jobs(a.models, a.scenarios or list(UP_SCENARIOS), a.cpus or [1],
                     variants, tuple(a.driver))


def _one(settings: dict, job):
    """The pool's worker function (emulator/pool.py): one configuration."""
    return run_job_to(job, **settings)


def run_all(jobs: list, a) -> list:
    """[(entry, samples)] in job order, -j at a time (or on --scheduler's
    Dask cluster) through emulator/pool.py, one configuration per batch
    (their costs differ a hundredfold)."""
    settings = {"build_dir": os.path.abspath(a.build_dir),
                "trace_dir": os.path.abspath(os.path.join(a.out, "traces")) if a.traces else None,
                "max_instructions": a.max_instructions}
    return list(run_ordered(_one, jobs, context=settings, jobs=a.jobs, scheduler=a.scheduler,
                            desc="compare", batch=1))


def write_outputs(out: str, results: list) -> str:
    """metrics.json, the plots, report.md and report.html; returns the text report."""
    entries = [e for e, _ in results]
    samples = {plots.job_name(e): s for e, s in results}
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "metrics.json"), "w", encoding="utf-8") as f:
        json.dump(entries, f, indent=1)
        f.write("\n")
    made = plots.make_plots(entries, samples)
    for name, _, png in made:
        with open(os.path.join(out, name), "wb") as f:
            f.write(png)
    listed = [(name, caption) for name, caption, _ in made]
    with open(os.path.join(out, "report.md"), "w", encoding="utf-8") as f:
        f.write(report.render_markdown(entries, listed))
    with open(os.path.join(out, "report.html"), "w", encoding="utf-8") as f:
        f.write(report.render_html(entries, listed, {n: png for n, _, png in made}))
    return report.render_text(entries)


def main(argv=None) -> int:
    try:
        a = parser().parse_args(argv)
    except SystemExit as e:              # --help, or a bad option (one line said)
        return e.code if isinstance(e.code, int) else 2
    try:
        if a.jobs < 1:
            raise MatrixError("-j must be at least 1")
        jobs = jobs_from(a)
        if a.traces:
            os.makedirs(os.path.join(a.out, "traces"), exist_ok=True)
        results = run_all(jobs, a)
        text = write_outputs(a.out, results)
    except (MatrixError, PoolError) as e:
        print(f"compare: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"compare: {e.filename or a.out}: {e.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("compare: interrupted", file=sys.stderr)
        return 130
    sys.stdout.write(text)
    print(f"compare: {len(results)} configurations; wrote {os.path.join(a.out, 'metrics.json')}, "
          f"report.md, report.html and the plots", file=sys.stderr)
    return 0

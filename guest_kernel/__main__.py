"""Command line: build kernel configurations and run scenarios.

    python -m guest_kernel build --model M [--driver NAME=MODEL[,mpsafe|,biglock]]...
                                 [--intr-stack S] [--softint K] [--bug B] -o OUT
    python -m guest_kernel build-all -o build
    python -m guest_kernel run   --model M [--driver ...]... --scenario S [--cpus N] [--trace F]
                                 [--max-instructions N]
    python -m guest_kernel debug --model M [--driver ...]... --scenario S [--cpus N]
    python -m guest_kernel explore --model M [--driver ...]... --scenario S (--irq N | --packet V | --key B) ...
    python -m guest_kernel bugs [--only BUG]... [--build-dir D] [-v] [-j N]
    python -m guest_kernel compare [--models ...] [--scenarios ...] [--cpus ...] -o DIR

``--model`` is the default interrupt model of the kernel's drivers;
``--driver NAME=MODEL`` (repeatable) builds one driver under another model,
``,biglock`` makes its handler run under the big lock (``,mpsafe``: not),
guest_kernel/catalog.py ``DRIVERS``.

``run`` rebuilds build/<config>/ when a source is newer, then hands the ELF
to ``python -m emulator run`` with ``--append scenario=S`` and the
scenario's injections (guest_kernel/scenarios/S.inject: one --inject SPEC
per non-comment line) and any ``--inject`` after them.  ``run`` and
``debug`` replace this process with the
emulator's (exec), so its exit status is theirs and Ctrl-C reaches the
emulator alone: ``run`` stops with 130, ``debug``'s REPL stops the guest and
keeps the session (as under ``make run-guest`` / ``make debug``).  Ctrl-C
during the build ends with one line and status 130.  ``explore`` is
guest_kernel/explore.py.  With ``--cpus N``
(N > 1) the command line is ``scenario=S cpus=N`` (kernel_cmdline): the
kernel learns the CPU count from it (a count is a choice: it does not probe
for APICs).  ``--append WORDS`` adds words to the kernel's command line
(``route=5:2``: IO APIC line 5 to CPU 2, ``route=5:lowest``; ``figures``:
scenarios print what they measured; guest_kernel/cmdline.S).  ``bugs``
(``make check-bugs``) proves each planted
bug is caught by the rule it targets, naming its objects, with a clean
control run (checkbugs.py ``check_bugs``).  The
models, options and scenarios offered are catalog.py's.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

from guest_kernel.build import (BuildError, Config, bug_configs, build, build_locked,
                                correct_configs, parse_drivers)
from guest_kernel.bugs import BUGS
from guest_kernel.catalog import (DRIVERS, INTR_STACKS, MODELS, SCENARIO_NAMES, SOFTINTS,
                                  injection_specs, injections, kernel_cmdline)

__all__ = ["main", "injection_specs", "injections", "kernel_cmdline"]


def _config_args(p):
    p.add_argument("--model", choices=MODELS, default="ithread")
    p.add_argument("--driver", action="append", default=[], metavar="NAME=MODEL[,mpsafe|,biglock]",
                   help=f"one driver under another model (drivers: {', '.join(DRIVERS)})")
    p.add_argument("--intr-stack", choices=INTR_STACKS, default=INTR_STACKS[0])
    p.add_argument("--softint", choices=SOFTINTS, default=SOFTINTS[0])
    p.add_argument("--bug", choices=sorted(BUGS), default=None)


def _config(a) -> Config:
    return Config(a.model, a.intr_stack, a.softint, a.bug, parse_drivers(a.driver))


def _emulator_cmd(verb, a, elf) -> list[str]:
    append = kernel_cmdline(a.scenario, getattr(a, "cpus", 1) or 1)
    if getattr(a, "append", None):
        append += " " + a.append
    cmd = [sys.executable, "-m", "emulator", verb, str(elf), "--append", append]
    if getattr(a, "cpus", 1) != 1:       # the emulator refuses 0 and > 8 clearly
        cmd += ["--cpus", str(a.cpus)]
    if getattr(a, "trace", None):
        cmd += ["--trace", a.trace]
    if getattr(a, "max_instructions", None):
        cmd += ["--max-instructions", str(a.max_instructions)]
    if getattr(a, "spinout", None):
        cmd += ["--spinout", str(a.spinout)]
    extra = [arg for spec in getattr(a, "inject", None) or () for arg in ("--inject", spec)]
    return cmd + injections(a.scenario) + extra


def _run(verb, a) -> int:
    cfg = _config(a)
    out = Path(a.build_dir) / cfg.name
    build_locked(cfg, out)
    if importlib.util.find_spec("emulator.__main__") is None:
        print(f"the emulator (python -m emulator {verb}) is not installed yet; "
              f"the kernel is built at {out / 'kernel.elf'}", file=sys.stderr)
        return 2
    cmd = _emulator_cmd(verb, a, out / "kernel.elf")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(cmd[0], cmd)       # the emulator takes over this process (no return)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["explore"]:                 # guest_kernel/explore.py
        from guest_kernel.explore import main as explore_main
        return explore_main(argv[1:])
    if argv[:1] == ["compare"]:          # its own parser (guest_kernel/compare)
        # the machine, metrics and pool only for the commands that run
        # kernels here: build, and run/debug (exec'ed), start without them
        from guest_kernel.compare import main as compare
        return compare(argv[1:])
    ap = argparse.ArgumentParser(prog="python -m guest_kernel", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build one configuration")
    _config_args(b)
    b.add_argument("-o", "--out", required=True)
    ba = sub.add_parser("build-all", help="every correct configuration and every --bug one")
    ba.add_argument("-o", "--out", default="build")
    for verb in ("run", "debug"):
        r = sub.add_parser(verb, help=f"build if stale, then `python -m emulator {verb}`")
        _config_args(r)
        r.add_argument("--scenario", default="hello", choices=SCENARIO_NAMES)
        r.add_argument("--cpus", type=int, default=1)
        r.add_argument("--append", metavar="WORDS",
                       help="more words for the kernel's command line (route=L:C, figures)")
        r.add_argument("--build-dir", default="build")
        if verb == "run":
            r.add_argument("--trace")
            r.add_argument("--max-instructions", type=int)
            r.add_argument("--spinout", type=int, metavar="N",
                           help="the spinout rule's bound in instructions (default 10000000)")
            r.add_argument("--inject", action="append", default=[], metavar="SPEC",
                           help="more injections, after the scenario's (as explore prints)")
    sub.add_parser("explore", add_help=False,      # handled above; listed for --help
                   help="an interrupt at every point (python -m guest_kernel explore --help)")
    bb = sub.add_parser("bugs", help="prove each rule fires on the kernel built to break it")
    bb.add_argument("--only", action="append", default=[], metavar="BUG",
                    help="check only this bug (repeatable)")
    bb.add_argument("--build-dir", default="build/bugs", help="where traces go (build/bugs)")
    bb.add_argument("-v", "--verbose", action="store_true", help="print each violation report")
    bb.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                    help="runs at a time (default: the CPUs there are)")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "build":
            print(build(_config(a), a.out))
        elif a.cmd == "build-all":
            for cfg in correct_configs() + bug_configs():
                print(build(cfg, Path(a.out) / cfg.name))
        elif a.cmd == "bugs":
            from emulator.pool import default_jobs          # (as compare above)
            from guest_kernel.checkbugs import check_bugs   # (as compare above)
            if a.jobs is not None and a.jobs < 1:
                ap.error("-j must be at least 1")
            return check_bugs(only=a.only, build_dir=a.build_dir, verbose=a.verbose,
                              jobs=a.jobs or default_jobs())
        else:
            return _run(a.cmd, a)
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m guest_kernel explore``: explore a kernel configuration's scenario.

    python -m guest_kernel explore --model M [--driver NAME=MODEL[,...]]...
        --scenario S [--bug B] [--intr-stack S] [--softint K] (--irq N | --packet V | --key B) ...
        (the rest as ``python -m emulator explore``: emulator/explore/cli.py)

Builds the configuration when stale (as ``run`` does), and explores the
scenario's base run — its own injections (scenarios/S.inject) plus any
``--inject`` — on one CPU.  Each violation's reproduce command is the
``python -m guest_kernel run`` of the same configuration and scenario with
the branch's injections added (``run --inject`` comes after the scenario's
own).  Exit status as ``python -m emulator explore`` (1 when the kernel does
not build).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from guest_kernel.build import BuildError, build_locked
from guest_kernel.harness import reproduce_prefix, target_for  # noqa: F401 (API: harness.py has them)

PROG = "python -m guest_kernel explore"


def _parser():
    from emulator.explore import cli   # (lazy, as the other commands: start-up stays fast)
    from guest_kernel.bugs import BUGS
    from guest_kernel.catalog import DRIVERS, INTR_STACKS, MODELS, SCENARIO_NAMES, SOFTINTS
    p = cli.parser(PROG, "Deliver an interrupt at every point of a scenario's run.")
    # the configuration options, as python -m guest_kernel run takes them
    p.add_argument("--model", choices=MODELS, default="ithread")
    p.add_argument("--driver", action="append", default=[], metavar="NAME=MODEL[,mpsafe|,biglock]",
                   help=f"one driver under another model (drivers: {', '.join(DRIVERS)})")
    p.add_argument("--intr-stack", choices=INTR_STACKS, default=INTR_STACKS[0])
    p.add_argument("--softint", choices=SOFTINTS, default=SOFTINTS[0])
    p.add_argument("--bug", choices=sorted(BUGS), default=None)
    p.add_argument("--scenario", default="hello", choices=SCENARIO_NAMES)
    p.add_argument("--build-dir", default="build")
    cli.add_arguments(p)
    return p


def main(argv=None) -> int:
    from emulator.explore import cli   # (lazy: the machine only when exploring)
    from guest_kernel.build import Config, parse_drivers
    from guest_kernel.catalog import injection_specs, kernel_cmdline
    a = _parser().parse_args(argv)
    bad = cli.check(a)
    if bad:
        sys.stderr.write(f"{PROG}: {bad}\n")
        return 2
    try:
        cfg = Config(a.model, a.intr_stack, a.softint, a.bug, parse_drivers(a.driver))
        out = Path(a.build_dir) / cfg.name
        build_locked(cfg, out)
    except BuildError as e:
        sys.stderr.write(f"error: {e}\n")
        return 1
    image = str(out / "kernel.elf")
    try:
        target = cli.read_target(image, kernel_cmdline(a.scenario), 32,
                                 injection_specs(a.scenario) + list(a.inject), a)
        a.window_obj = cli.window(a, cli.symbols_of(image))
    except (OSError, ValueError) as e:
        sys.stderr.write(f"{PROG}: {e}\n")
        return 2
    return cli.run(replace(target, reproduce=reproduce_prefix(a)), a, PROG)


if __name__ == "__main__":
    sys.exit(main())

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

from guest_kernel.build import BuildError, build, is_stale

PROG = "python -m guest_kernel explore"


def _parser():
    from emulator.explore import cli
    from guest_kernel.__main__ import _config_args
    from guest_kernel.catalog import SCENARIO_NAMES
    p = cli.parser(PROG, "Deliver an interrupt at every point of a scenario's run.")
    _config_args(p)                    # --model, --driver, --intr-stack, --softint, --bug
    p.add_argument("--scenario", default="hello", choices=SCENARIO_NAMES)
    p.add_argument("--build-dir", default="build")
    cli.add_arguments(p)
    return p


def reproduce_prefix(a) -> tuple:
    """``python -m guest_kernel run`` of this configuration and scenario."""
    args = ["python", "-m", "guest_kernel", "run", "--model", a.model]
    for spec in getattr(a, "driver", ()):
        args += ["--driver", spec]
    args += ["--scenario", a.scenario]
    if a.intr_stack != "shared":
        args += ["--intr-stack", a.intr_stack]
    if a.softint != "thread":
        args += ["--softint", a.softint]
    if a.bug:
        args += ["--bug", a.bug]
    if a.build_dir != "build":
        args += ["--build-dir", a.build_dir]
    for spec in a.inject:
        args += ["--inject", spec]
    return tuple(args)


def target_for(model: str, scenario: str, bug=None, line: str = "irq=0", image=None):
    """The Target of one configuration's scenario with its own injections,
    exploring ``line`` (``irq=N``, ``packet=V`` or ``key=B``), for in-process callers
    (make check-bugs).  ``image``: the kernel.elf (default: built when stale
    under build/checks, guest_kernel/harness.py)."""
    import argparse
    from guest_kernel.harness import kernel_image
    from emulator.explore import cli
    from guest_kernel.catalog import injection_specs, kernel_cmdline
    kind, _, value = line.partition("=")
    a = argparse.Namespace(irq=int(value, 0) if kind == "irq" else None,
                           packet=int(value, 0) if kind == "packet" else None,
                           key=int(value, 0) if kind == "key" else None,
                           model=model, scenario=scenario, bug=bug, intr_stack="shared",
                           softint="thread", build_dir="build", inject=[], driver=[])
    image = image or kernel_image(model, bug)
    target = cli.read_target(image, kernel_cmdline(scenario), 32, injection_specs(scenario), a)
    return replace(target, reproduce=reproduce_prefix(a))


def main(argv=None) -> int:
    from emulator.explore import cli
    from guest_kernel.__main__ import _config
    from guest_kernel.catalog import injection_specs, kernel_cmdline
    a = _parser().parse_args(argv)
    bad = cli.check(a)
    if bad:
        sys.stderr.write(f"{PROG}: {bad}\n")
        return 2
    try:
        cfg = _config(a)
        out = Path(a.build_dir) / cfg.name
        if is_stale(cfg, out):
            build(cfg, out)
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

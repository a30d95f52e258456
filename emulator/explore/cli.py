"""``python -m emulator explore IMAGE ...``: an interrupt at every point.

    python -m emulator explore IMAGE [--append CMDLINE] [--inject SPEC]...
        (--irq N | --packet V | --key B) [--window T0:T1 | --between SYM[:SYM]]
        [--every K] [--all-points] [--depth 1|2] [--second K] [-j N]
        [--scheduler ADDRESS] [--json OUT] [--max-branches N] [--mem MIB]

Prints each distinct violation once (rule, message, objects, code
locations, how many branches hit it, the first point, a command that
reproduces it alone), then ``explore: P points, B branches, V distinct
violations``.  Exit status: 0 none, 120 some, 2 bad arguments or image
(one line), 124 the base run did not end, 130 interrupted, 70 internal
error.  ``add_arguments`` and ``run`` are shared with ``python -m
guest_kernel explore`` (guest_kernel/explore.py), which builds the target
from a kernel configuration and a scenario instead of an image.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


class _Parser(argparse.ArgumentParser):
    def error(self, message):              # one line, status 2
        sys.stderr.write(f"{self.prog}: {message}\n")
        raise SystemExit(2)


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    return _Parser(prog=prog, description=description)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options explore takes whatever builds the target."""
    p.add_argument("--inject", action="append", default=[], metavar="SPEC",
                   help="more injections for the base run (as for run)")
    line = p.add_mutually_exclusive_group(required=True)
    line.add_argument("--irq", type=int, metavar="N", help="explore an edge on ISA line N")
    line.add_argument("--packet", type=lambda s: int(s, 0), metavar="V",
                      help="explore a test-device packet V (its line, IRQ 5)")
    line.add_argument("--key", type=lambda s: int(s, 0), metavar="B",
                      help="explore a key pressed: the keyboard sends byte B (IRQ 1)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--window", metavar="T0:T1", help="points in this time range only")
    where.add_argument("--between", metavar="SYM[:SYM]",
                       help="points in this code only (SYM alone: up to the next label)")
    p.add_argument("--every", type=int, default=1, metavar="K", help="keep every K-th point")
    p.add_argument("--all-points", action="store_true",
                   help="one branch per point, not per class of points")
    p.add_argument("--depth", type=int, choices=(1, 2), default=1,
                   help="2: also a second interrupt after the first")
    p.add_argument("--second", type=int, default=64, metavar="K",
                   help="depth 2: second points per first point, at most (default 64)")
    p.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                   help="local processes (default: the CPUs)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="a Dask scheduler, tcp://HOST:PORT, instead of local processes")
    p.add_argument("--json", metavar="OUT", help="also write the report as JSON")
    p.add_argument("--max-branches", type=int, metavar="N", help="run at most N branches")


def check(args) -> str:
    """A one-line complaint about the shared options, or ""."""
    if args.irq is not None and not 0 <= args.irq < 16:
        return "--irq must be 0-15"
    if getattr(args, "key", None) is not None and not 0 <= args.key <= 0xFF:
        return "--key must be a byte, 0-255"
    if args.every < 1:
        return "--every must be at least 1"
    if args.jobs is not None and args.jobs < 1:
        return "-j must be at least 1"
    if args.max_branches is not None and args.max_branches < 0:
        return "--max-branches must not be negative"
    if args.second < 1:
        return "--second must be at least 1"
    return ""


def window(args, symbols):
    """The Window the options ask for (ValueError with one line if bad)."""
    from emulator.explore.points import Window  # (lazy: only this path needs it)
    if args.window:
        a, sep, b = args.window.partition(":")
        if not sep:
            raise ValueError("--window wants T0:T1 (either may be empty)")
        try:
            t0 = int(a, 0) if a else 0
            t1 = int(b, 0) if b else None
        except ValueError:
            raise ValueError(f"--window {args.window}: not numbers") from None
        return Window(t0=t0, t1=t1)
    if args.between:
        a, sep, b = args.between.partition(":")
        lo = _addr(symbols, a)
        hi = _addr(symbols, b) if sep else _next_label(symbols, lo)
        if hi is not None and hi <= lo:
            raise ValueError(f"--between {args.between}: the second symbol is not after the first")
        return Window(lo=lo, hi=hi)
    return Window()


def _addr(symbols, name: str) -> int:
    try:
        return int(name, 0)
    except ValueError:
        pass
    if symbols is None or name not in symbols:
        raise ValueError(f"--between: unknown symbol {name!r}")
    return symbols.addr(name)


def _next_label(symbols, lo: int):
    """The address of the first label above ``lo`` (numeric local labels aside)."""
    above = [s.value for s in symbols.symbols.values()
             if s.kind == "label" and s.value > lo and not s.name[:1].isdigit()]
    return min(above) if above else None


def run(target, args, prog: str) -> int:
    """Explore ``target`` as the options say; print the report; the exit status."""
    from emulator.explore import ExploreError, Plan, explore  # (lazy: only this path needs it)
    from emulator.machine import MachineError  # (lazy: only this path needs it)
    from emulator.pool import PoolError  # (lazy: only this path needs it)
    plan = Plan(window=args.window_obj, every=args.every, depth=args.depth, second=args.second,
                merge=not args.all_points)
    try:
        result = explore(target, plan, jobs=args.jobs, scheduler=args.scheduler,
                         max_branches=args.max_branches)
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted\n")
        return 130
    except ExploreError as e:
        sys.stderr.write(f"{prog}: {e}\n")
        return 124
    except (PoolError, MachineError) as e:
        sys.stderr.write(f"{prog}: {e}\n")
        return 2
    except Exception as e:                   # noqa: BLE001 -- one line, never a traceback
        sys.stderr.write(f"{prog}: internal error: {type(e).__name__}: {e}\n")
        return 70
    try:
        sys.stdout.write(result.text())
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    if args.json:
        try:
            with open(args.json, "w") as f:
                json.dump(result.json(), f, indent=1, sort_keys=True)
                f.write("\n")
        except OSError as e:
            sys.stderr.write(f"{prog}: cannot write --json {args.json}: {e.strerror}\n")
            return 2
    return result.status


def symbols_of(path: str):
    try:
        from asm.symfile import load_symbols  # (lazy: only this path needs it)
        return load_symbols(path)
    except (ImportError, ValueError, OSError):
        return None


def read_target(image: str, append: str, mem: int, injections, args):
    """A Target for an image file (ValueError/OSError say what is wrong)."""
    from asm.symfile import sym_path  # (lazy: only this path needs it)
    from emulator.explore.target import Target  # (lazy: only this path needs it)
    from emulator.inject import parse  # (lazy: only this path needs it)
    for spec in injections:
        parse(spec)                       # InjectError (a ValueError) with one line
    with open(image, "rb") as f:
        data = f.read()
    symfile = None
    sp = sym_path(image)
    if os.path.exists(sp):
        with open(sp) as f:
            symfile = f.read()
    return Target(image=data, image_name=os.path.basename(image), symfile=symfile,
                  append=append, mem_mib=mem, injections=tuple(injections),
                  irq=args.irq, packet=args.packet, key=getattr(args, "key", None))


def main(argv) -> int:
    prog = "python -m emulator explore"
    p = parser(prog, "Deliver an interrupt at every point where one could arrive.")
    p.add_argument("image")
    p.add_argument("--append", default="", help="the kernel command line")
    p.add_argument("--mem", type=int, default=32, metavar="MIB", help="RAM size (default 32)")
    add_arguments(p)
    args = p.parse_args(argv)
    bad = check(args) or ("" if 1 <= args.mem <= 3072 else "--mem must be between 1 and 3072 MiB")
    if bad:
        sys.stderr.write(f"{prog}: {bad}\n")
        return 2
    try:
        target = read_target(args.image, args.append, args.mem, args.inject, args)
        args.window_obj = window(args, symbols_of(args.image))
    except OSError as e:
        sys.stderr.write(f"{prog}: cannot read {args.image}: {e.strerror}\n")
        return 2
    except ValueError as e:
        sys.stderr.write(f"{prog}: {e}\n")
        return 2
    prefix = ["python", "-m", "emulator", "run", args.image]
    if args.append:
        prefix += ["--append", args.append]
    if args.mem != 32:
        prefix += ["--mem", str(args.mem)]
    for spec in args.inject:
        prefix += ["--inject", spec]
    from dataclasses import replace  # (lazy: only this path needs it)
    return run(replace(target, reproduce=tuple(prefix)), args, prog)

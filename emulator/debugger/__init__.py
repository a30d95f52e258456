"""irqlab's debugger: a gdb-like REPL and a GDB remote stub over the machine.

    python -m emulator debug IMAGE [--append CMDLINE] [--inject SPEC ...]
                                   [--gdb PORT] [--cpus N] [--mem MIB]
                                   [--max-instructions N] [--no-observe] [-x FILE]
                                   [--trace FILE]

``main(argv) -> int`` builds the machine (``Machine.from_image``, then the
image's symbols, ``loader.image_symbols``), attaches the observer (threads, locks, stacks, trace, checks) unless --no-observe,
and then either serves GDB's remote protocol on 127.0.0.1:PORT (gdbstub.py)
or runs the REPL (repl.py) on stdin/stdout.  ``--max-instructions`` bounds
every ``continue`` (tests and scripts); ``-x FILE`` runs commands first.
``--trace FILE`` writes the observer's trace: the history of the furthest
run, each line once, whatever the session does backwards (see
emulator/debugger/rewind.py).

Modules: control.py (stops, execution, going back), reverse.py (snapshots),
rewind.py (the observer and checkers going back with the machine), expr.py
(locations and expressions), views.py (what is shown), kernelview.py (the
kernel's threads and locks), repl.py (the command table), gdbstub.py,
target.py (the machine's API, in one place).
"""

from __future__ import annotations

import argparse
import sys

from emulator.debugger.control import Debugger
from emulator.debugger.gdbstub import GdbStub
from emulator.debugger.repl import Repl
from emulator.loader import ImageError, image_symbols
from emulator.machine import MAX_CPUS, Machine, MachineError
from emulator.observe import attach

__all__ = ["main", "open_debugger"]


def _parser():
    p = argparse.ArgumentParser(prog="python -m emulator debug",
                                description="Step-debug an irqlab guest.")
    p.add_argument("image")
    p.add_argument("--append", default="", help="the kernel command line")
    p.add_argument("--inject", action="append", default=[], metavar="SPEC")
    p.add_argument("--gdb", type=int, metavar="PORT", help="serve GDB's remote protocol")
    p.add_argument("--cpus", type=int, default=1)
    p.add_argument("--mem", type=int, default=None, metavar="MIB")
    p.add_argument("--max-instructions", type=int, default=None, metavar="N",
                   help="bound every continue to N instructions")
    p.add_argument("--no-observe", action="store_true", help="do not attach the observer")
    p.add_argument("-x", dest="script", metavar="FILE", help="run the commands in FILE first")
    p.add_argument("--trace", metavar="FILE",
                   help="write the trace (JSON Lines) of the furthest run to FILE")
    return p


def open_debugger(image, append="", inject=(), cpus=1, mem=None, observe=True,
                  max_run=None, report=None, trace=None, history_every=200_000):
    """Machine + observer + Debugger for IMAGE (what main and tests use)."""
    kw = {"append": append, "cpus": cpus}
    if mem is not None:
        kw["mem_mib"] = mem
    m = Machine.from_image(image, **kw)
    m.symbols = image_symbols(image)        # locations, views, pc= injections
    for spec in inject:
        m.inject(spec)
    session = None
    if observe:
        session = attach(m, trace_path=None, checks=True, report=report)
    return Debugger(m, session=session, max_run=max_run, trace_path=trace,
                    history_every=history_every)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.trace and args.no_observe:
        print("debug: --trace needs the observer (drop --no-observe)", file=sys.stderr)
        return 2
    if not 1 <= args.cpus <= MAX_CPUS:
        print(f"debug: --cpus must be between 1 and {MAX_CPUS}", file=sys.stderr)
        return 2
    try:
        dbg = open_debugger(args.image, args.append, args.inject, args.cpus, args.mem,
                            not args.no_observe, args.max_instructions, trace=args.trace)
    except (OSError, ValueError, KeyError, MachineError, ImageError) as e:
        if isinstance(e, OSError) and args.trace and e.filename == args.trace:
            print(f"debug: cannot write --trace {args.trace}: {e.strerror}", file=sys.stderr)
        else:
            print(f"debug: {args.image}: {e}", file=sys.stderr)
        return 2
    try:
        if args.gdb is not None:
            return GdbStub(dbg, args.gdb, log=sys.stderr).serve()
        repl = Repl(dbg)
        if args.script:
            repl.onecmd(f"source {args.script}")
        return repl.loop()
    finally:
        dbg.close()

"""irqlab's debugger: a gdb-like REPL and a GDB remote stub over the machine.

    python -m emulator debug IMAGE [--append CMDLINE] [--inject SPEC ...]
                                   [--gdb PORT] [--cpus N] [--mem MIB]
                                   [--max-instructions N] [--no-observe] [-x FILE]
                                   [--trace FILE]

Exit status (README's table): the guest's status when it exited (0 when
it did not), 2 for bad arguments, a bad image or a GDB port that cannot be
listened on (one line on stderr), 126 after a crash the session stopped
at, 130 for Ctrl-C at start-up, 141 when stdout was closed early
(``debug ... | head -1``), 70 for an internal error (one line), 74 when
the --trace file could not be written (a full disk; one line at the end).

``main(argv) -> int`` builds the machine (``Machine.from_image``, then the
image's symbols, ``loader.image_symbols``), attaches the observer (threads, locks, stacks, trace, checks) unless --no-observe,
and then either serves GDB's remote protocol on 127.0.0.1:PORT (gdbstub.py)
or runs the REPL (repl.py) on stdin/stdout.  ``--max-instructions`` bounds
every ``continue`` (tests and scripts); ``-x FILE`` runs commands first.
``--trace FILE`` writes the observer's trace: the history of the furthest
run, each line once, whatever the session does backwards (see
emulator/debugger/rewind.py).

Modules: control.py (stops, execution), locate.py (expressions, locations,
decoding, the stop display), goback.py (going back), reverse.py
(snapshots), along.py (what goes back with them: the console's place, the
interrupts taken), rewind.py (the observer and checkers going back with the
machine), stops.py (Stop, Point, DebugError), expr.py (locations and
expressions), views.py (what is shown), kernelview.py (the kernel's threads
and locks), repl.py (the command table), terminal.py (line editing,
history, Tab), gdbstub.py and rsp.py (GDB's remote protocol), target.py
(the machine's API, in one place).
"""

from __future__ import annotations

import argparse
import os
import sys

from emulator.devices.platform import MAX_CPUS

__all__ = ["main", "open_debugger"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):              # one line, status 2 (as run)
        sys.stderr.write(f"irqlab debug: {message}\n")
        raise SystemExit(2)


def _parser():
    p = _Parser(prog="python -m emulator debug", description="Step-debug an irqlab guest.")
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
    # the machine is imported here, not at the top: a Ctrl-C while it loads
    # is then main's one-line status 130, not a traceback
    from emulator.debugger.control import Debugger
    from emulator.loader import image_symbols
    from emulator.machine import Machine
    kw = {"append": append, "cpus": cpus}
    if mem is not None:
        kw["mem_mib"] = mem
    m = Machine.from_image(image, **kw)
    m.symbols = image_symbols(image)        # locations, views, pc= injections
    for spec in inject:
        m.inject(spec)
    session = None
    if observe:
        from emulator.observe import attach     # (as the machine above)
        session = attach(m, trace_path=None, checks=True, report=report)
    return Debugger(m, session=session, max_run=max_run, trace_path=trace,
                    history_every=history_every)


def _bad_args(args):
    """The one-line refusal of a bad option, or None (the ranges run checks)."""
    if args.trace and args.no_observe:
        return "--trace needs the observer (drop --no-observe)"
    if not 1 <= args.cpus <= MAX_CPUS:
        return f"--cpus must be between 1 and {MAX_CPUS}"
    if args.mem is not None and not 1 <= args.mem <= 3072:
        return "--mem must be between 1 and 3072 MiB"
    if args.gdb is not None and not 0 <= args.gdb <= 65535:
        return f"--gdb {args.gdb}: a TCP port is 0..65535 (0: any free port)"
    if args.max_instructions is not None and args.max_instructions <= 0:
        return "--max-instructions must be positive"
    return None


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    bad = _bad_args(args)
    if bad:
        print(f"debug: {bad}", file=sys.stderr)
        return 2
    try:
        return _session(args)
    except KeyboardInterrupt:
        print("debug: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:                  # stdout closed early (| head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as e:                     # closing --trace found a write error (full disk)
        print(f"debug: cannot write --trace {args.trace}: {e.strerror or e}", file=sys.stderr)
        return 74


def _session(args) -> int:
    # imported here so that a Ctrl-C while they load is the one-line 130
    from emulator.loader import ImageError
    from emulator.machine import MachineError
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
            from emulator.debugger.gdbstub import GdbStub     # (as ImageError above)
            stub = GdbStub(dbg, args.gdb, log=sys.stderr)
            try:
                stub.listen()
            except OSError as e:
                print(f"debug: cannot listen on 127.0.0.1:{args.gdb}: {e.strerror or e}",
                      file=sys.stderr)
                return 2
            return stub.serve()
        from emulator.debugger.repl import Repl               # (as ImageError above)
        repl = Repl(dbg)
        if args.script:
            repl.onecmd(f"source {args.script}")
        return repl.loop()
    except (BrokenPipeError, KeyboardInterrupt):
        raise
    except Exception as e:                   # noqa: BLE001 -- one line, never a traceback
        print(f"debug: internal error at t={dbg.t.now}: {type(e).__name__}: {e}", file=sys.stderr)
        return 70
    finally:
        dbg.close()

"""``python -m emulator run IMAGE ...``: boot an image, print its console.

Exit status: the guest's value written to port 0xF4 (255 for a value that
does not fit in a status byte, emulator/devices/debugcon.py); 2 for bad
arguments or a bad image (one line on stderr); 124 when --max-instructions
runs out; 126 for a crash, triple fault or deadlock (a report paragraph on
stderr); 120 when a checker rule fired (whatever the guest wrote); 74 in
place of the guest's value when the --trace file could not be written (a
full disk; one line); 70 for an internal error (one line).  The observer and
the checkers run by default (``--no-checks`` turns the checkers off); the
run ends with one summary line on stderr, ``checks: 13 rules, 0
violations``; ``--spinout N`` sets the spinout rule's bound (instructions).  Never a Python traceback: errors the user can cause are caught here and said in one line.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from emulator.gcpause import collector_paused
from emulator.inject import InjectError, parse
from emulator.loader import ImageError, image_symbols
from emulator.machine import MAX_CPUS, Machine, MachineError
from emulator.observe import attach


MAX_SERIAL_IN = 16 << 20          # bytes of --serial-in
STATUS_OUTPUT_FAILED = 74         # sysexits EX_IOERR: --trace could not be written


class _Parser(argparse.ArgumentParser):
    def error(self, message):              # one line, status 2
        sys.stderr.write(f"irqlab run: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m emulator run", description="Run a Multiboot v1 image on irqlab.")
    p.add_argument("image")
    p.add_argument("--append", default="", help="the kernel command line")
    p.add_argument("--max-instructions", type=int, default=None, metavar="N",
                   help="stop with status 124 after N instructions")
    p.add_argument("--inject", action="append", default=[], metavar="SPEC",
                   help="irq=N,at=T | irq=N,every=P[,from=T][,count=K] | "
                        "irq=N,pc=SYM[+OFF][,hit=K]; packet=VALUE for the test device, "
                        "key=BYTE for a key pressed (the 8042, IRQ 1)")
    p.add_argument("--serial-in", metavar="FILE", help="bytes for COM1's receiver ('-' = stdin)")
    p.add_argument("--mem", type=int, default=32, metavar="MIB", help="RAM size (default 32)")
    p.add_argument("--trace", metavar="FILE", help="write the event trace (JSON Lines)")
    p.add_argument("--cpus", type=int, default=1, metavar="N")
    p.add_argument("--no-checks", action="store_true",
                   help="do not run the lock-rule checkers (the trace is still written)")
    p.add_argument("--spinout", type=int, default=None, metavar="N",
                   help="a spin or hard interrupt handler longer than N instructions is a "
                        "violation (default 10000000)")
    p.add_argument("--no-native", action="store_true", help="use the pure-Python block hook")
    return p


def main(argv) -> int:
    args = build_parser().parse_args(argv)
    if not 1 <= args.cpus <= MAX_CPUS:
        return _bad(f"--cpus must be between 1 and {MAX_CPUS}")
    if not 1 <= args.mem <= 3072:
        return _bad("--mem must be between 1 and 3072 MiB")
    if args.spinout is not None and args.spinout < 1:
        return _bad("--spinout must be at least 1 instruction")
    if args.max_instructions is not None and args.max_instructions < 0:
        return _bad("--max-instructions must not be negative")
    serial = None
    if args.serial_in:
        try:
            serial = _read_serial_in(args.serial_in)
        except OSError as e:
            return _bad(f"cannot read --serial-in {args.serial_in}: {e.strerror}")
        if len(serial) > MAX_SERIAL_IN:
            return _bad(f"--serial-in {args.serial_in} holds more than {MAX_SERIAL_IN >> 20} MiB "
                        "(the UART's input is read whole before the run)")
    with collector_paused():
        started = _start(args, serial)
    if isinstance(started, int):
        return started
    m, session = started
    restore = _stop_on_ctrl_c(m)
    try:
        result = m.run(args.max_instructions)
    except BrokenPipeError:                  # stdout closed early (| head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as e:                   # noqa: BLE001 -- one line, never a traceback
        sys.stderr.write(f"irqlab: internal error at t={m.clock.now}: {type(e).__name__}: {e}\n")
        return 70
    finally:
        restore()
        summary = session.finish()[1] if session is not None else None
    sys.stdout.flush()
    status = result.status
    if result.reason == "stopped":
        sys.stderr.write(f"irqlab: interrupted at t={m.clock.now}\n")
        status = 130
    elif result.reason == "budget":
        sys.stderr.write(f"irqlab: instruction budget of {args.max_instructions} spent\n")
    if result.report:
        sys.stderr.write(result.report + "\n")
    written = m.devices["debugexit"].written
    if result.reason == "exit" and written is not None and written != result.status:
        sys.stderr.write(f"irqlab: the guest wrote {written:#x} to port 0xf4, which does not "
                         f"fit in an exit status: status {result.status}\n")
    if session is not None and not args.no_checks:
        sys.stderr.write(summary + "\n")
        if status != 130:
            status = session.exit_status(status)
    if session is not None and session.trace_error is not None:
        sys.stderr.write(f"irqlab run: cannot write --trace {args.trace}: "
                         f"{session.trace_error.strerror or session.trace_error}\n")
        if result.reason == "exit" and status == result.status:
            status = STATUS_OUTPUT_FAILED      # in place of the guest's value, never a pass
    return status


def _start(args, serial):
    """The machine, its symbols and injections, and the observer's session
    (None when neither checks nor a trace are asked for); or the status of
    a bad argument, said in one line."""
    try:
        injections = [parse(s) for s in args.inject]
        m = Machine.from_image(args.image, append=args.append, mem_mib=args.mem, cpus=args.cpus,
                               serial_in=serial, native=not args.no_native)
        m.symbols = image_symbols(args.image)      # for pc= injections, the observer, reports
        for inj in injections:
            m.inject(inj)
    except (MachineError, ImageError, InjectError) as e:
        return _bad(str(e))
    if not args.no_native and m.native is None:
        sys.stderr.write("irqlab: the native block hook is not built (python -m emulator.native "
                         "build); using the pure-Python hook, same results, slower\n")
    session = None
    if args.trace or not args.no_checks:
        try:
            session = attach(m, trace_path=args.trace, checks=not args.no_checks,
                             limits={"spinout": args.spinout})
        except OSError as e:
            return _bad(f"cannot write --trace {args.trace}: {e.strerror}")
    return m, session


def _read_serial_in(name: str) -> bytes:
    """At most MAX_SERIAL_IN + 1 bytes of the file (``-``: stdin), so /dev/zero ends."""
    if name == "-":
        return sys.stdin.buffer.read(MAX_SERIAL_IN + 1)
    with open(name, "rb") as f:
        return f.read(MAX_SERIAL_IN + 1)


def _stop_on_ctrl_c(machine):
    """Ctrl-C stops the machine even while Unicorn runs without calling Python.

    Python handlers only run between bytecodes, which never happen inside a
    long emu_start; the wakeup fd is written by the C-level handler at once,
    and a thread reading it sets the machine's stop flag (checked by the
    block hook).  Returns a function that undoes the arrangement."""
    rfd, wfd = os.pipe()
    os.set_blocking(wfd, False)
    previous_handler = signal.signal(signal.SIGINT, lambda *_: machine.stop())
    previous_fd = signal.set_wakeup_fd(wfd)

    def watch():
        while os.read(rfd, 1):
            machine.stop()
    threading.Thread(target=watch, daemon=True).start()

    def restore():
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGINT, previous_handler)
        os.close(wfd)
    return restore


def _bad(message: str) -> int:
    sys.stderr.write(f"irqlab run: {message}\n")
    return 2

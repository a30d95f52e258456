"""``python -m emulator SUBCOMMAND ...``: run, debug, trace, explore, fuzz.

``run`` is emulator/run.py; ``debug`` is ``emulator.debugger.main(argv)``
and ``trace`` is ``emulator.trace_cli.main(argv)`` when those modules exist;
``explore`` is ``emulator.explore.cli.main(argv)`` and ``fuzz``
``emulator.fuzz.cli.main(argv)``.

Start-up (issue 17): the command's modules are imported with the cyclic
garbage collector paused (they create ~10,000 objects it tracks, and no
garbage, so each collection was wasted work); ``python -m emulator run`` ends with
``os._exit`` once its streams are flushed, skipping the interpreter's
teardown, which frees every object one by one (about 6% of a short run).
There is nothing left for it to do: ``run`` closes its trace, starts no
process and registers no exit handler (the other commands, which start
pools, exit as usual).  A stream that cannot be flushed (a closed pipe)
takes the ordinary exit instead, which reports it as before.
"""

from __future__ import annotations

import importlib
import os
import sys

from emulator.gcpause import collector_paused

COMMANDS = {"run": "emulator.run", "debug": "emulator.debugger", "trace": "emulator.trace_cli",
            "explore": "emulator.explore.cli", "fuzz": "emulator.fuzz.cli"}
FAST_EXIT = ("run",)        # commands that end without the interpreter's teardown
USAGE = ("usage: python -m emulator {run,debug,trace,explore,fuzz} ... "
         "(python -m emulator run --help)")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        sys.stderr.write(f"irqlab: unknown command {name!r}; {USAGE}\n")
        return 2
    try:
        with collector_paused():
            module = importlib.import_module(COMMANDS[name])
    except ModuleNotFoundError as e:
        if e.name != COMMANDS[name]:
            raise
        sys.stderr.write(f"irqlab: the {name!r} command is not available yet ({COMMANDS[name]} is missing)\n")
        return 2
    status = module.main(rest)
    return 0 if status is None else status


def _exit(status) -> None:
    """Exit with ``status``: for a FAST_EXIT command, once the streams are
    flushed, without the interpreter's teardown."""
    if sys.argv[1:2] and sys.argv[1] in FAST_EXIT and type(status) is int:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):    # a closed pipe or stream: the ordinary exit reports it
            sys.exit(status)
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":
    _exit(main())

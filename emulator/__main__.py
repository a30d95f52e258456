"""``python -m emulator SUBCOMMAND ...``: run, debug, trace, explore, fuzz.

``run`` is emulator/run.py; ``debug`` is ``emulator.debugger.main(argv)``
and ``trace`` is ``emulator.trace_cli.main(argv)`` when those modules exist;
``explore`` is ``emulator.explore.cli.main(argv)`` and ``fuzz``
``emulator.fuzz.cli.main(argv)``.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {"run": "emulator.run", "debug": "emulator.debugger", "trace": "emulator.trace_cli",
            "explore": "emulator.explore.cli", "fuzz": "emulator.fuzz.cli"}
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
        module = importlib.import_module(COMMANDS[name])
    except ModuleNotFoundError as e:
        if e.name != COMMANDS[name]:
            raise
        sys.stderr.write(f"irqlab: the {name!r} command is not available yet ({COMMANDS[name]} is missing)\n")
        return 2
    status = module.main(rest)
    return 0 if status is None else status


if __name__ == "__main__":
    sys.exit(main())

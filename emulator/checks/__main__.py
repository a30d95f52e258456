"""``python -m emulator.checks {bugs,rules}``.

``bugs`` (``make check-bugs``): build every ``--bug`` configuration of the
kernel, run the scenario that exposes it, and print one line per bug: the
bug, the rules that fired, and whether the one it targets did.  Exit status
1 if any bug went unnoticed.  ``rules``: print the rules and what each
checks (the text of RULES.md).
"""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m emulator.checks")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bugs", help="prove each rule fires on the kernel built to break it")
    b.add_argument("--only", action="append", default=[], metavar="BUG",
                   help="check only this bug (repeatable)")
    b.add_argument("--build-dir", default="build/bugs", help="where images go (build/bugs)")
    b.add_argument("-v", "--verbose", action="store_true", help="print each violation report")
    sub.add_parser("rules", help="list the rules")
    args = p.parse_args(argv)
    if args.cmd == "rules":
        from emulator.checks import all_rules
        for i, r in enumerate(all_rules(), 1):
            print(f"{i:2}. {r.name:<16} {r.title}")
        return 0
    from emulator.checks.bugs import check_bugs
    return check_bugs(only=args.only, build_dir=args.build_dir, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())

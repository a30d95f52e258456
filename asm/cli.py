"""Command line: python -m asm build SRC.S [SRC2.S ...] -o OUT.bin [options].

    --elf OUT.elf        also write the ELF32 image (same contents, .symtab)
    --sym OUT.sym.json   symbol file (format irqlab-sym-1)
    --lst OUT.lst        listing: address, bytes, file:line, source
    -I DIR               .include search directory (repeatable)
    -D NAME[=VALUE]      define a constant for .if/.ifdef and the code (repeatable; default 1)
    --base ADDR          load address of the Multiboot header (default 0x100000)
    --entry SYMBOL       entry label (default _start)

A mistake in the source prints `file:line:col: error: message`, the line and
a caret, and exits 1; an output that cannot be written exits 1 with one
line; bad arguments exit 2 (argparse).  A Python error inside the
assembler is never shown as a traceback: one line, `internal error`, exit
70 (a bug to report; the bad-input tests assert it does not happen).
"""

from __future__ import annotations

import argparse
import sys

from . import assemble
from .errors import AsmError
from .guard import INTERNAL_ERROR_STATUS


def parse_int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m asm", description="irqlab assembler")
    sub = ap.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="assemble sources into a Multiboot image")
    b.add_argument("sources", nargs="+", metavar="SRC.S")
    b.add_argument("-o", "--output", required=True, metavar="OUT.bin")
    b.add_argument("--elf", metavar="OUT.elf")
    b.add_argument("--sym", metavar="OUT.sym.json")
    b.add_argument("--lst", metavar="OUT.lst")
    b.add_argument("-I", dest="include", action="append", default=[], metavar="DIR")
    b.add_argument("-D", dest="define", action="append", default=[], metavar="NAME=VALUE")
    b.add_argument("--base", type=parse_int, default=0x100000)
    b.add_argument("--entry", default="_start")
    args = ap.parse_args(argv)

    defines = {}
    for d in args.define:
        name, eq, value = d.partition("=")
        defines[name.strip()] = value if eq else "1"
    try:
        image = assemble(args.sources, include_dirs=args.include, defines=defines,
                         base=args.base, entry=args.entry)
        image.write(args.output, elf=args.elf, sym=args.sym, lst=args.lst)
    except AsmError as e:
        print(str(e), file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: cannot write output: {e}", file=sys.stderr)
        return 1
    except RecursionError:
        print("error: the source nests too deeply for the assembler", file=sys.stderr)
        return 1
    except MemoryError:
        print("error: out of memory while assembling", file=sys.stderr)
        return 1
    except Exception as e:                # noqa: BLE001 -- one line, never a traceback
        print(f"internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return INTERNAL_ERROR_STATUS
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m emulator.native build``: compile blockhook.c with gcc.

Without gcc it prints a note and exits 0: the machine then uses its
pure-Python block hook (same traces, slower).
"""

from __future__ import annotations

import shutil
import subprocess
import sys

from emulator.native import LIBRARY, SOURCE


def main(argv) -> int:
    if argv != ["build"]:
        sys.stderr.write("usage: python -m emulator.native build\n")
        return 2
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        print("note: no C compiler found; irqlab will use its pure-Python block hook (slower)")
        return 0
    tmp = LIBRARY.with_suffix(".tmp.so")
    proc = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-Wall", "-o", str(tmp), str(SOURCE)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"note: building the native block hook failed; irqlab will use its Python hook\n"
              f"{proc.stderr.strip()}")
        return 0
    tmp.replace(LIBRARY)
    print(f"built {LIBRARY}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

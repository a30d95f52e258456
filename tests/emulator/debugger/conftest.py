import io

import asm
from emulator.debugger.control import Debugger
from emulator.debugger.repl import Repl
from emulator.loader import image_symbols
from emulator.machine import Machine

LOOP = """\
_start:
        mov esp, 0x90000
        mov ecx, 0
again:
        call bump
        inc ecx
        cmp ecx, 1000000
        jne again
done:
        hlt
        jmp done
# bump: counter += 2
bump:
        mov eax, [counter]
        add eax, 2
        mov [counter], eax
        ret
        .data
counter: .long 0
"""


def drive(dbg, commands: str) -> str:
    out = io.StringIO()
    Repl(dbg, stdin=io.StringIO(commands), stdout=out).loop()
    return out.getvalue()


def make_machine(path):
    m = Machine.from_image(path, mem_mib=4)
    m.symbols = image_symbols(path)
    return m


def build_loop(tmp_path, text=LOOP, name="loop", **kw):
    """Write the guest's source, assemble it from the file (so source lines
    are found) and return (Debugger, paths)."""
    src = tmp_path / f"{name}.S"
    src.write_text(text)
    img = asm.assemble([str(src)])
    paths = {"bin": str(tmp_path / f"{name}.bin"), "elf": str(tmp_path / f"{name}.elf"),
             "sym": str(tmp_path / f"{name}.sym.json"), "src": str(src)}
    img.write(paths["bin"], elf=paths["elf"], sym=paths["sym"])
    paths.update({n: s.value for n, s in img.symbols.items()})
    dbg = Debugger(make_machine(paths["elf"]), max_run=kw.get("max_run", 100_000),
                   history_every=kw.get("every", 20_000))
    return dbg, paths

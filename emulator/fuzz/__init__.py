"""Differential fuzzing: random guests on irqlab and on QEMU -icount, compared.

(The command line and the contract are in emulator/fuzz/cli.py.)
"""

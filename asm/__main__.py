"""python -m asm build ... (see asm/cli.py)."""
import sys

from .cli import main

sys.exit(main())

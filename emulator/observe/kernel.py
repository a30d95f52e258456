"""What irqlab's kernel is doing: its obs_ labels and exported structures.

(Filled in against guest_kernel/OBSERVE.md.)  ``KernelModel.detect(view,
symbols)`` is None for an image that is not irqlab's kernel, which switches
the kernel rules off.
"""

from __future__ import annotations


class KernelModel:
    MARKER = "obs_lwp_switch"

    def __init__(self, view, symbols) -> None:
        self.view = view
        self.symbols = symbols

    @classmethod
    def detect(cls, view, symbols):
        if not symbols or symbols.addr(cls.MARKER) is None:
            return None
        return cls(view, symbols)

    def add_static_stacks(self, stacks) -> None:
        pass

    def resolve_stack(self, esp: int) -> bool:
        return False

    def install(self, observer, sink) -> None:
        pass

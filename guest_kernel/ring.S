# ring.S — a lock-free single-producer single-consumer ring of words.
#
# The producer (a hard interrupt handler) only writes RING_HEAD, the
# consumer (its soft half or thread) only writes RING_TAIL; both count
# forever and index modulo RING_SLOTS (a power of two).  x86 keeps stores in
# order, so writing the slot before publishing the head is enough.
#   ring_put(EBX = ring, EAX = word): CF=1 if full (RING_DROPS counts it).
#   ring_get(EBX = ring): EAX = oldest word, CF=1 if empty.
# Both keep every other register; any IF, any context.
        .include "kernel.inc"

        .text
ring_put:
        push ecx
        push edx
        mov ecx, [ebx + RING_HEAD]
        mov edx, ecx
        sub edx, [ebx + RING_TAIL]
        cmp edx, RING_SLOTS
        jb 1f
        inc dword ptr [ebx + RING_DROPS]
        pop edx
        pop ecx
        stc
        ret
1:      mov edx, ecx
        and edx, RING_SLOTS - 1
.if BUG_RING_PUBLISH_EARLY
        inc ecx
        mov [ebx + RING_HEAD], ecx       # BUG: published before the slot is written:
        mov [ebx + RING_DATA + edx*4], eax   # a consumer in between reads a stale word
.else
        mov [ebx + RING_DATA + edx*4], eax
        inc ecx
        mov [ebx + RING_HEAD], ecx       # publish after the slot is written
.endif
        pop edx
        pop ecx
        clc
        ret

ring_get:
        push ecx
        mov ecx, [ebx + RING_TAIL]
        cmp ecx, [ebx + RING_HEAD]
        jne 1f
        pop ecx
        stc
        ret
1:      mov eax, ecx
        and eax, RING_SLOTS - 1
        mov eax, [ebx + RING_DATA + eax*4]
        inc ecx
        mov [ebx + RING_TAIL], ecx       # the slot is free again
        pop ecx
        clc
        ret

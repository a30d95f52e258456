# tsc.S — the time-stamp counter (SDM vol. 3B 17.17): on irqlab it is the
# virtual clock, instructions retired (one per virtual ns), as on QEMU with
# -icount shift=0.  Only differences of two readings compare (QEMU's count
# includes the BIOS): 7 between readings around 5 nops (rdtsc, mov and the
# 5 nops retire between them) and 0x66 around a 100-iteration loop (rdtsc,
# mov and 100 loops).  No rdtscp: QEMU's default qemu32 CPU raises #UD.
        .include "probe.inc"

        .text
main:
        rdtsc
        mov ebx, eax
        nop
        nop
        nop
        nop
        nop
        rdtsc
        sub eax, ebx
        SHOW tsc_straight

        mov ecx, 100
        rdtsc
        mov ebx, eax
1:      loop 1b
        rdtsc
        sub eax, ebx
        SHOW tsc_loop
        jmp done

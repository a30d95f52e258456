# scen_mpsafe.S — smp_mpsafe: the seed's claim measured.  "A big part of
# the win is that we can then make interrupt handlers not need biglock."
#
# One worker LWP bound to every CPU loops: take the big lock, a
# read-modify-write of mp_shared across MP_LOCKED_WORK turns, release, then
# MP_FREE_WORK turns outside it, and every MP_KICK_EVERY loops asks COM1 for
# an interrupt (com_kick: a transmitter-empty interrupt, on irqlab and QEMU
# alike).  Meanwhile the test device interrupts (irqlab only: packets
# injected by scenarios/smp_mpsafe.inject), its handler made long
# (td_busy = MP_TD_WORK turns).  Both lines go through the IO APIC to the
# CPUs their routes name (route=L:C; by default COM1 to CPU 3 and the test
# device to CPU 2 of 4: apic.S default_route), and are real deliveries: the
# handlers run there, in the model their drivers were built with, under the
# big lock only if the driver is not MPSAFE (intr_call_handler,
# intr_soft_bottom).  The workers run until every packet has been received
# (or MP_TICKS ticks without the device), then stop.
#
# Build it twice — the drivers MPSAFE (the default) and not (--driver
# testdev=MODEL,biglock --driver com=classic,biglock) — and compare the
# big-lock wait: handlers that skip the lock do not make the workers wait,
# nor wait themselves.  What the scenario prints depends only on the build
# (which drivers are MPSAFE); with `figures` on the command line it also
# prints what it measured, per CPU, which follows how the CPUs interleave:
#   big-lock wait   spin iterations x BIGWAIT_INSNS = instructions spent
#                   spinning for the big lock (the workers' and the
#                   handlers'), per CPU, and the total;
#   big-lock hold   virtual ns from taking it to freeing it (vclock);
#   interrupts      device interrupts each CPU took;
#   latency         per line, virtual ns from intr_entry to work_done:
#                   mean and max over the run (intr_stat.S).
# Passes when the big lock kept the workers' updates exact, every packet
# arrived and every COM1 interrupt asked for was handled.  One CPU: skipped.
        .include "kernel.inc"

        .equ MP_LOCKED_WORK, 300         # `loop` turns holding the big lock
        .equ MP_FREE_WORK, 900           # and outside it
        .equ MP_KICK_EVERY, 8            # loops between COM1 interrupts
        .equ MP_TD_WORK, 1000            # the test device's handler, made long
        .equ MP_PACKETS, 60              # scenarios/smp_mpsafe.inject sends these
        .equ MP_TICKS, 20                # how long the workers run without the device
        .equ MP_WAIT_TICKS, 400          # at most this long for the packets

        .text
scen_smp_mpsafe:
        push ebx
        cmp dword ptr [ncpus], 1
        jbe 8f
        call mp_reset
        mov dword ptr [td_busy], MP_TD_WORK
        mov dword ptr [bigstat_on], 1
        mov edx, 0                       # a worker bound to every CPU
1:      mov eax, mp_worker
        mov ebx, name_mpworker
        call spawn_on
        mov [mp_workers + edx*4], eax
        inc edx
        cmp edx, [ncpus]
        jb 1b
        cmp dword ptr [td_present], 0    # until the packets are in
        je 3f
        mov ebx, MP_WAIT_TICKS
2:      cmp dword ptr [td_received], MP_PACKETS
        jae 4f
        mov edx, 1
        call tsleep
        dec ebx
        jnz 2b
        jmp 4f
3:      mov edx, MP_TICKS                # (no device: a while)
        call tsleep
4:      mov dword ptr [mp_stop], 1
        xor ebx, ebx
5:      mov eax, [mp_workers + ebx*4]
        call lwp_wait
        inc ebx
        cmp ebx, [ncpus]
        jb 5b
6:      mov eax, [com_kicks]             # the last COM1 interrupts
        cmp eax, [com_thre_count]
        je 7f
        mov edx, 1
        call tsleep
        jmp 6b
7:      mov dword ptr [bigstat_on], 0
        mov dword ptr [td_busy], 0
        call mp_report
        call mp_verdict
        jmp 9f
8:      jmp smp_skip
9:      pop ebx
        ret

# mp_reset: every CPU's big-lock and interrupt counts, and the lines'
# latencies, from zero
mp_reset:
        mov ecx, cpu0
1:      mov dword ptr [ecx + C_BIGWAIT], 0
        mov dword ptr [ecx + C_BIGHOLD], 0
        mov dword ptr [ecx + C_NINTR], 0
        add ecx, C_SIZE
        cmp ecx, cpu0 + MAX_CPUS * C_SIZE
        jb 1b
        mov ecx, ih_table
2:      mov dword ptr [ecx + IH_TSTART], 0
        mov dword ptr [ecx + IH_LATSUM], 0
        mov dword ptr [ecx + IH_LATN], 0
        mov dword ptr [ecx + IH_LATMAX], 0
        add ecx, IH_SIZE
        cmp ecx, ih_table + NIRQ * IH_SIZE
        jb 2b
        ret

# mp_worker(EAX = its CPU): big-lock work until mp_stop
mp_worker:
        push ebx
        push esi
        mov esi, eax
1:      call kernel_lock
        mov eax, [mp_shared]             # exact only if the holders exclude
        mov ecx, MP_LOCKED_WORK
2:      loop 2b
        inc eax
        mov [mp_shared], eax
        call kernel_unlock_one
        inc dword ptr [mp_local + esi*4]
        mov eax, [mp_local + esi*4]
        and eax, MP_KICK_EVERY - 1
        jnz 3f
        call com_kick                    # COM1 interrupts, now and then
3:      mov ecx, MP_FREE_WORK
4:      loop 4b
        cmp dword ptr [mp_stop], 0
        je 1b
        pop esi
        pop ebx
        ret

# mp_report: what the run was, and with `figures` what it measured
mp_report:
        push ebx
        push esi
        PRINT msg_mp_run
        mov eax, [ncpus]
        call putdec
        PRINT msg_mp_cpus
        mov ebx, TESTDEV_IRQ
        call mp_mpsafe_word
        PRINT msg_mp_com
        mov ebx, COM1_IRQ
        call mp_mpsafe_word
        call newline
        cmp dword ptr [want_figures], 0
        je 9f
        PRINT msg_mp_wait                # wait, instructions, per CPU
        xor ebx, ebx
        xor esi, esi
1:      CPU_PTR ecx, ebx
        mov eax, [ecx + C_BIGWAIT]
        imul eax, eax, BIGWAIT_INSNS
        add esi, eax
        call mp_putsp
        inc ebx
        cmp ebx, [ncpus]
        jb 1b
        PRINT msg_mp_total
        mov eax, esi
        call putdec
        call newline
        PRINT msg_mp_hold                # hold, virtual ns, per CPU
        xor ebx, ebx
        xor esi, esi
2:      CPU_PTR ecx, ebx
        mov eax, [ecx + C_BIGHOLD]
        add esi, eax
        call mp_putsp
        inc ebx
        cmp ebx, [ncpus]
        jb 2b
        PRINT msg_mp_total
        mov eax, esi
        call putdec
        call newline
        PRINT msg_mp_intr                # device interrupts per CPU
        xor ebx, ebx
3:      CPU_PTR ecx, ebx
        mov eax, [ecx + C_NINTR]
        call mp_putsp
        inc ebx
        cmp ebx, [ncpus]
        jb 3b
        call newline
        mov ebx, COM1_IRQ                # latency per line
        call mp_latency
        mov ebx, TESTDEV_IRQ
        call mp_latency
9:      pop esi
        pop ebx
        ret

# mp_mpsafe_word: EBX = line: " MPSAFE" or " under the big lock"
mp_mpsafe_word:
        IH_ENTRY eax, ebx
        test dword ptr [eax + IH_FLAGS], IH_MPSAFE
        jz 1f
        PRINT msg_mp_safe
        ret
1:      PRINT msg_mp_locked
        ret

# mp_putsp: " EAX"
mp_putsp:
        PRINT msg_space
        jmp putdec

# mp_latency: EBX = line: "smp_mpsafe: line L latency mean M max X ns (N)"
mp_latency:
        IH_ENTRY ecx, ebx
        PRINT msg_mp_line
        mov eax, ebx
        call putdec
        PRINT msg_mp_mean
        mov eax, [ecx + IH_LATSUM]
        xor edx, edx
        cmp dword ptr [ecx + IH_LATN], 0
        je 1f
        div dword ptr [ecx + IH_LATN]
1:      call putdec
        PRINT msg_mp_max
        mov eax, [ecx + IH_LATMAX]
        call putdec
        PRINT msg_mp_n
        mov eax, [ecx + IH_LATN]
        call putdec
        PRINT msg_mp_close
        ret

# mp_verdict -> EAX = 0 or a reason
mp_verdict:
        xor eax, eax                     # the workers' own counts ...
        xor ecx, ecx
1:      add eax, [mp_local + ecx*4]
        inc ecx
        cmp ecx, [ncpus]
        jb 1b
        cmp eax, [mp_shared]             # ... are what the big lock kept
        mov eax, msg_mp_lost
        jne 9f
        mov eax, msg_mp_idle
        mov ecx, 0
2:      cmp dword ptr [mp_local + ecx*4], 0
        je 9f                            # a CPU did no work
        inc ecx
        cmp ecx, [ncpus]
        jb 2b
        cmp dword ptr [td_present], 0
        je 3f
        mov eax, msg_mp_packets
        cmp dword ptr [td_received], MP_PACKETS
        jne 9f
3:      mov eax, msg_mp_nokick
        cmp dword ptr [com_thre_count], 0
        je 9f
        PRINT msg_mp_ok
        xor eax, eax
9:      ret

        .data
name_mpworker:  .asciz "worker"
msg_space:      .asciz " "
msg_mp_run:     .asciz "smp_mpsafe: big-lock work on "
msg_mp_cpus:    .asciz " cpus; handlers: testdev"
msg_mp_com:     .asciz ", com"
msg_mp_safe:    .asciz " MPSAFE"
msg_mp_locked:  .asciz " under the big lock"
msg_mp_ok:      .asciz "smp_mpsafe: every update kept, every interrupt handled\n"
msg_mp_wait:    .asciz "smp_mpsafe: big-lock wait (instructions) per cpu:"
msg_mp_hold:    .asciz "smp_mpsafe: big-lock hold (ns) per cpu:"
msg_mp_total:   .asciz " total "
msg_mp_intr:    .asciz "smp_mpsafe: device interrupts per cpu:"
msg_mp_line:    .asciz "smp_mpsafe: line "
msg_mp_mean:    .asciz " latency (ns, entry to work done) mean "
msg_mp_max:     .asciz " max "
msg_mp_n:       .asciz " ("
msg_mp_close:   .asciz " interrupts)\n"
msg_mp_lost:    .asciz "a big-lock update was lost"
msg_mp_idle:    .asciz "a cpu did no big-lock work"
msg_mp_packets: .asciz "a test-device packet was lost"
msg_mp_nokick:  .asciz "no COM1 interrupt"

        .bss
        .align 4
mp_workers:     .space MAX_CPUS * 4
mp_local:       .space MAX_CPUS * 4
mp_shared:      .space 4
mp_stop:        .space 4

# intr_establish.S — the handler table: a driver's line, its model, its
# two halves, and how the second half runs in each model.
#
# intr_establish(ESI = a driver's DRIVER record, kernel.inc), IF any: fills
#     the line's ih_table entry from it (top half, bottom half, IPL, flags,
#     model, name), gives the line what its model needs, and rebuilds the
#     IPL masks:
#       classic  — nothing: the top half runs in interrupt context;
#       ithread  — an interrupt LWP in its pool, borrowed for each interrupt;
#       hybrid   — the same interrupt LWP, and a soft interrupt for the
#                  bottom half (the seed's proposal: a short threaded top
#                  half that hands the bulk on through the ring);
#       threaded — a handler thread (irq_thread, intr_threaded.S);
#     classic gets a soft interrupt for the bottom half too.  Interrupt
#     LWPs run on the CPU that took the interrupt and are never stolen
#     (LF_BOUND); soft interrupts are per CPU (softint.S).  Only lines at
#     or below IPL_VM may have a thread; a line above it runs classic
#     whatever its driver asks (as Solaris runs everything above LOCK_LEVEL
#     in interrupt context; the build refuses to ask).  Keeps all registers.
# intr_call_handler(EBX = line), IF=1: the top half (EAX = IH_ARG), under
#     the big lock unless the line is MPSAFE; a driver with no bottom half
#     has then done its work (work_done).  Keeps EBX, ESI, EDI, EBP.
# intr_bottom(EBX = line): called by a top half that has queued work in its
#     ring: classic and hybrid schedule the line's soft interrupt, whose LWP
#     runs the bottom half (intr_soft_bottom); ithread and threaded already
#     run as a thread, so the bottom half runs now, then work_done.  Keeps
#     EBX, ESI, EDI, EBP.
# intr_soft_bottom(EAX = line): a line's soft interrupt function: the
#     bottom half, under the big lock unless the line is MPSAFE, then
#     work_done.
# Hybrid lines are moderated as Linux's NAPI does it: when a top half finds
#     its line's bottom half still queued from an earlier interrupt (it has
#     fallen behind: IHB_QUEUED already set, so IHB_BEHIND), its interrupt
#     LWP leaves the line held when it finishes (intr_hybrid_done: IHB_OWED)
#     and the next bottom half to finish releases it (the device's FIFO
#     fills meanwhile and the next top half drains it in one go).  Without
#     it, packets that come faster than a top half's whole path costs (the
#     IO APIC path on several CPUs, storm's one per 400 instructions) keep
#     the CPU in top halves and the soft interrupt never runs: receive
#     livelock.
# intr_hybrid_done(EBX = line), IF=0, from the interrupt LWP as it
#     finishes: CF=1 if the bottom half owes the release (keep the line held).
#     Keeps every register.
# work_done(EBX = line): the driver's work for this event is finished
#     (obs_work_done: the trace's work.done); the same point in every model.
#     Keeps every register.
        .include "kernel.inc"

        .text
intr_establish:
        pushad
        mov ebx, [esi + DRV_LINE]
        IH_ENTRY ebp, ebx
        mov eax, [esi + DRV_TOP]
        mov [ebp + IH_FUNC], eax
        mov dword ptr [ebp + IH_ARG], 0
        mov eax, [esi + DRV_IPL]
        mov [ebp + IH_IPL], eax
        mov eax, [esi + DRV_FLAGS]
        mov [ebp + IH_FLAGS], eax
        mov eax, [esi + DRV_NAME]
        mov [ebp + IH_NAME], eax
        mov eax, [esi + DRV_BOTTOM]
        mov [ebp + IH_BOTTOM], eax
        mov dword ptr [ebp + IH_LWP], 0
        mov dword ptr [ebp + IH_SOFTINT], 0
        mov eax, [esi + DRV_MODEL]
        cmp dword ptr [esi + DRV_IPL], IPL_VM
        jbe 1f
        mov eax, MODEL_CLASSIC           # above IPL_VM: interrupt context only
1:      mov [ebp + IH_MODEL], eax
        call intr_make_lwp
        call intr_make_softint
        call imask_recompute
        pushf
        cli
        call pic_apply                   # the 8259 masks (one CPU), and
        call [intr_ops + OPS_LINE]       # the line's IO APIC entry (several)
        popf
        popad
        ret

# intr_make_lwp: EBP = entry, EBX = line, ESI = driver: the line's thread
intr_make_lwp:
        mov eax, [ebp + IH_MODEL]
        cmp eax, MODEL_CLASSIC
        je 9f
        mov edx, ebx                     # the LWP's argument: the line
        mov ebx, [esi + DRV_NAME]
        mov ecx, PRI_INTR
        cmp eax, MODEL_THREADED
        je 1f
        xor eax, eax                     # ithread, hybrid: borrowed from a pool
        push esi
        mov esi, LF_ITHREAD | LF_BOUND   # (on the CPU that took the interrupt)
        call lwp_create
        pop esi
        mov dword ptr [eax + L_STATE], LSPOOL
        jmp 2f
1:      mov eax, irq_thread              # threaded: its own thread, waiting
        push esi
        mov esi, LF_IRQTHREAD | LF_BOUND # (woken on the CPU that took the interrupt)
        call lwp_create
        pop esi
        call setrunnable
2:      mov [eax + L_LINE], edx
        mov [ebp + IH_LWP], eax
        mov ebx, edx
9:      ret

# intr_make_softint: EBP = entry, EBX = line, ESI = driver: classic and
# hybrid hand the bottom half to a soft interrupt
intr_make_softint:
        cmp dword ptr [ebp + IH_BOTTOM], 0
        je 9f
        cmp dword ptr [ebp + IH_MODEL], MODEL_CLASSIC
        je 1f
        cmp dword ptr [ebp + IH_MODEL], MODEL_HYBRID
        jne 9f
1:      push ebx
        mov eax, IPL_SOFTNET
        mov edx, intr_soft_bottom
        mov ecx, ebx                     # its argument: the line
        mov ebx, [esi + DRV_SOFTNAME]
        call softint_establish
        pop ebx
        mov [ebp + IH_SOFTINT], eax
9:      ret

intr_call_handler:
        push esi
        push ebx
        IH_ENTRY esi, ebx
        inc dword ptr [esi + IH_COUNT]
        test dword ptr [esi + IH_FLAGS], IH_MPSAFE
        jnz 1f
        call kernel_lock                 # not MPSAFE: under the big lock
        mov eax, [esi + IH_ARG]
        call [esi + IH_FUNC]
        call kernel_unlock_one
        jmp 2f
1:      mov eax, [esi + IH_ARG]
        call [esi + IH_FUNC]
2:      pop ebx
        cmp dword ptr [esi + IH_BOTTOM], 0
        jne 3f
        call work_done                   # no bottom half: the handler was all of it
3:      pop esi
        ret

intr_bottom:
        push esi
        IH_ENTRY esi, ebx
        mov eax, [esi + IH_MODEL]
        cmp eax, MODEL_CLASSIC
        je 1f
        cmp eax, MODEL_HYBRID
        je 1f
        push ebx
        call [esi + IH_BOTTOM]           # a thread already: the bottom half now
        pop ebx
        call work_done
        pop esi
        ret
1:      cmp eax, MODEL_HYBRID
        jne 2f
        lock bts dword ptr [esi + IH_BACKLOG], IHB_QUEUED
        jnc 2f
        lock bts dword ptr [esi + IH_BACKLOG], IHB_BEHIND   # the bottom half is behind
2:      push ebx
        mov ebx, [esi + IH_SOFTINT]      # through the ring to the soft interrupt
        call softint_schedule
        pop ebx
        pop esi
        ret

intr_soft_bottom:
        push ebx
        push esi
        mov ebx, eax
        IH_ENTRY esi, ebx
        lock btr dword ptr [esi + IH_BACKLOG], IHB_QUEUED   # started: caught up
        test dword ptr [esi + IH_FLAGS], IH_MPSAFE
        jnz 1f
        call kernel_lock                 # a driver not MPSAFE: both halves under it
        call [esi + IH_BOTTOM]
        call kernel_unlock_one
        jmp 2f
1:      call [esi + IH_BOTTOM]
2:      call work_done
        pushf
        cli
        lock btr dword ptr [esi + IH_BACKLOG], IHB_OWED
        jnc 3f
        call pic_release                 # the line a top half left held (moderation)
3:      popf
        pop esi
        pop ebx
        ret

intr_hybrid_done:
        push eax
        IH_ENTRY eax, ebx
        lock btr dword ptr [eax + IH_BACKLOG], IHB_BEHIND
        jnc 1f
        lock bts dword ptr [eax + IH_BACKLOG], IHB_OWED
        stc
1:      pop eax
        ret

work_done:
        call intr_latency                # (when a scenario measures: intr_stat.S)
        push eax
        IH_ENTRY eax, ebx
        mov eax, [eax + IH_NAME]
obs_work_done:                           # EBX = line, EAX = the driver's name
        pop eax
        ret

        .bss
        .align 32
ih_table: .space NIRQ * IH_SIZE

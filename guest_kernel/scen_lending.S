# scen_lending.S — priority lending along a chain of mutexes, and a release
# that keeps the priority still lent (turnstile.S).
#
# The chain: "low" (priority 2) takes lend_b and sleeps two ticks holding
# it; meanwhile "mid" (3) takes lend_a and blocks on lend_b, and "high" (5)
# blocks on lend_a — owned by mid, which is blocked on lend_b — so 5 is lent
# to mid and on to low.  "hog" (4) burns the CPU all along.  Each of the
# four notes its name when its work is done.  With the whole chain lent,
# low wakes at priority 5, runs ahead of hog and releases, mid then high
# follow, and hog comes last: "low mid high hog".  Lending one level only
# would leave low at 3, behind hog: high would wait for hog (the priority
# inversion lending exists to prevent).
#
# The release: "owner" (2) holds lend_x and lend_y and sleeps a tick; "w5"
# (5) blocks on lend_x, "w4" (4) on lend_y, and "hog" (3) burns the CPU.
# owner wakes at 5 and releases lend_x: w5 runs, and owner keeps the 4 that
# w4 still lends — so it runs ahead of hog, releases lend_y and only then
# drops to 2.  owner notes its priority after each release: 4, then 2.
        .include "kernel.inc"

        .equ PRI_MID, PRI_KTHREAD + 1
        .equ PRI_HOG, PRI_KTHREAD + 2
        .equ PRI_HIGH, PRI_KTHREAD + 3
        .equ HOG_WORK, 1500000           # loop iterations: 3 M instructions, 30 ticks

        .text
scen_lending:
        push ebx
        mov eax, chain_low               # the chain: low creates the others
        mov ecx, PRI_KTHREAD
        mov ebx, name_low
        call lend_spawn
        call lwp_wait
        mov eax, [lend_hog]
        call lwp_wait                    # (mid and high finish before hog)
        PRINT msg_lend_order
        mov esi, lend_log
        call puts
        PRINT msg_lend_woke
        mov eax, [low_woke_pri]
        call putdec
        PRINT msg_lend_close
        mov esi, lend_log                # the order was as lending makes it
        mov edi, want_chain
        call streq
        sete al
        movzx eax, al
        mov [chain_ok], eax
        mov dword ptr [lend_logp], lend_log
        mov eax, rel_owner               # the release
        mov ecx, PRI_KTHREAD
        mov ebx, name_owner
        call lend_spawn
        call lwp_wait
        mov eax, [lend_hog]
        call lwp_wait
        PRINT msg_lend_rel
        mov eax, [owner_pri_x]
        call putdec
        PRINT msg_lend_then
        mov eax, [owner_pri_y]
        call putdec
        call newline
        cmp dword ptr [chain_ok], 1
        jne 8f
        cmp dword ptr [low_woke_pri], PRI_HIGH
        jne 8f
        cmp dword ptr [owner_pri_x], PRI_HOG
        jne 9f
        cmp dword ptr [owner_pri_y], PRI_KTHREAD
        jne 9f
        xor eax, eax
        pop ebx
        ret
8:      mov eax, msg_lend_chain
        pop ebx
        ret
9:      mov eax, msg_lend_kept
        pop ebx
        ret

# lend_spawn(EAX = entry, ECX = priority, EBX = name) -> EAX = the new LWP, runnable
lend_spawn:
        push esi
        xor edx, edx
        xor esi, esi
        call lwp_create
        call setrunnable
        pop esi
        ret

# lend_note(ESI = name): append "name " to lend_log
lend_note:
        push eax
        push edi
        pushf
        cli
        mov edi, [lend_logp]
1:      lodsb
        test al, al
        jz 2f
        stosb
        jmp 1b
2:      mov byte ptr [edi], ' '
        inc edi
        mov byte ptr [edi], 0
        mov [lend_logp], edi
        popf
        pop edi
        pop eax
        ret

# streq(ESI, EDI): ZF=1 if the two C strings are equal; clobbers EAX, ESI, EDI
streq:
1:      mov al, [esi]
        cmp al, [edi]
        jne 2f
        inc esi
        inc edi
        test al, al
        jnz 1b
2:      ret

# hog: burn HOG_WORK iterations, note "hog"
hog:
        mov ecx, HOG_WORK
1:      dec ecx
        jnz 1b
        mov esi, name_hog
        jmp lend_note

chain_low:
        mov ebx, lend_b
        call mutex_enter
        mov eax, chain_mid
        mov ecx, PRI_MID
        mov ebx, name_mid
        call lend_spawn                  # outranks us: runs at our sleep
        mov edx, 2
        call tsleep                      # holding lend_b
        CURLWP eax
        mov eax, [eax + L_PRIO]
        mov [low_woke_pri], eax          # what the chain lent us
        mov esi, name_low
        call lend_note
        mov ebx, lend_b
        jmp mutex_exit

chain_mid:
        mov ebx, lend_a
        call mutex_enter
        mov eax, chain_high
        mov ecx, PRI_HIGH
        mov ebx, name_high
        call lend_spawn
        mov ebx, lend_b                  # blocks: low holds it
        call mutex_enter
        mov esi, name_mid
        call lend_note
        call mutex_exit
        mov ebx, lend_a
        jmp mutex_exit

chain_high:
        mov eax, hog
        mov ecx, PRI_HOG
        mov ebx, name_hog
        call lend_spawn
        mov [lend_hog], eax
        mov ebx, lend_a                  # blocks: mid holds it, and mid waits for low
        call mutex_enter
        mov esi, name_high
        call lend_note
        jmp mutex_exit

rel_owner:
        mov ebx, lend_x
        call mutex_enter
        mov ebx, lend_y
        call mutex_enter
        mov eax, rel_w5
        mov ecx, PRI_HIGH
        mov ebx, name_w5
        call lend_spawn
        mov edx, 1
        call tsleep                      # holding both
        mov ebx, lend_x
        call mutex_exit                  # w5 runs; w4 still lends through lend_y
        CURLWP eax
        mov eax, [eax + L_PRIO]
        mov [owner_pri_x], eax
        mov ebx, lend_y
        call mutex_exit
        CURLWP eax
        mov eax, [eax + L_PRIO]
        mov [owner_pri_y], eax
        ret

rel_w5:
        mov eax, rel_w4
        mov ecx, PRI_HOG
        mov ebx, name_w4
        call lend_spawn
        mov ebx, lend_x
        call mutex_enter
        jmp mutex_exit

rel_w4:
        mov eax, hog
        mov ecx, PRI_MID
        mov ebx, name_hog
        call lend_spawn
        mov [lend_hog], eax
        mov ebx, lend_y
        call mutex_enter
        jmp mutex_exit

        .data
name_low:   .asciz "low"
name_mid:   .asciz "mid"
name_high:  .asciz "high"
name_hog:   .asciz "hog"
name_owner: .asciz "owner"
name_w5:    .asciz "w5"
name_w4:    .asciz "w4"
want_chain: .asciz "low mid high hog "
msg_lend_order: .asciz "lending: done in the order "
msg_lend_woke:  .asciz "(low woke at priority "
msg_lend_close: .asciz ")\n"
msg_lend_rel:   .asciz "lending: the owner's priority after each release: "
msg_lend_then:  .asciz ", then "
msg_lend_chain: .asciz "the chain was not lent all the way"
msg_lend_kept:  .asciz "a release dropped a priority still lent"
        MUTEX lend_a, MUTEX_ADAPTIVE, IPL_NONE
        MUTEX lend_b, MUTEX_ADAPTIVE, IPL_NONE
        MUTEX lend_x, MUTEX_ADAPTIVE, IPL_NONE
        MUTEX lend_y, MUTEX_ADAPTIVE, IPL_NONE
        .align 4
lend_hog:     .long 0                    # the current hog, for main to wait on
chain_ok:     .long 0
low_woke_pri: .long 0
owner_pri_x:  .long 0
owner_pri_y:  .long 0
lend_logp:    .long lend_log
lend_log:     .space 32

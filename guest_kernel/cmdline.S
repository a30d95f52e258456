# cmdline.S — the multiboot command line: what to run and on what.
#
# cmdline_parse: at boot, with mb_info set (IF=0, one CPU running).  Words,
# separated by spaces:
#   scenario=NAME  the scenario (at most 31 bytes; default "hello"); an
#                  old-style "smp:" prefix is accepted and dropped
#   cpus=N         the CPU count, 1-MAX_CPUS (one digit; default 1): the
#                  kernel must not probe for APICs to learn it (QEMU and
#                  irqlab always have them, and a count is a choice)
#   route=L:C      IO APIC line L (0-15) to CPU C (0-MAX_CPUS-1), or
#   route=L:lowest to whichever CPU lowest-priority delivery picks; any
#                  number of them, the later winning (apic.S intr_route)
#   figures        scenarios print what they measured too (their figures
#                  depend on how the CPUs interleave: off by default, so
#                  that irqlab and QEMU print the same)
# Results: scenario_name, ncpus, route_given (bit L: line L routed by the
# command line) and route_cmdline[L], want_figures.  A malformed word is
# ignored.  Clobbers EAX-EDX, ESI, EDI.
        .include "kernel.inc"

        .equ SMP_PREFIX, 0x3a706d73      # "smp:" as a little-endian dword

        .text
cmdline_parse:
        mov esi, [mb_info]
        test dword ptr [esi], 0x04       # flags bit 2: cmdline present
        jz 9f
        mov esi, [esi + 16]
        mov [cmdline], esi
        mov edi, key_scenario
        call cmdline_value
        jc 1f
        call copy_scenario
1:      mov esi, [cmdline]
        mov edi, key_cpus
        call cmdline_value
        jc 2f
        call parse_dec
        jc 2f
        cmp eax, 1
        jb 2f
        cmp eax, MAX_CPUS
        ja 2f
        mov [ncpus], eax
2:      mov esi, [cmdline]
        mov edi, key_figures
        call cmdline_value
        jc 3f
        mov dword ptr [want_figures], 1
3:      mov esi, [cmdline]               # every route=L:C
4:      mov edi, key_route
        call cmdline_value
        jc 9f
        call parse_route
        jmp 4b
9:      ret

# cmdline_value: ESI = where to look from, EDI = a key ("name=" or a word):
# ESI = just past its first occurrence that starts a word, CF=0; CF=1 if none
cmdline_value:
        push ebx
        lea ebx, [esi - 1]               # EBX = the byte before a candidate
        jmp 3f
1:      cmp byte ptr [esi], 0
        je 8f
        cmp byte ptr [ebx], ' '          # a word starts after a space
        jne 2f
3:      push esi
        push edi
4:      mov al, [edi]
        test al, al
        jz 5f                            # the whole key matched
        cmp al, [esi]
        jne 6f
        inc esi
        inc edi
        jmp 4b
5:      pop edi
        pop ebx                          # (the candidate's start, dropped)
        pop ebx
        clc
        ret
6:      pop edi
        pop esi
2:      mov ebx, esi
        inc esi
        jmp 1b
8:      pop ebx
        stc
        ret

# copy_scenario: ESI = the value of scenario= -> scenario_name
copy_scenario:
        cmp dword ptr [esi], SMP_PREFIX
        jne 1f
        add esi, 4
1:      mov edi, scenario_name
        xor ecx, ecx
2:      mov al, [esi + ecx]
        cmp al, ' '
        je 3f
        test al, al
        jz 3f
        cmp ecx, 31
        jae 3f
        mov [edi + ecx], al
        inc ecx
        jmp 2b
3:      mov byte ptr [edi + ecx], 0
        ret

# parse_route: ESI = the value of route= ("L:C" or "L:lowest"); records it.
# ESI ends past what was read.
parse_route:
        call parse_dec
        jc 9f
        cmp eax, NIRQ
        jae 9f
        mov edx, eax                     # EDX = line
        cmp byte ptr [esi], ':'
        jne 9f
        inc esi
        cmp byte ptr [esi], 'l'          # lowest
        jne 1f
        mov eax, ROUTE_LOWEST
        jmp 2f
1:      call parse_dec
        jc 9f
        cmp eax, MAX_CPUS
        jae 9f
2:      mov [route_cmdline + edx], al
        bts dword ptr [route_given], edx
9:      ret

# parse_dec: ESI -> EAX = the decimal number there, ESI past it; CF=1 if none
parse_dec:
        xor eax, eax
        movzx ecx, byte ptr [esi]
        sub ecx, '0'
        cmp ecx, 9
        ja 8f
1:      imul eax, eax, 10
        add eax, ecx
        inc esi
        movzx ecx, byte ptr [esi]
        sub ecx, '0'
        cmp ecx, 9
        jbe 1b
        clc
        ret
8:      stc
        ret

        .data
key_scenario:   .asciz "scenario="
key_cpus:       .asciz "cpus="
key_route:      .asciz "route="
key_figures:    .asciz "figures"
scenario_name:  .asciz "hello"
                .space 26
        .align 4
cmdline:        .long empty_cmdline
ncpus:          .long 1                  # CPUs asked for (cpus=N)
want_figures:   .long 0
route_given:    .long 0                  # bit L: route=L:... given
route_cmdline:  .fill NIRQ, 1, 0         # its CPU or ROUTE_LOWEST
empty_cmdline:  .byte 0

# cmdline.S — the multiboot command line: `scenario=NAME` picks a scenario.
#
# cmdline_parse: after boot, with mb_info set.  Copies NAME (up to a space
# or the end, at most 31 bytes) into scenario_name; without one it stays
# "hello".  Clobbers EAX, ECX, ESI, EDI.
        .include "kernel.inc"

        .text
cmdline_parse:
        mov esi, [mb_info]
        test dword ptr [esi], 0x04       # flags bit 2: cmdline present
        jz 9f
        mov esi, [esi + 16]
1:      mov al, [esi]                    # find "scenario="
        test al, al
        jz 9f
        mov edi, key_scenario
        mov ecx, esi
2:      mov al, [edi]
        test al, al
        jz 3f                            # whole key matched
        cmp al, [ecx]
        jne 4f
        inc edi
        inc ecx
        jmp 2b
4:      inc esi
        jmp 1b
3:      mov edi, scenario_name           # copy the value
        mov esi, ecx
        xor ecx, ecx
5:      mov al, [esi + ecx]
        cmp al, ' '
        je 6f
        test al, al
        jz 6f
        cmp ecx, 31
        jae 6f
        mov [edi + ecx], al
        inc ecx
        jmp 5b
6:      mov byte ptr [edi + ecx], 0
9:      ret

        .data
key_scenario:   .asciz "scenario="
scenario_name:  .asciz "hello"
                .space 26

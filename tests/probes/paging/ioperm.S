# ioperm.S — ring 3's I/O permission bit map (SDM vol. 1 19.5 "Protection
# and I/O"; vol. 3A 8.2.1 and 8.7 "I/O permission bit map"; IN/OUT/INS/OUTS
# in vol. 2).  The expected text in test_paging_probes.py follows from
# these rules, one line per access refused ("NAME gp EE eip 01 ..."):
#
# * at CPL 3 > IOPL 0 an in/out/ins/outs reaches port p only when the TSS's
#   I/O map (16-bit offset at TSS+0x66) has bit p clear, for every port of
#   a multi-byte access; otherwise it is #GP(0): error code 0, the saved
#   EIP is the faulting instruction's, and nothing of the instruction is
#   done -- AL keeps the 0x5a an `in` would have replaced, a `rep outsb`
#   or `rep insb` keeps ECX (3), ESI and EDI (" gp 00 eip 01 al 5a cl
#   03 si 01 di 01");
# * the check is the first step of INS/OUTS (their Operation sections),
#   before REP's loop looks at ECX: `rep outsb` with ECX = 0 is refused
#   too ("cl 00"; the SDM's REP loop alone would run no element -- QEMU
#   and Bochs check first, as here), and the refused `rep insb` leaves
#   `dst` as it was ("dst 77" at the end);
# * the CPU reads two bytes of the map for every check, and a byte beyond
#   the TSS limit counts as all ones: with the limit cut just after the
#   byte holding port 0xE9's bit, 0xE9 faults though its bit is clear,
#   while 0x80 (an earlier byte) still works;
# * a TSS whose limit ends before the map (0x67: the 104 bytes alone)
#   refuses every port;
# * at CPL 3 = IOPL 3 nothing is checked: the same TSS lets ring 3 print.
# The map here allows ports 0x80 (POST) and 0xE9 (the console) only, so
# ring 3 prints its own lines ("user ...") through 0xE9 while the map
# allows it, and counts the accesses that went through in `passed`,
# printed by the kernel at the end.
        .include "probe.inc"
        .include "cpu.inc"
        .include "paging.inc"
        .include "ring3.inc"

        .equ IOMAP, 0x68                  # the map right after the TSS's 104 bytes
        .equ MAP_BYTES, 32                # ports 0x00-0xFF
        .equ LIMIT_FULL, IOMAP + MAP_BYTES    # the map and its 0xFF end byte
        .equ LIMIT_CUT, IOMAP + 0x1d      # last byte: the one holding 0xE9's bit
        .equ LIMIT_BARE, 0x67             # no map at all
        .equ E9_BYTE, 0x1d                # 0xE9 / 8
        .equ E9_CLEAR, 0xfd               # ~(1 << (0xE9 % 8))
        .equ P80_BYTE, 0x10               # 0x80 / 8
        .equ P80_CLEAR, 0xfe              # ~(1 << (0x80 % 8))
        .equ IOPL3, 0x3000
        .equ SYS_DONE, 0xffffffff

# ARM name, at, next: the access at `at` should fault; the #GP handler
# prints `name`, checks the EIP and resumes at `next`.  Loads the
# registers the handler checks.
.macro ARM name, at, next
        .data
arm_\@: .asciz "\name"
        .text
        mov dword ptr [gp_name], arm_\@
        mov dword ptr [gp_expect], \at
        mov dword ptr [gp_resume], \next
        mov eax, 0x5a
        mov ecx, 3
        mov esi, src
        mov edi, dst
.endm

# USAY word: ring 3 prints the word itself (0xE9 must be allowed)
.macro USAY text
        .data
usay_\@: .ascii "\text"
        .byte 10
usay_end_\@:
        .text
        mov esi, usay_\@
        mov ecx, usay_end_\@ - usay_\@
        mov dx, DEBUGCON
        rep outsb
.endm

# FIELD name: print " name" and AL in hex (see hex8)
.macro FIELD name
        push eax
        mov al, ' '
        call putc
        pop eax
        SAY \name
        call hex8
.endm

# SYS limit, iopl: the kernel reloads TR with that limit and returns to
# ring 3 with that IOPL
.macro SYS limit, iopl
        mov eax, \limit
        mov ebx, \iopl
        int 0x40
.endm

        .text
main:
        GATE 0x40, sys_handler, USER_GATE
        GATE 13, gp_handler, INT_GATE
        call map_low
        call paging_on
        call setup_ring3
        call load_idt
        mov dword ptr [iotss + 4], kstack_top     # ESP0
        mov dword ptr [iotss + 8], KDATA          # SS0
        mov word ptr [iotss + 0x66], IOMAP
        mov edi, iotss + IOMAP
        mov ecx, MAP_BYTES + 1
        mov al, 0xff
        rep stosb                                 # every port refused ...
        and byte ptr [iotss + IOMAP + E9_BYTE], E9_CLEAR   # ... but the console
        and byte ptr [iotss + IOMAP + P80_BYTE], P80_CLEAR # and POST
        mov eax, LIMIT_FULL
        call load_iotss
        to_ring3 user_main                        # IOPL 0

# load_iotss: TR = `iotss` with limit EAX (the descriptor made available
# first: ltr marks it busy).  Clobbers EAX.
load_iotss:
        mov word ptr [gdt3 + TSS_SEL], ax
        mov eax, iotss + KERNEL_ALIAS
        mov word ptr [gdt3 + TSS_SEL + 2], ax
        shr eax, 16
        mov byte ptr [gdt3 + TSS_SEL + 4], al
        mov byte ptr [gdt3 + TSS_SEL + 7], ah
        mov byte ptr [gdt3 + TSS_SEL + 5], 0x89
        mov ax, TSS_SEL
        ltr ax
        ret

# ring 3 from here
user_main:
        mov ax, UDATA
        mov ds, ax
        mov es, ax
        USAY user_out_e9                # allowed: rep outsb to 0xE9
        mov al, 0x11
        out 0x80, al                      # allowed
        inc dword ptr [passed]
        ARM out_81, t_out, t_out_end
t_out:  out 0x81, al                      # refused
t_out_end:
        ARM in_81, t_in, t_in_end
t_in:   in al, 0x81                       # refused: AL stays 0x5a
t_in_end:
        ARM outw_80, t_outw, t_outw_end
t_outw: out 0x80, ax                      # 0x80 allowed, 0x81 refused
t_outw_end:
        ARM inw_7f, t_inw, t_inw_end
t_inw:  in ax, 0x7f                       # 0x7f refused, 0x80 allowed (next byte)
t_inw_end:
        ARM ind_e6, t_ind, t_ind_end
        mov dx, 0xe6
t_ind:  in eax, dx                        # 0xe6-0xe8 refused, 0xe9 allowed
t_ind_end:
        ARM rep_outsb_81, t_outs, t_outs_end
        mov dx, 0x81
t_outs: rep outsb                         # refused at the first byte
t_outs_end:
        ARM rep_insb_81, t_ins, t_ins_end
        mov dx, 0x81
t_ins:  rep insb                          # refused at the first byte: dst kept
t_ins_end:
        ARM rep0_outsb_81, t_outs0, t_outs0_end
        xor ecx, ecx
        mov dx, 0x81
t_outs0: rep outsb                        # no element, still refused
t_outs0_end:
        USAY user_map_done
        SYS LIMIT_CUT, 0
        mov al, 0x22
        out 0x80, al                      # its byte and the next inside the limit
        inc dword ptr [passed]
        ARM cut_out_e9, t_cut, t_cut_end
t_cut:  out 0xe9, al                      # the second byte read lies past the limit
t_cut_end:
        SYS LIMIT_BARE, 0
        ARM bare_out_e9, t_bare, t_bare_end
t_bare: out 0xe9, al                      # no map: refused
t_bare_end:
        SYS LIMIT_BARE, IOPL3
        USAY user_iopl3_out_e9          # not checked
        mov al, 0x33
        out 0x81, al
        inc dword ptr [passed]
        SYS SYS_DONE, 0

# int 0x40: EAX = the TSS limit to load (SYS_DONE: end), EBX = the IOPL
# bits for ring 3's EFLAGS
sys_handler:
        cmp eax, SYS_DONE
        je sys_done
        call load_iotss
        and dword ptr [esp + 8], 0xffffcfff   # IOPL = 0
        or dword ptr [esp + 8], ebx
        iret
sys_done:
        mov al, byte ptr [passed]
        SHOW passed
        mov al, byte ptr [dst]
        SHOW dst
        jmp done

# #GP from ring 3: [esp] error code, [esp + 4] EIP, [esp + 8] CS
gp_handler:
        push eax
        PUTS dword ptr [gp_name]
        mov al, byte ptr [esp + 4]
        FIELD gp
        mov eax, [esp + 8]
        cmp eax, [gp_expect]
        sete al
        FIELD eip
        mov eax, [esp]
        FIELD al
        mov al, cl
        FIELD cl
        cmp esi, src
        sete al
        FIELD si
        cmp edi, dst
        sete al
        FIELD di
        call newline
        mov eax, [gp_resume]
        mov [esp + 8], eax
        pop eax
        add esp, 4
        iret

        .data
        .align 4
gp_name:   .long 0
gp_expect: .long 0
gp_resume: .long 0
passed:    .long 0
src:       .ascii "abc"
        .align 4
dst:       .long 0x77777777

        .bss
        .align 16
iotss:  .space IOMAP + MAP_BYTES + 1

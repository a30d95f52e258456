# gates.S — gate types and what delivery pushes: `int 0x40` through an
# interrupt gate clears IF, `int 0x41` through a trap gate keeps it, both
# push the address after the `int` and no error code; #UD (ud2) and #DE
# push the faulting instruction's address; #GP from loading DS with a
# selector past the GDT limit pushes the selector as its error code; #GP
# whose gate is not present becomes #NP on the gate, then #DF (error 0).
        .include "probe.inc"
        .include "cpu.inc"

        .text
main:
        GATE 0x40, soft_handler, INT_GATE
        GATE 0x41, soft_handler, TRAP_GATE
        GATE 6, ud_handler, INT_GATE
        GATE 0, de_handler, INT_GATE
        GATE 13, gp_handler, INT_GATE
        GATE 8, df_handler, INT_GATE
        call load_idt
        sti
        mov ebp, esp
        int 0x40
after_int40:
        mov eax, [saved_flags]
        shr eax, 9
        and al, 1
        SHOW int_gate_if
        mov eax, [ret_eip]
        cmp eax, after_int40
        sete al
        SHOW int_ret_after
        mov al, byte ptr [frame_words]
        SHOW int_frame_words
        int 0x41
        mov eax, [saved_flags]
        shr eax, 9
        and al, 1
        SHOW trap_gate_if
        cli
        ud2
after_ud:
        mov al, byte ptr [fault_ok]
        SHOW ud_eip_ok
        xor edx, edx
        xor ecx, ecx
        mov eax, 1
de_insn:
        div ecx
after_de:
        mov al, byte ptr [fault_ok]
        SHOW de_eip_ok
        mov ax, 0x0803                 # index 0x100, past the GDT's limit
gp_insn:
        mov ds, ax
after_gp:
        mov ax, word ptr [err_code]
        push eax
        mov al, ah
        SAY gp_error
        call hex8
        pop eax
        call hex8
        call newline
        mov al, byte ptr [fault_ok]
        SHOW gp_eip_ok
        mov word ptr [idt + 13 * 8 + 4], ABSENT
        mov ax, 0x0803
        mov ds, ax                     # #GP -> #NP (gate 13) -> #DF
        SAY no_df
        call newline
        jmp done

soft_handler:
        mov eax, [esp]
        mov [ret_eip], eax
        pushfd
        pop eax
        mov [saved_flags], eax
        mov eax, ebp
        sub eax, esp
        shr eax, 2
        mov [frame_words], eax
        iret

ud_handler:
        mov eax, [esp]
        cmp eax, after_ud - 2
        sete byte ptr [fault_ok]
        mov dword ptr [esp], after_ud
        iret

de_handler:
        mov eax, [esp]
        cmp eax, de_insn
        sete byte ptr [fault_ok]
        mov dword ptr [esp], after_de
        iret

gp_handler:
        pop eax                        # the error code
        mov [err_code], eax
        mov eax, [esp]
        cmp eax, gp_insn
        sete byte ptr [fault_ok]
        mov dword ptr [esp], after_gp
        iret

df_handler:
        mov eax, [esp]
        SHOW df_error
        jmp done

        .data
        .align 4
saved_flags: .long 0
frame_words: .long 0
fault_ok:    .long 0
err_code:    .long 0

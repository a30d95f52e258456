# poweroff.S — S5 (soft off) the way a small kernel does it: SLP_TYP from the
# DSDT's \_S5_ package, then SLP_TYP | SLP_EN into PM1a_CNT (ACPI 1.0b
# 4.7.2.4 and 7.3.4; the FADT says where PM1a_CNT and the DSDT are).
#
# Expected output: "dsdt: _S3_ 1 _S5_ 0" (QEMU's SLP_TYP values, as its
# etc/system-states says them), "powering off", and then nothing: the
# machine is off.  QEMU (-no-reboot) exits with status 0 without a debug-exit
# write; irqlab ends the run with status 0 too.  QEMU powers off
# asynchronously (its main loop acts on the request while the CPU runs on),
# so the probe halts with IF=0 after the write, as a kernel does; a machine
# that did not power off would hang there (irqlab: a deadlock, status 126).

        .include "lib.S"
        .include "fw.inc"

        .text
main:
        mov eax, 0x50434146                   # FACP
        call find_table
        test esi, esi
        jnz 1f
        mov al, 4
        jmp exit
1:      mov ebx, esi
        mov edi, [ebx + 40]                   # the DSDT
        PUTS msg_dsdt
        mov eax, 0x5f33535f                   # "_S3_"
        call slp_typ
        mov eax, 0x5f35535f                   # "_S5_"
        call slp_typ
        mov [s5_typ], eax
        call newline
        PUTS msg_off
        mov edx, [ebx + 64]                   # PM1a_CNT
        mov eax, [s5_typ]
        shl eax, 10
        or eax, 0x2000                        # SLP_EN
        out dx, ax
1:      cli                                   # as a kernel does: the power goes
        hlt                                   # when the chipset gets to it (on
        jmp 1b                                # QEMU, when its main loop does)

# slp_typ: find the name EAX in the DSDT at EDI, print " NAME N" with the
# package's first element (Zero, One or a byte); EAX = that value.
slp_typ:
        push ecx
        push esi
        mov esi, edi
        mov ecx, [edi + 4]
        sub ecx, 4
1:      cmp [esi], eax
        je 2f
        inc esi
        loop 1b
        mov al, 4
        jmp exit
2:      call space
        call putsig
        call space
        cmp byte ptr [esi + 4], 0x12           # PackageOp
        jne 4f
        movzx eax, byte ptr [esi + 7]          # after PkgLength, NumElements
        cmp eax, 0x0a                          # BytePrefix
        jne 3f
        movzx eax, byte ptr [esi + 8]
3:      call putdec
        pop esi
        pop ecx
        ret
4:      mov al, 4
        jmp exit

        .data
s5_typ:    .long 0
msg_dsdt:  .asciz "dsdt:"
msg_off:   .asciz "powering off\n"

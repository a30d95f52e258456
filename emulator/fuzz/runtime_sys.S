# runtime_sys.S -- paging, ring 3 and tasks for fuzz programs
# (emulator/fuzz/runtime.py says what each helper leaves behind).  Not
# assembled on its own.  Every helper starts from a known state, so an op
# never depends on what an earlier op did with paging, rings or tasks.
        .equ PG_P, 1
        .equ PG_W, 2
        .equ PG_U, 4
        .equ PG_A, 0x20
        .equ PG_D, 0x40
        .equ PG_PS, 0x80
        .equ CR0_PG, 0x80000000
        .equ CR0_WP, 0x10000
        .equ CR4_PSE, 0x10
        .equ TEST_LINEAR, 0x400000     # PDE 1: the page table pt_test
        .equ TEST_FRAMES, 0x380000     # the physical pages pt_test's ops map
        .equ BIG_LINEAR, 0x800000      # PDE 2: a 4-MiB page in the 4-MiB ops
        .equ UCODE, 0x33               # the system GDT's ring-3 selectors
        .equ UDATA, 0x3b
        .equ TSS_MAIN, 0x40
        .equ TSS_B, 0x48
        .equ TSS_C, 0x50
        .equ USER_RET, 0xfe            # ring 3 comes back through this vector
        .equ TASK_GATE, 0x8500         # present, DPL 0, type 5
        .equ IOMAP_BYTES, 33           # tss_main's I/O bitmap: ports 0-0xFF, 0xFF end byte

        .text
# paging_on: pgdir maps 0-4 MiB one to one through pt_low (present,
# writable, user), PDE 1 (TEST_LINEAR) through pt_test with every entry
# not present, nothing else; CR4.PSE clear; CR3 = pgdir, CR0.PG set,
# CR0.WP = bit 16 of EAX.  Keeps every register.
paging_on:
        pushad
        mov ebx, eax
        mov edi, pgdir
        xor eax, eax
        mov ecx, 1024 * 2              # pgdir and pt_test: all zero
        rep stosd
        mov edi, pt_low
        mov eax, PG_P | PG_W | PG_U
        mov ecx, 1024
1:      stosd
        add eax, 0x1000
        loop 1b
        mov dword ptr [pgdir], pt_low + PG_P + PG_W + PG_U
        mov dword ptr [pgdir + 4], pt_test + PG_P + PG_W + PG_U
        mov eax, cr4
        and eax, 0xffffffef             # ~CR4_PSE
        mov cr4, eax
        mov eax, pgdir
        mov cr3, eax
        mov eax, cr0
        and eax, 0xfffeffff             # ~CR0_WP
        and ebx, CR0_WP
        or eax, ebx
        or eax, CR0_PG
        mov cr0, eax
        popad
        ret

# paging_off: CR0.PG and CR0.WP clear (keeps every register).
paging_off:
        push eax
        mov eax, cr0
        and eax, 0x7ffeffff             # ~(CR0_PG | CR0_WP)
        mov cr0, eax
        pop eax
        ret

# sys_on: the system GDT (the runtime's descriptors, then ring-3 code and
# data, three TSSs), every TSS available, TSS_MAIN loaded in TR with SS0:ESP0
# = 0x10:ring0_top, CR3 the current one, its I/O bitmap at offset 0x68
# (IOMAP_BYTES bytes there, ports 0-0xFF and an end byte, left as the ops
# wrote them) and its limit [io_limit] (0x67 unless an op set it: no
# bitmap).  Keeps every register.
sys_on:
        pushad
        lgdt [gdtr_sys]
        mov ebx, TSS_MAIN
        mov eax, tss_main
        call tss_descriptor
        mov ax, [io_limit]
        mov [gdt_sys + TSS_MAIN], ax
        mov ebx, TSS_B
        mov eax, tss_b
        call tss_descriptor
        mov ebx, TSS_C
        mov eax, tss_c
        call tss_descriptor
        mov dword ptr [tss_main + 4], ring0_top
        mov dword ptr [tss_main + 8], 0x10
        mov eax, cr3
        mov [tss_main + 0x1c], eax
        mov word ptr [tss_main + 0x66], 0x68
        mov ax, TSS_MAIN
        ltr ax
        popad
        ret

# tss_descriptor: GDT_SYS entry EBX: a 32-bit TSS at EAX, limit 0x67, available.
tss_descriptor:
        mov dword ptr [gdt_sys + ebx], 0x67
        mov dword ptr [gdt_sys + ebx + 4], 0x00008900
        mov [gdt_sys + ebx + 2], ax
        shr eax, 16
        mov [gdt_sys + ebx + 4], al
        mov [gdt_sys + ebx + 7], ah
        ret

# sys_off: the runtime's GDT again (TR keeps TSS_MAIN, used by nothing
# else), CR0.TS clear.  Keeps every register.
sys_off:
        lgdt [gdtr]
        clts
        ret

# task_init: the TSS at EDI ready to run EAX on the stack ESI: CS 0x08, the
# other selectors 0x10, EFLAGS 2, CR3 the current one, no LDT, no I/O bitmap,
# general registers 0.  Keeps every register.
task_init:
        pushad
        mov ebx, eax
        xor eax, eax
        mov ecx, 0x68 / 4
        push edi
        rep stosd
        pop edi
        mov eax, cr3
        mov [edi + 0x1c], eax
        mov [edi + 0x20], ebx
        mov dword ptr [edi + 0x24], 2
        mov [edi + 0x38], esi
        mov dword ptr [edi + 0x4c], 0x08
        mov dword ptr [edi + 0x48], 0x10
        mov dword ptr [edi + 0x50], 0x10
        mov dword ptr [edi + 0x54], 0x10
        mov dword ptr [edi + 0x58], 0x10
        mov dword ptr [edi + 0x5c], 0x10
        mov word ptr [edi + 0x66], 0x68
        popad
        ret

# set_gate: IDT entry EBX -> handler EAX, selector 0x08, type/DPL word DX.
# stub_gate: IDT entry EBX back to the runtime's (its stub, 0x8e00).  Both
# keep every register.
set_gate:
        push eax
        mov [idt + ebx * 8], ax
        mov word ptr [idt + ebx * 8 + 2], 0x08
        mov [idt + ebx * 8 + 4], dx
        shr eax, 16
        mov [idt + ebx * 8 + 6], ax
        pop eax
        ret
stub_gate:
        push eax
        push edx
        mov eax, ebx
        shl eax, 4
        add eax, stubs
        mov edx, 0x8e00
        call set_gate
        pop edx
        pop eax
        ret

# to_user: run the code at [user_fn] in ring 3 (CS UCODE, DS/ES/SS UDATA,
# FS/GS null, ESP user_top, EFLAGS = EDX) through the TSS; it ends with
# `int USER_RET`, after which to_user returns in ring 0 on its own stack
# with the runtime's GDT, every register kept, gate USER_RET its stub's
# again.  An exception in ring 3 goes to `common` like any other (the TSS
# gives it ring0_top) and resumes at [resume] in ring 3.
to_user:
        pushad
        mov [ring0_esp], esp
        call sys_on
        mov ebx, USER_RET
        mov eax, user_ret
        push edx
        mov edx, 0xee00                # interrupt gate, DPL 3
        call set_gate
        pop edx
        push UDATA
        push user_top
        push edx
        push UCODE
        push user_entry
        iret
user_entry:                            # ring 3
        mov ax, UDATA
        mov ds, ax
        mov es, ax
        jmp dword ptr [user_fn]
user_ret:                              # ring 0, on ring0_top
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov fs, ax
        mov gs, ax
        mov esp, [ring0_esp]
        mov ebx, USER_RET
        call stub_gate
        call sys_off
        popad
        ret

        .data
        .align 8
gdt_sys:
        .quad 0
        .quad 0x00cf9a000000ffff       # 0x08 code, 0x10 data: as the runtime's
        .quad 0x00cf92000000ffff
        .quad 0x00cf12000000ffff       # 0x18-0x28: as the runtime's GDT
        .quad 0x00cf90000000ffff
        .quad 0x00cf98000000ffff
        .quad 0x00cffa000000ffff       # 0x30 ring-3 code
        .quad 0x00cff2000000ffff       # 0x38 ring-3 data
        .quad 0, 0, 0                  # 0x40, 0x48, 0x50: TSSs (sys_on)
gdt_sys_end:
gdtr_sys:
        .short gdt_sys_end - gdt_sys - 1
        .long gdt_sys
        .align 4
user_fn:   .long 0
ring0_esp: .long 0
io_limit:  .long 0x67                  # TSS_MAIN's limit (sys_on)

        .bss
        .align 4096
pgdir:   .space 4096
pt_test: .space 4096                   # right after pgdir: paging_on clears both
pt_low:  .space 4096
tss_main: .space 0x68 + IOMAP_BYTES
tss_b:    .space 0x68
tss_c:    .space 0x68
        .align 16
        .space 2048
task_stack_b:
        .space 2048
task_stack_c:
        .space 2048
ring0_top:
        .space 2048
user_top:
        .text                          # what follows (runtime_smp.S) is code

# kbd.S — the 8042 keyboard controller: the scenarios' device (IRQ 1).
#
# There is no keyboard.  The controller's command 0xD2 ("write keyboard
# output buffer") puts a byte in its output buffer as if the keyboard had
# sent it, and with the command byte's INT bit set the controller raises
# IRQ 1 at once; reading the data port empties the buffer and lowers it
# (IBM PC AT Technical Reference, keyboard controller commands; QEMU's
# hw/input/pckbd.c KBD_CCMD_WRITE_OBUF does the same, so the scenarios that
# use it print the same on QEMU).  That is how a scenario asks for "the
# device interrupt, now": through the PIC's mask, the IPL and the
# acknowledge cycle like any device interrupt.
#
# kbd_start: IRQ 1 at IPL_VM (drv_kbd: the model and MPSAFE the build
#     gives the driver), the output buffer drained, command byte: keyboard
#     interrupt on, mouse interface and its interrupt off.  IF=0, the line
#     still masked (main opens it).
# kbd_raise(AL = byte): any context, IF=1 to be interrupted at once: the
#     byte goes into the output buffer and IRQ 1 rises.  Clobbers EAX.
# kbd_intr (the top half, any model): reads the byte (IRQ 1 falls) into
#     kbd_ring (lock-free: it never blocks) and counts it under the spin
#     mutex kbd_stat, spins kbd_busy iterations (scenarios make it long),
#     then hands the rest on (intr_bottom: a soft interrupt in the classic
#     and hybrid models, at once in the ithread and threaded ones, which
#     run as a thread already).  An interrupt that finds no byte does
#     nothing.
# kbd_bottom: under the adaptive mutex kbd_lock, takes every byte out of
#     the ring, counts it in kbd_received and wakes sleepers on
#     kbd_bottom_count.  It may block on kbd_lock.  Thread context may call
#     it too, to poll the ring (the soak's workers do; mostly it is empty).
        .include "kernel.inc"

        .equ KBD_DATA, 0x60              # 8042 output buffer (read), data (write)
        .equ KBD_STATUS, 0x64            # status (read), command (write)
        .equ KBD_CMD, 0x64
        .equ STAT_OBF, 0x01              # output buffer full
        .equ STAT_IBF, 0x02              # input buffer full: wait before writing
        .equ CMD_WRITE_MODE, 0x60        # next data byte is the command byte
        .equ CMD_WRITE_OBUF, 0xd2        # next data byte comes back as the keyboard's
        .equ LONG_BUSY, 6000000          # BUG_LONG_HANDLER's loop (12 M instructions)
        .equ MODE_KBD_INT, 0x01          # command byte: IRQ 1 on output buffer full
        .equ MODE_SYS, 0x04              # system flag (POST passed)
        .equ MODE_DISABLE_MOUSE, 0x20    # mouse interface off: no IRQ 12

        .text
kbd_start:
        mov esi, drv_kbd
        call intr_establish
        call kbd_drain                   # whatever the BIOS left
        mov al, CMD_WRITE_MODE
        call kbd_command
        mov al, MODE_KBD_INT | MODE_SYS | MODE_DISABLE_MOUSE
        call kbd_write
        ret

kbd_raise:
        push eax
        mov al, CMD_WRITE_OBUF
        call kbd_command
        pop eax
        jmp kbd_write                    # IRQ 1 rises as the byte lands

# kbd_command / kbd_write: AL to the command / data port once the
# controller's input buffer is empty.  Keep every register.
kbd_command:
        call kbd_wait_ibf
        out KBD_CMD, al
        ret

kbd_write:
        call kbd_wait_ibf
        out KBD_DATA, al
        ret

kbd_wait_ibf:
        push eax
1:      in al, KBD_STATUS
        test al, STAT_IBF
        jnz 1b
        pop eax
        ret

kbd_drain:
1:      in al, KBD_STATUS
        test al, STAT_OBF
        jz 2f
        in al, KBD_DATA
        jmp 1b
2:      ret

kbd_intr:
        push ebx
        push edx
        in al, KBD_STATUS
        test al, STAT_OBF
        jz 9f                            # no byte: not this device's interrupt
        in al, KBD_DATA                  # IRQ 1 falls
        movzx eax, al
        mov ebx, kbd_ring
        call ring_put
        mov ebx, kbd_stat                # a spin mutex shared with thread context
        call mutex_enter
        inc dword ptr [kbd_intr_count]
        call mutex_exit
.if BUG_LONG_HANDLER
        mov ecx, LONG_BUSY               # BUG: polls far too long in interrupt context
.else
        mov ecx, [kbd_busy]              # scenarios can make the handler long
.endif
        jecxz 3f
4:      dec ecx                          # (so that other interrupts nest in it)
        jnz 4b
3:
.if BUG_STACK_OVERFLOW
        mov ecx, 240                     # BUG: recursion deeper than the stack
        call kbd_recurse
.endif
.if BUG_SLEEP_IN_HARDINTR
        mov ebx, kbd_lock                # BUG: an adaptive mutex in hard context
        call mutex_enter
        call mutex_exit
.endif
        mov ebx, KBD_IRQ
        call intr_bottom                 # the rest: now, or in a soft interrupt
9:      pop edx
        pop ebx
        ret

kbd_bottom:
        push ebx
.if BUG_ITHREAD_SLEEP
        mov edx, 1                       # BUG: waits a tick "for the controller to
        call tsleep                      # settle": a sleep, in the interrupt thread
.endif
.if BUG_EMPTY_RING_UNLOCK
        mov eax, [kbd_ring + RING_HEAD]  # BUG: an empty ring skips the lock, but
        cmp eax, [kbd_ring + RING_TAIL]  # the exit it jumps to releases kbd_lock,
        je 2f                            # which this path never took
.endif
        mov ebx, kbd_lock
        call mutex_enter
        mov ebx, kbd_ring
1:      call ring_get
        jc 2f
        inc dword ptr [kbd_received]
        jmp 1b
2:      inc dword ptr [kbd_bottom_count]
        mov ebx, kbd_lock
        call mutex_exit
        mov eax, kbd_bottom_count        # scenarios wait for the bottom half
        call wakeup
        pop ebx
        ret

.if BUG_STACK_OVERFLOW
kbd_recurse:                             # 16 bytes of stack per level
        push eax
        push ebx
        push edx
        dec ecx
        jz 1f
        call kbd_recurse
1:      pop edx
        pop ebx
        pop eax
        ret
.endif

        .data
        DRIVER kbd, KBD_IRQ, IPL_VM, kbd_intr, kbd_bottom, KBD_MODEL, KBD_MPSAFE
        MUTEX kbd_lock, MUTEX_ADAPTIVE, IPL_NONE
.if BUG_IRQ_UNSAFE || BUG_SPIN_LOW_IPL
        MUTEX kbd_stat, MUTEX_SPIN, IPL_NONE  # BUG: does not keep IRQ 1 out
.elif BUG_ADAPTIVE_IN_INTR
        MUTEX kbd_stat, MUTEX_ADAPTIVE, IPL_NONE  # BUG: the hard half's lock may block
.else
        MUTEX kbd_stat, MUTEX_SPIN, IPL_VM
.endif
        .align 4
kbd_intr_count:   .long 0
kbd_bottom_count: .long 0
kbd_received:     .long 0
kbd_busy:         .long 0
        .bss
        .align 16
kbd_ring: .space RING_SIZE

/* kernel.c -- a small C kernel not written for irqlab (issue 19, point 4).
 *
 * It does what a teaching kernel does in its first chapters, the way gcc
 * compiles it: its own GDT with user segments and a TSS, an IDT, the 8259s
 * remapped to 0x20, the PIT at 1 kHz, the keyboard controller's IRQ 1,
 * 32-bit paging with the low 4 MiB identity-mapped, and one user task in
 * ring 3 that makes system calls with `int $0x80`, takes PIT and keyboard
 * interrupts while in ring 3, and touches an unmapped page that the #PF
 * handler maps on demand.  Everything it prints goes to port 0xE9; it
 * exits through isa-debug-exit (0xF4), so irqlab and QEMU print the same.
 *
 * Build (tests/ckernel/build.py): gcc -m32 -ffreestanding -O1 -g, GNU as,
 * ld -m elf_i386 -T kernel.ld.
 */
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;

#define KCODE 0x08
#define KDATA 0x10
#define UCODE 0x1b
#define UDATA 0x23
#define TSS_SEL 0x28
#define PG_P 1
#define PG_W 2
#define PG_U 4
#define DEMAND_PAGE 0x00800000          /* not mapped until the user touches it */

struct trapframe {                       /* what trap.S pushes, lowest first */
    u32 edi, esi, ebp, oesp, ebx, edx, ecx, eax;
    u32 es, ds;
    u32 trapno, err;
    u32 eip, cs, eflags;
    u32 esp, ss;                         /* only when coming from ring 3 */
};

extern char __user_start[], __user_end[];
extern void vector13(void), vector14(void), vector32(void), vector33(void), vector128(void);

static u32 gdt[12];
static u32 idt[512];
static u32 tss[26];
static u32 pgdir[1024] __attribute__((aligned(4096)));
static u32 pt_low[1024] __attribute__((aligned(4096)));
static u32 pt_demand[1024] __attribute__((aligned(4096)));
static u8 demand_frame[4096] __attribute__((aligned(4096)));
static u8 kernel_stack[8192] __attribute__((aligned(16)));
static volatile u32 ticks, keys;
static int tick_reported;

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static void putc(char c) { outb(0xe9, c); }
static void puts(const char *s) { while (*s) putc(*s++); }
static void puthex(u32 v, int digits)
{
    for (int i = digits - 1; i >= 0; i--)
        putc("0123456789abcdef"[(v >> (4 * i)) & 15]);
}

static void set_seg(int i, u32 base, u32 limit, u32 access, u32 flags)
{
    gdt[2 * i] = (limit & 0xffff) | (base << 16);
    gdt[2 * i + 1] = ((base >> 16) & 0xff) | (access << 8) | (limit & 0xf0000)
                     | (flags << 20) | (base & 0xff000000);
}

static void set_gate(int n, void (*fn)(void), int dpl)
{
    u32 off = (u32)fn;
    idt[2 * n] = (off & 0xffff) | (KCODE << 16);
    idt[2 * n + 1] = (off & 0xffff0000) | 0x8e00 | (dpl << 13);      /* interrupt gate */
}

static void load_tables(void)
{
    struct { u16 limit; u32 base; } __attribute__((packed)) gdtr, idtr;
    set_seg(1, 0, 0xfffff, 0x9a, 0xc);
    set_seg(2, 0, 0xfffff, 0x92, 0xc);
    set_seg(3, 0, 0xfffff, 0xfa, 0xc);
    set_seg(4, 0, 0xfffff, 0xf2, 0xc);
    set_seg(5, (u32)tss, sizeof tss - 1, 0x89, 0);
    tss[1] = (u32)(kernel_stack + sizeof kernel_stack);         /* ESP0 */
    tss[2] = KDATA;                                              /* SS0 */
    gdtr.limit = sizeof gdt - 1;
    gdtr.base = (u32)gdt;
    __asm__ volatile("lgdt %0\n\t"
                     "ljmp $0x08, $1f\n"
                     "1:\tmov $0x10, %%ax\n\t"
                     "mov %%ax, %%ds\n\tmov %%ax, %%es\n\tmov %%ax, %%ss\n\t"
                     "mov %%ax, %%fs\n\tmov %%ax, %%gs\n\t"
                     "mov $0x28, %%ax\n\tltr %%ax" : : "m"(gdtr) : "eax", "memory");
    set_gate(13, vector13, 0);
    set_gate(14, vector14, 0);
    set_gate(32, vector32, 0);
    set_gate(33, vector33, 0);
    set_gate(128, vector128, 3);
    idtr.limit = sizeof idt - 1;
    idtr.base = (u32)idt;
    __asm__ volatile("lidt %0" : : "m"(idtr));
}

static void init_pics_and_pit(void)
{
    outb(0x20, 0x11); outb(0xa0, 0x11);        /* ICW1: edge, cascade, ICW4 */
    outb(0x21, 0x20); outb(0xa1, 0x28);        /* ICW2: vectors 0x20, 0x28 */
    outb(0x21, 0x04); outb(0xa1, 0x02);        /* ICW3: slave on IR2 */
    outb(0x21, 0x01); outb(0xa1, 0x01);        /* ICW4: 8086 mode */
    outb(0x21, 0xfc); outb(0xa1, 0xff);        /* IRQ 0 and 1 only */
    outb(0x43, 0x34);                          /* PIT counter 0, mode 2 */
    outb(0x40, 1193 & 0xff);                   /* 1 kHz */
    outb(0x40, 1193 >> 8);
    outb(0x64, 0x60);                          /* i8042 command byte: */
    outb(0x60, 0x01);                          /* keyboard interrupt on */
}

static void paging_on(void)
{
    for (u32 i = 0; i < 1024; i++) {
        u32 a = i << 12;
        u32 user = a >= (u32)__user_start && a < (u32)__user_end ? PG_U : 0;
        pt_low[i] = a | PG_P | PG_W | user;
    }
    pgdir[0] = (u32)pt_low | PG_P | PG_W | PG_U;
    __asm__ volatile("mov %0, %%cr3\n\t"
                     "mov %%cr0, %%eax\n\t"
                     "or $0x80010000, %%eax\n\t"        /* PG and WP */
                     "mov %%eax, %%cr0" : : "r"(pgdir) : "eax", "memory");
}

static void page_fault(struct trapframe *tf)
{
    u32 cr2;
    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    puts("page fault at ");
    puthex(cr2, 8);
    puts(", error ");
    puthex(tf->err, 1);
    puts(", from ring ");
    puthex(tf->cs & 3, 1);
    if ((cr2 & ~0xfffu) != DEMAND_PAGE) {
        puts(": not ours, halting\n");
        outb(0xf4, 1);
    }
    pgdir[DEMAND_PAGE >> 22] = (u32)pt_demand | PG_P | PG_W | PG_U;
    pt_demand[(DEMAND_PAGE >> 12) & 1023] = (u32)demand_frame | PG_P | PG_W | PG_U;
    puts(": mapped\n");
}

static void syscall(struct trapframe *tf)
{
    switch (tf->eax) {
    case 1:                                     /* write(string) */
        puts((const char *)tf->ebx);
        break;
    case 2:                                     /* start the clock */
        tf->eflags |= 0x200;
        break;
    case 3:                                     /* ticks() */
        tf->eax = ticks;
        break;
    case 4:                                     /* type a key (i8042 0xD2) */
        outb(0x64, 0xd2);
        outb(0x60, 0x1e);
        break;
    case 5:                                     /* keys() */
        tf->eax = keys;
        break;
    case 6:                                     /* print a number */
        puthex(tf->ebx, 8);
        putc('\n');
        break;
    case 7:                                     /* exit(status) */
        puts("ckernel: user task exited\n");
        outb(0xf4, tf->ebx);
        break;
    }
}

void trap(struct trapframe *tf)
{
    switch (tf->trapno) {
    case 14:
        page_fault(tf);
        break;
    case 32:
        ticks++;
        if (!tick_reported && (tf->cs & 3) == 3) {
            tick_reported = 1;
            puts("timer interrupt from ring 3, cs ");
            puthex(tf->cs, 2);
            puts(" ss ");
            puthex(tf->ss, 2);
            putc('\n');
        }
        outb(0x20, 0x20);
        break;
    case 33:
        keys++;
        puts("keyboard interrupt from ring ");
        puthex(tf->cs & 3, 1);
        puts(", scancode ");
        puthex(inb(0x60), 2);
        putc('\n');
        outb(0x20, 0x20);
        break;
    case 128:
        syscall(tf);
        break;
    default:
        puts("unexpected trap ");
        puthex(tf->trapno, 2);
        puts(" at ");
        puthex(tf->eip, 8);
        putc('\n');
        outb(0xf4, 2);
    }
}

/* -- the user task: ring 3, its own pages, system calls only ------------- */
#define USER __attribute__((section(".user.text")))
static char user_stack[4096] __attribute__((section(".user.bss"), aligned(16)));
static const char user_hello[] __attribute__((section(".user.data"))) =
    "hello from ring 3 through int $0x80\n";

static USER u32 sys(u32 n, u32 arg)
{
    u32 r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(n), "b"(arg) : "memory");
    return r;
}

static USER void spin(void)
{
    for (volatile int i = 0; i < 20000; i++)
        ;
}

static USER void user_main(void)
{
    volatile u32 *demand = (volatile u32 *)DEMAND_PAGE;
    sys(1, (u32)user_hello);
    sys(2, 0);
    while (sys(3, 0) < 3)
        spin();
    sys(4, 0);
    while (sys(5, 0) < 1)
        spin();
    *demand = 0x2a;
    sys(6, *demand);
    sys(7, 0);
    for (;;)
        ;
}

static void enter_user(void)
{
    __asm__ volatile("mov $0x23, %%ax\n\t"
                     "mov %%ax, %%ds\n\tmov %%ax, %%es\n\t"
                     "pushl $0x23\n\t"
                     "pushl %0\n\t"
                     "pushl $0x2\n\t"
                     "pushl $0x1b\n\t"
                     "pushl %1\n\t"
                     "iret" : : "r"(user_stack + sizeof user_stack), "r"(user_main) : "eax");
}

void kmain(void)
{
    puts("ckernel: booted\n");
    load_tables();
    init_pics_and_pit();
    paging_on();
    puts("ckernel: paging on, entering ring 3\n");
    enter_user();
}

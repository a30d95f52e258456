/* blockhook.c -- irqlab's instruction clock, run by Unicorn at every block.
 *
 * Contract (the Python twin is InstructionClock.py_block in emulator/icount.py;
 * the two must stay identical, tests/emulator/test_native.py compares the
 * traces of kernel runs on both):
 * bh_block is a UC_HOOK_BLOCK callback with user data a struct bh_state.
 * It looks up the block's instruction count in a direct-mapped cache; on a
 * miss it asks Python (st->miss, which decodes the block with capstone; 0
 * means "stop before this block": Python must add hooks first).  It stops the
 * engine before the block (uc_emu_stop, handed over as a pointer, so the
 * block does not run) when a stop was requested, when the block would run
 * past st->deadline (unless the block starts at st->skip_addr, the one
 * partial run Python arranged), or when an interrupt waits for IF and IF is
 * now set.  Otherwise it adds the count to st->now.  Either way cur_block and
 * block_start describe the block just entered, last_block the one before.
 * bh_post_io is a UC_HOOK_CODE callback on the instruction after an in/out
 * or an APIC MMIO access: it stops there when the access asked for it
 * (F_STOP).  last_post is where the CPU was last seen inside the current
 * block: the block's address at entry, then each post-I/O hook's address
 * (an MMIO callback does not know EIP; the machine finds the accessing
 * instruction as the first MMIO one at or after last_post).
 * bh_call is a UC_HOOK_CODE callback with user data a struct bh_call: it
 * reads the registers its struct bh_capture lists (one uc_reg_read_batch,
 * into capture->vals) and then calls c->fn(address, size), a Python exec
 * hook that finds them there instead of asking libunicorn again
 * (emulator/hooks.py; the observer reads them at every event).  bh_in and
 * bh_out do the same for the UC_HOOK_INSN in/out hooks (the port dispatch
 * reads CS and EIP at every access).
 *
 * The cache: one entry per slot, the slot chosen by the block's address
 * alone, an entry matching on the address and the size (an address of all
 * ones: empty; no block starts there; bh_clear empties them all).  A block
 * translated again at an address with another size (a partial run's
 * shorter block, the full block after it) lands in the same slot and
 * misses, so Python always hears which block it entered at an address
 * (icount's cpu.blocks[addr] is the last one it was asked for).
 * bh_block is the hit path: a hit, no flag, no skip_addr pending, the
 * deadline not crossed; it makes no call, saves no register and stores only
 * the counters.  Anything else goes to bh_slow (the whole rule above) by a
 * tail jump with the same arguments.
 */
#include <stdint.h>

#define F_STOP 1u
#define F_WATCH_IF 2u
#define EFLAGS_IF 0x200u
#define CACHE_SIZE (1u << 16)

typedef int (*emu_stop_fn)(void *uc);
typedef int (*reg_read_fn)(void *uc, int regid, void *value);
typedef uint32_t (*miss_fn)(uint64_t addr, uint32_t size);
typedef int (*reg_read_batch_fn)(void *uc, int *ids, void **vals, int count);
typedef void (*call_fn)(uint64_t addr, uint32_t size);
typedef uint32_t (*in_fn)(uint32_t port, int size);
typedef void (*out_fn)(uint32_t port, int size, uint32_t value);

struct bh_entry { uint64_t addr; uint32_t size; uint32_t n; };
#define BH_EMPTY (~(uint64_t)0)

struct bh_state {
    int64_t now;
    int64_t block_start;
    int64_t deadline;
    uint64_t cur_block;
    uint64_t last_block;
    int64_t skip_addr;
    uint64_t last_post;
    uint32_t flags;
    int32_t eflags_reg;
    emu_stop_fn emu_stop;
    reg_read_fn reg_read;
    miss_fn miss;
    struct bh_entry cache[CACHE_SIZE];
};

static inline struct bh_entry *bh_entry(struct bh_state *st, uint64_t addr)
{
    return &st->cache[(addr ^ (addr >> 13)) & (CACHE_SIZE - 1)];
}

void bh_clear(struct bh_state *st)
{
    for (uint32_t i = 0; i < CACHE_SIZE; i++)
        st->cache[i].addr = BH_EMPTY;
}

/* Everything but the common case: a miss (Python decodes the block), a
 * stop requested or IF watched, a partial run's skip_addr, a block that
 * would cross the deadline.  Out of line (and cold) so that bh_block itself
 * makes no call on a hit and gcc saves no registers there (Unicorn calls it
 * before every block); the same arguments as bh_block, so reaching it is a
 * plain jump. */
static void __attribute__((noinline, cold))
bh_slow(void *uc, uint64_t addr, uint32_t size, struct bh_state *st)
{
    struct bh_entry *e = bh_entry(st, addr);
    uint32_t n;
    int stop;

    if (e->addr == addr && e->size == size) {
        n = e->n;
    } else {
        n = st->miss(addr, size);
        if (n) {
            e->addr = addr;
            e->size = size;
            e->n = n;
        }
    }
    stop = n == 0 || (st->flags & F_STOP);
    if (!stop && st->now + (int64_t)n > st->deadline)
        stop = (int64_t)addr != st->skip_addr;
    st->skip_addr = -1;
    if (!stop && (st->flags & F_WATCH_IF)) {
        uint64_t fl = 0;
        st->reg_read(uc, st->eflags_reg, &fl);
        stop = (fl & EFLAGS_IF) != 0;
    }
    st->last_block = st->cur_block;
    st->cur_block = addr;
    st->block_start = st->now;
    st->last_post = addr;
    if (stop)
        st->emu_stop(uc);
    else
        st->now += n;
}

void bh_block(void *uc, uint64_t addr, uint32_t size, struct bh_state *st)
{
    const struct bh_entry *e = bh_entry(st, addr);
    int64_t now = st->now;
    int64_t next = now + (int64_t)e->n;       /* used only on a hit */

    /* the hit path: what bh_slow does then (skip_addr is already -1) */
    if (__builtin_expect(e->addr == addr && e->size == size && st->flags == 0
                         && st->skip_addr == -1 && next <= st->deadline, 1)) {
        st->last_block = st->cur_block;
        st->cur_block = addr;
        st->block_start = now;
        st->last_post = addr;
        st->now = next;
        return;
    }
    bh_slow(uc, addr, size, st);
}

void bh_post_io(void *uc, uint64_t addr, uint32_t size, struct bh_state *st)
{
    (void)size;
    st->last_post = addr;
    if (st->flags & F_STOP)
        st->emu_stop(uc);
}

/* bh_stop_here: a UC_HOOK_CODE callback that stops before its instruction
 * (the machine's partial runs up to an event inside a block). */
void bh_stop_here(void *uc, uint64_t addr, uint32_t size, struct bh_state *st)
{
    (void)addr;
    (void)size;
    st->emu_stop(uc);
}

/* bh_call: an exec hook's registers read in C, then the hook (see above). */
#define BH_CAPTURE_MAX 16

struct bh_capture {
    reg_read_batch_fn read_batch;
    int32_t n;
    int32_t ids[BH_CAPTURE_MAX];
    void *ptrs[BH_CAPTURE_MAX];     /* ptrs[i] = &vals[i] */
    uint64_t vals[BH_CAPTURE_MAX];
};

struct bh_call {
    struct bh_capture *capture;
    call_fn fn;
};

void bh_call(void *uc, uint64_t addr, uint32_t size, struct bh_call *c)
{
    struct bh_capture *cap = c->capture;
    cap->read_batch(uc, cap->ids, cap->ptrs, cap->n);
    c->fn(addr, size);
}

uint32_t bh_in(void *uc, uint32_t port, int size, struct bh_call *c)
{
    struct bh_capture *cap = c->capture;
    cap->read_batch(uc, cap->ids, cap->ptrs, cap->n);
    return ((in_fn)(void *)c->fn)(port, size);
}

void bh_out(void *uc, uint32_t port, int size, uint32_t value, struct bh_call *c)
{
    struct bh_capture *cap = c->capture;
    cap->read_batch(uc, cap->ids, cap->ptrs, cap->n);
    ((out_fn)(void *)c->fn)(port, size, value);
}

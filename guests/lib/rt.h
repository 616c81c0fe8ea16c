/* rt.h: freestanding runtime of hyve's test guests (32-bit, Multiboot v1).
 *
 * Everything a test kernel needs besides SMP: port I/O, the COM1 console and
 * printf, the debug-exit protocol, TSC timing, CPUID/MSR access, atomics,
 * fw_cfg, the Multiboot info, and a shared IDT with C handlers.
 *
 * Cost model: on the KVM hosts hyve is developed on, guest CPL0 code is
 * emulated at ~1-2 M instructions/s and every port or APIC access is an exit,
 * so the runtime does the least work possible (no BSS clearing, 16-byte FIFO
 * bursts on the UART, no busy loops without a TSC bound).
 *
 * Exit protocol (QEMU isa-debug-exit at port 0xf4: status = (V << 1) | 1):
 *   PASS = 0x10 -> status 33, FAIL = 0x11 -> 35, SKIP = 0x12 -> 37.
 * A guest prints "PASS", "FAIL: reason" or "SKIP: reason" before it exits.
 */
#ifndef GUEST_RT_H
#define GUEST_RT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUEST_PASS 0x10
#define GUEST_FAIL 0x11
#define GUEST_SKIP 0x12

#define DEBUG_EXIT_PORT 0xf4
#define COM1_PORT 0x3f8

#define MULTIBOOT_BOOT_MAGIC 0x2BADB002u

/* ---- port I/O ---------------------------------------------------------- */
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/* ---- CPU --------------------------------------------------------------- */
static inline void cpu_pause(void) { __asm__ volatile("pause" ::: "memory"); }
static inline void cpu_cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void cpu_sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void barrier(void) { __asm__ volatile("" ::: "memory"); }

/* HLT with interrupts enabled for exactly the halt: STI's one-instruction
 * shadow (SDM Vol. 2B, STI) guarantees no interrupt is taken between the STI
 * and the HLT, so a caller that checked its wake-up condition with IF=0 cannot
 * miss the interrupt that sets it. Returns with IF=0. */
static inline void cpu_sti_hlt_cli(void) { __asm__ volatile("sti; hlt; cli" ::: "memory"); }

/* Parks this CPU for good: halted with interrupts off (NMI handlers, if any,
 * return to the HLT). Done APs must park rather than spin: up to 288 vCPUs
 * share two host cores. */
__attribute__((noreturn)) void cpu_park(void);

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

struct cpuid_regs {
	uint32_t eax, ebx, ecx, edx;
};
static inline struct cpuid_regs cpuid(uint32_t leaf, uint32_t subleaf)
{
	struct cpuid_regs r;
	__asm__ volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(subleaf));
	return r;
}

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}

/* ---- atomics (x86 is TSO: plain volatile loads/stores are ordered; RMWs
 * need LOCK) ------------------------------------------------------------ */
/* Atomically adds v to *p and returns the old value (LOCK XADD). */
static inline uint32_t atomic_xadd(volatile uint32_t *p, uint32_t v)
{
	__asm__ volatile("lock xaddl %0, %1" : "+r"(v), "+m"(*p) : : "memory");
	return v;
}
static inline void atomic_inc(volatile uint32_t *p) { __asm__ volatile("lock incl %0" : "+m"(*p) : : "memory"); }
/* Atomically sets bit `bit` (0..31) of *p (LOCK BTS); returns its old value. */
static inline bool atomic_bts(volatile uint32_t *p, uint32_t bit)
{
	uint8_t old;
	__asm__ volatile("lock btsl %2, %0; setc %1" : "+m"(*p), "=q"(old) : "Ir"(bit) : "memory", "cc");
	return old;
}

/* ---- strings ------------------------------------------------------------ */
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);

/* ---- console (COM1, 16550A, 115200 8N1, FIFO on) -------------------------
 * Output goes out in bursts of up to 16 bytes after LSR.THRE (FIFO empty).
 * "\n" is sent as "\r\n". Not locked: by convention only the BSP prints; an
 * AP prints only when it dies on an exception. */
void serial_init(void);
void serial_write(const char *s, size_t n);
void serial_puts(const char *s);

/* printf subset: %d %i %u %x %X %c %s %p %%, flags '0' '-', a width, and the
 * length modifiers l (32-bit) and ll (64-bit, for %llu/%llx/%lld). */
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/* ---- exit ---------------------------------------------------------------- */
/* Writes code to the debug-exit port; hyve/QEMU end with (code << 1) | 1.
 * If nothing listens there, the CPU parks (the harness times out). */
__attribute__((noreturn)) void guest_exit(uint32_t code);
/* Prints "PASS" and exits with GUEST_PASS. */
__attribute__((noreturn)) void guest_pass(void);
/* Prints "FAIL: <reason>" and exits with GUEST_FAIL. */
__attribute__((noreturn, format(printf, 1, 2))) void guest_fail(const char *fmt, ...);
/* Prints "SKIP: <reason>" and exits with GUEST_SKIP. */
__attribute__((noreturn, format(printf, 1, 2))) void guest_skip(const char *fmt, ...);

/* ---- TSC ------------------------------------------------------------------ */
/* TSC frequency in kHz from CPUID: hypervisor leaf 0x40000010 (EAX = TSC kHz),
 * else leaf 0x15 (crystal * EBX / EAX), else leaf 0x16 (base MHz); 0 if none
 * says. Computed once on first use (by the BSP, before APs run). */
uint32_t tsc_khz(void);
/* The frequency delays use: tsc_khz(), or 3 GHz when unknown (an upper bound on
 * today's TSCs, so a delay is at least as long as asked). */
uint32_t tsc_khz_for_delays(void);
void delay_cycles(uint64_t cycles);
void delay_us(uint32_t us);
/* Cycles -> microseconds with tsc_khz(); only valid when tsc_khz() != 0. */
uint64_t tsc_cycles_to_us(uint64_t cycles);
/* 64-by-32 unsigned division without libgcc (the guest links no libgcc). */
uint64_t udiv64(uint64_t n, uint32_t d, uint32_t *rem);

/* ---- fw_cfg (QEMU's legacy I/O interface: selector 0x510, data 0x511) ----- */
#define FW_CFG_PORT_SEL 0x510
#define FW_CFG_PORT_DATA 0x511
#define FW_CFG_SIGNATURE 0x00 /* "QEMU" */
#define FW_CFG_ID 0x01        /* u32 LE feature bits: 0 traditional, 1 DMA */
#define FW_CFG_RAM_SIZE 0x03  /* u64 LE */
#define FW_CFG_NB_CPUS 0x05   /* u16 LE: CPUs present at boot */
#define FW_CFG_MAX_CPUS 0x0f  /* u16 LE */
#define FW_CFG_FILE_DIR 0x19  /* u32 BE count, then struct fw_cfg_file[] */

struct fw_cfg_file { /* all big-endian, as QEMU's docs/specs/fw_cfg.txt says */
	uint32_t size;
	uint16_t select;
	uint16_t reserved;
	char name[56];
};

void fwcfg_select(uint16_t key);
void fwcfg_read(void *buf, uint32_t len); /* reads len bytes from the selected item */
bool fwcfg_present(void);                 /* signature reads "QEMU" */
uint32_t fwcfg_read_u16(uint16_t key);    /* little-endian items */
uint32_t fwcfg_read_u32(uint16_t key);
uint64_t fwcfg_read_u64(uint16_t key);
/* CPU count (key 0x05), or 0 when fw_cfg is absent. */
uint32_t fwcfg_cpu_count(void);
static inline uint32_t be32(uint32_t v) { return __builtin_bswap32(v); }
static inline uint16_t be16(uint16_t v) { return __builtin_bswap16(v); }

/* ---- Multiboot v1 information (Multiboot 0.6.96 section 3.3) ------------- */
#define MB_INFO_MEMORY (1u << 0)
#define MB_INFO_CMDLINE (1u << 2)
#define MB_INFO_MODS (1u << 3)
#define MB_INFO_MMAP (1u << 6)

struct multiboot_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper;
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
};

struct multiboot_mod {
	uint32_t mod_start, mod_end;
	uint32_t string;
	uint32_t reserved;
};

/* The command line, or "" when the loader gave none. */
const char *mb_cmdline(uint32_t mbi);
/* Finds the first whitespace-separated token of s that is a whole number
 * (decimal, or hex with 0x); returns 0 and stores it, or -1 if there is none. */
int parse_first_number(const char *s, uint32_t *out);
/* True if a whitespace-separated token of the command line equals word. */
bool cmdline_has_word(const char *cmdline, const char *word);
/* Finds "key=value" in a command line; copies value (up to size-1 chars) and
 * returns 0, or -1 if absent. */
int cmdline_get(const char *cmdline, const char *key, char *val, size_t size);

/* ---- IDT (one table shared by all CPUs) ------------------------------------ */
struct isr_frame { /* what isr.S leaves on the stack */
	uint32_t edi, esi, ebp, esp_unused, ebx, edx, ecx, eax; /* PUSHAD */
	uint32_t vector, error;
	uint32_t eip, cs, eflags; /* pushed by the CPU (no privilege change) */
};
typedef void (*isr_fn)(struct isr_frame *f);

/* Vectors that have an entry stub: 0-31, ISR_VEC_FIRST..ISR_VEC_LAST, 0xff. */
#define ISR_VEC_FIRST 0x40
#define ISR_VEC_LAST 0x47
#define ISR_VEC_SPURIOUS 0xff

/* Builds the shared IDT and loads it on this CPU (BSP, once); also masks the
 * legacy 8259 PICs so that only APIC interrupts arrive. Unhandled
 * exceptions print "FAIL: exception ..." and exit; unhandled vectors from
 * 0x40 on print a FAIL too; the spurious vector is ignored. */
void idt_init(void);
/* Loads the shared IDT on this CPU (APs); a no-op before idt_init(). */
void idt_load(void);
/* Routes vector vec to fn (vec needs a stub, see above). */
void idt_set_handler(uint8_t vec, isr_fn fn);
/* Expected-fault support (BSP only): the next exception `vec` (< 32) raised
 * is counted in rt_fault_count and skipped by advancing EIP by `insn_len`;
 * the expectation ends with that fault or with rt_expect_fault_cancel(). */
void rt_expect_fault(uint8_t vec, uint32_t insn_len);
void rt_expect_fault_cancel(void);
extern volatile uint32_t rt_fault_count;

/* ---- guest entry ---------------------------------------------------------- */
/* Each guest defines this; crt0 calls it on the BSP after serial_init(). */
void kmain(uint32_t magic, uint32_t mbi);
/* C entry from crt0 (defined by rt.c). */
void rt_main(uint32_t magic, uint32_t mbi);

#endif

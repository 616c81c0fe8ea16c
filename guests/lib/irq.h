/* irq.h: interrupt and timer helpers of hyve's interrupt test guests (issue 4).
 *
 * What rt.h/smp.h/apic.h do not have: IDT entry stubs for every vector from
 * 0x20 on, the local APIC timer and IRR/ISR/TMR registers, the I/O APIC
 * (82093AA), the 8259A pair, the 8254 PIT, the MC146818 RTC, QEMU's
 * pc-testdev interrupt lines, a TSC frequency that also works where CPUID
 * does not give one (PIT calibration, e.g. QEMU TCG), and a small per-CPU
 * command service so that a test function can run on every CPU at once.
 *
 * References: Intel SDM Vol. 3A chapter 10 (local APIC; "SDM 10.x"), the
 * 82093AA I/O APIC datasheet (order 290566), the 8259A datasheet (order
 * 231468), the 82C54 datasheet (order 231244), the MC146818A datasheet, and
 * QEMU's hw/misc/pc-testdev.c (a byte written to port 0x2000 + n sets the
 * level of ISA interrupt line n).
 *
 * Cost model (rt.h): every port, MMIO or MSR access is an exit of 10-20 us on
 * the development hosts; the tests keep tick counts small and their time
 * bounds generous (behaviour, not a benchmark).
 */
#ifndef GUEST_IRQ_H
#define GUEST_IRQ_H

#include "smp.h"

/* ---- IDT: more entry stubs ------------------------------------------------ */
/* irq_idt_init() fills every IDT vector from IRQ_STUB_FIRST to IRQ_STUB_LAST
 * that idt_init() left empty with a stub of the same shape as isr.S's (same
 * struct isr_frame, same POPF;RET return, so handlers set with
 * idt_set_handler() work for any vector). Call it on the BSP after
 * idt_init() (smp_init() calls that) and before starting APs. */
#define IRQ_STUB_FIRST 0x20
#define IRQ_STUB_LAST 0xfe
void irq_idt_init(void);

/* ---- local APIC: what apic.h lacks (SDM table 10-1) ------------------------ */
#define APIC_TMR0 0x180
#define APIC_TIMER_ICR 0x380 /* initial count */
#define APIC_TIMER_CCR 0x390 /* current count (read-only) */
#define APIC_TIMER_DCR 0x3e0 /* divide configuration */

/* LVT bits (SDM figure 10-8) */
#define APIC_LVT_MASKED (1u << 16)
#define APIC_LVT_LEVEL (1u << 15)
#define APIC_LVT_REMOTE_IRR (1u << 14)
#define APIC_LVT_TIMER_ONESHOT (0u << 17)
#define APIC_LVT_TIMER_PERIODIC (1u << 17)
#define APIC_LVT_TIMER_TSCDEADLINE (2u << 17)
#define APIC_LVT_DM_EXTINT (7u << 8)
#define APIC_LVT_DM_NMI (4u << 8)

/* Divide configuration (SDM figure 10-10): TDCR value for a divisor. */
#define APIC_TDCR_DIV1 0xb
#define APIC_TDCR_DIV2 0x0
#define APIC_TDCR_DIV4 0x1
#define APIC_TDCR_DIV16 0x3
#define APIC_TDCR_DIV128 0xa

#define MSR_TSC_DEADLINE 0x6e0                      /* IA32_TSC_DEADLINE (SDM 10.5.4.1) */
#define MSR_X2APIC_SELF_IPI X2APIC_MSR(APIC_SELF_IPI) /* 0x83f (SDM 10.12.11) */

/* One bit of the 256-bit IRR/ISR/TMR banks (8 registers, 16 bytes apart). */
bool apic_bank_test(uint32_t first_off, uint8_t vec);
static inline bool apic_irr_has(uint8_t vec) { return apic_bank_test(APIC_IRR0, vec); }
static inline bool apic_isr_has(uint8_t vec) { return apic_bank_test(APIC_ISR0, vec); }
static inline bool apic_tmr_has(uint8_t vec) { return apic_bank_test(APIC_TMR0, vec); }
/* Highest set vector of a bank, or -1 when it is empty. */
int apic_bank_highest(uint32_t first_off);
/* Number of set bits of a bank. */
uint32_t apic_bank_count(uint32_t first_off);

/* A fixed self-IPI through the ICR's SELF shorthand (xAPIC and x2APIC). */
static inline void apic_self_ipi(uint8_t vec) { apic_send(0, APIC_SH_SELF | APIC_DM_FIXED | APIC_LEVEL_ASSERT | vec); }

/* CPUID.1:ECX[24] */
bool cpu_has_tsc_deadline(void);
/* APIC timer input clock in kHz: EBX of the hypervisor timing leaf
 * 0x40000010 when present (hyve: 1 GHz), else 1 GHz (QEMU's and KVM's APIC
 * bus clock). */
uint32_t apic_bus_khz(void);
/* Counts of the APIC timer for us microseconds at divisor div. */
uint32_t apic_timer_counts(uint32_t us, uint32_t div);

/* ---- TSC -------------------------------------------------------------------- */
/* TSC kHz: tsc_khz() (CPUID) when it says, else calibrated once against PIT
 * channel 2 (port 0x61 gate, 10 ms, mode 0). Call it on the BSP before
 * starting APs (channel 2 and port 0x61 are shared). */
uint32_t irq_tsc_khz(void);
uint64_t irq_us_to_cycles(uint64_t us);
uint64_t irq_cycles_to_us(uint64_t cycles);
/* Leaves the guest once (an APIC register read) so that the hypervisor can
 * inject an interrupt that became pending while IF was 0: on KVM-PVM hosts
 * an STI does not end in an interrupt-window exit (see irq.c). */
void irq_poke(void);
/* Busy-waits us microseconds by the TSC, with an irq_poke() every 100 us;
 * IF stays as it is (interrupts are taken meanwhile when IF=1). */
void irq_delay_us(uint32_t us);
/* Halts with IF=1 until *p >= target or timeout_us passed (checked at each
 * wake-up: some interrupt must come for the timeout to be seen). Returns 0
 * when reached, -1 on timeout. IF=0 on return. */
int irq_halt_until(volatile uint32_t *p, uint32_t target, uint32_t timeout_us);
/* Polls with PAUSE and irq_poke() (IF as the caller has it) until *p >=
 * target or timeout_us passed. 0 when reached, -1 on timeout. */
int irq_spin_until(volatile uint32_t *p, uint32_t target, uint32_t timeout_us);

/* ---- I/O APIC (82093AA) ----------------------------------------------------- */
#define IOAPIC_BASE 0xfec00000u
#define IOAPIC_REG_ID 0x00
#define IOAPIC_REG_VER 0x01
#define IOAPIC_REG_RTE(pin) (0x10u + 2u * (pin))
/* Redirection entry bits (82093AA 3.2.4) */
#define IOAPIC_RTE_DM_FIXED (0ull << 8)
#define IOAPIC_RTE_DM_LOWPRIO (1ull << 8)
#define IOAPIC_RTE_DM_EXTINT (7ull << 8)
#define IOAPIC_RTE_LOGICAL (1ull << 11)
#define IOAPIC_RTE_DELIVS (1ull << 12)
#define IOAPIC_RTE_ACTIVE_LOW (1ull << 13)
#define IOAPIC_RTE_REMOTE_IRR (1ull << 14)
#define IOAPIC_RTE_LEVEL (1ull << 15)
#define IOAPIC_RTE_MASKED (1ull << 16)
#define IOAPIC_RTE_DEST(d) ((uint64_t)(d) << 56)

uint32_t ioapic_read(uint32_t reg);
void ioapic_write(uint32_t reg, uint32_t val);
uint64_t ioapic_rte_get(unsigned pin);
/* Writes the high half first, then the low half (mask bit last). */
void ioapic_rte_set(unsigned pin, uint64_t rte);
/* Sets (masked = true) or clears the mask bit of pin's entry. */
void ioapic_mask(unsigned pin, bool masked);

/* ---- 8259A pair ---------------------------------------------------------------- */
#define PIC_MASTER_CMD 0x20
#define PIC_MASTER_DATA 0x21
#define PIC_SLAVE_CMD 0xa0
#define PIC_SLAVE_DATA 0xa1
#define PIC_ELCR_MASTER 0x4d0
#define PIC_ELCR_SLAVE 0x4d1
/* ICW1-ICW4 on both chips (edge, cascaded, 8086 mode, normal EOI), vector
 * bases master_base / slave_base, every input masked, ELCR 0. */
void pic_init(uint8_t master_base, uint8_t slave_base);
/* IMR of both chips: bit n masks IRQ n (bits 8-15: the slave). */
void pic_set_imr(uint16_t mask);
/* Non-specific EOI for irq: to the slave and the master for IRQ 8-15. */
void pic_eoi(unsigned irq);
/* ISR of both chips (OCW3 read ISR), bit n = IRQ n. Leaves the chips
 * reading IRR again. */
uint16_t pic_isr(void);

/* ---- 8254 PIT -------------------------------------------------------------------- */
#define PIT_HZ 1193182u
#define PIT_CH0 0x40
#define PIT_CH2 0x42
#define PIT_CMD 0x43
/* Channel 0, mode 2 (rate generator), binary, LSB then MSB: one IRQ0 edge
 * every count / 1.193182 MHz. */
void pit_ch0_periodic(uint16_t count);
/* Channel 0, mode 0 with the largest count: stops periodic edges (one more
 * edge comes after 55 ms; mask the input before calling). */
void pit_ch0_stop(void);

/* ---- MC146818 RTC ---------------------------------------------------------------- */
#define RTC_INDEX 0x70
#define RTC_DATA 0x71
uint8_t rtc_read(uint8_t reg);
void rtc_write(uint8_t reg, uint8_t val);

/* ---- QEMU pc-testdev interrupt lines ------------------------------------------------ */
#define TESTDEV_IRQ_PORT 0x2000
static inline void testdev_irq(unsigned line, bool level) { outb((uint16_t)(TESTDEV_IRQ_PORT + line), level); }

/* ---- per-CPU command service ------------------------------------------------------- */
/* Tests that run on every CPU at once keep their per-CPU state in arrays of
 * IRQ_MAX_CPUS entries indexed by APIC ID. */
#define IRQ_MAX_CPUS 64

/* A test function run on a CPU: returns the number of problems it found
 * (each also recorded with irq_problem()). */
typedef int (*irq_cpu_fn)(uint32_t id, uint32_t arg);

/* Records a problem of CPU id: counted, and the first IRQ_MSGS messages of
 * each CPU are kept for irq_report(). Any CPU; the BSP also prints at once. */
void irq_problem(uint32_t id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Problems recorded so far on all CPUs. */
uint32_t irq_problems(void);
/* Records a problem for CPU id unless its local APIC is quiet: no IRR or ISR
 * bit set and PPR 0 (what a test leaves behind once every vector is EOId). */
void irq_check_apic_quiet(uint32_t id);
/* BSP: prints the kept messages of the APs (the BSP's were printed at
 * once); returns irq_problems(). */
uint32_t irq_report(void);

/* BSP set-up: smp_init(mode) (SKIP above IRQ_MAX_CPUS CPUs), irq_idt_init(),
 * irq_tsc_khz(), the counters of smp.h (kick vector), then starts every AP
 * with INIT-SIPI-SIPI into the command service (each AP software-enables
 * its APIC, reports and waits halted with IF=1 for commands). FAIL if an AP
 * does not start. Returns N with IF=0 on the BSP. */
uint32_t irq_smp_start(uint32_t mbi, enum smp_mode mode);
/* irq_smp_start() in xAPIC mode for a test with nothing to test in x2APIC
 * mode that needs min CPUs: SKIP (saying why_no_x2) when "x2apic" is on the
 * command line, or with fewer CPUs. */
uint32_t irq_smp_start_xapic(uint32_t mbi, uint32_t min, const char *why_no_x2);
/* The same without smp_init(): the BSP's local APIC stays as reset left it
 * (software-disabled, LINT0 ExtINT); the APs are started through its ICR.
 * idt_init() and irq_idt_init() are done here. The BSP keeps IF=0. */
uint32_t irq_smp_start_apic_untouched(uint32_t mbi);
extern uint32_t irq_ncpus;

/* Runs fn(id, arg) on CPU id (an AP through its mailbox and a kick IPI,
 * vector SMP_VEC_KICK: an AP's TPR must stay below 0x40 between commands;
 * the BSP directly) and waits for it to finish: halted with IF=1 and a 10 ms
 * watchdog on its APIC timer when its APIC is enabled, else polling. fn
 * starts with IF=0. Returns its problem count, or 1 (recorded) if the AP did
 * not finish within 20 s; IF=0 on return. */
int irq_on_cpu(uint32_t id, irq_cpu_fn fn, uint32_t arg);
/* Starts fn on CPU id (an AP) without waiting; irq_wait_cpu() waits. */
void irq_start_on_cpu(uint32_t id, irq_cpu_fn fn, uint32_t arg);
int irq_wait_cpu(uint32_t id);
/* Runs fn on every CPU at once (the BSP too) and waits for all; returns
 * the sum of the problem counts; IF=0 on return. */
int irq_on_all(irq_cpu_fn fn, uint32_t arg);

#endif

/* sysctl.h: tiny PC system devices: debug-exit, reset control (0xcf9), port 0x92, i8042, port 0x80.
 *
 * Each device is its own small struct with its own callbacks, exposes
 * read(offset)/write(offset, value) and never sees the bus: the frontend's
 * adapters register one port range per device (the i8042 takes two ranges
 * of one port each: I8042_DATA_PORT and I8042_CMD_PORT, since 0x61-0x63
 * belong to other devices) and pass offset = port - the device's base port.
 * Behaviour follows QEMU (file named at each device) so that test guests and
 * Linux behave as under `qemu-system-x86_64 -device isa-debug-exit,...`.
 *
 * Threading: each stateful device has its own mutex and may be called from
 * any vCPU thread; the debug-exit device has no state and no lock. Every
 * callback is invoked after the device's lock is released (it may call back
 * into the device), on the thread of the guest access that caused it.
 * Field legend: (i) set by *_init, constant after; (l) guarded by lock.
 */
#ifndef DEVICES_SYSCTL_H
#define DEVICES_SYSCTL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Why the guest asked for a reset (for the frontend's log and exit status). */
enum sysreset_source {
	SYSRESET_RCR = 0,    /* 0xcf9 write with RST_CPU */
	SYSRESET_PORT92 = 1, /* port 0x92 fast reset, bit 0 rising */
	SYSRESET_I8042 = 2,  /* i8042 pulse command 0xfe (or output port bit 0 low) */
};

/* Shared by the reset-capable devices (RCR, port 0x92, i8042). */
struct sysreset_ops {
	void (*on_reset)(void *ctx, enum sysreset_source src); /* NULL: ignored */
};

/* ---- isa-debug-exit (QEMU hw/misc/debugexit.c) --------------------------
 * QEMU's test-exit device as configured by
 * `-device isa-debug-exit,iobase=0xf4,iosize=0x04`: a write of V, of any
 * access size 1..4 at any of its ports, ends QEMU with exit status
 * (V << 1) | 1; hyve calls on_exit(ctx, V) and the frontend exits the same
 * way (status truncated to 8 bits by exit(3), as in QEMU). Reads return 0
 * (QEMU debug_exit_read), not all ones. */
#define DEBUGEXIT_BASE 0xf4
#define DEBUGEXIT_LEN 4
#define DEBUGEXIT_OFF_EXIT 0 /* the register answers at every offset 0..3 */

struct debugexit_ops {
	void (*on_exit)(void *ctx, uint32_t value); /* NULL: ignored */
};

struct debugexit {
	const struct debugexit_ops *ops; /* (i) */
	void *ctx;                       /* (i) */
};

/* Initialises d (no state, no lock: nothing to destroy). */
void debugexit_init(struct debugexit *d, const struct debugexit_ops *ops, void *ctx);
/* Guest read: always 0. */
uint32_t debugexit_read(struct debugexit *d, unsigned offset, unsigned size);
/* Guest write of value (size 1, 2 or 4 bytes; other sizes are ignored):
 * calls on_exit(ctx, value truncated to size bytes). */
void debugexit_write(struct debugexit *d, unsigned offset, unsigned size, uint32_t value);

/* ---- Reset Control Register at 0xcf9 (QEMU hw/isa/piix.c rcr_write/read) --
 * PIIX3/ICH9 RCR: a write with RCR_RST_CPU set requests a reset (on_reset)
 * and leaves the register unchanged; any other write stores only
 * RCR_SYS_RST; a read returns the stored value. Byte-wide.
 * NB: 0xcf9 lies inside the PCI CONFIG_ADDRESS dword 0xcf8-0xcfb. If a PCI
 * host bridge claims 0xcf8 (4 ports), its adapter must route byte accesses
 * at 0xcf9 here and everything else to CONFIG_ADDRESS (PIIX datasheet;
 * QEMU overlays this 1-port region on the config-address register). */
#define RCR_PORT 0xcf9
#define RCR_LEN 1
#define RCR_OFF 0
#define RCR_SYS_RST 0x02  /* reset type: system (kept) vs CPU-only */
#define RCR_RST_CPU 0x04  /* 1: do the reset now */
#define RCR_FULL_RST 0x08 /* ICH: full reset (not kept, as QEMU) */

struct rstctl {
	pthread_mutex_t lock;           /* (i) */
	const struct sysreset_ops *ops; /* (i) */
	void *ctx;                      /* (i) */
	uint8_t rcr;                    /* (l) stored RCR_SYS_RST bit */
};

/* 0, or -errno (mutex). */
int rstctl_init(struct rstctl *r, const struct sysreset_ops *ops, void *ctx);
void rstctl_destroy(struct rstctl *r);
/* Guest byte read at offset (RCR_OFF; other offsets read 0xff). */
uint8_t rstctl_read(struct rstctl *r, unsigned offset);
/* Guest byte write at offset (RCR_OFF; other offsets ignored). */
void rstctl_write(struct rstctl *r, unsigned offset, uint8_t value);

/* ---- System control port A at 0x92 (QEMU hw/isa/port92.c) ---------------
 * A write stores the byte; bit 0 going 0 -> 1 requests a fast reset; a read
 * returns the stored byte, so bit 1 (A20 gate) reads back. A20 itself is not
 * emulated: under KVM the A20 line is always enabled (as QEMU/KVM). */
#define PORT92_PORT 0x92
#define PORT92_LEN 1
#define PORT92_OFF 0
#define PORT92_FAST_RESET 0x01
#define PORT92_A20 0x02

struct port92 {
	pthread_mutex_t lock;           /* (i) */
	const struct sysreset_ops *ops; /* (i) */
	void *ctx;                      /* (i) */
	uint8_t outport;                /* (l) last byte written */
};

int port92_init(struct port92 *p, const struct sysreset_ops *ops, void *ctx);
void port92_destroy(struct port92 *p);
/* Machine reset: clears the fast-reset bit (QEMU port92_reset), keeps A20. */
void port92_reset(struct port92 *p);
uint8_t port92_read(struct port92 *p, unsigned offset);
void port92_write(struct port92 *p, unsigned offset, uint8_t value);

/* ---- i8042 keyboard controller at 0x60/0x64, minimal (QEMU hw/input/pckbd.c)
 * No keyboard or mouse behind it. The status register always shows both
 * buffers empty (so Linux's kb_wait() and reboot path proceed), the system
 * flag (self-test passed, as firmware leaves it) and keylock off; bit 3
 * says whether the last write went to the command port. Commands
 * 0xf0-0xff pulse output-port bits 3:0 low where the command has a 0
 * (QEMU): bit 0 clear (e.g. 0xfe) pulses the CPU reset line -> on_reset.
 * Command 0xd1 (write output port) followed by a data byte with bit 0 clear
 * also resets (QEMU outport_write). Commands taking a data byte (0x60,
 * 0xd1-0xd4) swallow the next data-port write; all other commands and
 * data are accepted and ignored; the data port reads 0. */
#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64
#define I8042_OFF_DATA 0 /* port 0x60: data (read: output buffer) */
#define I8042_OFF_CMD 4  /* port 0x64: read status, write command */

#define I8042_STR_OBF 0x01      /* output buffer full */
#define I8042_STR_IBF 0x02      /* input buffer full */
#define I8042_STR_SYSFLAG 0x04  /* self-test passed */
#define I8042_STR_CMDDAT 0x08   /* last write was a command */
#define I8042_STR_KEYLOCK 0x10  /* 1: keyboard not inhibited */

#define I8042_CMD_WRITE_CTR 0x60
#define I8042_CMD_WRITE_OUTPORT 0xd1
#define I8042_CMD_WRITE_KBD_OBUF 0xd2
#define I8042_CMD_WRITE_AUX_OBUF 0xd3
#define I8042_CMD_WRITE_AUX 0xd4
#define I8042_CMD_PULSE_MASK 0xf0 /* 0xf0-0xff: pulse output bits 3:0 */
#define I8042_CMD_RESET 0xfe      /* pulse bit 0: CPU reset */
#define I8042_OUT_RESET 0x01      /* output port bit 0: 0 holds the CPU in reset */
#define I8042_OUT_A20 0x02

struct i8042 {
	pthread_mutex_t lock;           /* (i) */
	const struct sysreset_ops *ops; /* (i) */
	void *ctx;                      /* (i) */
	uint8_t write_cmd;              /* (l) command awaiting its data byte, or 0 */
	uint8_t outport;                /* (l) output port as last written */
	bool last_was_cmd;              /* (l) status bit 3 */
};

int i8042_init(struct i8042 *k, const struct sysreset_ops *ops, void *ctx);
void i8042_destroy(struct i8042 *k);
/* Guest byte read: I8042_OFF_CMD gives status, I8042_OFF_DATA gives 0;
 * other offsets read 0xff. */
uint8_t i8042_read(struct i8042 *k, unsigned offset);
/* Guest byte write to I8042_OFF_CMD (command) or I8042_OFF_DATA (data). */
void i8042_write(struct i8042 *k, unsigned offset, uint8_t value);

/* ---- QEMU's ISA pvpanic device (QEMU docs/specs/pvpanic.rst) -------------
 * One byte register at port 0x505, described to the guest by the DSDT
 * (\_SB.PEVT, _HID "QEMU0001"; loaders/acpi.c). A read returns the events
 * the device supports; a write reports events: bit 0 the guest panicked,
 * bit 1 a crash kernel was loaded. Other bits are ignored. No lock: the
 * device has no mutable state. */
#define PVPANIC_PORT 0x505
#define PVPANIC_LEN 1
#define PVPANIC_PANICKED 0x01
#define PVPANIC_CRASH_LOADED 0x02
#define PVPANIC_EVENTS (PVPANIC_PANICKED | PVPANIC_CRASH_LOADED)

struct pvpanic_ops {
	/* the guest reported events (a nonzero subset of PVPANIC_EVENTS);
	 * called without any lock of this device */
	void (*on_event)(void *ctx, uint8_t events);
};

struct pvpanic {
	const struct pvpanic_ops *ops; /* (i) may be NULL */
	void *ctx;                     /* (i) */
};

void pvpanic_init(struct pvpanic *p, const struct pvpanic_ops *ops, void *ctx);
/* Offset 0 reads PVPANIC_EVENTS; any other offset reads 0xff. */
uint8_t pvpanic_read(struct pvpanic *p, unsigned offset);
void pvpanic_write(struct pvpanic *p, unsigned offset, uint8_t value);

/* ---- POST code port 0x80 (QEMU hw/i386/pc.c ioport80_read/write) ---------
 * Writes are ignored by the machine (Linux uses outb to 0x80 as an I/O
 * delay); hyve keeps the last code for diagnostics and reports each write
 * to the optional on_post hook. Reads return all ones, as QEMU (a real PC
 * has no readable latch there either). */
#define PORT80_PORT 0x80
#define PORT80_LEN 1
#define PORT80_OFF 0

struct port80_ops {
	void (*on_post)(void *ctx, uint8_t code); /* NULL: nothing reported */
};

struct port80 {
	pthread_mutex_t lock;         /* (i) */
	const struct port80_ops *ops; /* (i) may be NULL */
	void *ctx;                    /* (i) */
	uint8_t last;                 /* (l) last code written (0 at init) */
	bool written;                 /* (l) any code written yet */
};

int port80_init(struct port80 *p, const struct port80_ops *ops, void *ctx);
void port80_destroy(struct port80 *p);
/* Guest byte read: 0xff. */
uint8_t port80_read(struct port80 *p, unsigned offset);
/* Guest byte write at PORT80_OFF: remembers and reports the code. */
void port80_write(struct port80 *p, unsigned offset, uint8_t value);
/* The last code written; false if none yet. */
bool port80_last(struct port80 *p, uint8_t *code);

/* ---- ACPI PM1a control at 0x604 (QEMU PIIX4 PM: hw/acpi/core.c acpi_pm1_cnt_write) ----
 * The port QEMU-targeting test kernels write 0x2000 to for a power-off, and
 * the one hyve's FADT will name as PM1a_CNT_BLK. A 16-bit write with SLP_EN
 * (bit 13) and SLP_TYP (bits 12:10) 0 is a soft power-off (S5); other sleep
 * types are not supported and ignored; the other bits read back. */
#define PMCNT_PORT 0x604
#define PMCNT_LEN 2
#define PMCNT_SLP_TYP_SHIFT 10
#define PMCNT_SLP_TYP_MASK (7u << 10)
#define PMCNT_SLP_EN (1u << 13)
#define PMCNT_SLP_TYP_S5 0 /* the \_S5 package hyve will describe */
#define PMCNT_SCI_EN 0x0001 /* ACPI mode: always on (the FADT has no SMI_CMD) */
/* PM1a event block at 0x600 (ACPI 6.4 4.8.3.1): PM1_STS (2 bytes, write 1 to
 * clear; no event is ever raised) and PM1_EN (2 bytes, read/write). */
#define PMEVT_PORT 0x600
#define PMEVT_LEN 4

struct pmcnt_ops {
	void (*on_poweroff)(void *ctx); /* NULL: ignored */
};

struct pmcnt {
	pthread_mutex_t lock;          /* (i) */
	const struct pmcnt_ops *ops;   /* (i) */
	void *ctx;                     /* (i) */
	uint16_t cnt;                  /* (l) PM1a_CNT without SLP_EN (write-only bit) */
	uint16_t en;                   /* (l) PM1_EN */
};

int pmcnt_init(struct pmcnt *p, const struct pmcnt_ops *ops, void *ctx);
void pmcnt_destroy(struct pmcnt *p);
/* Reads of 1 or 2 bytes at offset 0..1. */
uint16_t pmcnt_read(struct pmcnt *p, unsigned offset, unsigned size);
/* Writes of 1 or 2 bytes at offset 0..1; the sleep request acts on the 16-bit value. */
void pmcnt_write(struct pmcnt *p, unsigned offset, unsigned size, uint16_t value);
/* PM1 event block: offset 0..3 (PM1_STS at 0, PM1_EN at 2), 1/2/4-byte accesses. */
uint32_t pmevt_read(struct pmcnt *p, unsigned offset, unsigned size);
void pmevt_write(struct pmcnt *p, unsigned offset, unsigned size, uint32_t value);


/* --- port I/O bus handlers (devices/bus.h bus_handler_fn: offset from the
 * range's base, size 1-4; a read stores into *val; always 0) --- */
/* DEBUGEXIT_BASE. */
int debugexit_pio(void *opaque, uint64_t offset, unsigned size, bool wr, uint64_t *val);
/* RCR_PORT. */
int rstctl_pio(void *opaque, uint64_t offset, unsigned size, bool wr, uint64_t *val);
/* PORT92_PORT. */
int port92_pio(void *opaque, uint64_t offset, unsigned size, bool wr, uint64_t *val);
/* I8042_DATA_PORT (one port: 0x61 between the two belongs to the PIT gate). */
int i8042_pio_data(void *opaque, uint64_t offset, unsigned size, bool wr, uint64_t *val);
/* I8042_CMD_PORT. */
int i8042_pio_cmd(void *opaque, uint64_t offset, unsigned size, bool wr, uint64_t *val);
/* PVPANIC_PORT. */
int pvpanic_pio(void *opaque, uint64_t offset, unsigned size, bool wr, uint64_t *val);
/* PORT80_PORT. */
int port80_pio(void *opaque, uint64_t offset, unsigned size, bool wr, uint64_t *val);
/* PMCNT_PORT. */
int pmcnt_pio(void *opaque, uint64_t offset, unsigned size, bool wr, uint64_t *val);
/* PMEVT_PORT. */
int pmevt_pio(void *opaque, uint64_t offset, unsigned size, bool wr, uint64_t *val);

#endif

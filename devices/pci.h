/* pci.h: a PCI host bridge over a const table of functions: configuration
 * mechanism #1 (ports 0xCF8/0xCFC), ECAM, and BAR decoding.
 *
 * References: PCI Local Bus Specification 3.0 (cited "PCI" + section):
 * 3.2.2.3.2 configuration mechanism #1, 6.1 the type 0 configuration header,
 * 6.2.2 Command, 6.2.5.1 Base Address Registers (sizing: write all ones,
 * read back the mask); PCI Express Base Specification 4.0 7.2.2 ECAM (the
 * enhanced configuration access mechanism: bus << 20 | device << 15 |
 * function << 12 | register); PCI Firmware Specification 3.2 4.1.2 (the
 * MCFG table that describes the ECAM window, loaders/acpi.c). Models:
 * QEMU hw/pci/pci_host.c and pci.c (config access, wmask), kvmtool pci.c.
 *
 * The machine (frontend/machine.c) gives pci_init a table of functions, one
 * entry each (struct pci_func_desc): IDs, class, interrupt pin and up to six
 * BARs, each with the bus handler that serves accesses inside it. Adding a
 * device is adding an entry. Bus 0 only; slot s, pin p (1 = INTA) raises
 * GSI PCI_INTX_GSI(s, p) on the I/O APIC (the DSDT's _PRT says the same).
 *
 * Address decoding (nothing is registered on the bus after set-up: the bus
 * forbids it from inside a handler, and a config write is one):
 *  - ports [PCI_CONF1_PORT, +8): CONFIG_ADDRESS is a 32-bit access at 0xCF8
 *    (bit 31 enable, bus 23:16, device 15:11, function 10:8, register 7:2;
 *    bits 1:0 read 0); CONFIG_DATA is 0xCFC-0xCFF, any size inside it. A
 *    byte at 0xCF9 is the PIIX reset control register, handed to the
 *    handler given to pci_init; other accesses to 0xCF8-0xCFB read all ones.
 *  - MMIO [PCI_ECAM_BASE, +PCI_ECAM_SIZE): ECAM of bus 0, 4 KiB per
 *    function; registers 0x100 and up (no PCIe extended space) read all ones.
 *  - MMIO [PCI_MMIO_WINDOW_BASE, +SIZE) and ports [PCI_IO_WINDOW_BASE,
 *    0x10000): the windows the DSDT gives the OS for BARs; an access goes
 *    to the BAR that holds it while the function's Command register enables
 *    its space (PCI 6.2.2 bits 0 and 1); anything else reads all ones.
 * A configuration read of a function that does not exist returns all ones
 * (a master abort, PCI 6.1); writes to it are dropped. Writes change only
 * the bits the header defines as writable (wmask); BARs keep their size's
 * low bits 0 and their type bits.
 *
 * Threading: `lock` guards every function's configuration space and the
 * address register; BAR handlers are called without it (each device locks
 * itself), after the decode.
 *
 * Field legend: (i) set by pci_init, constant after; (l) guarded by `lock`.
 */
#ifndef DEVICES_PCI_H
#define DEVICES_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/bus.h"

#define PCI_CONF1_PORT 0xCF8 /* CONFIG_ADDRESS; CONFIG_DATA at +4; 8 ports */
#define PCI_CONF1_LEN 8
#define PCI_RCR_OFF 1 /* 0xCF9: PIIX reset control, a byte register in the range */

#define PCI_ECAM_BASE 0xE0000000ULL /* in the MMIO hole, under the I/O APIC */
#define PCI_ECAM_BUSES 1            /* bus 0 only */
#define PCI_ECAM_SIZE ((uint64_t)PCI_ECAM_BUSES << 20)

#define PCI_MMIO_WINDOW_BASE 0xC0000000ULL /* BARs: the start of the MMIO hole... */
#define PCI_MMIO_WINDOW_SIZE 0x20000000ULL /* ... up to the ECAM window */
#define PCI_IO_WINDOW_BASE 0xC000          /* I/O BARs: where SeaBIOS puts them, above every ISA and test port */
#define PCI_IO_WINDOW_LIMIT 0x10000

#define PCI_INTX_GSI_BASE 16 /* PCI INTx use GSIs 16-19, swizzled by slot */
#define PCI_INTX_GSI(slot, pin) (PCI_INTX_GSI_BASE + (((slot) + (pin) - 1) & 3))

#define PCI_MAX_FUNCS 32
#define PCI_CFG_SIZE 256 /* conventional PCI configuration space */
#define PCI_NBARS 6

/* Configuration header offsets (PCI 6.1, type 0). */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_CACHE_LINE_SIZE 0x0C
#define PCI_LATENCY_TIMER 0x0D
#define PCI_HEADER_TYPE 0x0E
#define PCI_BAR0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2C
#define PCI_SUBSYSTEM_ID 0x2E
#define PCI_INTERRUPT_LINE 0x3C
#define PCI_INTERRUPT_PIN 0x3D

#define PCI_COMMAND_IO 0x1      /* decode I/O BARs */
#define PCI_COMMAND_MEMORY 0x2  /* decode memory BARs */
#define PCI_COMMAND_MASTER 0x4  /* bus master */
#define PCI_COMMAND_PARITY 0x40 /* parity error response */
#define PCI_COMMAND_SERR 0x100
#define PCI_COMMAND_INTX_DISABLE 0x400

/* BAR type bits (PCI 6.2.5.1). */
#define PCI_BAR_IO 0x1        /* I/O space (bit 0) */
#define PCI_BAR_MEM64 0x4     /* memory, 64-bit (bits 2:1 = 10b): takes two BAR slots */
#define PCI_BAR_PREFETCH 0x8  /* memory, prefetchable */

struct pci_bar_desc {
	uint64_t size;           /* 0: none; a power of two, >= 16 (memory) or 4 (I/O), I/O <= 256 */
	uint8_t flags;           /* PCI_BAR_IO, or memory with PCI_BAR_MEM64 / PCI_BAR_PREFETCH */
	bus_handler_fn *handler; /* accesses inside it; offset from the BAR's base */
};

/* One function: what never changes. */
struct pci_func_desc {
	const char *name;
	uint8_t slot, func;           /* device 0..31, function 0..7, on bus 0 */
	uint16_t vendor, device;
	uint16_t subsys_vendor, subsys;
	uint32_t class_code;          /* base class << 16 | subclass << 8 | programming interface */
	uint8_t revision;
	uint8_t header_type;          /* 0x00, or 0x80 for function 0 of a multi-function device */
	uint8_t int_pin;              /* 0: none; 1..4: INTA..INTD */
	struct pci_bar_desc bar[PCI_NBARS];
};

struct pci_func {
	const struct pci_func_desc *d; /* (i) */
	void *opaque;                  /* (i) handed to the BAR handlers */
	uint8_t cfg[PCI_CFG_SIZE];     /* (l) the configuration space */
	uint8_t wmask[PCI_CFG_SIZE];   /* (i) its guest-writable bits */
};

struct pci_host {
	pthread_mutex_t lock;
	uint32_t conf1_addr;                /* (l) CONFIG_ADDRESS */
	struct pci_func fn[PCI_MAX_FUNCS];  /* (i) the first nfn are in use */
	unsigned nfn;                       /* (i) */
	bus_handler_fn *rcr;                /* (i) the byte register at 0xCF9, or NULL */
	void *rcr_opaque;                   /* (i) */
};

/* Builds h from n table entries; opaque[i] goes to entry i's BAR handlers
 * (opaque may be NULL when no entry has a BAR). rcr (may be NULL) serves a
 * byte access at 0xCF9. 0, or -EINVAL for a bad table (two entries at one
 * slot/function, a function > 0 without function 0 being multi-function, a
 * bad BAR size, a 64-bit BAR in slot 5, a BAR without handler, a pin > 4,
 * more than PCI_MAX_FUNCS), or -errno from the lock. */
int pci_init(struct pci_host *h, const struct pci_func_desc *table, void *const *opaque, unsigned n,
	     bus_handler_fn *rcr, void *rcr_opaque);
void pci_destroy(struct pci_host *h);

/* Configuration access to bus/slot/func register reg (size 1, 2 or 4,
 * inside the 4 KiB of one function); a read of an absent function or of a
 * register past the 256 bytes yields all ones. */
uint32_t pci_cfg_read(struct pci_host *h, unsigned bus, unsigned slot, unsigned func, unsigned reg, unsigned size);
void pci_cfg_write(struct pci_host *h, unsigned bus, unsigned slot, unsigned func, unsigned reg, unsigned size,
		   uint32_t val);

/* The address the guest gave BAR bar of function i, or 0 when the function
 * does not decode it now (Command bit off, no such BAR, or base 0). */
uint64_t pci_bar_base(struct pci_host *h, unsigned i, unsigned bar);

/* --- bus handlers (devices/bus.h) --- */
/* [PCI_CONF1_PORT, +PCI_CONF1_LEN) in port space. */
int pci_conf1_pio(void *opaque, uint64_t offset, unsigned size, bool wr, uint64_t *val);
/* [PCI_ECAM_BASE, +PCI_ECAM_SIZE) in MMIO space. */
int pci_ecam_mmio(void *opaque, uint64_t offset, unsigned size, bool wr, uint64_t *val);
/* [PCI_MMIO_WINDOW_BASE, +PCI_MMIO_WINDOW_SIZE) in MMIO space: memory BARs. */
int pci_mmio_window(void *opaque, uint64_t offset, unsigned size, bool wr, uint64_t *val);
/* [PCI_IO_WINDOW_BASE, PCI_IO_WINDOW_LIMIT) in port space: I/O BARs. */
int pci_io_window(void *opaque, uint64_t offset, unsigned size, bool wr, uint64_t *val);

#endif

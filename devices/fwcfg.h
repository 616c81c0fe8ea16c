/* fwcfg.h: QEMU fw_cfg item store and its traditional x86 port-I/O interface (no DMA).
 *
 * Reference: QEMU docs/specs/fw_cfg.rst and hw/nvram/fw_cfg.c (cited as
 * "QEMU"). The guest writes a 16-bit key to the selector port, which
 * selects that item and rewinds its read offset to 0; each byte read from
 * the data port returns the next byte of the item, and 0 past its end or
 * for a key nobody added. Data-port writes are ignored (QEMU >= 2.4).
 *
 * Ports (one range of FWCFG_IO_LEN ports at FWCFG_IO_BASE; the 8-bit data
 * register overlaps the high half of the 16-bit selector, as in QEMU's
 * "comb" region). Decoding, as QEMU's fw_cfg_comb_valid/read/write:
 *   - 16-bit write at FWCFG_OFF_SELECTOR: select (little-endian key);
 *   - 8-bit read at either offset: next data byte (QEMU's comb read ignores
 *     the offset, so an inb from 0x510 reads data too);
 *   - 8-bit write at either offset: the (removed) data write: ignored;
 *   - anything else (16-bit reads, 32-bit accesses, 16-bit write at offset 1)
 *     is refused by QEMU's access check: reads return 0 and nothing changes.
 *   The 16-bit data-port reads that QEMU's MMIO "wide" data register allows
 *   (ARM virt) do not exist on x86 and are not implemented.
 * FW_CFG_ID reads 1 (FW_CFG_VERSION: traditional interface, no DMA bit).
 *
 * Keys: bit 15 (FW_CFG_ARCH_LOCAL) selects the architecture-local table;
 * bit 14 (FW_CFG_WRITE_CHANNEL) is ignored on selection, as QEMU masks it.
 * Key numbers below FW_CFG_FILE_FIRST are QEMU's well-known items; files
 * get keys from FW_CFG_FILE_FIRST up, in name order (QEMU's non-legacy
 * machines sort the directory by name and renumber on insertion, so a
 * file's key is final only once all files are added: guests look it up in
 * the directory at FW_CFG_FILE_DIR). Up to FWCFG_FILE_SLOTS files (QEMU's
 * default x-file-slots); the directory item is always FWCFG_DIR_SIZE bytes.
 *
 * Threading: every entry point takes the device mutex; the fwcfg_add_*
 * functions are meant for set-up but are safe at any time.
 * Field legend: (i) set by fwcfg_init, constant after; (l) guarded by lock.
 */
#ifndef DEVICES_FWCFG_H
#define DEVICES_FWCFG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FWCFG_IO_BASE 0x510    /* x86 port of the selector (QEMU FW_CFG_IO_BASE) */
#define FWCFG_IO_LEN 2         /* ports claimed: selector 0x510-0x511, data 0x511 */
#define FWCFG_OFF_SELECTOR 0   /* 16-bit selector register */
#define FWCFG_OFF_DATA 1       /* 8-bit data register */

/* Well-known keys (QEMU include/standard-headers/linux/qemu_fw_cfg.h names). */
#define FW_CFG_SIGNATURE 0x00     /* "QEMU" */
#define FW_CFG_ID 0x01            /* u32 LE feature bitmap */
#define FW_CFG_UUID 0x02
#define FW_CFG_RAM_SIZE 0x03      /* u64 LE */
#define FW_CFG_NOGRAPHIC 0x04
#define FW_CFG_NB_CPUS 0x05       /* u16 LE */
#define FW_CFG_MACHINE_ID 0x06
#define FW_CFG_KERNEL_ADDR 0x07
#define FW_CFG_KERNEL_SIZE 0x08
#define FW_CFG_KERNEL_CMDLINE 0x09
#define FW_CFG_INITRD_ADDR 0x0a
#define FW_CFG_INITRD_SIZE 0x0b
#define FW_CFG_BOOT_DEVICE 0x0c
#define FW_CFG_NUMA 0x0d
#define FW_CFG_BOOT_MENU 0x0e
#define FW_CFG_MAX_CPUS 0x0f      /* u16 LE */
#define FW_CFG_KERNEL_ENTRY 0x10
#define FW_CFG_KERNEL_DATA 0x11
#define FW_CFG_INITRD_DATA 0x12
#define FW_CFG_CMDLINE_ADDR 0x13  /* u32 LE */
#define FW_CFG_CMDLINE_SIZE 0x14  /* u32 LE, including the NUL */
#define FW_CFG_CMDLINE_DATA 0x15  /* bytes, NUL-terminated */
#define FW_CFG_SETUP_ADDR 0x16
#define FW_CFG_SETUP_SIZE 0x17
#define FW_CFG_SETUP_DATA 0x18
#define FW_CFG_FILE_DIR 0x19      /* file directory, maintained by fwcfg_add_file */
#define FW_CFG_FILE_FIRST 0x20    /* first file key */

#define FW_CFG_WRITE_CHANNEL 0x4000
#define FW_CFG_ARCH_LOCAL 0x8000
#define FW_CFG_ENTRY_MASK 0x3fff  /* ~(FW_CFG_WRITE_CHANNEL | FW_CFG_ARCH_LOCAL) */

/* FW_CFG_ID bits */
#define FW_CFG_VERSION 0x01       /* traditional interface */
#define FW_CFG_VERSION_DMA 0x02   /* DMA interface: not implemented, never set */

#define FW_CFG_MAX_FILE_PATH 56   /* name field, including the NUL */

#define FWCFG_FILE_SLOTS 0x20     /* files at most (QEMU FW_CFG_FILE_SLOTS_DFLT) */
#define FWCFG_MAX_ENTRY (FW_CFG_FILE_FIRST + FWCFG_FILE_SLOTS) /* exclusive key limit */
#define FWCFG_DIR_ENTRY_SIZE 64   /* be32 size, be16 select, be16 reserved, name[56] */
#define FWCFG_DIR_SIZE (4 + FWCFG_DIR_ENTRY_SIZE * FWCFG_FILE_SLOTS)

struct fwcfg_item {
	uint8_t *data;                /* (l) malloc'd copy; NULL if len is 0 */
	uint32_t len;                 /* (l) bytes */
	bool present;                 /* (l) added (an item may be empty) */
};

struct fwcfg {
	pthread_mutex_t lock;                             /* (i) */
	struct fwcfg_item items[2][FWCFG_MAX_ENTRY];      /* (l) [arch-local][key & mask];
							    items[0][FW_CFG_FILE_DIR] unused */
	uint8_t dir[FWCFG_DIR_SIZE];                      /* (l) FW_CFG_FILE_DIR contents */
	uint32_t nfiles;                                  /* (l) entries used in dir */
	uint16_t cur_key;                                 /* (l) selected key */
	bool cur_valid;                                   /* (l) cur_key is within the table */
	uint32_t cur_off;                                 /* (l) next byte to read */
};

/* Initialises fw with the signature ("QEMU"), FW_CFG_ID = FW_CFG_VERSION and
 * an empty file directory, signature selected. 0, or -errno. */
int fwcfg_init(struct fwcfg *fw);

/* Frees every item and the lock. No access may be in progress or follow. */
void fwcfg_destroy(struct fwcfg *fw);

/* Adds item key with a copy of len bytes of data (data may be NULL if len
 * is 0). Returns 0; -EINVAL if key has FW_CFG_WRITE_CHANNEL set, is
 * >= FWCFG_MAX_ENTRY (after removing FW_CFG_ARCH_LOCAL), is FW_CFG_FILE_DIR
 * or a file key (use fwcfg_add_file), or data is NULL with len > 0;
 * -EEXIST if key was already added; -E2BIG if len >= 2^32 - 1; -ENOMEM. */
int fwcfg_add_bytes(struct fwcfg *fw, uint16_t key, const void *data, size_t len);

/* fwcfg_add_bytes with the value stored little-endian (2, 4, 8 bytes), as
 * QEMU's fw_cfg_add_i16/i32/i64. Same errors. */
int fwcfg_add_u16(struct fwcfg *fw, uint16_t key, uint16_t value);
int fwcfg_add_u32(struct fwcfg *fw, uint16_t key, uint32_t value);
int fwcfg_add_u64(struct fwcfg *fw, uint16_t key, uint64_t value);

/* fwcfg_add_bytes of str including its terminating NUL (QEMU's
 * fw_cfg_add_string; the form FW_CFG_CMDLINE_DATA takes). Same errors. */
int fwcfg_add_string(struct fwcfg *fw, uint16_t key, const char *str);

/* Adds a named file (e.g. "etc/e820") holding a copy of len bytes of data
 * and inserts it into the directory in strcmp order, renumbering the keys
 * of files sorted after it. Returns 0; -EINVAL for a NULL or empty name or
 * NULL data with len > 0; -ENAMETOOLONG if strlen(name) >=
 * FW_CFG_MAX_FILE_PATH; -EEXIST for a name already present; -ENOSPC when
 * all FWCFG_FILE_SLOTS are used; -E2BIG; -ENOMEM. */
int fwcfg_add_file(struct fwcfg *fw, const char *name, const void *data, size_t len);

/* The key currently assigned to file name, or -ENOENT. */
int fwcfg_file_key(struct fwcfg *fw, const char *name);

/* Selects key and rewinds the data offset (what a selector write does). */
void fwcfg_select(struct fwcfg *fw, uint16_t key);

/* Guest read of size bytes at offset (0 or 1) of the port range; see the
 * decoding table above. Returns the value to give the guest. */
uint32_t fwcfg_io_read(struct fwcfg *fw, unsigned offset, unsigned size);

/* Guest write of size bytes of value at offset of the port range. */
void fwcfg_io_write(struct fwcfg *fw, unsigned offset, unsigned size, uint32_t value);


/* --- port I/O bus handlers (devices/bus.h bus_handler_fn: offset from the
 * range's base, size 1-4; a read stores into *val; always 0) --- */
/* FWCFG_IO_BASE: selector and data ports. */
int fwcfg_pio(void *opaque, uint64_t offset, unsigned size, bool wr, uint64_t *val);

#endif

/* bytes.h: little-endian loads/stores, the ACPI/MP checksum, one-line errors and checked guest writes, shared by every loader.
 *
 * Private to the loaders' .c files (no public loader header includes it). All
 * functions are static inline and keep no state, so two loads (or two
 * VMs) in one process never share anything through them.
 *
 * Byte order: every structure a loader reads or writes is little-endian
 * (the x86 boot protocols and Multiboot, ELFDATA2LSB images, ACPI 5.2
 * tables, the MP tables of an x86 PC). The helpers assemble values byte by
 * byte, so they work at any alignment and on any host byte order.
 *
 * Bounds: the loads and stores take an array parameter with a static size
 * (C11 6.7.6.3p7): the pointer must reach at least that many bytes, and the
 * compiler checks it where the object's size is known (gcc
 * -Wstringop-overflow, -Warray-bounds: a store past a stack buffer fails
 * the -Werror build). The caller bounds-checks pointers into a file or
 * into guest RAM before it calls them; these helpers do not.
 *
 * Errors: the loaders' API takes (char *err, size_t errlen) and fills it
 * with one line, without a newline, that names the offending field and
 * its value. loader_fail is the one place that writes it; each loader
 * keeps its own messages.
 */
#ifndef LOADERS_BYTES_H
#define LOADERS_BYTES_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "vmm/gmem.h"

/* ---- little-endian loads: b[0] is the least significant byte ---- */

static inline uint16_t le_ld16(const uint8_t b[static 2])
{
	return (uint16_t)(b[0] | b[1] << 8);
}

static inline uint32_t le_ld32(const uint8_t b[static 4])
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static inline uint64_t le_ld64(const uint8_t b[static 8])
{
	return le_ld32(b) | (uint64_t)le_ld32(b + 4) << 32;
}

/* ---- little-endian stores: exactly 2, 4 or 8 bytes written ---- */

static inline void le_st16(uint8_t b[static 2], uint16_t v)
{
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}

static inline void le_st32(uint8_t b[static 4], uint32_t v)
{
	le_st16(b, (uint16_t)v);
	le_st16(b + 2, (uint16_t)(v >> 16));
}

static inline void le_st64(uint8_t b[static 8], uint64_t v)
{
	le_st32(b, (uint32_t)v);
	le_st32(b + 4, (uint32_t)(v >> 32));
}

/* ---- checksum ---- */

/* Sets the checksum byte b[off] so that the len bytes b[0..len), the
 * checksum included, add up to 0 modulo 256: the rule of the ACPI RSDP
 * (ACPI 5.2.5.3, both "Checksum" over 20 bytes and "Extended Checksum"
 * over the whole), of every ACPI table header (5.2.6) and of the MP
 * floating pointer and configuration table (MP 4.1, 4.2). Requires
 * off < len; writes only b[off]. Call it after the last other byte. */
static inline void loader_checksum(size_t len, uint8_t b[static len], size_t off)
{
	uint8_t sum = 0;

	b[off] = 0;
	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + b[i]);
	b[off] = (uint8_t)(0 - sum);
}

/* ---- errors ---- */

/* Formats one error line into err (truncated to errlen bytes, always
 * NUL-terminated) unless err is NULL or errlen is 0 (a quiet caller, e.g.
 * linux_probe), and returns rc, so that a check reads
 * `return loader_fail(err, errlen, -EINVAL, "field %u ...", v);`.
 * Never prints. */
__attribute__((format(printf, 4, 5))) static inline int
loader_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* ---- checked guest writes ---- */

/* Copies len bytes from src to guest-physical gpa. A loader calls it only
 * for ranges it has already checked against the memory map, so a failure
 * means the map and the accessor disagree: -EFAULT with an "internal:"
 * line in err (as loader_fail). 0 on success. */
static inline int loader_put(char *err, size_t errlen, const struct guest_mem *m, uint64_t gpa,
			     const void *src, uint64_t len)
{
	if (gmem_write(m, gpa, src, len))
		return loader_fail(err, errlen, -EFAULT,
				   "internal: write of 0x%llx bytes at 0x%llx failed",
				   (unsigned long long)len, (unsigned long long)gpa);
	return 0;
}

/* Zeroes len bytes of guest RAM at gpa (bss, gaps between modules);
 * errors as loader_put. */
static inline int loader_zero(char *err, size_t errlen, const struct guest_mem *m, uint64_t gpa,
			      uint64_t len)
{
	void *d = gmem_ptr(m, gpa, len);
	if (!d)
		return loader_fail(err, errlen, -EFAULT,
				   "internal: zeroing 0x%llx bytes at 0x%llx failed",
				   (unsigned long long)len, (unsigned long long)gpa);
	if (len)
		memset(d, 0, len);
	return 0;
}

#endif

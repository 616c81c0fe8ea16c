/* multiboot.h: Multiboot v1 kernel loader (ELF32 or a.out kludge) over the checked guest memory accessor.
 *
 * Loads a kernel the way QEMU's `-kernel` does for Multiboot images
 * (hw/i386/multiboot.c + pc-bios/optionrom/multiboot.S), following the
 * Multiboot Specification 0.6.96 (cited "MB sec. N" below).
 *
 * Guest-physical layout it produces (all below GMEM_LOWMEM_LIMIT, in one RAM
 * entry of the memory map, see loaders/memmap.h):
 *   [kernel_start, kernel_end)  the kernel: ELF PT_LOAD segments, or the a.out
 *                               kludge text+data and bss (bss zeroed)
 *   [info_start, info_end)      info_start = kernel_end rounded up to 4 KiB:
 *                               multiboot_info (88 bytes), the mmap, the
 *                               module array, the command lines and the boot
 *                               loader name
 *   [mods_start, mods_end)      each module's bytes, each starting on a 4 KiB
 *                               page (MB sec. 3.1.2 bit 0; QEMU always does)
 *
 * Machine state the caller must set before entering at `entry` (MB sec. 3.2):
 * EAX = result.eax (0x2BADB002), EBX = result.ebx; CS a 32-bit flat
 * read/execute code segment (base 0, limit 4 GiB); DS, ES, FS, GS, SS 32-bit
 * flat read/write data segments; A20 enabled; CR0.PG = 0, CR0.PE = 1;
 * EFLAGS.VM = 0 and IF = 0. ESP, GDTR and IDTR are undefined for the kernel
 * (QEMU's option ROM uses selectors 0x08 code / 0x10 data and also clears DF).
 */
#ifndef LOADERS_MULTIBOOT_H
#define LOADERS_MULTIBOOT_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/gmem.h"
#include "vmm/x86.h"

#define MB_HEADER_MAGIC 0x1BADB002u     /* MB sec. 3.1.1: in the OS image */
#define MB_BOOTLOADER_MAGIC 0x2BADB002u /* MB sec. 3.2: EAX at entry */
#define MB_SEARCH_LIMIT 8192u           /* MB sec. 3.1: header within these bytes */
#define MB_BOOTLOADER_NAME "hyve"       /* multiboot_info.boot_loader_name */

/* multiboot_info.flags hyve sets: the same set as QEMU (MB sec. 3.3). */
#define MB_INFO_MEMORY (1u << 0)      /* mem_lower, mem_upper */
#define MB_INFO_BOOTDEV (1u << 1)     /* boot_device = 0x8000ffff, as QEMU */
#define MB_INFO_CMDLINE (1u << 2)     /* cmdline */
#define MB_INFO_MODS (1u << 3)        /* mods_count, mods_addr (also when 0 modules) */
#define MB_INFO_MEM_MAP (1u << 6)     /* mmap_length, mmap_addr */
#define MB_INFO_LOADER_NAME (1u << 9) /* boot_loader_name */
#define MB_BOOT_DEVICE_NONE 0x8000FFFFu /* BIOS drive 0x80, no partition (QEMU's value) */

/* multiboot_info layout (MB sec. 3.3): byte offsets of the fields hyve fills. */
#define MB_INFO_OFF_FLAGS 0
#define MB_INFO_OFF_MEM_LOWER 4
#define MB_INFO_OFF_MEM_UPPER 8
#define MB_INFO_OFF_BOOT_DEVICE 12
#define MB_INFO_OFF_CMDLINE 16
#define MB_INFO_OFF_MODS_COUNT 20
#define MB_INFO_OFF_MODS_ADDR 24
#define MB_INFO_OFF_MMAP_LENGTH 44
#define MB_INFO_OFF_MMAP_ADDR 48
#define MB_INFO_OFF_LOADER_NAME 64
#define MB_INFO_SIZE 88     /* through the VBE fields */
#define MB_MOD_SIZE 16      /* mod_start, mod_end, string, reserved */
#define MB_MMAP_ENTRY_SIZE 24 /* size (= 20, not counting itself), base_addr, length, type */

/* Upper bound on ELF PT_LOAD segments with p_memsz > 0 (real kernels have a
 * handful; the bound keeps the overlap check cheap on hostile files). */
#define MB_MAX_SEGMENTS 32

struct mb_module {
	const void *data; /* size bytes; may be NULL when size is 0 */
	size_t size;
	/* The module's string, copied verbatim (MB sec. 3.3 "string"). QEMU
	 * passes the whole -initrd entry, i.e. "path args" or just "path";
	 * the caller builds it the same way. NULL means "". */
	const char *cmdline;
};

struct mb_load_params {
	const void *image; /* the kernel file's bytes */
	size_t image_size;
	/* Kernel path exactly as the user gave it: the guest's command line
	 * is "<kernel_name> <append>", built like QEMU's snprintf("%s %s"), so
	 * with no append it is "<kernel_name> " (trailing space). Not NULL. */
	const char *kernel_name;
	const char *append;          /* -append string; NULL means "" */
	const struct mb_module *mods; /* nmods entries; may be NULL if nmods is 0 */
	unsigned nmods;
};

struct mb_load_result {
	uint32_t entry; /* guest-physical entry point (EIP) */
	uint32_t eax;   /* MB_BOOTLOADER_MAGIC */
	uint32_t ebx;   /* guest-physical address of multiboot_info (= info_start) */
	uint64_t kernel_start, kernel_end; /* [start, end) of the kernel incl. bss */
	uint64_t info_start, info_end;     /* multiboot_info and everything it points to, except modules */
	uint64_t mods_start, mods_end;     /* [start, end) spanned by the modules; both = page-aligned info_end if none */
};

/* Loads the Multiboot v1 kernel p->image into m, with its modules, and
 * writes the multiboot_info structure (MB sec. 3.3) that describes them and
 * the memory map of m (memmap_build).
 *
 * Every header field is validated before any byte of guest memory is
 * written: on error guest memory is untouched, *r is unspecified, and err
 * (if err != NULL and errlen > 0) holds one line, without a newline, that
 * names the offending field and its value. Never prints.
 *
 * Returns 0 on success, or
 *   -ENOEXEC  not a Multiboot image hyve can load: empty file, no (valid)
 *             header in the first 8192 bytes, bad checksum, a required
 *             header flag hyve does not support, not ELF without the a.out
 *             kludge, ELF64, wrong ELF class/data/machine/type;
 *   -EINVAL   inconsistent or out-of-file fields, overlapping segments,
 *             ranges in reserved memory or holes, bad parameters;
 *   -E2BIG    the kernel, its info or its modules run past the end of low
 *             guest RAM but would fit below the MMIO hole: more RAM helps;
 *   -EFAULT   internal: a checked range could not be written (a bug).
 */
int mb_load(const struct guest_mem *m, const struct mb_load_params *p, struct mb_load_result *r,
	    char *err, size_t errlen);

/* The machine state at the kernel's entry (MB sec. 3.2): flat 32-bit CS
 * (selector 0x10) and DS (0x18), CR0.PE (paging off), IF = 0, EIP = entry,
 * EAX = the magic, EBX = multiboot_info. */
void mb_boot_cpu(const struct mb_load_result *r, struct vm_boot_cpu *cpu);

#endif

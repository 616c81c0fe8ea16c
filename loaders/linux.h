/* linux.h: Linux x86 kernel loader (bzImage through the 64-bit boot protocol, ELF vmlinux through PVH) over the checked guest memory accessor.
 *
 * Two image formats, told apart by their bytes (linux_probe):
 *  - bzImage: "HdrS" at 0x202. Follows "THE LINUX/x86 BOOT PROTOCOL"
 *    (Linux Documentation/arch/x86/boot.rst, cited "boot.rst" + section;
 *    struct layouts from arch/x86/include/uapi/asm/bootparam.h and
 *    Documentation/arch/x86/zero-page.rst). Protocol >= 2.12 with
 *    XLF_KERNEL_64 is required: hyve enters the kernel through the "64-bit
 *    Boot Protocol" at load address + 0x200, in long mode, with RSI = the
 *    zero page; the real-mode setup code is never run.
 *  - ELF vmlinux (ELF32 i386 or ELF64 x86-64) with the PVH entry note
 *    XEN_ELFNOTE_PHYS32_ENTRY (type 18, name "Xen") in a PT_NOTE segment:
 *    PT_LOAD segments at p_paddr, struct hvm_start_info version 1 (Xen
 *    xen/include/public/arch-x86/hvm/start_info.h, cited "start_info.h"),
 *    entered in 32-bit protected mode with paging off and EBX = start_info,
 *    as QEMU (hw/i386/x86.c + pvh) and Linux arch/x86/platform/pvh do.
 * An ELF without the note is refused (QEMU tries Multiboot first: callers
 * that want QEMU's order hand an image with a Multiboot header to mb_load).
 *
 * Guest low-memory map (everything below 1 MiB that hyve's Linux boot uses):
 *   [0, 0x7000)            untouched (real-mode IVT and BDA stay zero)
 *   [0x7000, 0x8000)       LINUX_INFO_ADDR: the zero page (struct
 *                          boot_params, 4 KiB) for a bzImage; for PVH the
 *                          hvm_start_info (0x7000), its module list
 *                          (0x7040) and memory map table (0x7080)
 *   [0x8000, 0x9000)       free
 *   [0x9000, 0x10000)      LINUX_TABLES_ADDR: written by
 *                          linux_build_long_mode / linux_build_prot_mode:
 *                          GDT (0x9000), PML4 (0xA000), PDPT (0xB000) and
 *                          four page directories (0xC000-0xFFFF)
 *   [0x10000, 0x20000)     free
 *   [0x20000, 0x30000)     LINUX_CMDLINE_ADDR: the command line (NUL-terminated)
 *   [0x30000, 0x9fc00)     free RAM
 *   [0x9fc00, 0xa0000)     EBDA (reserved in the memory map)
 *   [0xf0000, 0xf8000)     ACPI tables (loaders/acpi.h)
 *   [0xf8000, 0x100000)    MP tables (loaders/mptable.h)
 * Above 1 MiB: the kernel at its preferred address (bzImage: pref_address,
 * normally 16 MiB, with init_size bytes reserved from the runtime start;
 * PVH: the PT_LOAD segments), and the initrd at the top of low RAM, page
 * aligned, below the kernel's initrd_addr_max.
 * [LINUX_BOOT_AREA_START, LINUX_BOOT_AREA_END) is never given to a kernel
 * segment, so the caller may build the tables there after linux_load.
 *
 * Machine state the caller sets before entering (besides the GDT/CR/EFER/
 * segment values that linux_build_* return):
 *  - bzImage (kind LINUX_IMAGE_BZIMAGE; boot.rst "64-bit Boot Protocol"):
 *    RIP = result.entry, RSI = result.rsi (the zero page), every other
 *    general register 0, RFLAGS = 0x2 (IF = 0), long mode from
 *    linux_build_long_mode (identity map of the first 4 GiB covers the
 *    kernel's init_size range, the zero page and the command line).
 *  - PVH (kind LINUX_IMAGE_PVH; start_info.h, register state in Linux
 *    arch/x86/platform/pvh/head.S): EIP = result.entry, EBX = result.rbx
 *    (the hvm_start_info), 32-bit protected mode with paging off from
 *    linux_build_prot_mode (CR0 = PE|ET, CR4 = 0, flat CS/DS/ES/SS, TR a
 *    busy 32-bit TSS with base 0 and limit 0x67), RFLAGS = 0x2.
 * In both cases the LDT is unusable and IDTR may be (0, 0): the kernel
 * loads its own descriptors before it enables interrupts.
 */
#ifndef LOADERS_LINUX_H
#define LOADERS_LINUX_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/gmem.h"
#include "vmm/x86.h"

/* ---- guest-physical placement (see the map above) ---- */
#define LINUX_BOOT_AREA_START 0x7000ULL  /* everything linux_load and linux_build_* write below 1 MiB */
#define LINUX_BOOT_AREA_END 0x30000ULL
#define LINUX_INFO_ADDR 0x7000ULL        /* zero page, or hvm_start_info */
#define LINUX_INFO_SIZE 0x1000ULL
#define LINUX_PVH_MODLIST_ADDR 0x7040ULL /* hvm_modlist_entry[1] when there is an initrd */
#define LINUX_PVH_MEMMAP_ADDR 0x7080ULL  /* hvm_memmap_table_entry[] */
#define LINUX_TABLES_ADDR 0x9000ULL      /* suggested base for linux_build_long_mode/prot_mode */
#define LINUX_CMDLINE_ADDR 0x20000ULL
#define LINUX_CMDLINE_MAX 0x10000ULL     /* bytes reserved for the command line incl. its NUL */
#define LINUX_KERNEL_ADDR 0x1000000ULL   /* load address when pref_address is unusable (16 MiB) */
#define LINUX_INITRD_ALIGN 0x1000ULL

/* ---- struct boot_params, the "zero page" (zero-page.rst, bootparam.h) ---- */
#define LINUX_BP_SIZE 0x1000
#define LINUX_BP_ACPI_RSDP_ADDR 0x070 /* u64 */
#define LINUX_BP_E820_ENTRIES 0x1e8   /* u8 */
#define LINUX_BP_SENTINEL 0x1ef       /* u8, must stay 0 */
#define LINUX_BP_HDR 0x1f1            /* struct setup_header starts here ... */
#define LINUX_BP_HDR_LIMIT 0x290      /* ... and must end by here (edd_mbr_sig_buffer) */
#define LINUX_BP_E820_TABLE 0x2d0     /* struct boot_e820_entry[128] */
#define LINUX_BP_E820_ENTRY_SIZE 20   /* u64 addr, u64 size, u32 type (packed) */
#define LINUX_BP_E820_MAX 128         /* E820_MAX_ENTRIES_ZEROPAGE */

/* setup_header fields (boot.rst "The Real-Mode Kernel Header"): offsets in
 * the image and in the zero page alike. */
#define LINUX_HDR_SETUP_SECTS 0x1f1    /* u8: 0 means 4 */
#define LINUX_HDR_SYSSIZE 0x1f4        /* u32: 16-byte paragraphs of protected-mode code */
#define LINUX_HDR_VID_MODE 0x1fa       /* u16 */
#define LINUX_HDR_BOOT_FLAG 0x1fe      /* u16: 0xAA55 */
#define LINUX_HDR_JUMP 0x200           /* u16: 0xEB, end of header - 0x202 */
#define LINUX_HDR_HEADER 0x202         /* u32: "HdrS" */
#define LINUX_HDR_VERSION 0x206        /* u16 */
#define LINUX_HDR_TYPE_OF_LOADER 0x210 /* u8 */
#define LINUX_HDR_LOADFLAGS 0x211      /* u8 */
#define LINUX_HDR_CODE32_START 0x214   /* u32 */
#define LINUX_HDR_RAMDISK_IMAGE 0x218  /* u32 */
#define LINUX_HDR_RAMDISK_SIZE 0x21c   /* u32 */
#define LINUX_HDR_HEAP_END_PTR 0x224   /* u16 */
#define LINUX_HDR_CMD_LINE_PTR 0x228   /* u32 */
#define LINUX_HDR_INITRD_ADDR_MAX 0x22c /* u32 */
#define LINUX_HDR_KERNEL_ALIGNMENT 0x230 /* u32 */
#define LINUX_HDR_RELOCATABLE 0x234    /* u8 */
#define LINUX_HDR_XLOADFLAGS 0x236     /* u16 */
#define LINUX_HDR_CMDLINE_SIZE 0x238   /* u32 */
#define LINUX_HDR_SETUP_DATA 0x250     /* u64 */
#define LINUX_HDR_PREF_ADDRESS 0x258   /* u64 */
#define LINUX_HDR_INIT_SIZE 0x260      /* u32 */
#define LINUX_HDR_MIN_END 0x264        /* hyve reads every field up to init_size */

#define LINUX_HDRS_MAGIC 0x53726448u   /* "HdrS" */
#define LINUX_BOOT_FLAG 0xAA55u
#define LINUX_MIN_PROTOCOL 0x020cu     /* 2.12: xloadflags */
#define LINUX_LOADER_UNDEFINED 0xffu   /* type_of_loader: "0xFF = undefined" */
#define LINUX_HEAP_END_PTR 0xfe00u     /* heap_end_ptr hyve writes (setup code never runs) */
#define LINUX_LF_LOADED_HIGH 0x01u     /* loadflags bit 0 */
#define LINUX_LF_KEEP_SEGMENTS 0x40u   /* bit 6 (2.07+), "obsolete": only old 32-bit entries read it */
#define LINUX_LF_CAN_USE_HEAP 0x80u    /* bit 7 */
#define LINUX_XLF_KERNEL_64 0x0001u    /* xloadflags bit 0: 64-bit entry at +0x200 */
#define LINUX_XLF_CAN_BE_LOADED_ABOVE_4G 0x0002u
#define LINUX_ENTRY64_OFFSET 0x200u

/* ---- struct hvm_start_info version 1 (start_info.h) ---- */
#define LINUX_PVH_MAGIC 0x336ec578u
#define LINUX_PVH_VERSION 1u
#define LINUX_PVH_START_INFO_SIZE 56
#define LINUX_PVH_MODLIST_ENTRY_SIZE 32 /* paddr, size, cmdline_paddr, reserved */
#define LINUX_PVH_MEMMAP_ENTRY_SIZE 24  /* addr, size, type, reserved */
#define LINUX_PVH_OFF_MAGIC 0
#define LINUX_PVH_OFF_VERSION 4
#define LINUX_PVH_OFF_FLAGS 8
#define LINUX_PVH_OFF_NR_MODULES 12
#define LINUX_PVH_OFF_MODLIST_PADDR 16
#define LINUX_PVH_OFF_CMDLINE_PADDR 24
#define LINUX_PVH_OFF_RSDP_PADDR 32
#define LINUX_PVH_OFF_MEMMAP_PADDR 40
#define LINUX_PVH_OFF_MEMMAP_ENTRIES 48
#define LINUX_XEN_ELFNOTE_PHYS32_ENTRY 18 /* xen/include/public/elfnote.h */

/* Upper bound on ELF PT_LOAD segments with p_memsz > 0 (vmlinux has ~5). */
#define LINUX_MAX_SEGMENTS 32

/* ---- long mode / protected mode set-up (linux_build_*) ---- */
#define LINUX_GDT_OFF 0x0000  /* from base: the GDT (6 entries, 48 bytes) */
#define LINUX_PML4_OFF 0x1000
#define LINUX_PDPT_OFF 0x2000
#define LINUX_PD_OFF 0x3000   /* four page directories of 2 MiB pages: 4 GiB */
#define LINUX_LONG_MODE_SIZE 0x7000
#define LINUX_PROT_MODE_SIZE 0x1000
#define LINUX_GDT_ENTRIES 6
#define LINUX_SEL_CODE32 0x08 /* flat 32-bit code (PVH entry) */
#define LINUX_SEL_CODE64 0x10 /* __BOOT_CS: 64-bit code */
#define LINUX_SEL_DATA 0x18   /* __BOOT_DS: flat data */
#define LINUX_SEL_TSS 0x20    /* TSS, base 0, limit 0x67 (16-byte descriptor) */

enum linux_image_kind {
	LINUX_IMAGE_UNKNOWN = 0,
	LINUX_IMAGE_BZIMAGE = 1, /* entered in 64-bit mode */
	LINUX_IMAGE_PVH = 2,     /* entered in 32-bit protected mode, paging off */
};

struct linux_load_params {
	const void *image; /* the kernel file's bytes */
	size_t image_size;
	const char *cmdline;   /* kernel command line, copied verbatim; NULL means "" */
	const void *initrd;    /* initrd_size bytes; may be NULL when initrd_size is 0 */
	size_t initrd_size;    /* 0: no initrd */
	/* Guest-physical address of the ACPI RSDP (acpi_build's result), or 0.
	 * Passed as boot_params.acpi_rsdp_addr / hvm_start_info.rsdp_paddr;
	 * a kernel that gets 0 scans 0xE0000-0xFFFFF itself. */
	uint64_t rsdp_addr;
};

struct linux_load_result {
	enum linux_image_kind kind;
	uint64_t entry;  /* bzImage: RIP = load address + 0x200; PVH: EIP from the note */
	uint64_t rsi;    /* bzImage: zero page address (LINUX_INFO_ADDR); PVH: 0 */
	uint64_t rbx;    /* PVH: hvm_start_info address (LINUX_INFO_ADDR); bzImage: 0 */
	uint16_t protocol; /* bzImage boot protocol version (e.g. 0x020f); PVH: 0 */
	uint64_t kernel_start, kernel_end; /* [start, end): bzImage: load address to
					    * max(end of file data, runtime start +
					    * init_size); PVH: the PT_LOAD span */
	uint64_t info_start, info_end;     /* zero page, or start_info + modlist + memmap */
	uint64_t cmdline_start, cmdline_end; /* the command line incl. its NUL */
	uint64_t initrd_start, initrd_end; /* both 0 without an initrd */
};

/* Which loader an image is for, from its bytes alone: LINUX_IMAGE_BZIMAGE
 * if "HdrS" is at 0x202, LINUX_IMAGE_PVH if it is an x86 ELF whose PT_NOTE
 * segments hold a well-formed XEN_ELFNOTE_PHYS32_ENTRY note, else
 * LINUX_IMAGE_UNKNOWN. Never fails; validates nothing else (linux_load
 * does). Pure. */
enum linux_image_kind linux_probe(const void *image, size_t size);

/* Loads the Linux kernel p->image into m with its command line and initrd,
 * and writes the zero page (bzImage) or the hvm_start_info (PVH) that
 * describes them and the memory map of m (memmap_build).
 *
 * Every field is validated before any byte of guest memory is written: on
 * error guest memory is untouched, *r is unspecified, and err (if err !=
 * NULL and errlen > 0) holds one line, without a newline, that names the
 * offending field and its value. Never prints.
 *
 * Returns 0 on success, or
 *   -ENOEXEC  not a kernel hyve can boot: empty, neither bzImage nor ELF,
 *             bad boot_flag, protocol older than 2.12, no XLF_KERNEL_64,
 *             no LOADED_HIGH, ELF that is not x86 little-endian ET_EXEC,
 *             ELF without the PVH note;
 *   -EINVAL   inconsistent or out-of-file fields (setup_sects, jump,
 *             syssize, kernel_alignment, pref_address, init_size, ELF
 *             headers and notes), segments overlapping each other or hyve's
 *             boot area, ranges past 4 GiB or in reserved memory, a command
 *             line longer than cmdline_size, bad parameters;
 *   -E2BIG    the kernel or the initrd does not fit in guest RAM, or the
 *             initrd does not fit below initrd_addr_max;
 *   -EFAULT   internal: a checked range could not be written (a bug).
 */
int linux_load(const struct guest_mem *m, const struct linux_load_params *p,
	       struct linux_load_result *r, char *err, size_t errlen);

/* Writes, at base (4 KiB aligned) in guest RAM, a GDT (null, 32-bit code
 * 0x08, 64-bit code 0x10, data 0x18, TSS 0x20) and page tables that
 * identity-map the first 4 GiB with 2 MiB pages (PML4 -> one PDPT -> four
 * page directories; MMIO hole included, as the 64-bit boot protocol only
 * needs an identity map), and fills the boot CPU *st for 64-bit mode (all
 * but RIP/RBX/RSI, which come from linux_load, zeroed): CR0 = PE|ET|PG,
 * CR3 = base + LINUX_PML4_OFF, CR4 = PAE, EFER = LME|LMA, CS = 0x10 (L=1),
 * DS = 0x18, TR = 0x20 (busy 64-bit TSS, base 0, limit 0x67).
 * Uses [base, base + LINUX_LONG_MODE_SIZE). Returns 0, -EINVAL if base is
 * not page aligned or the range crosses 4 GiB, -EFAULT if it is not RAM
 * (guest memory untouched on error). */
int linux_build_long_mode(const struct guest_mem *m, uint64_t base, struct vm_boot_cpu *st);

/* Writes the same GDT at base and fills *st for the PVH entry
 * (start_info.h): CR0 = PE|ET, CR3 = CR4 = EFER = 0, CS = 0x08 (32-bit),
 * DS = 0x18, TR = 0x20 (busy 32-bit TSS, base 0, limit 0x67).
 * Uses [base, base + LINUX_PROT_MODE_SIZE). Errors as linux_build_long_mode. */
int linux_build_prot_mode(const struct guest_mem *m, uint64_t base, struct vm_boot_cpu *st);

#endif

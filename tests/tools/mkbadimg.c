/* mkbadimg.c: host tool writing malformed kernels (and two tiny PVH ones) for hyve's command-line error tests.
 *
 * Usage: mkbadimg OUTDIR      (OUTDIR must exist; prints nothing on success)
 *
 * Files written, and the one error line loaders/multiboot.c gives for each
 * (hyve may prefix it):
 *   empty          0 bytes.
 *                  "kernel image is empty (0 bytes)"
 *   bad-elf        ELF32 header + valid multiboot header, but the program
 *                  header table (e_phoff 0x40, e_phnum 4) is cut by the end
 *                  of the 0x68-byte file.
 *                  "ELF header: e_phoff 0x40 + e_phnum 4 * e_phentsize 32 runs
 *                   past the end of the file (0x68 bytes)"
 *   no-mbheader    valid ELF32 i386 executable with no multiboot header.
 *                  "no multiboot header in the first 8192 bytes"
 *   bad-checksum   valid multiboot ELF whose header checksum is 0.
 *                  "multiboot header at offset 0x54: checksum 0x00000000 does
 *                   not match magic+flags (want 0xe4524ffb)"
 *   bad-flags      valid multiboot ELF whose header sets required flag bit 3.
 *                  "multiboot header: flags 0x0000000b sets required bit 3
 *                   that hyve does not support"
 *   elf64          ELF64 x86-64 executable with a valid multiboot header.
 *                  "image is ELF64 (e_ident[EI_CLASS] 2); multiboot needs a
 *                   32-bit image"
 *   aout-bad-load  a.out kludge header whose load_addr (0x100100) is above
 *                  its header_addr (0x100000).
 *                  "multiboot header: load_addr 0x100100 is above header_addr
 *                   0x100000"
 *   too-big        valid multiboot ELF, one PT_LOAD at 1 MiB with p_memsz
 *                  64 MiB: fails with any -m below 65 MiB (-E2BIG), e.g. 8 MiB:
 *                  "ELF program header 0: p_paddr 0x100000 + p_memsz 0x4000000
 *                   is not in guest RAM (guest low RAM ends at 0x800000)"
 *                  (hyve adds the smallest --memory that fits: 66M)
 *   pvh            a valid Linux vmlinux as far as the loader sees: ELF64
 *                  with a PVH entry note and one PT_LOAD at 1 MiB (HLT).
 *   pvh-big        the same with p_memsz 64 MiB (needs --memory 65M or more).
 *   huge           as too-big with p_memsz 0xc0000000: fails with any RAM size
 *                  (ends past the 3 GiB MMIO hole; -EINVAL), e.g. with 8 MiB:
 *                  "ELF program header 0: p_paddr 0x100000 + p_memsz 0xc0000000
 *                   is not in guest RAM (guest low RAM ends at 0x800000)"
 * The quoted lines above are wrapped; each is one line in hyve's output.
 */
#include <elf.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MB_MAGIC 0x1BADB002u
#define IMG_SIZE 0x1100 /* ELF header, program headers, one page of text */
#define TEXT_OFF 0x1000
#define LOAD_ADDR 0x100000u

static void put16(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *b, uint32_t v)
{
	put16(b, v);
	put16(b + 2, v >> 16);
}

static void put64(uint8_t *b, uint64_t v)
{
	put32(b, (uint32_t)v);
	put32(b + 4, (uint32_t)(v >> 32));
}

/* Multiboot header (magic, flags, checksum) at b; checksum as given. */
static void mb_header(uint8_t *b, uint32_t flags, uint32_t checksum)
{
	put32(b, MB_MAGIC);
	put32(b + 4, flags);
	put32(b + 8, checksum);
}

static uint32_t mb_checksum(uint32_t flags)
{
	return 0u - MB_MAGIC - flags;
}

/* ELF32 i386 executable, one PT_LOAD of p_memsz memsz at 1 MiB holding
 * "cli; hlt; jmp .-1", a multiboot header right after the program header
 * (offset 0x54) unless mb_flags is UINT32_MAX. Returns the file size. */
static size_t elf32(uint8_t *b, uint32_t memsz, uint32_t mb_flags, uint32_t checksum)
{
	static const uint8_t code[] = {0xfa, 0xf4, 0xeb, 0xfd};
	memcpy(b, ELFMAG, SELFMAG);
	b[EI_CLASS] = ELFCLASS32;
	b[EI_DATA] = ELFDATA2LSB;
	b[EI_VERSION] = EV_CURRENT;
	put16(b + offsetof(Elf32_Ehdr, e_type), ET_EXEC);
	put16(b + offsetof(Elf32_Ehdr, e_machine), EM_386);
	put32(b + offsetof(Elf32_Ehdr, e_version), EV_CURRENT);
	put32(b + offsetof(Elf32_Ehdr, e_entry), LOAD_ADDR);
	put32(b + offsetof(Elf32_Ehdr, e_phoff), sizeof(Elf32_Ehdr));
	put16(b + offsetof(Elf32_Ehdr, e_ehsize), sizeof(Elf32_Ehdr));
	put16(b + offsetof(Elf32_Ehdr, e_phentsize), sizeof(Elf32_Phdr));
	put16(b + offsetof(Elf32_Ehdr, e_phnum), 1);
	uint8_t *ph = b + sizeof(Elf32_Ehdr);
	put32(ph + offsetof(Elf32_Phdr, p_type), PT_LOAD);
	put32(ph + offsetof(Elf32_Phdr, p_offset), TEXT_OFF);
	put32(ph + offsetof(Elf32_Phdr, p_vaddr), LOAD_ADDR);
	put32(ph + offsetof(Elf32_Phdr, p_paddr), LOAD_ADDR);
	put32(ph + offsetof(Elf32_Phdr, p_filesz), IMG_SIZE - TEXT_OFF);
	put32(ph + offsetof(Elf32_Phdr, p_memsz), memsz);
	put32(ph + offsetof(Elf32_Phdr, p_flags), PF_R | PF_X);
	put32(ph + offsetof(Elf32_Phdr, p_align), 0x1000);
	if (mb_flags != UINT32_MAX)
		mb_header(ph + sizeof(Elf32_Phdr), mb_flags, checksum);
	memcpy(b + TEXT_OFF, code, sizeof(code));
	return IMG_SIZE;
}

/* ELF64 x86-64 executable with one PT_LOAD and a valid multiboot header. */
static size_t elf64(uint8_t *b)
{
	memcpy(b, ELFMAG, SELFMAG);
	b[EI_CLASS] = ELFCLASS64;
	b[EI_DATA] = ELFDATA2LSB;
	b[EI_VERSION] = EV_CURRENT;
	put16(b + offsetof(Elf64_Ehdr, e_type), ET_EXEC);
	put16(b + offsetof(Elf64_Ehdr, e_machine), EM_X86_64);
	put32(b + offsetof(Elf64_Ehdr, e_version), EV_CURRENT);
	put64(b + offsetof(Elf64_Ehdr, e_entry), LOAD_ADDR);
	put64(b + offsetof(Elf64_Ehdr, e_phoff), sizeof(Elf64_Ehdr));
	put16(b + offsetof(Elf64_Ehdr, e_ehsize), sizeof(Elf64_Ehdr));
	put16(b + offsetof(Elf64_Ehdr, e_phentsize), sizeof(Elf64_Phdr));
	put16(b + offsetof(Elf64_Ehdr, e_phnum), 1);
	uint8_t *ph = b + sizeof(Elf64_Ehdr);
	put32(ph + offsetof(Elf64_Phdr, p_type), PT_LOAD);
	put32(ph + offsetof(Elf64_Phdr, p_flags), PF_R | PF_X);
	put64(ph + offsetof(Elf64_Phdr, p_offset), TEXT_OFF);
	put64(ph + offsetof(Elf64_Phdr, p_vaddr), LOAD_ADDR);
	put64(ph + offsetof(Elf64_Phdr, p_paddr), LOAD_ADDR);
	put64(ph + offsetof(Elf64_Phdr, p_filesz), IMG_SIZE - TEXT_OFF);
	put64(ph + offsetof(Elf64_Phdr, p_memsz), IMG_SIZE - TEXT_OFF);
	put64(ph + offsetof(Elf64_Phdr, p_align), 0x1000);
	mb_header(ph + sizeof(Elf64_Phdr), 0x3, mb_checksum(0x3));
	b[TEXT_OFF] = 0xf4;
	return IMG_SIZE;
}

/* ELF64 x86-64 vmlinux with a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY, type
 * 18, name "Xen") and one PT_LOAD of memsz bytes at LOAD_ADDR: HLT. */
static size_t pvh_elf64(uint8_t *b, uint64_t memsz)
{
	elf64(b);
	memset(b + sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr), 0, sizeof(Elf64_Phdr) + 12); /* no multiboot header */
	put16(b + offsetof(Elf64_Ehdr, e_phnum), 2);
	uint8_t *load = b + sizeof(Elf64_Ehdr), *note = load + sizeof(Elf64_Phdr);
	put64(load + offsetof(Elf64_Phdr, p_memsz), memsz);
	uint64_t off = sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr);
	put32(note + offsetof(Elf64_Phdr, p_type), PT_NOTE);
	put32(note + offsetof(Elf64_Phdr, p_flags), PF_R);
	put64(note + offsetof(Elf64_Phdr, p_offset), off);
	put64(note + offsetof(Elf64_Phdr, p_filesz), 20);
	put64(note + offsetof(Elf64_Phdr, p_memsz), 20);
	put64(note + offsetof(Elf64_Phdr, p_align), 4);
	put32(b + off, 4);       /* namesz */
	put32(b + off + 4, 4);   /* descsz */
	put32(b + off + 8, 18);  /* type: XEN_ELFNOTE_PHYS32_ENTRY */
	memcpy(b + off + 12, "Xen", 4);
	put32(b + off + 16, LOAD_ADDR);
	return IMG_SIZE;
}

/* ELF32 header claiming 4 program headers at 0x40 in a 0x68-byte file. */
static size_t bad_elf(uint8_t *b)
{
	elf32(b, IMG_SIZE - TEXT_OFF, UINT32_MAX, 0);
	memset(b + sizeof(Elf32_Ehdr), 0, IMG_SIZE - sizeof(Elf32_Ehdr));
	mb_header(b + sizeof(Elf32_Ehdr), 0x3, mb_checksum(0x3)); /* 0x34..0x40 */
	put32(b + offsetof(Elf32_Ehdr, e_phoff), 0x40);
	put16(b + offsetof(Elf32_Ehdr, e_phnum), 4);
	return 0x68;
}

/* a.out kludge image: header at offset 0 with load_addr above header_addr. */
static size_t aout_bad_load(uint8_t *b)
{
	uint32_t flags = 1u << 16 | 0x3;
	mb_header(b, flags, mb_checksum(flags));
	put32(b + 12, LOAD_ADDR);         /* header_addr */
	put32(b + 16, LOAD_ADDR + 0x100); /* load_addr */
	put32(b + 20, 0);                 /* load_end_addr: whole file */
	put32(b + 24, 0);                 /* bss_end_addr: none */
	put32(b + 28, LOAD_ADDR + 0x100); /* entry_addr */
	return 0x200;
}

static int write_file(const char *dir, const char *name, const uint8_t *b, size_t n)
{
	char path[4096];
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
		fprintf(stderr, "mkbadimg: path too long: %s/%s\n", dir, name);
		return -1;
	}
	FILE *f = fopen(path, "wb");
	if (!f) {
		fprintf(stderr, "mkbadimg: %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t w = n ? fwrite(b, 1, n, f) : 0;
	int rc = fclose(f);
	if (w != n || rc != 0) {
		fprintf(stderr, "mkbadimg: %s: write failed: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: mkbadimg OUTDIR\n");
		return 2;
	}
	const char *dir = argv[1];
	uint8_t *b = malloc(IMG_SIZE);
	if (!b) {
		fprintf(stderr, "mkbadimg: out of memory\n");
		return 1;
	}
	int rc = 0;
	size_t n;

#define EMIT(name, expr)                                                                           \
	do {                                                                                       \
		memset(b, 0, IMG_SIZE);                                                            \
		n = (expr);                                                                        \
		if (write_file(dir, name, b, n))                                                   \
			rc = 1;                                                                    \
	} while (0)

	EMIT("empty", 0);
	EMIT("bad-elf", bad_elf(b));
	EMIT("no-mbheader", elf32(b, IMG_SIZE - TEXT_OFF, UINT32_MAX, 0));
	EMIT("bad-checksum", elf32(b, IMG_SIZE - TEXT_OFF, 0x3, 0));
	EMIT("bad-flags", elf32(b, IMG_SIZE - TEXT_OFF, 0xb, mb_checksum(0xb)));
	EMIT("elf64", elf64(b));
	EMIT("aout-bad-load", aout_bad_load(b));
	EMIT("too-big", elf32(b, 64u << 20, 0x3, mb_checksum(0x3)));
	EMIT("huge", elf32(b, 0xc0000000u, 0x3, mb_checksum(0x3)));
	EMIT("pvh", pvh_elf64(b, IMG_SIZE - TEXT_OFF));
	EMIT("pvh-big", pvh_elf64(b, 64u << 20));
#undef EMIT

	free(b);
	return rc;
}

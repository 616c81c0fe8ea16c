/* test_fwcfg.c: fw_cfg items, port decoding and the file directory, as a guest sees them. */
#include <errno.h>
#include <string.h>

#include "devices/fwcfg.h"
#include "tests/unit/tap.h"

/* What a guest does: outw(0x510, key). */
static void sel(struct fwcfg *fw, uint16_t key)
{
	fwcfg_io_write(fw, FWCFG_OFF_SELECTOR, 2, key);
}

/* What a guest does: n times inb(0x511). */
static void rd(struct fwcfg *fw, void *dst, size_t n)
{
	uint8_t *p = dst;
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)fwcfg_io_read(fw, FWCFG_OFF_DATA, 1);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

int main(void)
{
	struct fwcfg fw;
	uint8_t b[64];

	CHECK_EQ(fwcfg_init(&fw), 0, "fwcfg_init");

	/* Signature is selected at reset and readable at once. */
	rd(&fw, b, 4);
	CHECK(memcmp(b, "QEMU", 4) == 0, "signature selected after init");
	sel(&fw, FW_CFG_SIGNATURE);
	rd(&fw, b, 6);
	CHECK(memcmp(b, "QEMU\0\0", 6) == 0, "signature, then 0 past the end");
	sel(&fw, FW_CFG_ID);
	rd(&fw, b, 4);
	CHECK(b[0] == 1 && b[1] == 0 && b[2] == 0 && b[3] == 0, "ID = 1 (traditional, no DMA bit), LE u32");

	/* Little-endian helpers, read bytewise. */
	CHECK_EQ(fwcfg_add_u16(&fw, FW_CFG_NB_CPUS, 0x0304), 0, "add NB_CPUS");
	CHECK_EQ(fwcfg_add_u64(&fw, FW_CFG_RAM_SIZE, 0x1122334455667788ULL), 0, "add RAM_SIZE");
	CHECK_EQ(fwcfg_add_u32(&fw, FW_CFG_CMDLINE_SIZE, 6), 0, "add CMDLINE_SIZE");
	CHECK_EQ(fwcfg_add_string(&fw, FW_CFG_CMDLINE_DATA, "quiet"), 0, "add CMDLINE_DATA");
	sel(&fw, FW_CFG_NB_CPUS);
	rd(&fw, b, 3);
	CHECK(b[0] == 0x04 && b[1] == 0x03 && b[2] == 0, "u16 little-endian, then 0");
	sel(&fw, FW_CFG_RAM_SIZE);
	rd(&fw, b, 8);
	CHECK(b[0] == 0x88 && b[3] == 0x55 && b[7] == 0x11, "u64 little-endian");
	sel(&fw, FW_CFG_CMDLINE_DATA);
	rd(&fw, b, 6);
	CHECK(memcmp(b, "quiet", 6) == 0, "string item includes its NUL");

	/* Selector resets the offset, even to the same key. */
	sel(&fw, FW_CFG_RAM_SIZE);
	rd(&fw, b, 3);
	sel(&fw, FW_CFG_RAM_SIZE);
	rd(&fw, b, 1);
	CHECK_EQ(b[0], 0x88, "re-selecting rewinds to byte 0");

	/* Past the end, missing and invalid keys read 0. */
	sel(&fw, FW_CFG_NB_CPUS);
	rd(&fw, b, 2);
	memset(b, 0xaa, 8);
	rd(&fw, b, 8);
	CHECK(b[0] == 0 && b[7] == 0, "reads past the end return 0");
	sel(&fw, FW_CFG_UUID);
	memset(b, 0xaa, 4);
	rd(&fw, b, 4);
	CHECK(b[0] == 0 && b[3] == 0, "missing key reads 0");
	sel(&fw, 0x3fff);
	memset(b, 0xaa, 2);
	rd(&fw, b, 2);
	CHECK(b[0] == 0 && b[1] == 0, "key beyond the table reads 0");
	sel(&fw, FW_CFG_WRITE_CHANNEL | FW_CFG_NB_CPUS);
	rd(&fw, b, 1);
	CHECK_EQ(b[0], 0x04, "write-channel bit is ignored on select (QEMU masks it)");

	/* Port decoding quirks (QEMU comb region). */
	sel(&fw, FW_CFG_SIGNATURE);
	CHECK_EQ(fwcfg_io_read(&fw, FWCFG_OFF_SELECTOR, 1), 'Q', "inb(0x510) reads data too");
	CHECK_EQ(fwcfg_io_read(&fw, FWCFG_OFF_DATA, 2), 0, "16-bit read refused: 0...");
	CHECK_EQ(fwcfg_io_read(&fw, FWCFG_OFF_DATA, 1), 'E', "...and does not advance");
	CHECK_EQ(fwcfg_io_read(&fw, FWCFG_OFF_DATA, 4), 0, "32-bit read refused");
	fwcfg_io_write(&fw, FWCFG_OFF_DATA, 1, 0x55);
	fwcfg_io_write(&fw, FWCFG_OFF_SELECTOR, 1, FW_CFG_ID);
	CHECK_EQ(fwcfg_io_read(&fw, FWCFG_OFF_DATA, 1), 'M', "byte writes neither select nor write");
	fwcfg_io_write(&fw, FWCFG_OFF_SELECTOR, 4, FW_CFG_ID);
	CHECK_EQ(fwcfg_io_read(&fw, FWCFG_OFF_DATA, 1), 'U', "32-bit write does not select");
	CHECK_EQ(fwcfg_io_read(&fw, 7, 1), 0, "offset outside the range reads 0");

	/* Item store errors. */
	CHECK_EQ(fwcfg_add_u16(&fw, FW_CFG_NB_CPUS, 1), -EEXIST, "duplicate key rejected");
	CHECK_EQ(fwcfg_add_u16(&fw, FW_CFG_FILE_DIR, 1), -EINVAL, "FILE_DIR is not a plain item");
	CHECK_EQ(fwcfg_add_u16(&fw, FW_CFG_FILE_FIRST, 1), -EINVAL, "file keys are not plain items");
	CHECK_EQ(fwcfg_add_u16(&fw, FW_CFG_WRITE_CHANNEL | 5, 1), -EINVAL, "write-channel key rejected");
	CHECK_EQ(fwcfg_add_u16(&fw, FWCFG_MAX_ENTRY, 1), -EINVAL, "key beyond table rejected");
	CHECK_EQ(fwcfg_add_bytes(&fw, FW_CFG_UUID, NULL, 16), -EINVAL, "NULL data rejected");
	CHECK_EQ(fwcfg_add_bytes(&fw, FW_CFG_NUMA, NULL, 0), 0, "empty item accepted");
	CHECK_EQ(fwcfg_add_u32(&fw, FW_CFG_ARCH_LOCAL | 3, 0xa1b2c3d4), 0, "arch-local key accepted");
	CHECK_EQ(fwcfg_add_u16(&fw, 3, 0x0707), -EEXIST, "plain key 3 (RAM_SIZE) taken");
	sel(&fw, FW_CFG_ARCH_LOCAL | 3);
	rd(&fw, b, 1);
	CHECK_EQ(b[0], 0xd4, "arch-local table is separate");

	/* Files: keys from 0x20, directory sorted by name like QEMU. */
	static const uint8_t e820[20] = {1, 2, 3};
	CHECK_EQ(fwcfg_file_key(&fw, "etc/e820"), -ENOENT, "no file yet");
	sel(&fw, FW_CFG_FILE_DIR);
	rd(&fw, b, 4);
	CHECK_EQ(be32(b), 0, "empty directory readable with count 0");
	CHECK_EQ(fwcfg_add_file(&fw, "etc/e820", e820, sizeof(e820)), 0, "add etc/e820");
	CHECK_EQ(fwcfg_file_key(&fw, "etc/e820"), FW_CFG_FILE_FIRST, "first file gets key 0x20");
	CHECK_EQ(fwcfg_add_file(&fw, "bootorder", "x", 1), 0, "add bootorder");
	CHECK_EQ(fwcfg_add_file(&fw, "etc/acpi/tables", "tbl", 3), 0, "add etc/acpi/tables");
	CHECK_EQ(fwcfg_add_file(&fw, "zzz", NULL, 0), 0, "add empty file");
	CHECK_EQ(fwcfg_file_key(&fw, "bootorder"), 0x20, "bootorder sorts first");
	CHECK_EQ(fwcfg_file_key(&fw, "etc/acpi/tables"), 0x21, "etc/acpi/tables second");
	CHECK_EQ(fwcfg_file_key(&fw, "etc/e820"), 0x22, "etc/e820 renumbered to third");
	CHECK_EQ(fwcfg_file_key(&fw, "zzz"), 0x23, "zzz last");

	sel(&fw, FW_CFG_FILE_DIR);
	uint8_t dir[4 + 4 * FWCFG_DIR_ENTRY_SIZE];
	rd(&fw, dir, sizeof(dir));
	CHECK_EQ(be32(dir), 4, "directory count, big-endian");
	const char *want[4] = {"bootorder", "etc/acpi/tables", "etc/e820", "zzz"};
	const uint32_t wsize[4] = {1, 3, sizeof(e820), 0};
	unsigned okdir = 1;
	for (unsigned i = 0; i < 4; i++) {
		const uint8_t *e = dir + 4 + i * FWCFG_DIR_ENTRY_SIZE;
		if (be32(e) != wsize[i] || be16(e + 4) != 0x20 + i || be16(e + 6) != 0 ||
		    strcmp((const char *)e + 8, want[i]) != 0)
			okdir = 0;
	}
	CHECK(okdir, "entries: be32 size, be16 select, reserved 0, name; sorted");
	uint16_t key = 0;
	for (unsigned i = 0; i < 4; i++)
		if (strcmp((const char *)dir + 4 + i * FWCFG_DIR_ENTRY_SIZE + 8, "etc/e820") == 0)
			key = be16(dir + 4 + i * FWCFG_DIR_ENTRY_SIZE + 4);
	sel(&fw, key);
	rd(&fw, b, sizeof(e820) + 1);
	CHECK(memcmp(b, e820, sizeof(e820)) == 0 && b[sizeof(e820)] == 0,
	      "file found through the directory reads its contents");
	sel(&fw, FW_CFG_FILE_DIR);
	unsigned dirlen = 0;
	for (unsigned i = 0; i < FWCFG_DIR_SIZE + 8; i++) {
		(void)fwcfg_io_read(&fw, FWCFG_OFF_DATA, 1);
		dirlen++;
	}
	CHECK_EQ(dirlen, FWCFG_DIR_SIZE + 8, "reading past the directory end is harmless");

	/* File errors. */
	CHECK_EQ(fwcfg_add_file(&fw, "etc/e820", "y", 1), -EEXIST, "duplicate file name rejected");
	char longname[FW_CFG_MAX_FILE_PATH + 1];
	memset(longname, 'a', FW_CFG_MAX_FILE_PATH);
	longname[FW_CFG_MAX_FILE_PATH] = '\0';
	CHECK_EQ(fwcfg_add_file(&fw, longname, "y", 1), -ENAMETOOLONG, "56-char name rejected");
	longname[FW_CFG_MAX_FILE_PATH - 1] = '\0';
	CHECK_EQ(fwcfg_add_file(&fw, longname, "y", 1), 0, "55-char name accepted");
	CHECK_EQ(fwcfg_add_file(&fw, "", "y", 1), -EINVAL, "empty name rejected");
	CHECK_EQ(fwcfg_add_file(&fw, NULL, "y", 1), -EINVAL, "NULL name rejected");
	CHECK_EQ(fwcfg_add_file(&fw, "n", NULL, 1), -EINVAL, "NULL data rejected");
	int err = 0;
	unsigned added = 0;
	for (unsigned i = 0; i < FWCFG_FILE_SLOTS + 2 && !err; i++) {
		char n[16];
		snprintf(n, sizeof(n), "f%02u", i);
		err = fwcfg_add_file(&fw, n, &i, sizeof(i));
		if (!err)
			added++;
	}
	CHECK_EQ(err, -ENOSPC, "directory full: -ENOSPC");
	CHECK_EQ(added, FWCFG_FILE_SLOTS - 5, "exactly FWCFG_FILE_SLOTS files fit");
	sel(&fw, FW_CFG_FILE_DIR);
	rd(&fw, b, 4);
	CHECK_EQ(be32(b), FWCFG_FILE_SLOTS, "full directory count");
	sel(&fw, (uint16_t)(FW_CFG_FILE_FIRST + FWCFG_FILE_SLOTS - 1));
	rd(&fw, b, 1);
	CHECK_EQ(b[0], 0, "last slot holds the empty zzz file");
	/* Random guest traffic on the ports never crashes or reads stray memory. */
	unsigned seed = 777;
	for (unsigned i = 0; i < 100000; i++) {
		seed = seed * 1103515245u + 12345u;
		unsigned size = 1u << ((seed >> 10) % 3), off = (seed >> 13) % 3;
		if ((seed >> 20) & 1)
			fwcfg_io_write(&fw, off, size, seed >> 8);
		else
			(void)fwcfg_io_read(&fw, off, size);
	}
	CHECK(1, "random port traffic survived");
	fwcfg_destroy(&fw);

	/* A second device in the same process starts clean. */
	struct fwcfg fw2;
	CHECK_EQ(fwcfg_init(&fw2), 0, "second instance");
	CHECK_EQ(fwcfg_file_key(&fw2, "etc/e820"), -ENOENT, "instances share nothing");
	fwcfg_destroy(&fw2);

	return tap_done();
}

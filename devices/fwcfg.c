/* fwcfg.c: QEMU fw_cfg item store, file directory and port-I/O decoding (devices/fwcfg.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"
#include "devices/fwcfg.h"

/* Directory layout (QEMU FWCfgFiles / FWCfgFile, all big-endian). */
#define DIR_COUNT_SIZE 4
#define DIRENT_OFF_SIZE 0
#define DIRENT_OFF_SELECT 4
#define DIRENT_OFF_NAME 8

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint8_t *dirent(struct fwcfg *fw, uint32_t i)
{
	return fw->dir + DIR_COUNT_SIZE + (size_t)i * FWCFG_DIR_ENTRY_SIZE;
}

static const char *dirent_name(struct fwcfg *fw, uint32_t i)
{
	return (const char *)dirent(fw, i) + DIRENT_OFF_NAME;
}

/* Copies len bytes into a new buffer (NULL for len 0). -ENOMEM/-E2BIG/-EINVAL. */
static int dup_data(const void *data, size_t len, uint8_t **out)
{
	*out = NULL;
	if (len >= UINT32_MAX) /* QEMU asserts len < UINT32_MAX */
		return -E2BIG;
	if (len == 0)
		return 0;
	if (!data)
		return -EINVAL;
	*out = malloc(len);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, data, len);
	return 0;
}

int fwcfg_init(struct fwcfg *fw)
{
	memset(fw, 0, sizeof(*fw));
	int err = pthread_mutex_init(&fw->lock, NULL);
	if (err)
		return -err;
	/* QEMU fw_cfg_common_realize: signature and feature bitmap (no DMA). */
	err = fwcfg_add_bytes(fw, FW_CFG_SIGNATURE, "QEMU", 4);
	if (!err)
		err = fwcfg_add_u32(fw, FW_CFG_ID, FW_CFG_VERSION);
	if (err) {
		fwcfg_destroy(fw);
		return err;
	}
	fwcfg_select(fw, FW_CFG_SIGNATURE); /* QEMU fw_cfg_reset */
	return 0;
}

void fwcfg_destroy(struct fwcfg *fw)
{
	for (unsigned a = 0; a < 2; a++)
		for (unsigned k = 0; k < FWCFG_MAX_ENTRY; k++) {
			free(fw->items[a][k].data);
			fw->items[a][k] = (struct fwcfg_item){0};
		}
	pthread_mutex_destroy(&fw->lock);
}

int fwcfg_add_bytes(struct fwcfg *fw, uint16_t key, const void *data, size_t len)
{
	unsigned arch = (key & FW_CFG_ARCH_LOCAL) ? 1 : 0;
	unsigned idx = key & FW_CFG_ENTRY_MASK;
	if ((key & FW_CFG_WRITE_CHANNEL) || idx >= FWCFG_MAX_ENTRY)
		return -EINVAL;
	if (!arch && (idx == FW_CFG_FILE_DIR || idx >= FW_CFG_FILE_FIRST))
		return -EINVAL;

	uint8_t *copy;
	int err = dup_data(data, len, &copy);
	if (err)
		return err;
	pthread_mutex_lock(&fw->lock);
	struct fwcfg_item *it = &fw->items[arch][idx];
	if (it->present) {
		err = -EEXIST;
	} else {
		it->data = copy;
		it->len = (uint32_t)len;
		it->present = true;
		copy = NULL;
	}
	pthread_mutex_unlock(&fw->lock);
	free(copy);
	return err;
}

int fwcfg_add_u16(struct fwcfg *fw, uint16_t key, uint16_t value)
{
	uint8_t b[2] = {(uint8_t)value, (uint8_t)(value >> 8)};
	return fwcfg_add_bytes(fw, key, b, sizeof(b));
}

int fwcfg_add_u32(struct fwcfg *fw, uint16_t key, uint32_t value)
{
	uint8_t b[4];
	for (unsigned i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)(value >> (8 * i));
	return fwcfg_add_bytes(fw, key, b, sizeof(b));
}

int fwcfg_add_u64(struct fwcfg *fw, uint16_t key, uint64_t value)
{
	uint8_t b[8];
	for (unsigned i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)(value >> (8 * i));
	return fwcfg_add_bytes(fw, key, b, sizeof(b));
}

int fwcfg_add_string(struct fwcfg *fw, uint16_t key, const char *str)
{
	if (!str)
		return -EINVAL;
	return fwcfg_add_bytes(fw, key, str, strlen(str) + 1);
}

int fwcfg_add_file(struct fwcfg *fw, const char *name, const void *data, size_t len)
{
	if (!name || !name[0])
		return -EINVAL;
	size_t nlen = strnlen(name, FW_CFG_MAX_FILE_PATH);
	if (nlen >= FW_CFG_MAX_FILE_PATH)
		return -ENAMETOOLONG;

	uint8_t *copy;
	int err = dup_data(data, len, &copy);
	if (err)
		return err;
	pthread_mutex_lock(&fw->lock);
	uint32_t n = fw->nfiles;
	for (uint32_t i = 0; i < n; i++)
		if (strcmp(dirent_name(fw, i), name) == 0) {
			err = -EEXIST;
			goto out;
		}
	if (n >= FWCFG_FILE_SLOTS) {
		err = -ENOSPC;
		goto out;
	}
	/* QEMU fw_cfg_add_file_callback, non-legacy order: insert sorted by
	 * name, moving later files (and their items) up one key. */
	uint32_t pos = n;
	while (pos > 0 && strcmp(name, dirent_name(fw, pos - 1)) < 0)
		pos--;
	for (uint32_t i = n; i > pos; i--) {
		memcpy(dirent(fw, i), dirent(fw, i - 1), FWCFG_DIR_ENTRY_SIZE);
		put_be16(dirent(fw, i) + DIRENT_OFF_SELECT, (uint16_t)(FW_CFG_FILE_FIRST + i));
		fw->items[0][FW_CFG_FILE_FIRST + i] = fw->items[0][FW_CFG_FILE_FIRST + i - 1];
	}
	uint8_t *e = dirent(fw, pos);
	memset(e, 0, FWCFG_DIR_ENTRY_SIZE);
	put_be32(e + DIRENT_OFF_SIZE, (uint32_t)len);
	put_be16(e + DIRENT_OFF_SELECT, (uint16_t)(FW_CFG_FILE_FIRST + pos));
	memcpy(e + DIRENT_OFF_NAME, name, nlen);
	fw->items[0][FW_CFG_FILE_FIRST + pos] =
		(struct fwcfg_item){.data = copy, .len = (uint32_t)len, .present = true};
	copy = NULL;
	fw->nfiles = n + 1;
	put_be32(fw->dir, fw->nfiles);
out:
	pthread_mutex_unlock(&fw->lock);
	free(copy);
	return err;
}

int fwcfg_file_key(struct fwcfg *fw, const char *name)
{
	int key = -ENOENT;
	if (!name)
		return key;
	pthread_mutex_lock(&fw->lock);
	for (uint32_t i = 0; i < fw->nfiles; i++)
		if (strncmp(dirent_name(fw, i), name, FW_CFG_MAX_FILE_PATH) == 0) {
			key = (int)(FW_CFG_FILE_FIRST + i);
			break;
		}
	pthread_mutex_unlock(&fw->lock);
	return key;
}

static void select_locked(struct fwcfg *fw, uint16_t key)
{
	fw->cur_off = 0;
	fw->cur_key = key;
	fw->cur_valid = (key & FW_CFG_ENTRY_MASK) < FWCFG_MAX_ENTRY; /* QEMU fw_cfg_select */
}

void fwcfg_select(struct fwcfg *fw, uint16_t key)
{
	pthread_mutex_lock(&fw->lock);
	select_locked(fw, key);
	pthread_mutex_unlock(&fw->lock);
}

/* Next byte of the selected item, 0 past its end or if there is none. */
static uint8_t data_read_locked(struct fwcfg *fw)
{
	if (!fw->cur_valid)
		return 0;
	unsigned arch = (fw->cur_key & FW_CFG_ARCH_LOCAL) ? 1 : 0;
	unsigned idx = fw->cur_key & FW_CFG_ENTRY_MASK;
	const uint8_t *data;
	uint32_t len;
	if (!arch && idx == FW_CFG_FILE_DIR) {
		data = fw->dir;
		len = FWCFG_DIR_SIZE;
	} else {
		data = fw->items[arch][idx].data;
		len = fw->items[arch][idx].len;
	}
	if (!data || fw->cur_off >= len)
		return 0;
	return data[fw->cur_off++];
}

uint32_t fwcfg_io_read(struct fwcfg *fw, unsigned offset, unsigned size)
{
	/* QEMU fw_cfg_comb_valid: only byte reads; the comb read ignores offset. */
	if (size != 1 || offset >= FWCFG_IO_LEN)
		return 0;
	pthread_mutex_lock(&fw->lock);
	uint8_t v = data_read_locked(fw);
	pthread_mutex_unlock(&fw->lock);
	return v;
}

void fwcfg_io_write(struct fwcfg *fw, unsigned offset, unsigned size, uint32_t value)
{
	/* QEMU fw_cfg_comb_write: a 16-bit write selects, a byte write is the
	 * removed data write. The 16-bit register lives at the selector only. */
	if (size == 2 && offset == FWCFG_OFF_SELECTOR)
		fwcfg_select(fw, (uint16_t)value);
}

/* --- port I/O bus handlers --- */

BUS_SIZED_REGS_HANDLER(fwcfg_pio, struct fwcfg, uint32_t, fwcfg_io_read, fwcfg_io_write)

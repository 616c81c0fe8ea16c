/* fuzz.h: a byte reader for hyve's libFuzzer targets (fuzz/fuzz_NAME.c). Every
 * target turns its input into a sequence of operations on one of hyve's pure
 * modules; running out of input ends the sequence. */
#ifndef FUZZ_FUZZ_H
#define FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct fz {
	const uint8_t *p;
	size_t n;
};

static inline int fz_more(const struct fz *f) { return f->n > 0; }

static inline uint64_t fz_bytes(struct fz *f, unsigned k)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < k && f->n; i++, f->p++, f->n--)
		v |= (uint64_t)*f->p << (8 * i);
	return v;
}

static inline uint8_t fz_u8(struct fz *f) { return (uint8_t)fz_bytes(f, 1); }
static inline uint16_t fz_u16(struct fz *f) { return (uint16_t)fz_bytes(f, 2); }
static inline uint32_t fz_u32(struct fz *f) { return (uint32_t)fz_bytes(f, 4); }
static inline uint64_t fz_u64(struct fz *f) { return fz_bytes(f, 8); }

/* An access size of 1, 2, 4 or 8 bytes. */
static inline unsigned fz_size(struct fz *f) { return 1u << (fz_u8(f) & 3); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif

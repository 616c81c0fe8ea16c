/* fuzz_ioapic.c: the I/O APIC (vmm/vioapic.c): MMIO at any offset and size,
 * pin levels and pulses, EOIs, resets, in any order. Every message it sends
 * must name a valid delivery mode. */
#include <stdbool.h>

#include "fuzz/fuzz.h"
#include "vmm/vioapic.h"

static void deliver(void *ctx, uint8_t dest, bool logical, uint8_t mode, uint8_t vector, bool level)
{
	(void)ctx;
	(void)dest;
	(void)logical;
	(void)vector;
	(void)level;
	if (mode == 3 || mode == 6 || mode > 7)
		__builtin_trap(); /* reserved delivery modes are never sent */
}

static const struct vioapic_ops ops = {.deliver = deliver};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = {data, size};
	struct vioapic io;
	if (vioapic_init(&io, &ops, NULL, fz_u8(&f)) < 0)
		return 0;
	while (fz_more(&f)) {
		uint64_t v = 0;
		switch (fz_u8(&f) % 7) {
		case 0: vioapic_mmio_read(&io, fz_u8(&f) & 0x3f, fz_size(&f), &v); break;
		case 1: { uint64_t off = fz_u8(&f) & 0x3f; unsigned sz = fz_size(&f); vioapic_mmio_write(&io, off, sz, fz_u64(&f)); break; }
		case 2: { unsigned pin = fz_u8(&f); vioapic_set_irq(&io, pin, fz_u8(&f) & 1); break; }
		case 3: vioapic_pulse_irq(&io, fz_u8(&f)); break;
		case 4: vioapic_eoi(&io, fz_u8(&f)); break;
		case 5: (void)vioapic_rte(&io, fz_u8(&f) % VIOAPIC_NPINS); break;
		default: vioapic_reset(&io); break;
		}
	}
	vioapic_destroy(&io);
	return 0;
}

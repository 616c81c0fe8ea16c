/* gmem.c: guest physical memory layout and checked accessor (include/vmm/gmem.h). */
#include <errno.h>
#include <string.h>

#include "vmm/gmem.h"

void gmem_layout(struct guest_mem *m, uint8_t *host, uint64_t ram_size)
{
	memset(m, 0, sizeof(*m));
	m->ram_size = ram_size;
	uint64_t low = ram_size < GMEM_LOWMEM_LIMIT ? ram_size : GMEM_LOWMEM_LIMIT;
	m->r[0] = (struct gmem_region){.gpa = 0, .size = low, .host = host};
	m->nregions = 1;
	if (ram_size > low) {
		m->r[1] = (struct gmem_region){.gpa = GMEM_HIGHMEM_BASE, .size = ram_size - low,
					       .host = host + low};
		m->nregions = 2;
	}
}

void *gmem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < m->nregions && i < GMEM_MAX_REGIONS; i++) {
		const struct gmem_region *r = &m->r[i];
		if (gpa < r->gpa)
			continue;
		uint64_t off = gpa - r->gpa;
		if (off >= r->size && !(off == r->size && len == 0))
			continue;
		if (len > r->size - off)
			return NULL;
		return r->host + off;
	}
	return NULL;
}

int gmem_write(const struct guest_mem *m, uint64_t gpa, const void *src, uint64_t len)
{
	void *p = gmem_ptr(m, gpa, len);
	if (!p)
		return -EFAULT;
	if (len)
		memcpy(p, src, len);
	return 0;
}

int gmem_read(const struct guest_mem *m, uint64_t gpa, void *dst, uint64_t len)
{
	const void *p = gmem_ptr(m, gpa, len);
	if (!p)
		return -EFAULT;
	if (len)
		memcpy(dst, p, len);
	return 0;
}

uint64_t gmem_top(const struct guest_mem *m)
{
	if (!m->nregions)
		return 0;
	const struct gmem_region *r = &m->r[m->nregions - 1];
	return r->gpa + r->size;
}

uint64_t gmem_lowmem(const struct guest_mem *m)
{
	return m->nregions ? m->r[0].size : 0;
}

unsigned gmem_slots(const struct guest_mem *m, const uint64_t *holes, unsigned n, struct gmem_slot *out)
{
	uint64_t h[GMEM_MAX_HOLES];
	unsigned nh = 0, ns = 0;
	for (unsigned i = 0; i < n && nh < GMEM_MAX_HOLES; i++) { /* insertion sort */
		uint64_t v = holes[i] & ~(GMEM_PAGE_SIZE - 1);
		unsigned k = nh++;
		for (; k > 0 && h[k - 1] > v; k--)
			h[k] = h[k - 1];
		h[k] = v;
	}
	for (unsigned i = 0; i < m->nregions && i < GMEM_MAX_REGIONS; i++) {
		const struct gmem_region *r = &m->r[i];
		uint64_t cur = r->gpa, end = r->gpa + r->size;
		for (unsigned k = 0; k < nh; k++) {
			if (h[k] < cur || h[k] >= end)
				continue; /* before what is left (or a duplicate), or outside */
			if (h[k] > cur)
				out[ns++] = (struct gmem_slot){cur, h[k] - cur, r->host + (cur - r->gpa)};
			cur = h[k] + GMEM_PAGE_SIZE;
		}
		if (cur < end)
			out[ns++] = (struct gmem_slot){cur, end - cur, r->host + (cur - r->gpa)};
	}
	return ns;
}

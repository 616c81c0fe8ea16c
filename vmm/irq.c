/* irq.c: the platform's interrupt wiring in libvmm: I/O APIC messages to local APICs,
 * EOI broadcasts back, and the 8259's INTR line to LINT0 (SDM 10.1, 10.5.1, 10.8.5). */
#include <errno.h>
#include <string.h>

#include "vmm/vm_priv.h"

/* ExtINT is 7 in a redirection entry; as an ICR mode 7 is reserved, so only
 * the I/O APIC sends it (resolution treats it like FIXED). */
#define MSG_EXTINT APIC_DM_RESERVED

/* An I/O APIC interrupt message (82093AA 3.2.4) delivered like an IPI with
 * no shorthand: destination resolution over the active vCPUs (smp-spec 2.3). */
static void ioapic_deliver(void *ctx, uint8_t dest, bool logical, uint8_t mode, uint8_t vector, bool level)
{
	struct vm *vm = ctx;
	struct apic_ipi ipi = {.sender = 0, .dest = dest, .vector = vector, .shorthand = APIC_SH_NONE,
			       .logical = logical, .level_assert = true, .trigger_level = level};
	cpuset_t eligible, targets;
	switch (mode) {
	case VIOAPIC_DM_FIXED:
		ipi.mode = APIC_DM_FIXED;
		break;
	case VIOAPIC_DM_LOWPRIO:
		ipi.mode = APIC_DM_LOWPRIO;
		break;
	case VIOAPIC_DM_NMI:
		ipi.mode = APIC_DM_NMI;
		break;
	case VIOAPIC_DM_EXTINT:
		/* A pin programmed as ExtINT: each message makes its destination
		 * run one INTA cycle, in which the 8259 gives the vector (its
		 * spurious IR7 when nothing is pending). A message, not a level:
		 * the 8259's own INTR output is LINT0's business (vm_pic_intr). */
		ipi.mode = MSG_EXTINT;
		break;
	default:
		return; /* SMI and INIT from the I/O APIC: not modelled, dropped */
	}
	/* An 8-bit destination broadcast (0xff) reaches everyone in either APIC mode. */
	if (!logical && dest == 0xff)
		ipi.dest = 0xffffffffu, ipi.x2apic = true;
	pthread_mutex_lock(&vm->lock);
	eligible = vm->active;
	pthread_mutex_unlock(&vm->lock);
	apic_dest_resolve(&ipi, vm->addrs, vm->ncpus, __atomic_load_n(&vm->ids_moved, __ATOMIC_SEQ_CST),
			  &eligible, &targets);
	CPUSET_FOREACH(i, &targets)
	{
		struct vcpu *t = vm_vcpu_lookup(vm, (uint32_t)i);
		if (!t)
			continue;
		if (ipi.mode == MSG_EXTINT) {
			__atomic_store_n(&t->extint_msg, 1, __ATOMIC_SEQ_CST);
			vcpu_notify(t);
		} else if (ipi.mode == APIC_DM_NMI) {
			pthread_mutex_lock(&t->mtx);
			if (vcpu_started(vm, t->id))
				vcpu_queue_nmi(t);
			pthread_mutex_unlock(&t->mtx);
			vcpu_notify(t);
		} else if (vlapic_set_intr(t->vlapic, vector, level)) {
			vcpu_notify(t);
		}
	}
}

static const struct vioapic_ops ioapic_ops = {.deliver = ioapic_deliver};

int vm_irq_init(struct vm *vm)
{
	return vioapic_init(&vm->ioapic, &ioapic_ops, vm, 0);
}

void vm_irq_fini(struct vm *vm)
{
	vioapic_destroy(&vm->ioapic);
}

int vm_ioapic_set_irq(struct vm *vm, unsigned pin, bool level)
{
	return vioapic_set_irq(&vm->ioapic, pin, level);
}

int vm_ioapic_pulse_irq(struct vm *vm, unsigned pin)
{
	return vioapic_pulse_irq(&vm->ioapic, pin);
}

bool vm_ioapic_mmio(struct vm *vm, uint64_t gpa, unsigned len, bool is_write, uint8_t *data)
{
	if (gpa < GMEM_IOAPIC_BASE || gpa - GMEM_IOAPIC_BASE >= VIOAPIC_MMIO_SIZE)
		return false;
	uint64_t off = gpa - GMEM_IOAPIC_BASE, val = 0;
	if (len > 8)
		len = 8;
	if (is_write) {
		memcpy(&val, data, len);
		vioapic_mmio_write(&vm->ioapic, off, len, val);
	} else {
		vioapic_mmio_read(&vm->ioapic, off, len, &val);
		memcpy(data, &val, len);
	}
	return true;
}

/* A local APIC ended a level-triggered interrupt (vlapic_ops.eoi, no vlapic
 * lock held): the I/O APIC clears Remote IRR and may deliver again. */
void vcpu_eoi(void *ctx, uint8_t vector)
{
	struct vcpu *v = ctx;
	vioapic_eoi(&v->vm->ioapic, vector);
}

void vm_set_pic(struct vm *vm, const struct vm_pic_ops *ops, void *ctx)
{
	vm->pic_ops = ops;
	vm->pic_ctx = ctx;
}

void vm_pic_intr(struct vm *vm, bool level)
{
	__atomic_store_n(&vm->pic_level, level, __ATOMIC_SEQ_CST);
	if (!level)
		return;
	/* Wake whoever takes ExtINT (normally only the BSP). */
	for (uint32_t i = 0; i < vm->ncpus; i++) {
		struct vcpu *t = vm_vcpu_lookup(vm, i);
		if (t && vlapic_accepts_extint(t->vlapic))
			vcpu_notify(t);
	}
}

bool vcpu_extint_pending(struct vcpu *v)
{
	if (!v->vm->pic_ops)
		return false;
	return __atomic_load_n(&v->extint_msg, __ATOMIC_SEQ_CST) ||
	       (__atomic_load_n(&v->vm->pic_level, __ATOMIC_SEQ_CST) && vlapic_accepts_extint(v->vlapic));
}

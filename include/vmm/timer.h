/* timer.h: libvmm's host timer service: one thread per VM runs callbacks at
 * CLOCK_MONOTONIC deadlines. Costs nothing while no timer is armed; used by the
 * vLAPIC timer and by the frontend's timer devices (PIT, RTC). */
#ifndef VMM_TIMER_H
#define VMM_TIMER_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct vm_timers;

/* A timer: embed it, vm_timer_init() it once, then arm/disarm it at will.
 * The callback runs on the timer thread with no libvmm lock held; it may arm
 * this or any other timer. A disarm does not wait for a callback that already
 * started: callbacks must re-check their own state (e.g. a generation). */
struct vm_timer {
	void (*fn)(void *arg); /* (c) */
	void *arg;             /* (c) */
	uint64_t deadline;     /* (service lock) ns, CLOCK_MONOTONIC */
	int heap_idx;          /* (service lock) -1 when disarmed */
};

/* Current CLOCK_MONOTONIC time in ns. */
uint64_t vm_now_ns(void);

void vm_timer_init(struct vm_timer *t, void (*fn)(void *arg), void *arg);
/* (Re)arms t for deadline_ns; a deadline in the past fires at once. 0 or -ENOMEM. */
int vm_timer_arm(struct vm *vm, struct vm_timer *t, uint64_t deadline_ns);
void vm_timer_disarm(struct vm *vm, struct vm_timer *t);
bool vm_timer_armed(struct vm *vm, struct vm_timer *t);

/* The service itself (used by struct vm; also usable alone, e.g. in tests). */
struct vm_timers *vm_timers_create(void);
void vm_timers_destroy(struct vm_timers *s);
int vm_timers_arm(struct vm_timers *s, struct vm_timer *t, uint64_t deadline_ns);
void vm_timers_disarm(struct vm_timers *s, struct vm_timer *t);
bool vm_timers_armed(struct vm_timers *s, struct vm_timer *t);

#endif

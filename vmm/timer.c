/* timer.c: the per-VM host timer service (a binary heap and one thread that sleeps until the earliest deadline). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "vmm/timer.h"

struct vm_timers {
	pthread_mutex_t lock;
	pthread_cond_t cond;     /* CLOCK_MONOTONIC; signalled when the earliest deadline changes */
	pthread_t thread;
	bool stop;               /* (lock) */
	struct vm_timer **heap;  /* (lock) min-heap by deadline */
	unsigned n, cap;         /* (lock) */
};

uint64_t vm_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void vm_timer_init(struct vm_timer *t, void (*fn)(void *arg), void *arg)
{
	t->fn = fn;
	t->arg = arg;
	t->deadline = 0;
	t->heap_idx = -1;
}

static void heap_swap(struct vm_timers *s, unsigned a, unsigned b)
{
	struct vm_timer *t = s->heap[a];
	s->heap[a] = s->heap[b];
	s->heap[b] = t;
	s->heap[a]->heap_idx = (int)a;
	s->heap[b]->heap_idx = (int)b;
}

static void sift_up(struct vm_timers *s, unsigned i)
{
	while (i > 0) {
		unsigned p = (i - 1) / 2;
		if (s->heap[p]->deadline <= s->heap[i]->deadline)
			break;
		heap_swap(s, i, p);
		i = p;
	}
}

static void sift_down(struct vm_timers *s, unsigned i)
{
	for (;;) {
		unsigned l = 2 * i + 1, r = l + 1, m = i;
		if (l < s->n && s->heap[l]->deadline < s->heap[m]->deadline)
			m = l;
		if (r < s->n && s->heap[r]->deadline < s->heap[m]->deadline)
			m = r;
		if (m == i)
			return;
		heap_swap(s, i, m);
		i = m;
	}
}

static void heap_remove(struct vm_timers *s, struct vm_timer *t)
{
	unsigned i = (unsigned)t->heap_idx;
	s->n--;
	if (i != s->n) {
		s->heap[i] = s->heap[s->n];
		s->heap[i]->heap_idx = (int)i;
		sift_down(s, i);
		sift_up(s, i);
	}
	t->heap_idx = -1;
}

static void *timer_thread(void *arg)
{
	struct vm_timers *s = arg;
	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		if (s->n == 0) {
			pthread_cond_wait(&s->cond, &s->lock);
			continue;
		}
		struct vm_timer *t = s->heap[0];
		uint64_t now = vm_now_ns();
		if (t->deadline > now) {
			struct timespec ts = {.tv_sec = (time_t)(t->deadline / 1000000000ULL),
					      .tv_nsec = (long)(t->deadline % 1000000000ULL)};
			pthread_cond_timedwait(&s->cond, &s->lock, &ts);
			continue;
		}
		heap_remove(s, t);
		pthread_mutex_unlock(&s->lock);
		t->fn(t->arg);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

struct vm_timers *vm_timers_create(void)
{
	struct vm_timers *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&s->lock, NULL);
	if (pthread_create(&s->thread, NULL, timer_thread, s)) {
		pthread_cond_destroy(&s->cond);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return NULL;
	}
	return s;
}

void vm_timers_destroy(struct vm_timers *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s->heap);
	free(s);
}

int vm_timers_arm(struct vm_timers *s, struct vm_timer *t, uint64_t deadline_ns)
{
	pthread_mutex_lock(&s->lock);
	if (t->heap_idx < 0) {
		if (s->n == s->cap) {
			unsigned cap = s->cap ? s->cap * 2 : 16;
			struct vm_timer **h = realloc(s->heap, cap * sizeof(*h));
			if (!h) {
				pthread_mutex_unlock(&s->lock);
				return -ENOMEM;
			}
			s->heap = h;
			s->cap = cap;
		}
		t->heap_idx = (int)s->n;
		s->heap[s->n++] = t;
	}
	t->deadline = deadline_ns;
	sift_down(s, (unsigned)t->heap_idx);
	sift_up(s, (unsigned)t->heap_idx);
	if (t->heap_idx == 0)
		pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void vm_timers_disarm(struct vm_timers *s, struct vm_timer *t)
{
	pthread_mutex_lock(&s->lock);
	if (t->heap_idx >= 0)
		heap_remove(s, t);
	pthread_mutex_unlock(&s->lock);
}

bool vm_timers_armed(struct vm_timers *s, struct vm_timer *t)
{
	pthread_mutex_lock(&s->lock);
	bool a = t->heap_idx >= 0;
	pthread_mutex_unlock(&s->lock);
	return a;
}

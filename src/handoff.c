/*
 * Connections handed from the event loop to the workers: a ring that
 * one producer (the loop) fills and any worker takes from, counted by a
 * semaphore.  No lock: a worker that got past the semaphore owns the
 * next index, and empties its slot with an atomic exchange.  A slot is
 * only written once emptied, so even a worker stalled between taking
 * its index and reading the slot loses nothing (it waits for its slot
 * to be filled; the loop, for it to be emptied, which the ring's size,
 * a slot for every connection, makes all but impossible).
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <semaphore.h>
#include <stdlib.h>

#include "spike.h"

struct handoff {
	_Atomic(struct conn *) *slots;
	size_t		 mask;
	size_t		 tail;		/* the loop's alone */
	atomic_size_t	 head;
	sem_t		 filled;
};

/* A ring for at least capacity connections; NULL when memory is short. */
struct handoff *
handoff_new(size_t capacity)
{
	struct handoff	*h;
	size_t		 size = 1;

	while (size < capacity)
		size *= 2;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	if ((h->slots = calloc(size, sizeof(*h->slots))) == NULL ||
	    sem_init(&h->filled, 0, 0) == -1) {
		free(h->slots);
		free(h);
		return NULL;
	}
	h->mask = size - 1;
	for (size_t i = 0; i < size; i++)
		atomic_init(&h->slots[i], NULL);
	atomic_init(&h->head, 0);
	return h;
}

/*
 * Hand c to a worker; NULL tells one worker to stop (the ring holds h
 * itself for it).  The loop's alone.
 */
void
handoff_put(struct handoff *h, struct conn *c)
{
	_Atomic(struct conn *) *slot = &h->slots[h->tail++ & h->mask];

	while (atomic_load(slot) != NULL)
		sched_yield();
	atomic_store(slot, c != NULL ? c : (struct conn *)(void *)h);
	sem_post(&h->filled);
}

/* Wait for a connection to serve; NULL when the worker is to stop. */
struct conn *
handoff_take(struct handoff *h)
{
	struct conn	*c;
	size_t		 i;

	while (sem_wait(&h->filled) == -1 && errno == EINTR)
		;
	i = atomic_fetch_add_explicit(&h->head, 1, memory_order_relaxed);
	while ((c = atomic_exchange(&h->slots[i & h->mask], NULL)) == NULL)
		sched_yield();
	return c != (struct conn *)(void *)h ? c : NULL;
}

void
handoff_free(struct handoff *h)
{
	if (h == NULL)
		return;
	sem_destroy(&h->filled);
	free(h->slots);
	free(h);
}

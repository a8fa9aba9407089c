/*
 * Connections handed from the event loop to the workers: a ring that
 * one producer (the loop) fills and any worker takes from, counted by a
 * semaphore.  No lock: the loop writes a slot and publishes it with the
 * semaphore; a worker that got past the semaphore owns the next index.
 * A connection is in the ring at most once, and the ring has a slot for
 * every connection the loop may hold, so the loop never overtakes a
 * worker still reading its slot.
 */
#include "config.h"

#include <errno.h>
#include <semaphore.h>
#include <stdlib.h>

#include "spike.h"

struct handoff {
	struct conn	**slots;
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
	atomic_init(&h->head, 0);
	return h;
}

/* Hand c to a worker; NULL tells one worker to stop.  The loop's alone. */
void
handoff_put(struct handoff *h, struct conn *c)
{
	h->slots[h->tail++ & h->mask] = c;
	sem_post(&h->filled);
}

/* Wait for a connection to serve; NULL when the worker is to stop. */
struct conn *
handoff_take(struct handoff *h)
{
	size_t	 i;

	while (sem_wait(&h->filled) == -1 && errno == EINTR)
		;
	i = atomic_fetch_add_explicit(&h->head, 1, memory_order_relaxed);
	return h->slots[i & h->mask];
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

#include "core/hashpipe.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define HASHPIPE_SLOTS 8
#define HASHPIPE_SLOT_SIZE (1u << 20)

struct hashpipe {
	struct hash *h;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *buf[HASHPIPE_SLOTS];
	size_t len[HASHPIPE_SLOTS];
	unsigned long head; /* slots submitted (producer) */
	unsigned long tail; /* slots digested (worker) */
	size_t fill;	    /* bytes in the slot being filled, not yet submitted */
	bool stop;
};

static void *worker(void *arg)
{
	struct hashpipe *p = arg;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		unsigned slot;

		while (p->head == p->tail && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->head == p->tail)
			break;
		slot = (unsigned)(p->tail % HASHPIPE_SLOTS);
		pthread_mutex_unlock(&p->mu);
		/* EVP digest updates cannot fail for in-memory input of these sizes. */
		hash_update(p->h, p->buf[slot], p->len[slot], NULL);
		pthread_mutex_lock(&p->mu);
		p->tail++;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int hashpipe_start(struct hash *h, struct hashpipe **out, struct err *e)
{
	struct hashpipe *p = calloc(1, sizeof(*p));

	if (!p)
		return err_set(e, ERR_FAIL, "out of memory");
	p->h = h;
	for (unsigned i = 0; i < HASHPIPE_SLOTS; i++)
		if (!(p->buf[i] = malloc(HASHPIPE_SLOT_SIZE)))
			goto nomem;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (pthread_create(&p->thread, NULL, worker, p) != 0) {
		pthread_mutex_destroy(&p->mu);
		pthread_cond_destroy(&p->cv);
		goto nomem;
	}
	*out = p;
	return 0;
nomem:
	for (unsigned i = 0; i < HASHPIPE_SLOTS; i++)
		free(p->buf[i]);
	free(p);
	return err_set(e, ERR_FAIL, "cannot start the checksum thread");
}

static void submit(struct hashpipe *p)
{
	pthread_mutex_lock(&p->mu);
	p->len[p->head % HASHPIPE_SLOTS] = p->fill;
	p->head++;
	p->fill = 0;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void hashpipe_feed(struct hashpipe *p, const void *buf, size_t len)
{
	const char *src = buf;

	while (len) {
		size_t n;

		if (p->fill == 0) {
			/* The next slot is ours once the worker is done with it. */
			pthread_mutex_lock(&p->mu);
			while (p->head - p->tail == HASHPIPE_SLOTS)
				pthread_cond_wait(&p->cv, &p->mu);
			pthread_mutex_unlock(&p->mu);
		}
		n = HASHPIPE_SLOT_SIZE - p->fill;
		if (n > len)
			n = len;
		memcpy(p->buf[p->head % HASHPIPE_SLOTS] + p->fill, src, n);
		p->fill += n;
		src += n;
		len -= n;
		if (p->fill == HASHPIPE_SLOT_SIZE)
			submit(p);
	}
}

char *hashpipe_get(struct hashpipe *p, size_t *cap)
{
	pthread_mutex_lock(&p->mu);
	while (p->head - p->tail == HASHPIPE_SLOTS)
		pthread_cond_wait(&p->cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
	*cap = HASHPIPE_SLOT_SIZE;
	return p->buf[p->head % HASHPIPE_SLOTS];
}

void hashpipe_put(struct hashpipe *p, size_t len)
{
	if (!len)
		return;
	p->fill = len;
	submit(p);
}

void hashpipe_drain(struct hashpipe *p)
{
	if (p->fill)
		submit(p);
	pthread_mutex_lock(&p->mu);
	while (p->tail != p->head)
		pthread_cond_wait(&p->cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

void hashpipe_finish(struct hashpipe *p)
{
	if (!p)
		return;
	hashpipe_drain(p);
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	for (unsigned i = 0; i < HASHPIPE_SLOTS; i++)
		free(p->buf[i]);
	free(p);
}

/* Digesting on a worker thread, so that a download's checksum costs no time on the thread
 * that receives and writes the bytes: the producer copies into a small ring of buffers, or
 * fills them in place (hashpipe_get/put). */
#ifndef ENVUP_CORE_HASHPIPE_H
#define ENVUP_CORE_HASHPIPE_H

#include <stddef.h>

#include "core/err.h"
#include "core/hash.h"

struct hashpipe;

/* Starts a worker that feeds everything given to hashpipe_feed to h, in order. */
int hashpipe_start(struct hash *h, struct hashpipe **out, struct err *e);

/* Queues len bytes (copied; blocks while the ring is full). */
void hashpipe_feed(struct hashpipe *p, const void *buf, size_t len);

/* Lends the ring's next free buffer (blocking while every one is being digested), its size in
 * *cap: the caller fills it and queues it with hashpipe_put, so nothing is copied. Not to be
 * mixed with a hashpipe_feed whose bytes are not yet queued. */
char *hashpipe_get(struct hashpipe *p, size_t *cap);

/* Queues the first len bytes of the buffer lent by the last hashpipe_get. */
void hashpipe_put(struct hashpipe *p, size_t len);

/* Returns once every byte queued so far has reached h (then h may be reset or read). */
void hashpipe_drain(struct hashpipe *p);

/* Drains, stops the worker and frees p. NULL is fine. */
void hashpipe_finish(struct hashpipe *p);

#endif

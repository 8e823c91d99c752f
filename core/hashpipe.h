/* Digesting on a worker thread, so that a download's checksum costs no time on the thread
 * that receives and writes the bytes: the producer copies into a small ring of buffers. */
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

/* Returns once every byte queued so far has reached h (then h may be reset or read). */
void hashpipe_drain(struct hashpipe *p);

/* Drains, stops the worker and frees p. NULL is fine. */
void hashpipe_finish(struct hashpipe *p);

#endif

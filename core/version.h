/* Box versions ("1.10.2") and constraints (">= 1.0, < 2", "~> 1.2"), compared as Vagrant
 * does: numeric segment by segment, so 1.10 > 1.2. */
#ifndef ENVUP_CORE_VERSION_H
#define ENVUP_CORE_VERSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define VERSION_MAX_SEGMENTS 8
#define VERSION_MAX_DIGITS 19 /* per segment: always fits in 64 bits */
#define CONSTRAINT_MAX_TERMS 8

struct version {
	uint64_t seg[VERSION_MAX_SEGMENTS];
	int nseg;
};

enum constraint_op { CON_EQ, CON_NE, CON_GT, CON_LT, CON_GE, CON_LE, CON_PESSIMISTIC };

struct constraint {
	struct {
		enum constraint_op op;
		struct version v;
	} term[CONSTRAINT_MAX_TERMS];
	int nterms;
};

/* Parses "1.2.3" (1 to 8 numeric segments of at most 19 significant digits). */
int version_parse(const char *s, struct version *v, struct err *e);

/* <0, 0, >0 as a is older than, equal to or newer than b (missing segments count as 0). */
int version_compare(const struct version *a, const struct version *b);

/* Parses a comma-separated constraint; an empty string matches every version. */
int constraint_parse(const char *s, struct constraint *c, struct err *e);

/* True when v satisfies every term of c. */
bool constraint_match(const struct constraint *c, const struct version *v);

#endif

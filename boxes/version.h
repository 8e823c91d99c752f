/* Box versions and version constraints, compared the way Vagrant (RubyGems) compares them:
 * numeric segments as numbers (1.10.0 > 1.2.0), trailing zeros ignored (1.0 == 1), a segment
 * with letters marks a pre-release (1.0.a < 1.0). */
#ifndef ENVUP_BOXES_VERSION_H
#define ENVUP_BOXES_VERSION_H

#include <stdbool.h>

#include "core/err.h"

#define VERSION_MAX_LEN 64
#define VERSION_MAX_SEGMENTS 16
#define CONSTRAINT_MAX_TERMS 16

struct box_version {
	unsigned nseg;
	struct {
		bool is_num;
		unsigned long long num;
		char str[VERSION_MAX_LEN + 1];
	} seg[VERSION_MAX_SEGMENTS];
};

enum version_op { VOP_EQ, VOP_NE, VOP_GT, VOP_LT, VOP_GE, VOP_LE, VOP_PESSIMISTIC };

struct version_constraint {
	unsigned nterms;
	struct {
		enum version_op op;
		struct box_version v;
	} term[CONSTRAINT_MAX_TERMS];
};

/* Parses s ("1.10.2", "2024.01.05", "1.0.beta") into v; fails with ERR_USAGE on anything else. */
int version_parse(const char *s, struct box_version *v, struct err *e);

/* <0, 0, >0 as a is older than, equal to, newer than b. */
int version_cmp(const struct box_version *a, const struct box_version *b);

/* Compares two version strings; unparsable strings sort before every valid version. */
int version_cmp_str(const char *a, const char *b);

/* Parses ">= 1.0, < 2.0", "~> 1.2", "1.4.0" (bare: =); NULL or "" means any version. */
int version_constraint_parse(const char *s, struct version_constraint *c, struct err *e);

/* True when v satisfies every term of c. */
bool version_satisfies(const struct box_version *v, const struct version_constraint *c);

/* True when version string s parses and satisfies c. */
bool version_str_satisfies(const char *s, const struct version_constraint *c);

#endif

#include "core/version.h"

#include <ctype.h>
#include <string.h>

int version_parse(const char *s, struct version *v, struct err *e)
{
	const char *p = s;

	memset(v, 0, sizeof(*v));
	for (;;) {
		uint64_t n = 0;
		int len = 0, sig = 0;

		/* 19 significant digits always fit in 64 bits (date-like 202406011230 or
		 * 20240601123059 are common); leading zeros do not count */
		for (; isdigit((unsigned char)*p); p++, len++) {
			if ((n || *p != '0') && ++sig > VERSION_MAX_DIGITS)
				return err_set(e, ERR_USAGE,
					       "version '%s': a part has more than %d digits", s,
					       VERSION_MAX_DIGITS);
			n = n * 10 + (uint64_t)(*p - '0');
		}
		if (!len)
			return err_set(e, ERR_USAGE, "'%s' is not a version (expected numbers "
					"separated by dots, like 1.2.3)", s);
		if (v->nseg == VERSION_MAX_SEGMENTS)
			return err_set(e, ERR_USAGE, "version '%s': more than %d segments", s,
				       VERSION_MAX_SEGMENTS);
		v->seg[v->nseg++] = n;
		if (*p == '\0')
			return 0;
		if (*p++ != '.')
			return err_set(e, ERR_USAGE, "'%s' is not a version (expected numbers "
					"separated by dots, like 1.2.3)", s);
	}
}

int version_compare(const struct version *a, const struct version *b)
{
	int n = a->nseg > b->nseg ? a->nseg : b->nseg;

	for (int i = 0; i < n; i++) {
		uint64_t x = i < a->nseg ? a->seg[i] : 0;
		uint64_t y = i < b->nseg ? b->seg[i] : 0;

		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

static const struct {
	const char *text;
	enum constraint_op op;
} ops[] = {
	/* Longest first so ">=" is not read as ">". */
	{"~>", CON_PESSIMISTIC}, {">=", CON_GE}, {"<=", CON_LE}, {"!=", CON_NE},
	{"=", CON_EQ}, {">", CON_GT}, {"<", CON_LT},
};

int constraint_parse(const char *s, struct constraint *c, struct err *e)
{
	const char *p = s;

	memset(c, 0, sizeof(*c));
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\0')
		return 0;
	for (;;) {
		enum constraint_op op = CON_EQ;
		char term[64];
		size_t len;

		while (isspace((unsigned char)*p))
			p++;
		for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
			if (!strncmp(p, ops[i].text, strlen(ops[i].text))) {
				op = ops[i].op;
				p += strlen(ops[i].text);
				break;
			}
		}
		while (isspace((unsigned char)*p))
			p++;
		len = strcspn(p, ",");
		while (len && isspace((unsigned char)p[len - 1]))
			len--;
		if (len == 0 || len >= sizeof(term))
			return err_set(e, ERR_USAGE, "constraint '%s': expected a version after "
					"the operator", s);
		memcpy(term, p, len);
		term[len] = '\0';
		if (c->nterms == CONSTRAINT_MAX_TERMS)
			return err_set(e, ERR_USAGE, "constraint '%s': more than %d terms", s,
				       CONSTRAINT_MAX_TERMS);
		if (version_parse(term, &c->term[c->nterms].v, e) < 0)
			return err_wrap(e, "constraint '%s'", s);
		if (op == CON_PESSIMISTIC && c->term[c->nterms].v.nseg < 2)
			return err_set(e, ERR_USAGE, "constraint '%s': '~>' needs at least two "
					"segments (like ~> 1.2)", s);
		c->term[c->nterms++].op = op;
		p += strcspn(p, ",");
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			return 0;
		p++; /* the comma */
	}
}

/* "~> 1.2.3" means >= 1.2.3 and < 1.3: the last segment may grow, the one before is fixed. */
static bool pessimistic_match(const struct version *want, const struct version *v)
{
	struct version upper = *want;

	if (version_compare(v, want) < 0)
		return false;
	upper.nseg = want->nseg - 1;
	upper.seg[upper.nseg - 1]++;
	return version_compare(v, &upper) < 0;
}

bool constraint_match(const struct constraint *c, const struct version *v)
{
	for (int i = 0; i < c->nterms; i++) {
		int cmp = version_compare(v, &c->term[i].v);
		bool ok;

		switch (c->term[i].op) {
		case CON_EQ: ok = cmp == 0; break;
		case CON_NE: ok = cmp != 0; break;
		case CON_GT: ok = cmp > 0; break;
		case CON_LT: ok = cmp < 0; break;
		case CON_GE: ok = cmp >= 0; break;
		case CON_LE: ok = cmp <= 0; break;
		default: ok = pessimistic_match(&c->term[i].v, v); break;
		}
		if (!ok)
			return false;
	}
	return true;
}

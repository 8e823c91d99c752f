#include "boxes/version.h"

#include <ctype.h>
#include <string.h>

int version_parse(const char *s, struct box_version *v, struct err *e)
{
	const char *p = s;

	memset(v, 0, sizeof(*v));
	if (!s || !*s)
		return err_set(e, ERR_USAGE, "empty version");
	if (strlen(s) > VERSION_MAX_LEN)
		return err_set(e, ERR_USAGE, "version '%.20s...' is longer than %d characters", s,
			       VERSION_MAX_LEN);
	while (*p) {
		size_t n = 0;
		bool digits = true, alnum = true;

		while (p[n] && p[n] != '.') {
			if (!isdigit((unsigned char)p[n]))
				digits = false;
			if (!isalnum((unsigned char)p[n]) && p[n] != '-' && p[n] != '_')
				alnum = false;
			n++;
		}
		if (n == 0 || !alnum)
			return err_set(e, ERR_USAGE,
				       "version '%s' is not made of dot-separated numbers and words", s);
		if (v->nseg == VERSION_MAX_SEGMENTS)
			return err_set(e, ERR_USAGE, "version '%s' has more than %d parts", s,
				       VERSION_MAX_SEGMENTS);
		if (digits) {
			unsigned long long x = 0;

			for (size_t i = 0; i < n; i++) {
				if (x > (~0ULL - 9) / 10)
					return err_set(e, ERR_USAGE, "version '%s': number too large", s);
				x = x * 10 + (unsigned)(p[i] - '0');
			}
			v->seg[v->nseg].is_num = true;
			v->seg[v->nseg].num = x;
		} else {
			memcpy(v->seg[v->nseg].str, p, n);
			v->seg[v->nseg].str[n] = '\0';
		}
		v->nseg++;
		p += n;
		if (*p == '.') {
			p++;
			if (!*p)
				return err_set(e, ERR_USAGE, "version '%s' ends with a dot", s);
		}
	}
	return 0;
}

/* A missing segment counts as 0; a word segment (pre-release) sorts before any number. */
int version_cmp(const struct box_version *a, const struct box_version *b)
{
	unsigned n = a->nseg > b->nseg ? a->nseg : b->nseg;

	for (unsigned i = 0; i < n; i++) {
		bool an = i >= a->nseg || a->seg[i].is_num;
		bool bn = i >= b->nseg || b->seg[i].is_num;
		unsigned long long ax = i < a->nseg ? a->seg[i].num : 0;
		unsigned long long bx = i < b->nseg ? b->seg[i].num : 0;

		if (an && bn) {
			if (ax != bx)
				return ax < bx ? -1 : 1;
		} else if (an != bn) {
			return an ? 1 : -1;
		} else {
			int c = strcmp(a->seg[i].str, b->seg[i].str);

			if (c)
				return c < 0 ? -1 : 1;
		}
	}
	return 0;
}

int version_cmp_str(const char *a, const char *b)
{
	struct box_version va, vb;
	int ra = version_parse(a, &va, NULL), rb = version_parse(b, &vb, NULL);

	if (ra < 0 && rb < 0)
		return strcmp(a ? a : "", b ? b : "");
	if (ra < 0 || rb < 0)
		return ra < 0 ? -1 : 1;
	return version_cmp(&va, &vb);
}

static const char *parse_op(const char *p, enum version_op *op)
{
	static const struct {
		const char *s;
		enum version_op op;
	} ops[] = {
		{"~>", VOP_PESSIMISTIC}, {">=", VOP_GE}, {"<=", VOP_LE}, {"!=", VOP_NE},
		{"=", VOP_EQ},	     {">", VOP_GT},  {"<", VOP_LT},
	};

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strncmp(p, ops[i].s, strlen(ops[i].s))) {
			*op = ops[i].op;
			return p + strlen(ops[i].s);
		}
	*op = VOP_EQ;
	return p;
}

int version_constraint_parse(const char *s, struct version_constraint *c, struct err *e)
{
	const char *p = s;

	memset(c, 0, sizeof(*c));
	if (!s)
		return 0;
	while (isspace((unsigned char)*p))
		p++;
	if (!*p)
		return 0;
	for (;;) {
		char buf[VERSION_MAX_LEN + 2];
		size_t n;
		enum version_op op;

		while (isspace((unsigned char)*p))
			p++;
		p = parse_op(p, &op);
		while (isspace((unsigned char)*p))
			p++;
		n = strcspn(p, ",");
		while (n && isspace((unsigned char)p[n - 1]))
			n--;
		if (n == 0)
			return err_set(e, ERR_USAGE, "version constraint '%s': a term has no version",
				       s);
		if (n > VERSION_MAX_LEN)
			return err_set(e, ERR_USAGE, "version constraint '%s': version too long", s);
		if (c->nterms == CONSTRAINT_MAX_TERMS)
			return err_set(e, ERR_USAGE, "version constraint '%s': more than %d terms", s,
				       CONSTRAINT_MAX_TERMS);
		memcpy(buf, p, n);
		buf[n] = '\0';
		if (version_parse(buf, &c->term[c->nterms].v, e) < 0)
			return err_wrap(e, "version constraint '%s'", s);
		c->term[c->nterms].op = op;
		c->nterms++;
		p += n;
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			return 0;
		if (*p != ',')
			return err_set(e, ERR_USAGE,
				       "version constraint '%s': expected ',' before '%s'", s, p);
		p++;
	}
}

/* "~> 1.2.3" means >= 1.2.3 and < 1.3 (the last given number is the one allowed to grow);
 * "~> 1" means >= 1 and < 2, as in RubyGems. */
static bool pessimistic(const struct box_version *v, const struct box_version *base)
{
	struct box_version upper;
	unsigned keep;

	if (version_cmp(v, base) < 0)
		return false;
	memset(&upper, 0, sizeof(upper));
	keep = base->nseg > 1 ? base->nseg - 1 : 1;
	/* Pre-release words are dropped from the bump, as RubyGems' Version#bump does. */
	while (keep > 1 && !base->seg[keep - 1].is_num)
		keep--;
	for (unsigned i = 0; i < keep; i++)
		upper.seg[i] = base->seg[i];
	upper.nseg = keep;
	if (!upper.seg[keep - 1].is_num) {
		upper.seg[keep - 1].is_num = true;
		upper.seg[keep - 1].num = 0;
	}
	upper.seg[keep - 1].num++;
	return version_cmp(v, &upper) < 0;
}

bool version_satisfies(const struct box_version *v, const struct version_constraint *c)
{
	for (unsigned i = 0; i < c->nterms; i++) {
		int r = version_cmp(v, &c->term[i].v);
		bool ok = false;

		switch (c->term[i].op) {
		case VOP_EQ: ok = r == 0; break;
		case VOP_NE: ok = r != 0; break;
		case VOP_GT: ok = r > 0; break;
		case VOP_LT: ok = r < 0; break;
		case VOP_GE: ok = r >= 0; break;
		case VOP_LE: ok = r <= 0; break;
		case VOP_PESSIMISTIC: ok = pessimistic(v, &c->term[i].v); break;
		}
		if (!ok)
			return false;
	}
	return true;
}

bool version_str_satisfies(const char *s, const struct version_constraint *c)
{
	struct box_version v;

	return version_parse(s, &v, NULL) == 0 && version_satisfies(&v, c);
}

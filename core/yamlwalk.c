/* A schema walk over a YAML document (libyaml's document API) that records every problem with
 * its line and column. The only YAML reader in envup: the Envfile and config.yaml use it. */
#include "core/yamlwalk.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/fsutil.h"
#include "core/strutil.h"

static void add_problem(struct yaml_report *rep, char *msg)
{
	char **grown;

	if (!msg)
		return;
	/* Problems in defaults are met once per machine: say them once. */
	for (size_t i = 0; i < rep->n; i++) {
		if (!strcmp(rep->msgs[i], msg)) {
			free(msg);
			return;
		}
	}
	grown = realloc(rep->msgs, (rep->n + 1) * sizeof(*rep->msgs));
	if (!grown) {
		free(msg);
		return;
	}
	rep->msgs = grown;
	rep->msgs[rep->n++] = msg;
}

static __attribute__((format(printf, 5, 0))) void vreport(struct loader *ld, int line, int col,
							  const char *path, const char *fmt,
		    va_list ap)
{
	char msg[768], *full = NULL;
	int n;

	if (ld->rep->n >= YAML_MAX_PROBLEMS)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (line <= 0)
		n = asprintf(&full, "%s: %s", ld->display, msg);
	else if (path && *path)
		n = asprintf(&full, "%s:%d:%d: %s: %s", ld->display, line, col, path, msg);
	else
		n = asprintf(&full, "%s:%d:%d: %s", ld->display, line, col, msg);
	add_problem(ld->rep, n < 0 ? NULL : full);
}

static __attribute__((format(printf, 4, 5))) void vreport_at(struct loader *ld, int line,
							      int col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ld, line, col, NULL, fmt, ap);
	va_end(ap);
}

void ld_error(struct loader *ld, const yaml_node_t *node, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (node)
		vreport(ld, (int)node->start_mark.line + 1, (int)node->start_mark.column + 1, path,
			fmt, ap);
	else
		vreport(ld, 0, 0, path, fmt, ap);
	va_end(ap);
}

void ld_error_at(struct loader *ld, struct src_pos pos, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ld, pos.line, pos.col, path, fmt, ap);
	va_end(ap);
}

bool ld_visit(struct loader *ld, const yaml_node_t *node)
{
	if (++ld->visits <= YAML_MAX_VISITS)
		return true;
	if (!ld->too_many)
		ld_error(ld, node, NULL, "document too large to walk (more than %d values; "
			 "are aliases expanding without bound?)", YAML_MAX_VISITS);
	ld->too_many = true;
	return false;
}

yaml_node_t *ld_node(struct loader *ld, int index)
{
	return yaml_document_get_node(&ld->doc, index);
}

bool ld_has_key(struct loader *ld, const yaml_node_t *map, const char *name)
{
	if (map->type != YAML_MAPPING_NODE)
		return false;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *key = ld_node(ld, p->key);

		if (key && key->type == YAML_SCALAR_NODE &&
		    !strcmp((const char *)key->data.scalar.value, name))
			return true;
	}
	return false;
}

const char *ld_node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE: return "a mapping";
	case YAML_SEQUENCE_NODE: return "a list";
	default: return "a value";
	}
}

#define INTERPOLATE_MAX_NESTING 8

/* The "}" that closes the "${" whose inside starts at p (defaults may nest "${...}"), or
 * NULL. */
static const char *closing_brace(const char *p)
{
	unsigned depth = 1;

	for (; *p; p++) {
		if (p[0] == '$' && p[1] == '$') {
			p++;
		} else if (p[0] == '$' && p[1] == '{') {
			depth++;
			p++;
		} else if (*p == '}' && --depth == 0) {
			return p;
		}
	}
	return NULL;
}

/* Expands ${VAR} and ${VAR:-default} (the default may itself hold ${...}, up to
 * INTERPOLATE_MAX_NESTING deep); "$$" is a literal "$". */
static char *interpolate(struct loader *ld, const yaml_node_t *node, const char *path,
			 const char *in, unsigned level)
{
	size_t cap = strlen(in) + 64, len = 0;
	char *out = malloc(cap), *expanded = NULL;

	if (level > INTERPOLATE_MAX_NESTING) {
		ld_error(ld, node, path, "'${...}' nested more than %d deep",
			 INTERPOLATE_MAX_NESTING);
		free(out);
		return NULL;
	}

	if (!out)
		return NULL;
	for (const char *p = in; *p;) {
		const char *add = p;
		size_t addlen = 1;
		char name[128];

		if (p[0] == '$' && p[1] == '$') {
			p += 2;
		} else if (p[0] == '$' && p[1] == '{') {
			const char *end = closing_brace(p + 2);
			const char *dflt = NULL;
			size_t nlen;

			if (!end) {
				ld_error(ld, node, path, "unterminated '${' in '%s'", in);
				free(out);
				return NULL;
			}
			nlen = strcspn(p + 2, ":}");
			if (p[2 + nlen] == ':') {
				if (p[3 + nlen] != '-') {
					ld_error(ld, node, path, "bad interpolation in '%s' (use "
						 "${NAME} or ${NAME:-default})", in);
					free(out);
					return NULL;
				}
				dflt = p + 4 + nlen;
			}
			if (nlen == 0 || nlen >= sizeof(name)) {
				ld_error(ld, node, path, "bad variable name in '%s'", in);
				free(out);
				return NULL;
			}
			memcpy(name, p + 2, nlen);
			name[nlen] = '\0';
			for (size_t i = 0; i < nlen; i++) {
				if (!isalnum((unsigned char)name[i]) && name[i] != '_') {
					ld_error(ld, node, path, "bad variable name '%s'", name);
					free(out);
					return NULL;
				}
			}
			add = getenv(name);
			if (add && *add) {
				addlen = strlen(add);
			} else if (dflt) {
				char *d = strndup(dflt, (size_t)(end - dflt));

				free(expanded);
				expanded = d ? interpolate(ld, node, path, d, level + 1) : NULL;
				free(d);
				if (!expanded) {
					free(out);
					return NULL;
				}
				add = expanded;
				addlen = strlen(expanded);
			} else if (add) {
				addlen = 0;
			} else {
				ld_error(ld, node, path, "environment variable '%s' is not set "
					 "(write ${%s:-default} to give a default)", name, name);
				free(out);
				return NULL;
			}
			p = end + 1;
		} else {
			p++;
		}
		if (len + addlen + 1 > cap) {
			char *grown;

			if (len + addlen + 1 > YAML_MAX_VALUE) {
				ld_error(ld, node, path, "value too long after interpolation");
				free(expanded);
				free(out);
				return NULL;
			}
			cap = (len + addlen + 1) * 2;
			grown = realloc(out, cap);
			if (!grown) {
				free(expanded);
				free(out);
				return NULL;
			}
			out = grown;
		}
		memcpy(out + len, add, addlen);
		len += addlen;
		free(expanded);
		expanded = NULL;
	}
	out[len] = '\0';
	return out;
}

char *ld_string(struct loader *ld, const yaml_node_t *node, const char *path)
{
	char *s;

	if (node->type != YAML_SCALAR_NODE) {
		ld_error(ld, node, path, "expected a value, got %s", ld_node_kind(node));
		return NULL;
	}
	if (ld->interpolate)
		s = interpolate(ld, node, path, (const char *)node->data.scalar.value, 0);
	else
		s = strdup((const char *)node->data.scalar.value);
	if (s && !*s && node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		ld_error(ld, node, path, "value is missing");
		free(s);
		return NULL;
	}
	return s;
}

void ld_checked_string(struct loader *ld, const yaml_node_t *node, const char *path,
		       bool (*ok)(const char *), const char *why, char **field)
{
	char *s = ld_string(ld, node, path);

	if (!s)
		return;
	if (!ok(s)) {
		ld_error(ld, node, path, "'%s' %s", s, why);
		free(s);
		return;
	}
	free(*field);
	*field = s;
}

bool ld_int(struct loader *ld, const yaml_node_t *node, const char *path, long long min,
	    long long max, long long *out)
{
	char *s = ld_string(ld, node, path);
	bool ok;

	if (!s)
		return false;
	ok = str_to_int(s, LLONG_MIN, LLONG_MAX, out);
	if (!ok)
		ld_error(ld, node, path, "'%s' is not a whole number", s);
	else if (*out < min || *out > max) {
		ld_error(ld, node, path, "%lld is out of range (%lld to %lld)", *out, min, max);
		ok = false;
	}
	free(s);
	return ok;
}

bool ld_bool(struct loader *ld, const yaml_node_t *node, const char *path, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
	char *s = ld_string(ld, node, path);

	if (!s)
		return false;
	for (int i = 0; i < 3; i++) {
		if (!strcasecmp(s, yes[i]) || !strcasecmp(s, no[i])) {
			*out = !strcasecmp(s, yes[i]);
			free(s);
			return true;
		}
	}
	ld_error(ld, node, path, "'%s' is not true or false", s);
	free(s);
	return false;
}

void ld_free_strv(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

bool ld_string_list(struct loader *ld, const yaml_node_t *node, const char *path, char ***out,
		    size_t *n)
{
	size_t count;
	char **list;
	bool ok = true;

	if (node->type == YAML_SCALAR_NODE) {
		char *s = ld_string(ld, node, path);

		if (!s)
			return false;
		list = malloc(sizeof(*list));
		if (!list) {
			free(s);
			return false;
		}
		list[0] = s;
		ld_free_strv(*out, *n);
		*out = list;
		*n = 1;
		return true;
	}
	if (node->type != YAML_SEQUENCE_NODE) {
		ld_error(ld, node, path, "expected a list, got %s", ld_node_kind(node));
		return false;
	}
	count = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
	if (count > YAML_MAX_LIST) {
		ld_error(ld, node, path, "more than %d items", YAML_MAX_LIST);
		return false;
	}
	list = calloc(count ? count : 1, sizeof(*list));
	if (!list)
		return false;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = ld_node(ld, node->data.sequence.items.start[i]);
		char ipath[512];

		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		if (!item || !ld_visit(ld, item) || !(list[i] = ld_string(ld, item, ipath)))
			ok = false;
	}
	if (!ok) {
		ld_free_strv(list, count);
		return false;
	}
	ld_free_strv(*out, *n);
	*out = list;
	*n = count;
	return true;
}

bool ld_want_list(struct loader *ld, const yaml_node_t *v, const char *path)
{
	if (v->type != YAML_SEQUENCE_NODE) {
		ld_error(ld, v, path, "expected a list");
		return false;
	}
	if ((size_t)(v->data.sequence.items.top - v->data.sequence.items.start) > YAML_MAX_LIST) {
		ld_error(ld, v, path, "more than %d items", YAML_MAX_LIST);
		return false;
	}
	return true;
}

void ld_mapping(struct loader *ld, const yaml_node_t *map, const char *path,
		const struct ld_key *keys, void *target)
{
	const char *names[64];
	size_t nnames = 0;

	if (map->type != YAML_MAPPING_NODE) {
		ld_error(ld, map, path, "expected a mapping (key: value), got %s", ld_node_kind(map));
		return;
	}
	for (const struct ld_key *k = keys; k->name && nnames < 64; k++)
		names[nnames++] = k->name;
	/* The duplicate check below is quadratic: bound the keys of one mapping. */
	if (map->data.mapping.pairs.top - map->data.mapping.pairs.start > YAML_MAX_LIST) {
		ld_error(ld, map, path, "more than %d keys", YAML_MAX_LIST);
		return;
	}
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *key = ld_node(ld, p->key), *val = ld_node(ld, p->value);
		const struct ld_key *found = NULL;
		const char *name;
		char kpath[512];

		if (!key || !val || !ld_visit(ld, val))
			return;
		if (key->type != YAML_SCALAR_NODE) {
			ld_error(ld, key, path, "keys must be plain words");
			continue;
		}
		name = (const char *)key->data.scalar.value;
		for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *prev = ld_node(ld, q->key);

			if (prev && prev->type == YAML_SCALAR_NODE &&
			    !strcmp((const char *)prev->data.scalar.value, name)) {
				ld_error(ld, key, path, "duplicate key '%s' (first at line %zu)",
					 name, prev->start_mark.line + 1);
				name = NULL;
				break;
			}
		}
		if (!name)
			continue;
		for (const struct ld_key *k = keys; k->name; k++)
			if (!strcmp(k->name, name))
				found = k;
		if (!found) {
			const char *s = str_suggest(name, names, nnames);

			if (s)
				ld_error(ld, key, path, "unknown key '%s' (did you mean '%s'?)",
					 name, s);
			else
				ld_error(ld, key, path, "unknown key '%s'", name);
			continue;
		}
		snprintf(kpath, sizeof(kpath), "%s%s%s", path, *path ? "." : "", name);
		found->fn(ld, target, val, kpath);
	}
}

/* The position of byte off in text as line and column (1-based, columns in characters). */
static void offset_pos(const char *text, size_t len, size_t off, size_t *line, size_t *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off && i < len; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)text[i] & 0xc0) != 0x80) {
			(*col)++;
		}
	}
}

/* libyaml gives up on a plain key longer than 1024 characters with a scanner error far from
 * the cause ("mapping values are not allowed"); name the cause when the error's line starts
 * with such a key. */
static void long_key_hint(const char *text, size_t len, size_t at, char *hint, size_t size)
{
	size_t start = at < len ? at : len, klen;

	while (start && text[start - 1] != '\n')
		start--;
	while (start < len && (text[start] == ' ' || text[start] == '-'))
		start++;
	klen = strcspn(text + start, ":\n");
	if (klen > 1024 && start + klen < len && text[start + klen] == ':')
		snprintf(hint, size,
			 " (the key on this line is %zu characters long; YAML keys are at most "
			 "1024, machine names at most 63)",
			 klen);
}

static void report_yaml_error(struct loader *ld, const yaml_parser_t *parser, const char *text,
			      size_t len)
{
	const yaml_mark_t *mark = parser->problem_mark.line || parser->problem_mark.column
					  ? &parser->problem_mark
					  : &parser->context_mark;
	size_t line = mark->line + 1, col = mark->column + 1;
	char *msg = NULL;

	char hint[160] = "";

	/* the reader (bad UTF-8, control characters) knows only a byte offset */
	if (parser->error == YAML_READER_ERROR)
		offset_pos(text, len, parser->problem_offset, &line, &col);
	else
		long_key_hint(text, len, mark->index, hint, sizeof(hint));
	if (asprintf(&msg, "%s:%zu:%zu: YAML syntax error: %s%s%s%s", ld->display, line, col,
		     parser->problem ? parser->problem : "malformed document",
		     parser->context ? " " : "", parser->context ? parser->context : "",
		     hint) < 0)
		return;
	add_problem(ld->rep, msg);
}

/* A pass over the events before building the document: libyaml's scanner spends time
 * quadratic in the nesting depth ("[[[[...", 100k deep took 24 s), so nesting is bounded here
 * and the scan stops at the first level too deep; a second document is an error rather than
 * ignored. Returns true when the document may be loaded. */
static bool prescan(struct loader *ld, const char *text, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	unsigned depth = 0, docs = 0;
	bool ok = true;

	if (!yaml_parser_initialize(&parser))
		return false;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	for (;;) {
		if (!yaml_parser_parse(&parser, &ev)) {
			report_yaml_error(ld, &parser, text, len);
			ok = false;
			break;
		}
		if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) {
			if (++depth > YAML_MAX_DEPTH) {
				vreport_at(ld, (int)ev.start_mark.line + 1,
					   (int)ev.start_mark.column + 1,
					   "nested more than %d levels deep", YAML_MAX_DEPTH);
				ok = false;
			}
		} else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
			depth--;
		} else if (ev.type == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
			vreport_at(ld, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
				   "a second YAML document; the file must hold exactly one");
			ok = false;
		}
		if (ev.type == YAML_STREAM_END_EVENT || !ok) {
			yaml_event_delete(&ev);
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return ok;
}

/* libyaml keeps a "\0" escape inside a scalar; every reader here would cut the string there
 * without a word, so it is refused at its own position. */
static void check_nul(struct loader *ld)
{
	for (yaml_node_t *n = ld->doc.nodes.start; n < ld->doc.nodes.top; n++)
		if (n->type == YAML_SCALAR_NODE &&
		    strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
			vreport_at(ld, (int)n->start_mark.line + 1, (int)n->start_mark.column + 1,
				   "a NUL character inside a key or value");
}

int ld_open(struct loader *ld, const char *path, const char *display, size_t max_bytes,
	    struct yaml_report *rep, struct err *e)
{
	yaml_parser_t parser;
	char *text;
	size_t len;
	int rc;

	memset(ld, 0, sizeof(*ld));
	memset(rep, 0, sizeof(*rep));
	ld->display = display ? display : path;
	ld->rep = rep;
	if (fs_read_file(path, max_bytes, &text, &len, e) < 0)
		return -1;
	if (!prescan(ld, text, len)) {
		free(text);
		return 0;
	}
	if (!yaml_parser_initialize(&parser)) {
		free(text);
		return err_set(e, ERR_FAIL, "out of memory");
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	rc = yaml_parser_load(&parser, &ld->doc);
	if (!rc)
		report_yaml_error(ld, &parser, text, len);
	ld->have_doc = rc;
	yaml_parser_delete(&parser);
	free(text);
	if (rc)
		check_nul(ld);
	return rc && !rep->n ? 1 : 0;
}

int ld_close(struct loader *ld, struct err *e)
{
	struct yaml_report *rep = ld->rep;

	if (ld->have_doc)
		yaml_document_delete(&ld->doc);
	ld->have_doc = false;
	if (rep->n == 0)
		return 0;
	if (rep->n == 1)
		return err_set(e, ERR_CORRUPT, "%s", rep->msgs[0]);
	return err_set(e, ERR_CORRUPT, "%s (and %zu more problem%s)", rep->msgs[0], rep->n - 1,
		       rep->n > 2 ? "s" : "");
}

void yaml_report_free(struct yaml_report *rep)
{
	ld_free_strv(rep->msgs, rep->n);
	rep->msgs = NULL;
	rep->n = 0;
}


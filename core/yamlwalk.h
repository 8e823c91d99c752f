/* A schema walk over YAML documents with every problem reported as FILE:LINE:COL: key.path:
 * why. Used by the Envfile loader and the user configuration; nothing else reads YAML. */
#ifndef ENVUP_CORE_YAMLWALK_H
#define ENVUP_CORE_YAMLWALK_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "core/envfile.h"
#include "core/err.h"

#define YAML_MAX_VALUE (1u << 20)     /* a value after interpolation */
#define YAML_MAX_VISITS 200000   /* nodes walked, aliases included: stops alias bombs */
#define YAML_MAX_PROBLEMS 100
#define YAML_MAX_LIST 1024       /* items in any one list */
#define YAML_MAX_DEPTH 64        /* nested lists and mappings */

struct loader {
	const char *display;        /* file name as shown in messages */
	const char *dir;            /* base for relative paths (the Envfile's directory) */
	bool interpolate;           /* expand ${VAR} in values */
	yaml_document_t doc;
	bool have_doc;
	struct yaml_report *rep;
	unsigned long visits;
	bool too_many;
};

/* Reads and parses path (at most max_bytes) into ld->doc; problems go to rep. Returns 1 with
 * a document, 0 after a YAML syntax error (recorded in rep), -1 when the file cannot be read
 * (e). */
int ld_open(struct loader *ld, const char *path, const char *display, size_t max_bytes,
	    struct yaml_report *rep, struct err *e);

/* Frees the document; 0 when rep is empty, else -1 with the first problem (and a count of the
 * others) in e. */
int ld_close(struct loader *ld, struct err *e);

/* Records "FILE:LINE:COL: PATH: message" at node's position. */
void ld_error(struct loader *ld, const yaml_node_t *node, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Records a problem at a remembered position (for checks made after the walk). */
void ld_error_at(struct loader *ld, struct src_pos pos, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Counts a visit; false (after one error) once the walk is too large. */
bool ld_visit(struct loader *ld, const yaml_node_t *node);

/* The node's interpolated string value (heap), or NULL after recording an error. */
char *ld_string(struct loader *ld, const yaml_node_t *node, const char *path);
bool ld_int(struct loader *ld, const yaml_node_t *node, const char *path, long long min,
	    long long max, long long *out);
bool ld_bool(struct loader *ld, const yaml_node_t *node, const char *path, bool *out);
/* A list of strings; a single string is taken as a one-item list. */
bool ld_string_list(struct loader *ld, const yaml_node_t *node, const char *path, char ***out,
		    size_t *n);

typedef void (*ld_key_fn)(struct loader *ld, void *target, const yaml_node_t *value,
			  const char *path);
struct ld_key {
	const char *name;
	ld_key_fn fn;
};

/* Walks a mapping: each key found in keys[] (NULL-terminated) calls its handler with path
 * "PATH.KEY"; unknown and duplicate keys are recorded with a suggestion. */
void ld_mapping(struct loader *ld, const yaml_node_t *map, const char *path,
		const struct ld_key *keys, void *target);

yaml_node_t *ld_node(struct loader *ld, int index);

/* True when the mapping map has the key name (whatever its value). */
bool ld_has_key(struct loader *ld, const yaml_node_t *map, const char *name);

/* Replaces *field with the node's string when ok() accepts it, else records "'VALUE' why". */
void ld_checked_string(struct loader *ld, const yaml_node_t *node, const char *path,
		       bool (*ok)(const char *), const char *why, char **field);

/* "a mapping", "a list" or "a value", for messages. */
const char *ld_node_kind(const yaml_node_t *n);

/* Checks that v is a list of at most YAML_MAX_LIST items. */
bool ld_want_list(struct loader *ld, const yaml_node_t *v, const char *path);

void ld_free_strv(char **v, size_t n);

/* Replaces field with the node's string value when it has one. */
#define SET_STR(field)                                                                     \
	do {                                                                               \
		char *s_ = ld_string(ld, v, path);                                         \
		if (s_) {                                                                  \
			free(field);                                                       \
			field = s_;                                                        \
		}                                                                          \
	} while (0)

#endif

/* Shared by the Envfile loader's files; not for use elsewhere. */
#ifndef ENVUP_CORE_ENVFILE_INTERNAL_H
#define ENVUP_CORE_ENVFILE_INTERNAL_H

#include <stdbool.h>
#include <yaml.h>

#include "core/envfile.h"

#define ENVFILE_MAX_BYTES (1u << 20)
#define ENVFILE_MAX_VISITS 200000   /* nodes walked, aliases included: stops alias bombs */
#define ENVFILE_MAX_PROBLEMS 100
#define ENVFILE_MAX_LIST 1024       /* items in any one list */

struct loader {
	const char *display;        /* file name as shown in messages */
	const char *dir;            /* project directory, for relative paths */
	yaml_document_t doc;
	struct envfile_report *rep;
	unsigned long visits;
	bool too_many;
};

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

/* Applies one machine mapping (defaults or the machine's own) on top of m. */
void ld_machine(struct loader *ld, struct machine *m, const yaml_node_t *map, const char *path);

/* Fills fields that neither defaults nor the machine set, and numbers unnamed steps. */
int ld_machine_finish(struct loader *ld, struct machine *m, bool box_given, const char *path);

void machine_free(struct machine *m);

/* Replaces field with the node's string value when it has one. */
#define SET_STR(field)                                                                     \
	do {                                                                               \
		char *s_ = ld_string(ld, v, path);                                         \
		if (s_) {                                                                  \
			free(field);                                                       \
			field = s_;                                                        \
		}                                                                          \
	} while (0)

/* A path from the Envfile made absolute against the project directory; with must_exist,
 * canonical and checked to exist. NULL after recording an error. */
char *ld_project_path(struct loader *ld, const yaml_node_t *v, const char *path, bool must_exist);

/* Checks that v is a list of at most ENVFILE_MAX_LIST items. */
bool ld_want_list(struct loader *ld, const yaml_node_t *v, const char *path);

void ld_free_strv(char **v, size_t n);

/* The provision: key (envfile_provision.c); steps from defaults come first. */
void ld_provision(struct loader *ld, void *target, const yaml_node_t *v, const char *path);
void ld_step_free(struct provision_step *st);


#endif

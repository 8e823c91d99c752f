/* Shared by the Envfile loader's files; not for use elsewhere. */
#ifndef ENVUP_CORE_ENVFILE_INTERNAL_H
#define ENVUP_CORE_ENVFILE_INTERNAL_H

#include <stdbool.h>

#include "core/envfile.h"
#include "core/yamlwalk.h"

#define ENVFILE_MAX_BYTES (1u << 20)
#define ENVFILE_MAX_LIST YAML_MAX_LIST

/* Applies one machine mapping (defaults or the machine's own) on top of m. */
void ld_machine(struct loader *ld, struct machine *m, const yaml_node_t *map, const char *path);

/* Fills fields that neither defaults nor the machine set, and numbers unnamed steps. */
int ld_machine_finish(struct loader *ld, struct machine *m, bool box_given, const char *path);

void machine_free(struct machine *m);

/* A path from the Envfile made absolute against the project directory; with must_exist,
 * canonical and checked to exist. NULL after recording an error. */
char *ld_project_path(struct loader *ld, const yaml_node_t *v, const char *path, bool must_exist);


/* The provision: key (envfile_provision.c); steps from defaults come first. */
void ld_provision(struct loader *ld, void *target, const yaml_node_t *v, const char *path);
void ld_step_free(struct provision_step *st);

/* Parses a list of mappings into a new array of n elements of size elem, each filled through
 * keys; an item lacking one of the required keys gets the error missing_msg. Returns NULL
 * (and nothing changed) when v is not a list. */
void *ld_mapping_list(struct loader *ld, const yaml_node_t *v, const char *path, size_t elem,
		      const struct ld_key *keys, const char *const *required,
		      const char *missing_msg, size_t *n);

/* The synced_folders: key (envfile_folders.c); the machine's own list replaces defaults'. */
void ld_synced_folders(struct loader *ld, void *target, const yaml_node_t *v, const char *path);
/* Adds the default project-directory entry on /vagrant unless an entry has that guest path,
 * and checks the entries against each other. */
void ld_folders_finish(struct loader *ld, struct machine *m, const char *path);
/* A login or group name: letters, digits, '.', '_', '-', '@' (not first), at most 64 bytes. */
bool ld_valid_user(const char *s);
void ld_folders_free(struct synced_folder *f, size_t n);
#endif

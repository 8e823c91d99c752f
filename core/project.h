/* Project state: the .envup/ directory next to the Envfile, its lock, and each machine's
 * state.json (written atomically). */
#ifndef ENVUP_CORE_PROJECT_H
#define ENVUP_CORE_PROJECT_H

#include <stdbool.h>

#include <json-c/json.h>

#include "core/envfile.h"
#include "core/err.h"

struct project {
	char *dir;        /* the project directory (the Envfile's) */
	char *state_dir;  /* dir/.envup */
	int lock_fd;      /* -1 when not locked */
};

/* Sets up p for env's project (creates .envup/ with its .gitignore if missing). */
int project_open(const struct env *env, struct project *p, struct err *e);

/* Sets up p for env's project without creating anything (for read-only commands). */
int project_peek(const struct env *env, struct project *p, struct err *e);

/* Takes the project lock (flock on .envup/lock). wait=false fails with ERR_BUSY and
 * "another envup command is running on this project (pid N)". */
int project_lock(struct project *p, bool wait, struct err *e);

/* Releases the lock and frees p's strings. */
void project_close(struct project *p);

/* .envup/machines/NAME as a heap string (not created). */
char *project_machine_dir(const struct project *p, const char *machine);

/* Creates .envup/machines/NAME (0700) if missing and returns its path. */
int project_machine_dir_create(const struct project *p, const char *machine, char **out,
			       struct err *e);

/* Loads machine_dir/state.json; a missing file gives an empty object. Caller puts it. */
int machine_state_load(const char *machine_dir, struct json_object **out, struct err *e);

/* Writes state to machine_dir/state.json atomically (temp file, fsync, rename, fsync dir). */
int machine_state_save(const char *machine_dir, struct json_object *state, struct err *e);

#endif

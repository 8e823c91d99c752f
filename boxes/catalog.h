/* Vagrant-compatible box catalogs ("metadata URLs"): parsing the JSON and choosing the version,
 * provider and architecture to install. Catalogs are untrusted: sizes and counts are bounded. */
#ifndef ENVUP_BOXES_CATALOG_H
#define ENVUP_BOXES_CATALOG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/version.h"

#define CATALOG_MAX_BYTES (8u << 20)
#define CATALOG_MAX_VERSIONS 10000
#define CATALOG_MAX_PROVIDERS 64

struct catalog_provider {
	char *name; /* "envup", "libvirt", "virtualbox", ... */
	char *url;
	char *checksum;	     /* NULL when the catalog gives none */
	char *checksum_type; /* "sha256", ... or NULL */
	char *architecture;  /* "amd64", "arm64", ... or "unknown" when absent */
	bool default_architecture;
};

struct catalog_version {
	char *version;
	struct catalog_provider *providers;
	size_t nproviders;
};

struct catalog {
	char *name;
	char *description; /* may be NULL */
	struct catalog_version *versions;
	size_t nversions;
};

struct catalog_query {
	const char *constraint; /* NULL: any version */
	const char *provider;	/* NULL: the first of catalog_provider_preference that fits */
	const char *arch;	/* NULL: the host's, then default_architecture, then "unknown" */
};

struct catalog_choice {
	const struct catalog_version *version;
	const struct catalog_provider *provider;
};

/* Box providers envup can run, most preferred first (NULL-terminated). */
extern const char *const catalog_provider_preference[];

/* The host architecture in Vagrant's words ("amd64", "arm64", "i386", ...). */
const char *catalog_host_arch(void);

/* Parses a catalog; source names it in error messages (a URL or file). */
int catalog_parse(const char *json, size_t len, const char *source, struct catalog **out,
		  struct err *e);

/* Frees a catalog. NULL is fine. */
void catalog_free(struct catalog *c);

/* Picks the newest version satisfying q->constraint that has a usable provider for the
 * architecture; ERR_NOTFOUND with a message listing what the catalog offers otherwise. */
int catalog_select(const struct catalog *c, const struct catalog_query *q,
		   struct catalog_choice *out, struct err *e);

/* Compares version strings as versions; strings that do not parse sort before all others. */
int catalog_version_cmp(const char *a, const char *b);

/* True when version string s parses and satisfies c. */
bool catalog_version_matches(const char *s, const struct constraint *c);

/* True when name is a provider envup can import. */
bool catalog_provider_supported(const char *name);

#endif

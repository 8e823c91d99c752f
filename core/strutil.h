/* String helpers: edit distance for "did you mean" suggestions, bounded parsing. */
#ifndef ENVUP_CORE_STRUTIL_H
#define ENVUP_CORE_STRUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Levenshtein distance between a and b (capped at 255 for long strings). */
unsigned str_distance(const char *a, const char *b);

/* The candidate closest to word, or NULL when none is close enough to be a typo. */
const char *str_suggest(const char *word, const char *const *candidates, size_t n);

/* Parses a decimal integer in [min, max] that fills the whole string. */
bool str_to_int(const char *s, long long min, long long max, long long *out);

/* Parses "512", "512M", "2G", "1.5G", "20GiB" into bytes; a bare number is in units of
 * bare_unit bytes. Fails on overflow, negatives and unknown suffixes. */
bool str_to_size(const char *s, uint64_t bare_unit, uint64_t *out);

/* True when s starts with prefix. */
bool str_starts_with(const char *s, const char *prefix);

/* s quoted for a POSIX shell ('...' with embedded quotes escaped). Heap string, NULL on OOM. */
char *str_shell_quote(const char *s);

#endif

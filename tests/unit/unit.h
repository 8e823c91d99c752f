/* Shared by the cmocka unit tests. */
#ifndef ENVUP_TESTS_UNIT_H
#define ENVUP_TESTS_UNIT_H

#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* A fresh temporary directory (heap path); removed by unit_rmdir. */
char *unit_tmpdir(void);
void unit_rmdir(char *dir);
/* cmocka setup/teardown pair: a fresh temporary directory in unit_dir for each test. */
extern char *unit_dir;
int unit_setup_dir(void **state);
int unit_teardown_dir(void **state);

/* Runs a printf-formatted shell command; its system() status. */
int unit_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Whether command is on PATH. */
bool unit_have(const char *command);

/* Writes text to dir/name. */
void unit_write(const char *dir, const char *name, const char *text);

/* The 8-bit sum of n bytes (an ACPI table's checksum makes it 0). */
static inline uint8_t unit_sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* The little-endian value of n bytes (n <= 8). */
static inline uint64_t unit_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

#endif

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

#endif

/* Everything the CLI shows a person goes through here: messages, colour, progress bars.
 * Colour and bars only on terminals, never with NO_COLOR, --json or -q. */
#ifndef ENVUP_CORE_UI_H
#define ENVUP_CORE_UI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum ui_level { UI_QUIET = -1, UI_NORMAL = 0, UI_VERBOSE = 1, UI_DEBUG = 2 };

/* Sets verbosity and whether output is JSON (then only errors go to stderr as text). */
void ui_init(int verbosity, bool json);

bool ui_json(void);

/* stdout: normal progress messages ("==> web: Booting"); silent with -q or --json. */
void ui_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* stdout, only with -v. */
void ui_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* stderr, always (yellow on terminals). */
void ui_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* stderr, always, prefixed "error: " (red on terminals). */
void ui_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* stdout text that is the command's result (status tables, ssh-config); not silenced by -q. */
void ui_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* How many leading bytes of s (n bytes) may reach a terminal as they are: printable ASCII,
 * newline, tab and well-formed UTF-8 other than C1 controls. */
size_t ui_escape_len(const char *s, size_t n);

/* Writes s to f with every other byte shown as \xNN ("\r" as \r): what every ui_ message
 * does with its text. */
void ui_escape_write(FILE *f, const char *s, size_t n);

/* n bytes for people: "512 B", "1.5 MiB" (binary units up to PiB). */
void ui_format_bytes(uint64_t n, char *buf, size_t len);

/* A progress bar on stderr (label, bytes done of total, rate, ETA); drawn at most ~10 times
 * a second, only on terminals. ui_progress_done clears the line. */
struct ui_progress {
	const char *label;
	uint64_t last_draw_ns;
	/* the speed counts from the first update: bytes a resumed download already had are not
	 * this run's */
	uint64_t first_ns, first_done;
	bool timed;
	bool drawn;
};
void ui_progress_start(struct ui_progress *p, const char *label);
void ui_progress_update(void *p, uint64_t done, uint64_t total);
void ui_progress_done(struct ui_progress *p);

#endif

#include "core/ui.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* The one piece of process-wide UI state, set once by cmd/ at start-up. */
static int verbosity;
static bool json_mode;

void ui_init(int level, bool json)
{
	verbosity = level;
	json_mode = json;
}

bool ui_json(void)
{
	return json_mode;
}

static bool color_on(FILE *f)
{
	const char *nc = getenv("NO_COLOR");

	return !(nc && *nc) && isatty(fileno(f)) && !json_mode;
}

size_t ui_escape_len(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		size_t k = 0;

		if (c < 0x80) {
			if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
				return i;
			i++;
			continue;
		}
		/* a well-formed UTF-8 sequence that is not a C1 control (U+0080..U+009F) */
		if (c >= 0xc2 && c <= 0xdf)
			k = 1;
		else if (c >= 0xe0 && c <= 0xef)
			k = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			k = 3;
		if (!k || i + k >= n)
			return i;
		for (size_t j = 1; j <= k; j++)
			if (((unsigned char)s[i + j] & 0xc0) != 0x80)
				return i;
		if (c == 0xc2 && (unsigned char)s[i + 1] < 0xa0)
			return i;
		i += k + 1;
	}
	return n;
}

void ui_escape_write(FILE *f, const char *s, size_t n)
{
	while (n) {
		size_t ok = ui_escape_len(s, n);

		fwrite(s, 1, ok, f);
		s += ok;
		n -= ok;
		if (!n)
			break;
		if (*s == '\r')
			fputs("\\r", f);
		else
			fprintf(f, "\\x%02x", (unsigned char)*s);
		s++;
		n--;
	}
}

/* Every message is escaped on its way out: text from an Envfile, a catalog or a server may
 * hold terminal control sequences (clear the screen, retitle the window, a "\r" that
 * overprints the verdict), so nothing but printable text, newlines and tabs reaches the
 * terminal as it is. */
static __attribute__((format(printf, 4, 0))) void vprint(FILE *f, const char *color,
							 const char *prefix,
							 const char *fmt, va_list ap)
{
	bool c = color && color_on(f);
	char *msg = NULL;
	int n = vasprintf(&msg, fmt, ap);

	if (c)
		fprintf(f, "\033[%sm", color);
	if (prefix)
		fputs(prefix, f);
	if (n >= 0)
		ui_escape_write(f, msg, (size_t)n);
	free(msg);
	if (c)
		fputs("\033[0m", f);
	fputc('\n', f);
	fflush(f);
}

void ui_info(const char *fmt, ...)
{
	va_list ap;

	if (verbosity < UI_NORMAL || json_mode)
		return;
	va_start(ap, fmt);
	vprint(stdout, NULL, NULL, fmt, ap);
	va_end(ap);
}

void ui_verbose(const char *fmt, ...)
{
	va_list ap;

	if (verbosity < UI_VERBOSE || json_mode)
		return;
	va_start(ap, fmt);
	vprint(stdout, "2", NULL, fmt, ap);
	va_end(ap);
}

void ui_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprint(stderr, "33", "warning: ", fmt, ap);
	va_end(ap);
}

void ui_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprint(stderr, "31", "error: ", fmt, ap);
	va_end(ap);
}

void ui_out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprint(stdout, NULL, NULL, fmt, ap);
	va_end(ap);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* stderr's width; 80 where it does not say (a pty nobody sized) */
static int terminal_columns(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
		return ws.ws_col;
	return 80;
}

static bool bars_on(void)
{
	return verbosity >= UI_NORMAL && !json_mode && isatty(STDERR_FILENO);
}

void ui_progress_start(struct ui_progress *p, const char *label)
{
	p->label = label;
	p->last_draw_ns = 0;
	p->timed = false;
	p->drawn = false;
}

void ui_format_bytes(uint64_t n, char *buf, size_t len)
{
	const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)n;
	int u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
}

/* The speed and the time left are shown once the phase has run this long: from a few
 * milliseconds they would be noise (a first frame said 101.3 TiB/s). */
#define UI_RATE_AFTER_NS 500000000ULL

void ui_progress_update(void *ctx, uint64_t done, uint64_t total)
{
	struct ui_progress *p = ctx;
	uint64_t now = now_ns();
	double rate = 0;
	char d[32], r[48] = "", line[256];
	int cols;

	if (!p->timed) {
		p->timed = true;
		p->first_ns = now;
		p->first_done = done;
	}
	if (!bars_on() || (p->drawn && now - p->last_draw_ns < 100000000ULL && done != total))
		return;
	p->last_draw_ns = now;
	p->drawn = true;
	cols = terminal_columns();
	if (now - p->first_ns >= UI_RATE_AFTER_NS && done > p->first_done)
		rate = (double)(done - p->first_done) / ((double)(now - p->first_ns) / 1e9);
	ui_format_bytes(done, d, sizeof(d));
	if (rate > 0) {
		ui_format_bytes((uint64_t)rate, r, sizeof(r) - 2);
		strcat(r, "/s");
	}
	if (total) {
		double eta = rate > 0 ? (double)(total - (done < total ? done : total)) / rate : -1;
		char left[24] = "ETA --:--", tail[128];
		int width, fill;

		if (eta >= 100 * 3600)
			snprintf(left, sizeof(left), "ETA >99 h");
		else if (eta >= 3600)
			snprintf(left, sizeof(left), "ETA %d:%02d:%02d", (int)eta / 3600,
				 (int)eta / 60 % 60, (int)eta % 60);
		else if (eta >= 0)
			snprintf(left, sizeof(left), "ETA %02d:%02d", (int)eta / 60, (int)eta % 60);
		/* fixed columns, so that the bar keeps its width when the speed appears */
		snprintf(tail, sizeof(tail), "%3d%% %10s %12s %s",
			 (int)((double)done * 100 / (double)total), d, r, left);
		/* the bar takes what the line leaves: a line wider than the terminal wraps, and
		 * the next frame's \r would clear only its last row */
		width = cols - 1 - (int)strlen(p->label) - 4 - (int)strlen(tail);
		if (width > 30)
			width = 30;
		if (width >= 5) {
			fill = done < total ? (int)((double)done / (double)total * width) : width;
			snprintf(line, sizeof(line), "%s [%.*s%*s] %s", p->label, fill,
				 "##############################", width - fill, "", tail);
		} else {
			snprintf(line, sizeof(line), "%s %s", p->label, tail);
		}
	} else {
		snprintf(line, sizeof(line), "%s %s %s", p->label, d, r);
	}
	fprintf(stderr, "\r\033[K%.*s", cols - 1, line);
	fflush(stderr);
}

void ui_progress_done(struct ui_progress *p)
{
	if (p->drawn && bars_on()) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	p->drawn = false;
}

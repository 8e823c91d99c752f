# envup build. Sources are found by folder (see ../shared/DESIGN.md for the layout);
# per-area extra rules (fuzzers, guest images, benchmarks) live in mk/*.mk.

.DEFAULT_GOAL := all

CC      ?= gcc
PREFIX  ?= /usr/local
PKG_CONFIG ?= pkg-config
PKGS    := yaml-0.1 libcurl libarchive libssh zlib libzstd libcrypto json-c slirp libseccomp
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

WARN    := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wpointer-arith -Wundef -Wvla -Wwrite-strings -Wnull-dereference \
           -Wimplicit-fallthrough -Wno-unused-parameter -Wno-format-truncation -Werror
BASE_CFLAGS = -std=gnu11 -g -D_GNU_SOURCE -DENVUP_VERSION='"$(VERSION)"' -I. $(WARN) \
              $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
LIBS    = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -lpthread -lm

REL_CFLAGS := -O2 -D_FORTIFY_SOURCE=2 -fstack-protector-strong
SAN_CFLAGS := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined

LIB_SRCS  := $(wildcard core/*.c boxes/*.c providers/*.c provisioners/*.c)
CMD_SRCS  := $(wildcard cmd/*.c)
# The light envctl: the commands that need neither the network nor SSH libraries. The others
# run in envctl-full (cmd/cmd.h says how), so that status and validate start in ~1 ms and
# envrsync costs what a hand-typed rsync does.
LIGHT_CMD_SRCS := cmd/main.c cmd/common.c cmd/init.c cmd/validate.c cmd/status.c cmd/box.c \
		  cmd/machines.c cmd/rsync.c
VMM_SRCS  := $(filter-out vmm/main.c,$(wildcard vmm/*.c vmm/*/*.c))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_COMMON := $(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.c))

# $(1): build dir, $(2): extra cflags
define variant
$(1)/%.o: %.c
	@mkdir -p $$(@D)
	@echo "  CC      $$@"
	@$$(CC) $$(BASE_CFLAGS) $(2) -MMD -MP -c $$< -o $$@
$(1)/libenvup.a: $(LIB_SRCS:%.c=$(1)/%.o)
	@rm -f $$@; ar rcs $$@ $$^
$(1)/libvmm.a: $(VMM_SRCS:%.c=$(1)/%.o)
	@rm -f $$@; ar rcs $$@ $$^ $$(if $$^,,)
$(1)/bin/envctl: $(LIGHT_CMD_SRCS:%.c=$(1)/%.o) $(1)/libenvup.a $(1)/libexec/envup/envctl-full
	@mkdir -p $$(@D)
	@echo "  LD      $$@"
	@$$(CC) $(2) -Wl,--as-needed -o $$@ $$(filter %.o %.a,$$^) $$(LIBS)
	@# The envNAME links come from the command table (stale ones removed), so they cannot drift.
	@find $(1)/bin -maxdepth 1 -type l -name 'env*' -lname envctl -delete
	@for c in $$$$($$@ --list-commands); do ln -sf envctl $(1)/bin/env$$$$c; done
$(1)/libexec/envup/envctl-full: $(CMD_SRCS:%.c=$(1)/%.o) $(1)/libenvup.a
	@mkdir -p $$(@D)
	@echo "  LD      $$@"
	@$$(CC) $(2) -o $$@ $$^ $$(LIBS)
# envvmm needs few of the libraries the CLI links (json-c, libslirp, the image codecs):
# --as-needed drops the rest, which saves start-up time and memory.
$(1)/bin/envvmm: $(1)/vmm/main.o $(1)/libvmm.a $(1)/libenvup.a
	@mkdir -p $$(@D)
	@echo "  LD      $$@"
	@$$(CC) $(2) -Wl,--as-needed -o $$@ $$^ $$(LIBS)
-include $(shell find $(1) -name '*.d' 2>/dev/null)
endef

$(eval $(call variant,build/rel,$(REL_CFLAGS)))
$(eval $(call variant,build/san,$(SAN_CFLAGS)))

all: build/rel/bin/envctl build/rel/bin/envvmm

UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=build/san/tests/unit/%)
build/san/tests/unit/%: build/san/tests/unit/%.o $(UNIT_COMMON:%.c=build/san/%.o) build/san/libvmm.a build/san/libenvup.a
	@echo "  LD      $@"
	@$(CC) $(SAN_CFLAGS) -o $@ $^ $(LIBS) -lcmocka

# Extra per-area rules; each may add to TEST_PREREQS, BENCH_TARGETS, FUZZ_TARGETS.
TEST_PREREQS :=
BENCH_TARGETS :=
FUZZ_TARGETS :=
-include $(sort $(wildcard mk/*.mk))

build-test: build/san/bin/envctl build/san/bin/envvmm build/rel/bin/envctl build/rel/bin/envvmm $(UNIT_BINS) $(TEST_PREREQS)

test: build-test
	tests/run.sh

# Every suite, the slow ones too.
test-slow: build-test
	ENVUP_SLOW=1 tests/run.sh

# Only the suites marked '# slow' (CI runs it after make test).
test-slow-only: build-test
	ENVUP_SLOW=only tests/run.sh

bench: all $(BENCH_TARGETS)
	@for b in $(sort $(wildcard tests/bench/*.sh)); do echo "== $$b"; bash $$b || exit 1; done

fuzz: $(FUZZ_TARGETS)

DEPS_SCRIPT ?= tools/deps.sh
DEMO_SCRIPT ?= tools/demo.sh
DEMO_STATIC_SCRIPT ?= tools/demo-static.sh
deps:
	@$(DEPS_SCRIPT)

# What this Makefile reads from installed packages (pkg-config flags, the libdeflate header)
# is read when make starts, before deps has installed anything; so the build after deps is a
# new make that sees them (one `make demo` on a fresh machine).
demo: deps
	@$(MAKE) --no-print-directory all
	@$(DEMO_SCRIPT)

# The demo without virtual machines: a real sshd on 127.0.0.1 as a machine that exists.
demo-static: deps
	@$(MAKE) --no-print-directory all
	@$(DEMO_STATIC_SCRIPT)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 build/rel/bin/envctl build/rel/bin/envvmm $(DESTDIR)$(PREFIX)/bin/
	install -d $(DESTDIR)$(PREFIX)/libexec/envup
	install -m 0755 build/rel/libexec/envup/envctl-full $(DESTDIR)$(PREFIX)/libexec/envup/
	@for c in $$(build/rel/bin/envctl --list-commands); do \
		ln -sf envctl $(DESTDIR)$(PREFIX)/bin/env$$c; done

clean:
	rm -rf build

# The C lines changed against HEAD only: much of the tree aligns comments by hand in ways
# clang-format 14 would undo, and a whole-tree run rewraps about 50 files nobody touched.
format:
	git clang-format --force --extensions c,h

.PHONY: all test test-slow test-slow-only build-test bench fuzz deps demo demo-static install clean format
.DELETE_ON_ERROR:
.SECONDARY:

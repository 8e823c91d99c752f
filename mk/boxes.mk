# Box store extras: libFuzzer targets for untrusted box input (catalog JSON, OVF descriptors,
# box archives), built with clang and run briefly by tests/integration/boxes_fuzz.sh.
FUZZ_CC ?= clang
BOXES_FUZZ_CFLAGS = -std=gnu11 -g -O1 -D_GNU_SOURCE -DENVUP_VERSION='"$(VERSION)"' -I. \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	$(shell $(PKG_CONFIG) --cflags json-c 2>/dev/null)

build/fuzz/fuzz_box_catalog: tests/fuzz/fuzz_box_catalog.c boxes/catalog.c core/version.c core/err.c
	@mkdir -p $(@D)
	@echo "  FUZZ    $@"
	@$(FUZZ_CC) $(BOXES_FUZZ_CFLAGS) -o $@ $^ $(shell $(PKG_CONFIG) --libs json-c)

build/fuzz/fuzz_box_ovf: tests/fuzz/fuzz_box_ovf.c boxes/ovf.c core/err.c
	@mkdir -p $(@D)
	@echo "  FUZZ    $@"
	@$(FUZZ_CC) $(BOXES_FUZZ_CFLAGS) -o $@ $^

build/fuzz/fuzz_box_extract: tests/fuzz/fuzz_box_extract.c boxes/extract.c core/fsutil.c core/err.c
	@mkdir -p $(@D)
	@echo "  FUZZ    $@"
	@$(FUZZ_CC) $(BOXES_FUZZ_CFLAGS) -o $@ $^ $(shell $(PKG_CONFIG) --libs libarchive)

BOXES_FUZZERS := build/fuzz/fuzz_box_catalog build/fuzz/fuzz_box_ovf build/fuzz/fuzz_box_extract
FUZZ_TARGETS += $(BOXES_FUZZERS)
TEST_PREREQS += $(BOXES_FUZZERS)
BENCH_TARGETS += build/rel/bin/envctl

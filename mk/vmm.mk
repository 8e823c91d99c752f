# envvmm extras: the freestanding test-kit guest (tests/guest/), the device fuzzer, bench.

GUEST_CC ?= gcc
GUEST_CFLAGS := -std=gnu11 -O2 -g -ffreestanding -nostdlib -fno-pic -fno-pie -fno-builtin \
	-fno-stack-protector -fno-asynchronous-unwind-tables -fcf-protection=none \
	-mno-red-zone -mgeneral-regs-only -mcmodel=small -Wall -Wextra -Werror \
	-Wno-unused-parameter
GUEST_SRCS := $(wildcard tests/guest/*.c tests/guest/head.S)
GUEST_OBJS := $(patsubst tests/guest/%,build/guest/%.o,$(GUEST_SRCS))

build/guest/%.c.o: tests/guest/%.c tests/guest/kit.h tests/guest/kit_virtio.h mk/vmm.mk
	@mkdir -p $(@D)
	@echo "  GUEST   $@"
	@$(GUEST_CC) $(GUEST_CFLAGS) -c $< -o $@
build/guest/%.S.o: tests/guest/%.S
	@mkdir -p $(@D)
	@$(GUEST_CC) $(GUEST_CFLAGS) -c $< -o $@
build/guest/kit.elf: $(GUEST_OBJS) tests/guest/kit.ld
	@echo "  LD      $@"
	@$(GUEST_CC) $(GUEST_CFLAGS) -static -no-pie -Wl,--build-id=none -Wl,--no-warn-rwx-segments -Wl,-T,tests/guest/kit.ld -o $@ $(GUEST_OBJS) -lgcc
build/guest/kit-bz.elf: $(GUEST_OBJS) build/guest/bzhdr.S.o tests/guest/kit-bz.ld
	@$(GUEST_CC) $(GUEST_CFLAGS) -static -no-pie -Wl,--build-id=none -Wl,--no-warn-rwx-segments -Wl,-T,tests/guest/kit-bz.ld -o $@ $(GUEST_OBJS) build/guest/bzhdr.S.o -lgcc
build/guest/kit.bzImage: build/guest/kit-bz.elf
	@echo "  BZIMAGE $@"
	@objcopy -O binary $< $@

TEST_PREREQS += build/guest/kit.elf build/guest/kit.bzImage

# Boot sectors for the firmware boot tests (tests/integration/vmm_firmware.sh): 16-bit code
# linked at 0x7c00 into a flat 512-byte image.
BOOTSECT_FLAGS := -m32 -nostdlib -static -Wl,-Ttext=0x7c00 -Wl,--oformat=binary -Wl,--build-id=none
build/guest/bootsector.bin: tests/guest/boot/bootsector.S mk/vmm.mk
	@mkdir -p $(@D)
	@echo "  BOOTSEC $@"
	@$(GUEST_CC) $(BOOTSECT_FLAGS) -o $@ $<
	@test "$$(stat -c %s $@)" -eq 512
build/guest/bootsector-powerbutton.bin: tests/guest/boot/bootsector.S mk/vmm.mk
	@mkdir -p $(@D)
	@echo "  BOOTSEC $@"
	@$(GUEST_CC) -DPOWERBUTTON $(BOOTSECT_FLAGS) -o $@ $<
	@test "$$(stat -c %s $@)" -eq 512
TEST_PREREQS += build/guest/bootsector.bin build/guest/bootsector-powerbutton.bin

# The DSDT alone, for tests/integration/vmm_linux.sh (a stock Linux under QEMU reads it).
build/san/tests/vmm_dsdt: tests/tools/vmm_dsdt.c build/san/libvmm.a build/san/libenvup.a
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) $(BASE_CFLAGS) $(SAN_CFLAGS) -o $@ $^ $(LIBS)
TEST_PREREQS += build/san/tests/vmm_dsdt
guest: build/guest/kit.elf build/guest/kit.bzImage build/guest/bootsector.bin \
	build/guest/bootsector-powerbutton.bin
.PHONY: guest

# The device-layer fuzzer (libFuzzer): the VMM's device code and the libraries it uses,
# compiled with clang, fed random configuration writes and descriptor chains without KVM.
FUZZ_CC ?= clang
FUZZ_CFLAGS = $(BASE_CFLAGS) -O1 -g -Wno-unknown-warning-option -Wno-error -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined
FUZZ_VMM_SRCS := $(filter-out vmm/main.c,$(wildcard vmm/*.c)) $(filter core/% boxes/%,$(LIB_SRCS))
FUZZ_VMM_OBJS := $(FUZZ_VMM_SRCS:%.c=build/fuzz/%.o)
build/fuzz/%.o: %.c
	@mkdir -p $(@D)
	@echo "  FUZZCC  $@"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@
build/fuzz/fuzz_vmm_devices: tests/fuzz/fuzz_vmm_devices.c $(FUZZ_VMM_OBJS)
	@echo "  FUZZLD  $@"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS)
FUZZ_TARGETS += build/fuzz/fuzz_vmm_devices
# The kernel loaders (bzImage and ELF/PVH) on untrusted kernel files.
build/fuzz/fuzz_vmm_boot: tests/fuzz/fuzz_vmm_boot.c $(FUZZ_VMM_OBJS)
	@echo "  FUZZLD  $@"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS)
FUZZ_TARGETS += build/fuzz/fuzz_vmm_boot
-include $(FUZZ_VMM_OBJS:.o=.d)
ifneq ($(shell command -v $(FUZZ_CC) 2>/dev/null),)
TEST_PREREQS += build/fuzz/fuzz_vmm_devices build/fuzz/fuzz_vmm_boot
endif

# Benchmark helper: virtio-blk backend throughput without KVM.
build/rel/tests/bench/vmm_blkbench: build/rel/tests/bench/vmm_blkbench.o build/rel/libvmm.a build/rel/libenvup.a
	@echo "  LD      $@"
	@$(CC) $(REL_CFLAGS) -o $@ $^ $(LIBS)
BENCH_TARGETS += build/rel/tests/bench/vmm_blkbench build/guest/kit.bzImage \
	build/guest/bootsector.bin

# The 9p server's message parser and file operations (vmm/p9.c, p9_wire.c, p9_path.c), on a
# scratch directory.
build/fuzz/fuzz_vmm_p9: tests/fuzz/fuzz_vmm_p9.c $(FUZZ_VMM_OBJS)
	@echo "  FUZZLD  $@"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS)
FUZZ_TARGETS += build/fuzz/fuzz_vmm_p9
ifneq ($(shell command -v $(FUZZ_CC) 2>/dev/null),)
TEST_PREREQS += build/fuzz/fuzz_vmm_p9
endif

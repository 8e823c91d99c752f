# Disk image library extras: the test helper, libFuzzer harnesses for every reader.

# libdeflate (Debian libdeflate-dev) inflates clusters about twice as fast as zlib; the
# image code falls back to zlib where it is missing.
LIBDEFLATE_H ?= /usr/include/libdeflate.h
ifneq ($(wildcard $(LIBDEFLATE_H)),)
IMAGES_DEFLATE_CFLAGS := -DENVUP_HAVE_LIBDEFLATE
IMAGES_DEFLATE_LIBS := -ldeflate
BASE_CFLAGS += $(IMAGES_DEFLATE_CFLAGS)
LIBS += $(IMAGES_DEFLATE_LIBS)
endif

IMAGES_LIB_SRCS := boxes/image.c boxes/image_codec.c boxes/raw.c boxes/qcow2.c boxes/qcow2_adopt.c boxes/qcow2_l2cache.c \
                   boxes/qcow2_write.c boxes/vmdk.c boxes/vmdk_stream.c boxes/vdi.c boxes/vhd.c core/err.c \
                   core/fsutil.c

build/san/tests/images_tool: tests/tools/images_tool.c build/san/libenvup.a
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) $(BASE_CFLAGS) $(SAN_CFLAGS) -o $@ $^ $(LIBS)

build/rel/tests/images_tool: tests/tools/images_tool.c build/rel/libenvup.a
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) $(BASE_CFLAGS) $(REL_CFLAGS) -o $@ $^ $(LIBS)

IMAGES_FUZZERS := $(foreach f,qcow2 vmdk vdi vhd qcow2w,build/fuzz/fuzz_image_$(f))
IMAGES_FUZZ_FMT_qcow2 := IMAGE_QCOW2 -DFUZZ_ADOPT
IMAGES_FUZZ_FMT_vmdk := IMAGE_VMDK -DFUZZ_STREAM
IMAGES_FUZZ_FMT_vdi := IMAGE_VDI
IMAGES_FUZZ_FMT_vhd := IMAGE_VHD
IMAGES_FUZZ_FMT_qcow2w := IMAGE_QCOW2 -DFUZZ_WRITE

build/fuzz/fuzz_image_%: tests/fuzz/fuzz_image.c $(IMAGES_LIB_SRCS) $(wildcard boxes/*.h core/*.h)
	@mkdir -p $(@D)
	@echo "  FUZZ    $@"
	@clang -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -DFUZZ_FORMAT=$(IMAGES_FUZZ_FMT_$*) \
		$(IMAGES_DEFLATE_CFLAGS) -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -o $@ tests/fuzz/fuzz_image.c $(IMAGES_LIB_SRCS) \
		-lz -lzstd $(IMAGES_DEFLATE_LIBS) -lpthread

TEST_PREREQS += build/san/tests/images_tool $(IMAGES_FUZZERS)
FUZZ_TARGETS += $(IMAGES_FUZZERS)
BENCH_TARGETS += build/rel/tests/images_tool

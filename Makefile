# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tailplane: one entry point.  `make help` lists the targets.

OUT	?= build
CLANG	?= clang
CC	?= gcc
BPFTOOL	?= bpftool
ARCH	:= $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux

CFLAGS	?= -O2 -g
CFLAGS	+= -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
	   -std=gnu11 -D_GNU_SOURCE -Iinclude -Ilib -I$(OUT)
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	   -I$(OUT) -Iinclude -Ibpf
LDLIBS	:= -lbpf -lelf -lz

# Debian packages every target needs (build, tests, demo).
DEB_PKGS := clang llvm bpftool libbpf-dev libxdp-dev xdp-tools libelf-dev zlib1g-dev \
	    libmnl-dev libcurl4-openssl-dev libyajl-dev libcmocka-dev pkg-config \
	    iproute2 wireguard-tools wireguard-go iperf3 nftables iptables

BPF_SRCS   := $(wildcard bpf/*.bpf.c)
BPF_HDRS   := $(wildcard bpf/lib/*.h) $(wildcard include/tailplane/*.h)
LIB_SRCS   := $(wildcard lib/*.c)
LIB_OBJS   := $(patsubst lib/%.c,$(OUT)/lib/%.o,$(LIB_SRCS))
TEST_SRCS  := $(wildcard tests/test_*.c)
TEST_BINS  := $(patsubst tests/%.c,$(OUT)/tests/%,$(TEST_SRCS))
TEST_SUPPORT := $(patsubst tests/%.c,$(OUT)/tests/%.o,$(filter-out $(TEST_SRCS),$(wildcard tests/*.c)))

.PHONY: all deps test demo clean help
.DELETE_ON_ERROR:

all: $(OUT)/tailplane.bpf.o $(OUT)/tailplane.skel.h $(OUT)/libtailplane.a $(TEST_BINS)

help:
	@echo "make deps     install build and test dependencies (apt-get, idempotent)"
	@echo "make          build the BPF object, skeleton, library and tests into $(OUT)/"
	@echo "make test     deps + build + every test; ends with 'N passed, N failed'"
	@echo "make demo     the sandbox demo (with the loader)"
	@echo "make clean    remove $(OUT)/"

deps:
	@scripts/deps.sh $(DEB_PKGS)

$(OUT) $(OUT)/lib $(OUT)/tests:
	@mkdir -p $@

$(OUT)/vmlinux.h: | $(OUT)
	$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@

$(OUT)/tailplane.bpf.o: bpf/tailplane.bpf.c $(BPF_HDRS) $(OUT)/vmlinux.h
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUT)/tailplane.skel.h: $(OUT)/tailplane.bpf.o
	$(BPFTOOL) gen skeleton $< name tailplane > $@

$(OUT)/lib/%.o: lib/%.c $(wildcard lib/*.h) $(wildcard include/tailplane/*.h) | $(OUT)/lib
	$(CC) $(CFLAGS) -c $< -o $@

$(OUT)/libtailplane.a: $(LIB_OBJS)
	$(AR) rcs $@ $^

$(OUT)/tests/%.o: tests/%.c $(wildcard tests/*.h) $(wildcard lib/*.h) $(OUT)/tailplane.skel.h | $(OUT)/tests
	$(CC) $(CFLAGS) -Itests -c $< -o $@

$(OUT)/tests/test_%: $(OUT)/tests/test_%.o $(TEST_SUPPORT) $(OUT)/libtailplane.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS) -lcmocka

test: deps
	@$(MAKE) --no-print-directory all
	@tests/run.sh $(OUT)/tests

demo: deps
	@echo "make demo: the sandbox demo arrives with the loader (tailplaned); not built yet" >&2
	@exit 1

clean:
	rm -rf $(OUT)

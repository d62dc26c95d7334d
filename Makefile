# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tailplane: one entry point.  `make help` lists the targets.

OUT	?= build
CLANG	?= clang
CC	?= gcc
BPFTOOL	?= bpftool
ARCH	:= $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux

# Header dependencies: each compile writes its .d, naming the object by
# the path make was given and by its absolute path (a run with OUT=/abs
# must see what one with OUT=build recorded, and the other way round).
DEPFLAGS = -MMD -MP -MT '$@' -MT '$(abspath $@)'

CFLAGS	?= -O2 -g
CFLAGS	+= $(DEPFLAGS) -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-format-truncation \
	   -std=gnu11 -D_GNU_SOURCE -Iinclude -Ilib -I$(OUT)
BPF_CFLAGS = $(DEPFLAGS) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	   -I$(OUT) -Iinclude -Ibpf
LDLIBS	:= -lbpf -lelf -lz

# tests/e2e/test_deploy.sh renders deploy/kubernetes with kubectl: Debian's
# kubernetes-client, unless a kubectl is installed already (another
# package's /usr/bin/kubectl, such as the Cloud SDK's kubectl package, makes
# dpkg refuse kubernetes-client's).
KUBECTL_PKG := $(if $(shell command -v kubectl 2>/dev/null),,kubernetes-client)

# Debian packages every target needs (build, tests, demo); libclang-rt-dev
# is clang's libFuzzer and sanitizer runtimes (make fuzz, the fuzz smoke test).
DEB_PKGS := clang libclang-rt-dev llvm bpftool libbpf-dev libxdp-dev xdp-tools libelf-dev zlib1g-dev \
	    libmnl-dev libcurl4-openssl-dev libssl-dev libyajl-dev libcmocka-dev pkg-config \
	    iproute2 wireguard-tools wireguard-go iperf3 nftables iptables gnuplot-nox time linux-perf \
	    curl iputils-ping \
	    systemd python3 openssl clang-format $(KUBECTL_PKG)

# Debian packages `make vmtest` needs on top: a 6.1 kernel with its modules
# (wireguard.ko), qemu, and a static busybox for the initramfs.
VM_DEB_PKGS := linux-image-amd64 qemu-system-x86 busybox-static kmod xz-utils
# kernels `make vmtest` boots: version prefixes (newest /boot/vmlinuz-P.*) or paths;
# KERNELS adds to them (KERNELS=/boot/vmlinuz-X: its modules in /lib/modules/X)
VM_KERNELS ?= 6.1
KERNELS ?=

BPF_SRCS   := $(wildcard bpf/*.bpf.c)
LIB_SRCS   := $(wildcard lib/*.c)
LIB_OBJS   := $(patsubst lib/%.c,$(OUT)/lib/%.o,$(LIB_SRCS))
TEST_SRCS  := $(wildcard tests/test_*.c)
TEST_BINS  := $(patsubst tests/%.c,$(OUT)/tests/%,$(TEST_SRCS))
TEST_SUPPORT := $(patsubst tests/%.c,$(OUT)/tests/%.o,$(filter-out $(TEST_SRCS),$(wildcard tests/*.c)))
LOADER_SRCS := $(wildcard loader/*.c)
LOADER_OBJS := $(patsubst loader/%.c,$(OUT)/loader/%.o,$(LOADER_SRCS))
# the loader minus main(): linked into test programs of its parts
LOADER_LIB_OBJS := $(filter-out $(OUT)/loader/main.o,$(LOADER_OBJS))
LOADER_LIBS := -lmnl -lyajl -lxdp
TPCTL_OBJS := $(patsubst maps-cli/%.c,$(OUT)/maps-cli/%.o,$(wildcard maps-cli/*.c))
# tpctl minus main(): linked into its unit tests
TPCTL_CORE := $(filter-out $(OUT)/maps-cli/main.o,$(TPCTL_OBJS))
PREFIX	?= /usr/local

# V=1 prints every command line in full; by default one short line each
# (msg's @ silences the whole recipe line it starts)
ifeq ($(V),1)
msg =
else
msg = @printf '  %-8s %s\n' '$(1)' '$(2)';
endif

.PHONY: all deps test fuzz fuzz-build bench bench-build bench-profile vmdeps vmtest demo clean help \
	install format format-check
.DELETE_ON_ERROR:
# keep intermediates (objects, skeletons) between runs
.SECONDARY:

TOOLS := $(patsubst tests/tools/%.c,$(OUT)/tools/%,$(wildcard tests/tools/*.c))

all: $(OUT)/tailplane.bpf.o $(OUT)/tailplane.skel.h $(OUT)/libtailplane.a \
     $(OUT)/tailplaned $(OUT)/tpctl $(TEST_BINS) $(TOOLS) $(OUT)/upgrade/tailplaned

help:
	@echo "make deps     install build and test dependencies (apt-get, idempotent)"
	@echo "make          build the BPF object, skeleton, library and tests into $(OUT)/"
	@echo "make test     deps + build + every test; ends with 'N passed, N failed'"
	@echo "make fuzz     the differential fuzzers at length: FUZZ_ITERS (1000000) packets and"
	@echo "              flows each, TP_FUZZ_SEED to replay; then the libFuzzer targets of"
	@echo "              tests/fuzz/ (config, Tailscale, HTTP, UAPI, genl, tpctl, address parsers)"
	@echo "              FUZZ_SECONDS ($(FUZZ_SECONDS)) s each, a crash fails it naming its"
	@echo "              reproducer; not part of make test (which runs their seeds only)"
	@echo "make bench    program cost per path beside reference programs, and its scaling"
	@echo "              with services, rules and flows; then a ClusterIP path against"
	@echo "              kube-proxy's iptables and nftables shapes, the loader and memory"
	@echo "              (in tpb-* namespaces, about 8 minutes); QUICK=1 for a reduced set"
	@echo "make bench-profile ROW=pass_established  where one bench_prog row's ns go, by"
	@echo "              source line, helper and test-run overhead (perf; bench/profile.sh)"
	@echo "make vmtest   the packet, loader, kernel WireGuard and end-to-end suites in a qemu VM"
	@echo "              per kernel of VM_KERNELS ($(VM_KERNELS)) and KERNELS; ends with"
	@echo "              'N passed, N failed, N skipped'"
	@echo "make demo     the sandbox demo (with the loader)"
	@echo "make install  install tpctl, tailplaned, man pages, completion, systemd unit (PREFIX, DESTDIR)"
	@echo "make format   clang-format every C file in place (.clang-format)"
	@echo "make format-check  list the C files clang-format would change; fails if any (CI)"
	@echo "make clean    remove $(OUT)/"

deps:
	@scripts/deps.sh $(DEB_PKGS)

# the C sources git knows (vmlinux.h is generated into $(OUT), never formatted)
CLANG_FORMAT ?= clang-format
FORMAT_SRCS = $(shell git ls-files '*.c' '*.h' 2>/dev/null)

format:
	@$(CLANG_FORMAT) -i $(FORMAT_SRCS)

format-check:
	@command -v $(CLANG_FORMAT) >/dev/null || { echo "$(CLANG_FORMAT) not found: make deps"; exit 1; }
	@bad=$$($(CLANG_FORMAT) --dry-run $(FORMAT_SRCS) 2>&1 | sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: warning:.*/\1/p' | sort -u); \
	if [ -n "$$bad" ]; then echo "not clang-formatted (make format):"; echo "$$bad" | sed 's/^/  /'; exit 1; fi; \
	echo "clang-format: $(words $(FORMAT_SRCS)) files clean"

$(OUT) $(OUT)/lib $(OUT)/tests $(OUT)/loader $(OUT)/tools $(OUT)/upgrade $(OUT)/maps-cli:
	@mkdir -p $@

$(OUT)/vmlinux.h: | $(OUT)
	$(call msg,GEN,$@)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@

$(OUT)/tailplane.bpf.o: bpf/tailplane.bpf.c $(OUT)/vmlinux.h
	$(call msg,CLANG,$@)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUT)/tailplane.skel.h: $(OUT)/tailplane.bpf.o
	$(call msg,GEN,$@)$(BPFTOOL) gen skeleton $< name tailplane > $@

$(OUT)/lib/%.o: lib/%.c | $(OUT)/lib
	$(call msg,CC,$@)$(CC) $(CFLAGS) -c $< -o $@

$(OUT)/libtailplane.a: $(LIB_OBJS)
	$(call msg,AR,$@)$(AR) rcs $@ $^

$(OUT)/loader/%.o: loader/%.c $(OUT)/tailplane.skel.h | $(OUT)/loader
	$(call msg,CC,$@)$(CC) $(CFLAGS) -Iloader -c $< -o $@

$(OUT)/libtailplaned.a: $(LOADER_LIB_OBJS)
	$(call msg,AR,$@)$(AR) rcs $@ $^

$(OUT)/tailplaned: $(OUT)/loader/main.o $(OUT)/libtailplaned.a $(OUT)/libtailplane.a
	$(call msg,CC,$@)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS) $(LOADER_LIBS)

$(OUT)/tests/%.o: tests/%.c $(OUT)/tailplane.skel.h | $(OUT)/tests
	$(call msg,CC,$@)$(CC) $(CFLAGS) -Itests -Iloader -c $< -o $@

$(OUT)/tests/test_%: $(OUT)/tests/test_%.o $(TEST_SUPPORT) $(OUT)/libtailplaned.a $(OUT)/libtailplane.a
	$(call msg,CC,$@)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS) $(LOADER_LIBS) -lcmocka

$(OUT)/maps-cli/%.o: maps-cli/%.c | $(OUT)/maps-cli
	$(call msg,CC,$@)$(CC) $(CFLAGS) -Imaps-cli -c $< -o $@

# tpctl is a short process run once per change (a batch adding one
# service), and loading and relocating its shared libraries (libbpf, libelf,
# libz, libyajl, libc) was a third of its time: it is linked statically,
# as a static PIE (its addresses still randomized).  TPCTL_LINK=dynamic
# links it against the shared libraries instead.
TPCTL_LINK ?= static
ifeq ($(TPCTL_LINK),dynamic)
TPCTL_LDFLAGS :=
TPCTL_LDLIBS := $(LDLIBS) -lyajl
else
TPCTL_LDFLAGS := -static-pie
# Debian's static yajl is libyajl_s.a
TPCTL_LDLIBS := -lbpf -lelf -lz -lyajl_s
endif

$(OUT)/tpctl: $(TPCTL_OBJS) $(OUT)/libtailplane.a
	$(call msg,CC,$@)$(CC) $(CFLAGS) $(TPCTL_LDFLAGS) $^ -o $@ $(TPCTL_LDLIBS)

# make bench: reference programs and the program-cost runner (bench/)
$(OUT)/bench:
	@mkdir -p $@

$(OUT)/bench/ref.bpf.o: bench/ref.bpf.c $(OUT)/vmlinux.h | $(OUT)/bench
	$(call msg,CLANG,$@)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUT)/bench/ref.skel.h: $(OUT)/bench/ref.bpf.o
	$(call msg,GEN,$@)$(BPFTOOL) gen skeleton $< name ref > $@

$(OUT)/bench/bench_prog: bench/bench_prog.c $(OUT)/bench/ref.skel.h $(TEST_SUPPORT) \
			 $(OUT)/libtailplaned.a $(OUT)/libtailplane.a
	$(call msg,CC,$@)$(CC) $(CFLAGS) -Itests -Iloader -I$(OUT)/bench $(filter %.c %.o %.a,$^) -o $@ \
		$(LDLIBS) $(LOADER_LIBS) -lcmocka

# the traffic client/server, the table generator and the command timer of
# bench/kubeproxy.sh
$(OUT)/bench/connbench $(OUT)/bench/kpgen $(OUT)/bench/spawntime: $(OUT)/bench/%: bench/%.c | $(OUT)/bench
	$(call msg,CC,$@)$(CC) $(CFLAGS) $< -o $@

# bench/profile.sh: a loaded program's source lines in its JIT image
$(OUT)/bench/jitlines: bench/jitlines.c | $(OUT)/bench
	$(call msg,CC,$@)$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

bench-build: $(OUT)/bench/bench_prog $(OUT)/bench/connbench $(OUT)/bench/kpgen \
	$(OUT)/bench/spawntime $(OUT)/bench/jitlines

# Program cost beside references, and its scaling (bench/bench_prog.c);
# then the ClusterIP path against kube-proxy's iptables and nftables shapes,
# the loader and memory (bench/kubeproxy.sh, which adds its rows to the same
# results and draws bench/results/latest.png); the WireGuard path and the
# static-NAT pod's memory (bench/wgpath.sh, rows added the same way).
# QUICK=1: fewer runs and sizes.  Results: bench/results/latest.{md,json,png}.
bench: deps
	@$(MAKE) --no-print-directory all bench-build
	@mkdir -p bench/results
	@$(OUT)/bench/bench_prog $(if $(QUICK),-q) -o bench/results \
		-c $(shell git describe --always --dirty 2>/dev/null || echo unknown)
	@bench/kubeproxy.sh $(if $(QUICK),-q) bench/results $(OUT)
	@bench/wgpath.sh $(if $(QUICK),-q) bench/results $(OUT)

# One row of bench_prog profiled by source line (bench/profile.sh; root).
bench-profile: deps
	@[ -n "$(ROW)" ] || { echo "make bench-profile ROW=NAME (a row bench_prog prints)"; exit 1; }
	@$(MAKE) --no-print-directory $(OUT)/bench/bench_prog $(OUT)/bench/jitlines
	@OUT=$(OUT) bench/profile.sh $(ROW)

# tpctl's unit tests and its docs test link its parser, command table and
# output code; its map tests run it
TPCTL_UNIT_TESTS := $(OUT)/tests/test_tpctl_parse $(OUT)/tests/test_tpctl_docs
$(TPCTL_UNIT_TESTS:=.o): CFLAGS += -Imaps-cli
$(TPCTL_UNIT_TESTS): %: %.o $(TPCTL_CORE) $(TEST_SUPPORT) $(OUT)/libtailplaned.a $(OUT)/libtailplane.a
	$(call msg,CC,$@)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS) $(LOADER_LIBS) -lcmocka
$(OUT)/tests/test_tpctl_maps: | $(OUT)/tpctl
# test_peers_live watches free() and realloc() for blocks that still hold a
# WireGuard private key
$(OUT)/tests/test_peers_live: LDLIBS += -Wl,--wrap=free -Wl,--wrap=realloc
# test_ct_single counts the heap the index GC holds at its peak, test_loader
# the heap a cold start's sync holds, test_egress_route and test_kube_sync
# a sync's (tests/heapcount.h)
HEAPCOUNT_LDLIBS := -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc \
	-Wl,--wrap=free
$(OUT)/tests/test_ct_single $(OUT)/tests/test_loader \
	$(OUT)/tests/test_egress_route $(OUT)/tests/test_kube_sync: \
	LDLIBS += $(HEAPCOUNT_LDLIBS)
# test_peers watches qsort() for NULL arrays
$(OUT)/tests/test_peers: LDLIBS += -Wl,--wrap=qsort
# test_maps answers batch reads as a kernel without them would
$(OUT)/tests/test_maps: LDLIBS += -Wl,--wrap=bpf_map_lookup_batch
# test_attacks_loader kills a loading child at chosen points: at a program's
# pin, after the object's load; and has the verifier reject a program
$(OUT)/tests/test_attacks_loader: LDLIBS += -Wl,--wrap=bpf_obj_pin \
	-Wl,--wrap=bpf_object__load_skeleton -Wl,--wrap=bpf_object__load

# test_stack61's own object, chains around Linux 6.1's stack limit
# (tests/bpf/), embedded as a skeleton
$(OUT)/tests/bpf/%.bpf.o: tests/bpf/%.bpf.c $(OUT)/vmlinux.h
	@mkdir -p $(@D)
	$(call msg,CLANG,$@)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUT)/tests/bpf/%.skel.h: $(OUT)/tests/bpf/%.bpf.o
	$(call msg,GEN,$@)$(BPFTOOL) gen skeleton $< name $* > $@

$(OUT)/tests/test_stack61.o: $(OUT)/tests/bpf/stack61.skel.h

# The upgrade test's "next version": the same loader around a program that
# differs (TP_UPGRADE_VARIANT); only datapath.c embeds the skeleton.
$(OUT)/upgrade/tailplane.bpf.o: bpf/tailplane.bpf.c $(OUT)/vmlinux.h | $(OUT)/upgrade
	$(call msg,CLANG,$@)$(CLANG) $(BPF_CFLAGS) -DTP_UPGRADE_VARIANT -c $< -o $@

$(OUT)/upgrade/tailplane.skel.h: $(OUT)/upgrade/tailplane.bpf.o
	$(call msg,GEN,$@)$(BPFTOOL) gen skeleton $< name tailplane > $@

$(OUT)/upgrade/datapath.o: loader/datapath.c $(OUT)/upgrade/tailplane.skel.h
	$(call msg,CC,$@)$(CC) $(CFLAGS:-I$(OUT)=) -I$(OUT)/upgrade -Iloader -c $< -o $@

$(OUT)/upgrade/tailplaned: $(OUT)/loader/main.o $(OUT)/upgrade/datapath.o \
			  $(filter-out $(OUT)/loader/datapath.o,$(LOADER_LIB_OBJS)) $(OUT)/libtailplane.a
	$(call msg,CC,$@)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS) $(LOADER_LIBS)

# libFuzzer targets, tests/fuzz/fuzz_NAME.c (seeds in tests/fuzz/corpus/NAME/):
# the parsers they reach are compiled again with clang's sanitizers into
# $(OUT)/fuzz/obj/, never taken from $(OUT)/*.o.  No BPF, no root.
FUZZ_CC	?= clang
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS = $(DEPFLAGS) -g -O1 -fno-omit-frame-pointer $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
	   -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
	   -std=gnu11 -D_GNU_SOURCE -Iinclude -Ilib -Iloader -Imaps-cli -Itests/fuzz
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(addprefix $(OUT)/fuzz/fuzz_,$(FUZZ_NAMES))
FUZZ_MAIN_OBJS := $(patsubst %,$(OUT)/fuzz/obj/tests/fuzz/fuzz_%.o,$(FUZZ_NAMES))
# what the targets parse with: the library, the loader's parsers, tpctl's
# grammar and batch reader (with the command table, which names every
# command's runner, so all of tpctl but main()); each target links what it
# uses from the archive
FUZZ_DEP_SRCS := $(LIB_SRCS) loader/config.c loader/config_json.c loader/log.c loader/peers.c loader/source.c loader/tailscale.c \
		 loader/unix_http.c loader/kube_decode.c loader/kube_object.c loader/kube_hash.c \
		 loader/wg_uapi.c loader/wg_genl.c $(filter-out maps-cli/main.c,$(wildcard maps-cli/*.c))
FUZZ_DEP_OBJS := $(patsubst %.c,$(OUT)/fuzz/obj/%.o,$(FUZZ_DEP_SRCS))

$(OUT)/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	$(call msg,FUZZCC,$@)$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(OUT)/fuzz/libfuzzdeps.a: $(FUZZ_DEP_OBJS)
	@rm -f $@
	$(call msg,AR,$@)$(AR) rcs $@ $^

$(OUT)/fuzz/fuzz_%: $(OUT)/fuzz/obj/tests/fuzz/fuzz_%.o $(OUT)/fuzz/libfuzzdeps.a
	$(call msg,FUZZCC,$@)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $^ -o $@ $(LDLIBS) $(LOADER_LIBS)

fuzz-build: $(FUZZ_BINS)

# traffic tools of the end-to-end tests and the demo
$(OUT)/tools/%: tests/tools/%.c | $(OUT)/tools
	$(call msg,CC,$@)$(CC) $(CFLAGS) $< -o $@

test: deps
	@$(MAKE) --no-print-directory all
	@tests/run.sh $(OUT)/tests

# The datapath and policy differential fuzzers at full length (make test
# runs them short).  Each prints its seed; TP_FUZZ_SEED replays a run.
# Then each libFuzzer target for FUZZ_SECONDS on a copy of its seeds in
# $(OUT)/fuzz/corpus/NAME (make test runs them over their seeds only).
FUZZ_ITERS ?= 1000000
FUZZ_SECONDS ?= 60
fuzz: deps
	@$(MAKE) --no-print-directory all fuzz-build
	@set -e; for t in test_fuzz test_policy_fuzz; do \
		echo "== $$t, $(FUZZ_ITERS) iterations"; \
		TP_FUZZ_ITERS=$(FUZZ_ITERS) $(OUT)/tests/$$t; \
	done
	@tests/fuzz/run.sh $(OUT) $(FUZZ_SECONDS) $(FUZZ_NAMES)

vmdeps: deps
	@scripts/deps.sh $(VM_DEB_PKGS)

# the verifier's instruction counts per program (vmtests/verifier.sh)
$(OUT)/vm/tp-progstat: vmtests/progstat.c
	@mkdir -p $(@D)
	$(call msg,CC,$@)$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

vmtest: vmdeps
	@$(MAKE) --no-print-directory all $(OUT)/vm/tp-progstat
	@OUT=$(OUT) VM_KERNELS='$(strip $(VM_KERNELS) $(KERNELS))' vmtests/vmtest.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

install: $(OUT)/tpctl $(OUT)/tailplaned
	install -D -m 0755 $(OUT)/tpctl $(DESTDIR)$(PREFIX)/sbin/tpctl
	install -D -m 0755 $(OUT)/tailplaned $(DESTDIR)$(PREFIX)/sbin/tailplaned
	install -D -m 0644 docs/tpctl.8 $(DESTDIR)$(PREFIX)/share/man/man8/tpctl.8
	install -D -m 0644 docs/tailplaned.8 $(DESTDIR)$(PREFIX)/share/man/man8/tailplaned.8
	install -D -m 0644 deploy/tailplaned.service \
		$(DESTDIR)$(PREFIX)/lib/systemd/system/tailplaned.service
	install -D -m 0644 deploy/tpctl.bash-completion \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/tpctl

clean:
	rm -rf $(OUT)

# A build directory from before the compilers wrote dependency files has
# objects nothing would ever rebuild on a header change: start it afresh.
STALE_DIRS := $(foreach d,$(OUT)/lib $(OUT)/fuzz/obj/lib,\
	$(if $(wildcard $(d)/*.o),$(if $(wildcard $(d)/*.d),,$(d))))
ifneq ($(strip $(STALE_DIRS)),)
$(info $(OUT)/ predates header dependency files: removed, to be built anew)
$(shell rm -rf $(OUT))
endif

# header dependencies the compilers wrote (-MMD -MP)
-include $(shell find $(OUT) -name '*.d' 2>/dev/null)

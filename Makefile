# wsgw — one non-recursive Makefile. Outputs under build/<flavour>/.
#   make run      install missing packages, build, start on embedded defaults
#   make test     install missing packages, build, run every test (unit,
#                 integration, the same under ASan+UBSan, short fuzz runs)
#   make fuzz-long  every fuzz target for FUZZ_LONG_SECONDS (default 600) each
#   make bench    benchmarks (bench/README.md)
#   make bench-bcast  the broadcast benchmark against uWebSockets (bench/README.md)
#   make bench-tls    wss:// echo and TLS handshakes against an OpenSSL echo (bench/README.md)
#   make image    container image wsgw:latest and build/wsgw-image.tar
#                 (README.md, "Deploying")
#   V=1           show command lines

# Debian packages the build, the tests and the benchmarks need (versions
# tested with: vendor/README.md).
DEB_PKGS := gcc make pkg-config libssl-dev libnghttp2-dev libprotobuf-c-dev \
	protobuf-c-compiler protobuf-compiler libcmocka-dev clang libclang-rt-14-dev \
	python3 python3-websockets python3-grpcio python3-protobuf python3-pytest \
	nghttp2-client curl libjansson-dev libyaml-dev ca-certificates \
	wrk util-linux procps chromium chromium-driver python3-selenium python3-yaml \
	zlib1g-dev python3-hpack libc-ares-dev \
	redis-tools libhiredis-dev
# certutil: the TLS browser test puts its test CA in Chromium's NSS database.
DEB_PKGS += libnss3-tools
# Only `make image` needs these (installed by `image-deps`, never by `deps`).
IMAGE_PKGS := podman ca-certificates

CC ?= cc
FUZZ_CC ?= clang
PKGS := libcrypto libssl libnghttp2 libprotobuf-c jansson yaml-0.1 zlib libcares \
	hiredis
# Evaluated when a recipe runs (after `deps`), not while the Makefile is read.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS = $(shell pkg-config --libs $(PKGS))
TEST_LIBS = $(shell pkg-config --libs cmocka)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) -Isrc -Ivendor/pb $(PKG_CFLAGS) -MMD -MP
RELEASE_CFLAGS = $(BASE_CFLAGS) -O2 -g
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ASAN_CFLAGS = $(BASE_CFLAGS) -O1 -g $(ASAN_FLAGS)
FUZZ_CFLAGS = $(BASE_CFLAGS) -O1 -g -fsanitize=fuzzer-no-link,address,undefined -DWSGW_FUZZ

Q := $(if $(V),,@)

SRC := $(wildcard src/*.c) $(shell find vendor/pb -name '*.pb-c.c' 2>/dev/null | sort)
LIB_SRC := $(filter-out src/main.c,$(SRC))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_NAMES := $(patsubst tests/unit/%.c,%,$(UNIT_SRC))
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(patsubst tests/fuzz/%.c,%,$(FUZZ_SRC))
BENCH_SRC := $(wildcard bench/*.c)
# bench/NAME.c with a bench/NAME.h is a module, any other is a program.
BENCH_MOD_SRC := $(filter $(patsubst %.h,%.c,$(wildcard bench/*.h)),$(BENCH_SRC))
BENCH_NAMES := $(patsubst bench/%.c,%,$(filter-out $(BENCH_MOD_SRC),$(BENCH_SRC)))

obj = $(patsubst %.c,build/$(1)/obj/%.o,$(2))

.PHONY: all deps build asan run test unit unit-asan integration integration-asan fuzz fuzz-long \
	bench bench-build proto proto-check format clean image image-deps image-root FORCE

all: build

# Keep objects of the test and fuzz binaries (they are intermediate files
# of chained pattern rules, which make would otherwise delete).
.SECONDARY:

deps:
	$(Q)missing=""; for p in $(DEB_PKGS); do \
		dpkg -s "$$p" 2>/dev/null | grep -q '^Status: install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "make deps: run as root to install:$$missing" >&2; exit 1; fi; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

# ---- release ---------------------------------------------------------------
build: build/release/wsgw

build/release/obj/%.o: %.c | deps
	@mkdir -p $(@D)
	$(if $(Q),@echo "  CC      $<")
	$(Q)$(CC) $(RELEASE_CFLAGS) $(VERSION_CFLAGS) -c $< -o $@

build/release/libwsgw.a: $(call obj,release,$(LIB_SRC))
	$(Q)rm -f $@ && ar rcs $@ $^

build/release/wsgw: build/release/obj/src/main.o build/release/libwsgw.a
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) -o $@ $^ $(PKG_LIBS)

build/release/tests/%: build/release/obj/tests/unit/%.o build/release/libwsgw.a
	@mkdir -p $(@D)
	$(Q)$(CC) -o $@ $^ $(TEST_LIBS) $(PKG_LIBS)

# --version names the commit the tree was built from: `git describe --always
# --dirty` in a git checkout, "unknown" outside one (a tarball: there, git
# would describe whatever repository encloses the directory). build/commit is
# rewritten only when the commit changes, so main.o is rebuilt exactly then;
# only [A-Za-z0-9._-] reaches the -D.
build/commit: FORCE
	@mkdir -p $(@D); c=; \
	if [ -e .git ] && command -v git >/dev/null 2>&1; then \
		c=$$(git describe --always --dirty 2>/dev/null | tr -cd 'A-Za-z0-9._-'); \
	fi; \
	[ -n "$$c" ] || c=unknown; \
	[ "$$(cat $@ 2>/dev/null)" = "$$c" ] || echo "$$c" >$@

FORCE:

build/release/obj/src/main.o build/asan/obj/src/main.o: build/commit
build/release/obj/src/main.o build/asan/obj/src/main.o: VERSION_CFLAGS = -DWSGW_COMMIT='"$(shell cat build/commit)"'
# wsgw_build_info names the commit too (GET /metrics).
build/release/obj/src/metrics_collect.o build/asan/obj/src/metrics_collect.o: build/commit
build/release/obj/src/metrics_collect.o build/asan/obj/src/metrics_collect.o: VERSION_CFLAGS = -DWSGW_COMMIT='"$(shell cat build/commit)"'

# ---- ASan + UBSan ----------------------------------------------------------
asan: build/asan/wsgw

build/asan/obj/%.o: %.c | deps
	@mkdir -p $(@D)
	$(if $(Q),@echo "  CC asan $<")
	$(Q)$(CC) $(ASAN_CFLAGS) $(VERSION_CFLAGS) -c $< -o $@

build/asan/libwsgw.a: $(call obj,asan,$(LIB_SRC))
	$(Q)rm -f $@ && ar rcs $@ $^

build/asan/wsgw: build/asan/obj/src/main.o build/asan/libwsgw.a
	$(Q)$(CC) $(ASAN_FLAGS) -o $@ $^ $(PKG_LIBS)

build/asan/tests/%: build/asan/obj/tests/unit/%.o build/asan/libwsgw.a
	@mkdir -p $(@D)
	$(Q)$(CC) $(ASAN_FLAGS) -o $@ $^ $(TEST_LIBS) $(PKG_LIBS)

# ---- libFuzzer (clang) -----------------------------------------------------
build/fuzz/obj/%.o: %.c | deps
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

build/fuzz/libwsgw.a: $(call obj,fuzz,$(LIB_SRC))
	$(Q)rm -f $@ && ar rcs $@ $^

build/fuzz/%: build/fuzz/obj/tests/fuzz/%.o build/fuzz/libwsgw.a
	$(Q)$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(PKG_LIBS)

# ---- tests -----------------------------------------------------------------
UNIT_BINS := $(addprefix build/release/tests/,$(UNIT_NAMES))
UNIT_ASAN_BINS := $(addprefix build/asan/tests/,$(UNIT_NAMES))
FUZZ_BINS := $(addprefix build/fuzz/,$(FUZZ_NAMES))
FUZZ_SECONDS ?= 10

unit: $(UNIT_BINS)
	$(Q)tests/run-unit.sh $(UNIT_BINS)

unit-asan: $(UNIT_ASAN_BINS)
	$(Q)tests/run-unit.sh $(UNIT_ASAN_BINS)

integration: build/release/wsgw
	$(Q)WSGW_BIN=build/release/wsgw tests/run-integration.sh

integration-asan: build/asan/wsgw
	$(Q)WSGW_BIN=build/asan/wsgw WSGW_ASAN=1 tests/run-integration.sh

fuzz: $(FUZZ_BINS)
	$(Q)tests/run-fuzz.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

# Every fuzz target for FUZZ_LONG_SECONDS each (not part of `make test`).
FUZZ_LONG_SECONDS ?= 600
fuzz-long: $(FUZZ_BINS)
	$(Q)tests/run-fuzz.sh $(FUZZ_LONG_SECONDS) $(FUZZ_BINS)

# Everything, in order, with one summary line at the end.
test: deps $(UNIT_BINS) $(UNIT_ASAN_BINS) build/release/wsgw build/asan/wsgw $(FUZZ_BINS)
	$(Q)UNIT_BINS="$(UNIT_BINS)" UNIT_ASAN_BINS="$(UNIT_ASAN_BINS)" FUZZ_BINS="$(FUZZ_BINS)" \
		PROTO_FILES="$(PROTO_FILES)" FUZZ_SECONDS=$(FUZZ_SECONDS) tests/run-all.sh

# promtool, which tests/integration/test_metrics.py runs on real /metrics
# output, comes only in Debian's prometheus package, whose installation would
# start a Prometheus service: the binary is taken from the .deb without
# installing it. Where the download fails, $(PROMTOOL).unavailable holds the
# reason and the test skips with it.
PROMTOOL := build/tools/promtool
$(PROMTOOL):
	$(Q)mkdir -p $(@D) && rm -f $@.unavailable; d=$$(mktemp -d); \
	if (cd "$$d" && apt-get download -q -o APT::Sandbox::User=root prometheus) >"$$d/log" 2>&1 && \
	   dpkg-deb -x "$$d"/prometheus_*.deb "$$d/x" && [ -x "$$d/x/usr/bin/promtool" ]; then \
		cp "$$d/x/usr/bin/promtool" $@; \
	else \
		echo "apt-get download prometheus failed: $$(tail -n 1 "$$d/log")" >$@.unavailable; \
		echo "make: $(PROMTOOL): $$(cat $@.unavailable)" >&2; \
	fi; \
	rm -rf "$$d"

test integration integration-asan: $(PROMTOOL)

run: build/release/wsgw
	./build/release/wsgw $(ARGS)

# ---- benchmarks ------------------------------------------------------------
# Each program is its own object plus the modules it calls, which the linker
# takes from libbench.a.
build/bench/obj/%.o: %.c | deps
	@mkdir -p $(@D)
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -g -MMD -MP $(BENCH_CFLAGS) -c $< -o $@

build/bench/libbench.a: $(call obj,bench,$(BENCH_MOD_SRC))
	$(Q)rm -f $@ && ar rcs $@ $^

build/bench/%: build/bench/obj/bench/%.o build/bench/libbench.a
	$(Q)$(CC) -o $@ $^ -lm $(BENCH_LIBS)

# The TLS benchmark's programs (run-tls.sh) link OpenSSL; the others do not.
build/bench/loadgen build/bench/tlsecho: BENCH_LIBS = -lssl -lcrypto
# tlsmem measures wsgw's own TLS layer: src/tls.c linked in.
build/bench/obj/bench/tlsmem.o build/bench/obj/src/tls.o: BENCH_CFLAGS = -Isrc
build/bench/tlsmem: build/bench/obj/bench/tlsmem.o build/bench/obj/src/tls.o
	$(Q)$(CC) -o $@ $^ -lssl -lcrypto

bench-build: build/release/wsgw $(addprefix build/bench/,$(BENCH_NAMES))

bench: bench-build
	$(Q)bench/run.sh

.PHONY: bench-tls
bench-tls: bench-build
	$(Q)bench/run-tls.sh

.PHONY: bench-bcast
bench-bcast: bench-build
	$(Q)bench/run-bcast.sh

.PHONY: bench-cluster
bench-cluster: bench-build
	$(Q)bench/run-cluster.sh

# ---- container image -------------------------------------------------------
# `make image`: the OCI image $(IMAGE) from ./Dockerfile, FROM scratch, so
# nothing is pulled from a registry; then $(IMAGE_TAR), an OCI archive for
# `podman load` / `docker load`. The root filesystem is staged first under
# build/image-root/ (the build context holds only that: .dockerignore):
#   /wsgw                   build/image/wsgw, stripped: the release objects
#                           linked with the libraries' static archives (below)
#   the shared libraries    exactly those the loader resolves for /wsgw (ldd
#                           prints the transitive closure: libc), and the loader
#   the CA bundle           Debian's /etc/ssl/certs/ca-certificates.crt, which
#                           OpenSSL's default verify paths reach, for https backends
#   /etc/passwd, /etc/group root and the unprivileged user wsgw ($(IMAGE_UID),
#                           the Dockerfile's USER)
#   /etc/nsswitch.conf      hosts: files before DNS, as on the host
IMAGE ?= wsgw:latest
IMAGE_TAR ?= build/wsgw-image.tar
IMAGE_ROOT := build/image-root
IMAGE_UID := 10001
PODMAN ?= podman
# Debian's CA bundle (package ca-certificates); OpenSSL's default file
# /usr/lib/ssl/cert.pem links to it.
CA_BUNDLE := /etc/ssl/certs/ca-certificates.crt

# podman's Debian package enables podman.socket and friends and, on a host
# run by systemd, would start them; the build needs none of them, so a
# policy-rc.d (Debian's switch for that) holds them off while apt runs, unless
# the machine already has one.
image-deps:
	$(Q)missing=""; for p in $(IMAGE_PKGS); do \
		dpkg -s "$$p" 2>/dev/null | grep -q '^Status: install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "make image-deps: installing$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "make image-deps: run as root to install:$$missing" >&2; exit 1; fi; \
		if [ ! -e /usr/sbin/policy-rc.d ]; then \
			trap 'rm -f /usr/sbin/policy-rc.d' EXIT; \
			printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d; \
		fi; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

# The image's binary: build/release/wsgw's objects, linked with Debian's
# static archives of OpenSSL and the other libraries (libc stays shared), so
# the process maps only the library code it links, and the loader relocates
# no 4.7 MB libcrypto at start; the relative relocations are packed
# (DT_RELR) instead of 470 KB of RELA entries the loader would read.
# src/image.ld (bench/image-layout.py writes it) puts our code and the
# library members that run at start and for a client's first message
# together at the front of .text and .rodata: the kernel maps file pages 64
# KiB around each fault, and the same code spread over 3 MB made 2 MB of it
# resident (README.md, "Deploying"). A Debian OpenSSL update needs this
# binary (and the image) rebuilt; build/release/wsgw keeps the shared ones.
build/image/wsgw: build/release/obj/src/main.o build/release/libwsgw.a src/image.ld
	@mkdir -p $(@D)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) -o $@ build/release/obj/src/main.o build/release/libwsgw.a \
		-Wl,--gc-sections -Wl,-z,pack-relative-relocs -Wl,-T,src/image.ld \
		-Wl,-Map,$@.map -Wl,-Bstatic -Wl,--start-group $(PKG_LIBS) -Wl,--end-group \
		-Wl,-Bdynamic

image-root: build/image/wsgw | deps
	$(Q)rm -rf $(IMAGE_ROOT) && install -d -m 0755 $(IMAGE_ROOT)/etc
	$(Q)strip -o $(IMAGE_ROOT)/wsgw build/image/wsgw && chmod 0755 $(IMAGE_ROOT)/wsgw
	$(Q)out=$$(ldd build/image/wsgw) || exit 1; \
	if echo "$$out" | grep -q 'not found'; then echo "$$out" >&2; exit 1; fi; \
	for f in $$(echo "$$out" | awk '$$2 == "=>" && $$3 ~ /^\// { print $$3 } $$1 ~ /^\// { print $$1 }'); do \
		mode=0644; case "$$f" in */ld-*) mode=0755;; esac; \
		install -d -m 0755 "$(IMAGE_ROOT)$${f%/*}" && install -m $$mode "$$f" "$(IMAGE_ROOT)$$f" || exit 1; \
	done
	$(Q)ca="$(CA_BUNDLE)"; [ -f "$$ca" ] || { echo "make image-root: no CA bundle at '$$ca'" \
		"(package ca-certificates); install it (make image-deps)" >&2; exit 1; }; \
	install -d -m 0755 "$(IMAGE_ROOT)$${ca%/*}" && install -m 0644 "$$ca" "$(IMAGE_ROOT)$$ca"
	$(Q)printf 'root:x:0:0:root:/root:/sbin/nologin\nwsgw:x:$(IMAGE_UID):$(IMAGE_UID):wsgw:/nonexistent:/sbin/nologin\n' >$(IMAGE_ROOT)/etc/passwd
	$(Q)printf 'root:x:0:\nwsgw:x:$(IMAGE_UID):\n' >$(IMAGE_ROOT)/etc/group
	$(Q)printf 'hosts: files dns\n' >$(IMAGE_ROOT)/etc/nsswitch.conf
	$(Q)chmod -R u=rwX,go=rX $(IMAGE_ROOT) # whatever the umask: readable, owner-only writable

# --layers=false: no cached image per step; the image it replaces under the
# same name is removed (when nothing else uses it), so rebuilds leave no pile.
image: image-deps image-root
	$(Q)old=$$($(PODMAN) image inspect -f '{{.Id}}' $(IMAGE) 2>/dev/null); \
	$(PODMAN) build --pull=never --layers=false -q -f Dockerfile -t $(IMAGE) . >/dev/null || exit 1; \
	new=$$($(PODMAN) image inspect -f '{{.Id}}' $(IMAGE)); \
	if [ -n "$$old" ] && [ "$$old" != "$$new" ]; then $(PODMAN) rmi "$$old" >/dev/null 2>&1 || true; fi
	$(Q)rm -f $(IMAGE_TAR) && $(PODMAN) save -q --format oci-archive -o $(IMAGE_TAR) $(IMAGE)
	$(Q)echo "make image: $(IMAGE) and $(IMAGE_TAR): root filesystem" \
		"$$(find $(IMAGE_ROOT) -type f -printf '%s\n' | awk '{ s += $$1 } END { print s }') B," \
		"OCI archive (its layer gzip-compressed) $$(wc -c <$(IMAGE_TAR)) B"

# Generated protobuf-c code is committed under vendor/pb so a build needs only
# the libraries; `make proto` regenerates it, `make proto-check` (part of
# `make test`) proves the committed copy matches proto/.
PROTO_FILES := $(shell find proto -name '*.proto' | sort) /usr/include/google/protobuf/timestamp.proto

proto: deps
	rm -rf vendor/pb && mkdir -p vendor/pb
	protoc-c --c_out=vendor/pb -Iproto -I/usr/include $(PROTO_FILES)

proto-check: deps
	$(Q)tests/proto-check.sh $(PROTO_FILES)

format:
	clang-format -i src/*.c src/*.h tests/unit/*.c tests/fuzz/*.c bench/*.c bench/*.h

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)

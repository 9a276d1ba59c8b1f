# wsgw — one non-recursive Makefile. Outputs under build/<flavour>/.
#   make run      install missing packages, build, start on embedded defaults
#   make test     install missing packages, build, run every test (unit,
#                 integration, the same under ASan+UBSan, short fuzz runs)
#   make bench    benchmarks (bench/README.md)
#   V=1           show command lines

# Debian packages the build, the tests and the benchmarks need (versions
# tested with: vendor/README.md).
DEB_PKGS := gcc make pkg-config libssl-dev libnghttp2-dev libprotobuf-c-dev \
	protobuf-c-compiler protobuf-compiler libcmocka-dev clang libclang-rt-14-dev \
	python3 python3-websockets python3-grpcio python3-protobuf python3-pytest \
	nghttp2-client curl libjansson-dev libyaml-dev libcurl4-openssl-dev \
	wrk util-linux procps chromium chromium-driver python3-selenium python3-yaml \
	zlib1g-dev python3-hpack

CC ?= cc
FUZZ_CC ?= clang
PKGS := libcrypto libnghttp2 libprotobuf-c jansson yaml-0.1 libcurl zlib
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

.PHONY: all deps build asan run test unit unit-asan integration integration-asan fuzz \
	bench bench-build proto proto-check format clean FORCE

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

# Everything, in order, with one summary line at the end.
test: deps $(UNIT_BINS) $(UNIT_ASAN_BINS) build/release/wsgw build/asan/wsgw $(FUZZ_BINS)
	$(Q)UNIT_BINS="$(UNIT_BINS)" UNIT_ASAN_BINS="$(UNIT_ASAN_BINS)" FUZZ_BINS="$(FUZZ_BINS)" \
		PROTO_FILES="$(PROTO_FILES)" FUZZ_SECONDS=$(FUZZ_SECONDS) tests/run-all.sh

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

bench-build: build/release/wsgw $(addprefix build/bench/,$(BENCH_NAMES))

bench: bench-build
	$(Q)bench/run.sh

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

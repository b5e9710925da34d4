# The front door of the repository. `make help` lists what it can do.

SHELL := /bin/bash
MAKEFLAGS += --no-print-directory

BUILD ?= build
CH    ?= 01
PORT  ?= 8080
ARGS  ?=
JOBS  ?= $(shell nproc)
CMAKE_BUILD_TYPE ?= RelWithDebInfo
WERROR ?=
# Warnings are errors when WERROR is set (CI sets it; so should anyone changing the code), never
# by default: a newer or older compiler's new warning must not stop someone building the book.
WERROR_FLAG = -DPROGRESSIVE_WERROR=$(if $(WERROR),ON,OFF)

.PHONY: all build run test unit test-asan test-tsan build-types format help clean

all: build

help:
	@echo "make                 build every chapter, the unit tests and the docroot (into $(BUILD)/)"
	@echo "make run CH=NN       build chapter NN, then run it on 127.0.0.1:$(PORT) (ARGS='--idle-timeout 2' adds flags)"
	@echo "make test            build, then run every test: GoogleTest and the black-box pytest suite"
	@echo "make unit            build, then run only the GoogleTest unit tests"
	@echo "make test-asan       the suite on an AddressSanitizer + UndefinedBehaviorSanitizer build (no timing tests)"
	@echo "make test-tsan       the suite on a ThreadSanitizer build, for the chapters that run threads (no timing tests)"
	@echo "make build-types     every build type (Debug, Release, RelWithDebInfo, MinSizeRel) with g++ and clang++, warnings as errors, and their unit tests"
	@echo "make attacks         slowhttptest (slowloris, slow body, slow read), ab and h2load against every chapter, verdicts checked (~5 min)"
	@echo "make fuzz            fuzz the HTTP parser (libFuzzer, clang) for SECONDS=60 seconds, in $(BUILD)-fuzz/"
	@echo "make tour            build, then show every chapter under the same small load and probes, in one table (~1 min once built)"
	@echo "make bench           build, then measure every chapter against nginx and the kernel floor and run the claims' experiments (~45 min): docs/results/, docs/claims.md"
	@echo "                     (QUICK=1: a smoke run of about 2 min; CORES=N: servers on N CPUs, wrk on the rest)"
	@echo "make bench-tools     pack wrk, nginx, strace and taskset with their libraries, for a machine with no package registry"
	@echo "make profile CH=NN   build, then record chapter NN under load with perf: where its CPU goes, and a flame graph (CH=all: every chapter)"
	@echo "make docs            build the book (chapter pages, diagrams, API reference) into docs/html/"
	@echo "make exercise CH=NN EX=NAME   write and build a starting copy of an exercise under exercises/ (no EX: list them)"
	@echo "make check CH=NN EX=NAME      build your copy, run the exercise's tests, then (once they pass) the chapter's suite"
	@echo "make exercises-verify         every exercise's start fails its tests and the reference passes them"
	@echo "make format          apply .clang-format to every C++ file"
	@echo "make clean           remove the build directories"
	@echo
	@echo "Missing Debian packages are installed on first use (as root or through sudo)."

# configure+build in one directory: $(call build_in,DIR,EXTRA_CMAKE_ARGS)
define build_in
	@scripts/setup.sh build
	@cmake -S . -B $(1) -DCMAKE_BUILD_TYPE=$(CMAKE_BUILD_TYPE) $(WERROR_FLAG) --log-level=WARNING $(2)
	@cmake --build $(1) -j $(JOBS)
endef

# run every CTest test in a build directory, then summarise the GoogleTest and pytest counts
define test_in
	@scripts/setup.sh build test
	$(call build_in,$(1),$(2))
	@cd $(1) && set -o pipefail && ctest --output-on-failure -j $(JOBS) $(3) 2>&1 | tee ctest.log
	@/usr/bin/python3 tests/summary.py $(1)
endef

build:
	$(call build_in,$(BUILD),)

# builds only what the chapter needs (its binary and the docroot), then replaces make with it
run:
	@name=$(call chapter_dir,$(CH)); \
	if [ -z "$$name" ]; then echo "no chapter matches CH=$(CH); try: $$(cd chapters && ls -d [0-9]*/ | tr -d / | tr '\n' ' ')"; exit 2; fi; \
	scripts/setup.sh build try && \
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(CMAKE_BUILD_TYPE) $(WERROR_FLAG) --log-level=WARNING && \
	cmake --build $(BUILD) -j $(JOBS) --target $$name docroot || exit $$?; \
	$(BUILD)/bin/$$name --port $(PORT) $(ARGS) --check || exit 2; \
	echo "Starting $$name. In another terminal, try:"; \
	echo "  curl -v http://127.0.0.1:$(PORT)/"; \
	echo "  curl --data-binary @README.md http://127.0.0.1:$(PORT)/echo"; \
	echo "  open http://127.0.0.1:$(PORT)/static/index.html in a browser"; \
	echo "Stop it with Ctrl-C."; \
	exec $(BUILD)/bin/$$name --port $(PORT) $(ARGS)

test:
	$(call test_in,$(BUILD),)

unit:
	$(call test_in,$(BUILD),,-L unit)

test-asan:
	$(call test_in,$(BUILD)-asan,-DPROGRESSIVE_SANITIZE=address)

test-tsan:
	$(call test_in,$(BUILD)-tsan,-DPROGRESSIVE_SANITIZE=thread)

# Every build type with both compilers, warnings as errors, each running the unit tests: what CI
# checks so that no user's configuration breaks. Into $(BUILD)-types/COMPILER-TYPE/.
BUILD_TYPES = Debug Release RelWithDebInfo MinSizeRel
build-types:
	@scripts/setup.sh build fuzz
	@set -e; for cxx in g++ clang++; do for type in $(BUILD_TYPES); do \
	  dir=$(BUILD)-types/$$cxx-$$type; echo "== $$cxx $$type"; \
	  cmake -S . -B $$dir -DCMAKE_BUILD_TYPE=$$type -DCMAKE_CXX_COMPILER=$$cxx -DPROGRESSIVE_WERROR=ON \
	    --log-level=WARNING >/dev/null; \
	  cmake --build $$dir -j $(JOBS) >$$dir.log 2>&1 || { tail -30 $$dir.log; exit 1; }; \
	  $$dir/tests/unit_tests --gtest_brief=1 | tail -3; \
	done; done; echo "build-types: 8 builds, warnings as errors, unit tests passed"

# libFuzzer on common::RequestParser (tests/fuzz/), built with clang++ in a directory of its own.
# The working corpus starts from the request bytes of tests/corpus and keeps what the fuzzer adds;
# a crash or a broken invariant fails the target and leaves the input in $(BUILD)-fuzz/findings/.
SECONDS ?= 60
.PHONY: fuzz
fuzz:
	@scripts/setup.sh build test fuzz
	@cmake -S . -B $(BUILD)-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
	  -DPROGRESSIVE_FUZZ=ON --log-level=WARNING
	@cmake --build $(BUILD)-fuzz -j $(JOBS)
	@/usr/bin/python3 tests/corpus/corpus.py export $(BUILD)-fuzz/corpus
	@mkdir -p $(BUILD)-fuzz/findings
	@cd $(BUILD)-fuzz && status=0; \
	./http_parser_fuzz corpus -max_total_time=$(SECONDS) -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
	  -print_final_stats=1 -artifact_prefix=findings/ >fuzz.log 2>&1 || status=$$?; \
	runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' fuzz.log); \
	if [ $$status -ne 0 ]; then \
	  grep -E -A3 '^(invariant|delivered|==[0-9]+==ERROR|SUMMARY|artifact_prefix)' fuzz.log | grep -v '^ *#[0-9]'; \
	  echo "fuzz: FAILED (exit $$status) after $${runs:-?} executions: $(BUILD)-fuzz/fuzz.log, $(BUILD)-fuzz/findings/"; \
	  exit 1; \
	fi; \
	grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' fuzz.log; \
	echo "fuzz: $$runs executions in $(SECONDS) s: no crash, no broken invariant"

# make bench: every chapter, nginx and the kernel floor measured side by side (scripts/bench.py);
# data, tables and plots in docs/results/. QUICK=1 (or make bench-quick) is a smoke run that writes
# to $(BUILD)/bench-quick/. CORES=N puts the servers on N CPUs and wrk on the others (default: all
# but one); WORKERS=N sets --threads and the nginx worker cap (default: the servers' CPUs);
# BENCH_ARGS passes more options (/usr/bin/python3 scripts/bench.py --help).
QUICK ?=
WORKERS ?=
CORES ?=
BENCH_ARGS ?=
.PHONY: bench bench-quick tour profile
BENCH_TOOLS = $(BUILD)/bench-tools
bench: build
	@if [ -d $(BENCH_TOOLS)/bin ]; then echo "make bench: with the tools packed in $(BENCH_TOOLS)"; else scripts/setup.sh bench; fi
	@PATH="$(abspath $(BENCH_TOOLS))/bin:$$PATH" /usr/bin/python3 scripts/bench.py --build $(BUILD) $(if $(QUICK),--quick) $(if $(WORKERS),--workers $(WORKERS)) $(if $(CORES),--cores $(CORES)) $(BENCH_ARGS)

# make bench-tools: wrk, nginx, strace and taskset with their libraries in $(BENCH_TOOLS), for a
# machine that reaches no package registry (carry the folder there; make bench then uses it).
.PHONY: bench-tools
bench-tools:
	@scripts/setup.sh bench
	@scripts/pack_bench_tools.sh $(BENCH_TOOLS)

# make profile CH=NN (scripts/profile.py): perf samples the chapter under keep-alive load; the
# split of its CPU time and a flame graph go to docs/results/, where its page shows them.
profile: build
	@scripts/setup.sh profile
	@/usr/bin/python3 scripts/profile.py --build $(BUILD) $(if $(filter all,$(CH)),--all,--chapter $(CH))

bench-quick:
	@$(MAKE) bench QUICK=1

# make tour: the tutorial's story in one screen (scripts/tour.py).
tour: build
	@scripts/setup.sh tour
	@/usr/bin/python3 scripts/tour.py --build $(BUILD) $(if $(WORKERS),--workers $(WORKERS))

# The book (scripts/book.py, docs/Doxyfile): the pages in reading order, then doxygen; every
# doxygen warning fails the target. Opens as docs/html/index.html.
.PHONY: docs capabilities
docs:
	@scripts/setup.sh docs
	@/usr/bin/python3 scripts/book.py --out $(BUILD)/book

# Rewrites the capability table of docs/capabilities.md from chapters/registry.json.
capabilities:
	@/usr/bin/python3 scripts/book.py --write-capabilities

# Exercises (scripts/exercise.py, docs/exercises.md). EX is the exercise's name; SANITIZE=thread
# or address checks a sanitizer build of your copy; BYTES=1 shows the bytes a failure quotes, in
# full; SUITE=1 runs the chapter's suite even while the exercise's own tests fail.
EX ?=
SANITIZE ?=
CH_GIVEN = $(if $(filter command line environment,$(origin CH)),$(CH))
# The chapter folder that $(1) names: "4", "04" or "04-polling" all name 04-polling.
chapter_dir = $(shell ch=$(1); case $$ch in ([0-9]) ch=0$$ch;; esac; cd chapters && ls -d $$ch*/ 2>/dev/null | head -n 1 | tr -d /)
# make attacks (tests/attacks/): slowhttptest's slowloris, slow body and slow read, then ab and
# h2load --h1, against every chapter; each verdict is checked against what the model claims, and
# written to docs/results/attacks.json, which each chapter's page in the book shows.
.PHONY: attacks
attacks: build
	@scripts/setup.sh test attacks
	@/usr/bin/pytest-3 -q -rs -p no:cacheprovider tests/attacks --bindir $(BUILD)/bin --docroot $(BUILD)/www --record docs/results/attacks.json $(if $(CH_GIVEN),--chapter $(or $(call chapter_dir,$(CH_GIVEN)),$(error no chapter matches CH=$(CH))))
	@if [ -f docs/results/bench.csv ]; then /usr/bin/python3 scripts/claims.py --from docs/results >/dev/null && echo "docs/claims.md: the attack rows rewritten"; fi

.PHONY: exercise check exercises-verify
exercise:
	@if [ -z "$(EX)" ]; then /usr/bin/python3 scripts/exercise.py list $(CH_GIVEN); \
	else $(MAKE) build && /usr/bin/python3 scripts/exercise.py start $(CH) $(EX) --build $(BUILD); fi

check: build
	@scripts/setup.sh test
	@if [ -z "$(EX)" ]; then echo "usage: make check CH=NN EX=NAME; the exercises:"; \
	  /usr/bin/python3 scripts/exercise.py list $(CH_GIVEN); exit 2; fi
	@/usr/bin/python3 scripts/exercise.py check $(CH) $(EX) --build $(BUILD) $(if $(SANITIZE),--sanitize $(SANITIZE)) $(if $(SUITE),--suite) $(if $(BYTES),--bytes)

exercises-verify: build
	@scripts/setup.sh test
	@/usr/bin/python3 scripts/exercise.py verify --build $(BUILD)

format:
	@find common chapters tests -name '*.cpp' -o -name '*.hpp' | xargs clang-format -i --style=file

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-tsan $(BUILD)-fuzz $(BUILD)-types

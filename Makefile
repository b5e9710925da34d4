# The front door of the repository. `make help` lists what it can do.

SHELL := /bin/bash
MAKEFLAGS += --no-print-directory

BUILD ?= build
CH    ?= 01
PORT  ?= 8080
ARGS  ?=
JOBS  ?= $(shell nproc)
CMAKE_BUILD_TYPE ?= RelWithDebInfo

.PHONY: all build run test unit test-asan test-tsan format help clean

all: build

help:
	@echo "make                 build every chapter, the unit tests and the docroot (into $(BUILD)/)"
	@echo "make run CH=NN       build, then run chapter NN on 127.0.0.1:$(PORT) (ARGS='--idle-timeout 2' adds flags)"
	@echo "make test            build, then run every test: GoogleTest and the black-box pytest suite"
	@echo "make unit            build, then run only the GoogleTest unit tests"
	@echo "make test-asan       the whole suite on an AddressSanitizer + UndefinedBehaviorSanitizer build"
	@echo "make test-tsan       the whole suite on a ThreadSanitizer build"
	@echo "make format          apply .clang-format to every C++ file"
	@echo "make clean           remove the build directories"
	@echo
	@echo "Missing Debian packages are installed on first use (as root or through sudo)."

# configure+build in one directory: $(call build_in,DIR,EXTRA_CMAKE_ARGS)
define build_in
	@scripts/setup.sh build
	@cmake -S . -B $(1) -DCMAKE_BUILD_TYPE=$(CMAKE_BUILD_TYPE) --log-level=WARNING $(2)
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

run: build
	@name=$$(cd chapters && ls -d $(CH)*/ 2>/dev/null | head -n 1 | tr -d /); \
	if [ -z "$$name" ]; then echo "no chapter matches CH=$(CH); try: $$(cd chapters && ls -d [0-9]*/ | tr -d / | tr '\n' ' ')"; exit 2; fi; \
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

format:
	@find common chapters tests -name '*.cpp' -o -name '*.hpp' | xargs clang-format -i --style=file

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-tsan

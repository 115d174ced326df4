# Top-level entry points; CMake + CTest do the work underneath.
BUILD ?= build
JOBS ?= $(shell nproc)
SHARED ?= $(abspath ../shared)

.PHONY: all test demo assets clean sanitize fuzz bench

all:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test: all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The same suite under ASan + UBSan (LeakSanitizer included).
sanitize:
	@cmake -S . -B build-san -DCMAKE_BUILD_TYPE=Debug -DDF_SANITIZE=ON >/dev/null
	@cmake --build build-san -j $(JOBS)
	cd build-san && ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp ctest --output-on-failure -j $(JOBS)

assets:
	@scripts/assets.sh

demo: all assets
	@scripts/demo.sh

clean:
	rm -rf $(BUILD) build-san

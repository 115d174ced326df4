# Top-level entry points; CMake + CTest do the work underneath.
BUILD ?= build
JOBS ?= $(shell nproc)
SHARED ?= $(abspath ../shared)

.PHONY: all test demo assets clean sanitize fuzz bench install uninstall

all:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	@scripts/fetch-web-runtime.sh $(BUILD)/web-runtime --if-possible

test: all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The same suite under ASan + UBSan (LeakSanitizer included).
sanitize:
	@cmake -S . -B build-san -DCMAKE_BUILD_TYPE=Debug -DDF_SANITIZE=ON >/dev/null
	@cmake --build build-san -j $(JOBS)
	@scripts/fetch-web-runtime.sh build-san/web-runtime --if-possible
	cd build-san && ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp ctest --output-on-failure -j $(JOBS)

# make install PREFIX=/usr/local (DESTDIR honoured): bin/deepfashion,
# include/deepfashion.h, lib/libdeepfashion.{a,so*}, lib/pkgconfig/deepfashion.pc.
# Builds BUILD as it is configured (configures it only when it does not exist).
PREFIX ?= /usr/local
install:
	@[ -f $(BUILD)/CMakeCache.txt ] || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target deepfashion deepfashion_lib deepfashion_shared
	cmake --install $(BUILD) --prefix $(PREFIX)

# Removes every file the last install wrote (BUILD/install_manifest.txt).
uninstall:
	@[ -f $(BUILD)/install_manifest.txt ] || { echo "uninstall: $(BUILD)/install_manifest.txt not found (nothing installed from this build)"; exit 1; }
	@while IFS= read -r f || [ -n "$$f" ]; do rm -fv "$$f"; done < $(BUILD)/install_manifest.txt
	@rm -f $(BUILD)/install_manifest.txt

assets:
	@scripts/assets.sh

demo: all assets
	@scripts/demo.sh

clean:
	rm -rf $(BUILD) build-san

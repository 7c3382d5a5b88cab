# steerdns: `make run` builds and serves the demo config; `make test` builds and runs every test.
SHELL := /bin/bash
BUILD ?= build
FUZZ_BUILD ?= build-fuzz
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
CONFIG ?= examples/demo.yaml

DEPS_BUILD := build-essential cmake ninja-build pkg-config libknot-dev libboost-dev \
  nlohmann-json3-dev libyaml-cpp-dev libsqlite3-dev libcurl4-openssl-dev libssl-dev \
  libcli11-dev libspdlog-dev libfmt-dev libpugixml-dev libmaxminddb-dev prometheus-cpp-dev \
  libfstrm-dev libprotobuf-c-dev protobuf-c-compiler golang-github-dnstap-golang-dnstap-dev
DEPS_TEST := libgtest-dev libgmock-dev libbenchmark-dev dnsutils knot-dnsutils nsd python3 \
  awscli python3-boto3 prometheus \
  python3-dnspython openssl clang libfuzzer-14-dev libclang-rt-14-dev \
  libmaxmind-db-writer-perl chromium chromium-driver python3-selenium dnstap-ldns fstrm-bin \
  etcd-server etcd-client
DEPS_BENCH := dnsperf knot nsd gdnsd libbenchmark-dev dnsutils python3 iproute2 etcd-server \
  python3-dnspython

.PHONY: all deps deps-test build run test fuzz-build bench clean format tidy

all: build

deps:
	@scripts/install-deps.sh $(DEPS_BUILD)

deps-test: deps
	@scripts/install-deps.sh $(DEPS_TEST)

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

run: build
	exec $(BUILD)/steerdns serve --config $(CONFIG)

# libFuzzer targets need clang; they get their own build tree and are run, time-bounded, by ctest.
# -O1 with line tables: what OSS-Fuzz builds with, and the quickest to compile under sanitizers.
fuzz-build: deps-test
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" \
	  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" \
	  -DSTEERDNS_FUZZ=ON -DSTEERDNS_TESTS=OFF -DSTEERDNS_BENCH=OFF
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_message fuzz_zone

test: deps-test fuzz-build
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DSTEERDNS_WERROR=ON \
	  -DSTEERDNS_FUZZ_DIR=$(abspath $(FUZZ_BUILD))/tests/fuzz $(CMAKE_ARGS)
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

# Reconfigures after installing Google Benchmark so that bench_query gets built.
bench: deps
	@scripts/install-deps.sh $(DEPS_BENCH)
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DSTEERDNS_BENCH=ON $(CMAKE_ARGS)
	cmake --build $(BUILD) -j $(JOBS)
	BUILD=$(BUILD) bench/run.sh

format:
	clang-format -i $$(git ls-files 'src/*.cc' 'src/*.h' 'tests/*.cc' 'tests/*.h' 'bench/*.cc')

tidy: build
	clang-tidy -p $(BUILD) $$(git ls-files 'src/*.cc')

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD)

# Troupe — build, run and test. See README.md.
SHELL := /bin/bash
GO ?= go
BIN := bin/troupe
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
# How long each fuzz target runs inside `make test` (they run longer under `make fuzz`).
FUZZTIME ?= 10s
# Fuzz targets as package:FuzzName. Each one runs briefly in `make test`.
FUZZ_TARGETS := ./storage:FuzzRecover ./storage:FuzzValidateBatch ./gateway:FuzzConn
# Debian packages the tests need: ZooKeeper (with its JRE) for cluster tests, kcat (librdkafka) as a real client.
TEST_PACKAGES := zookeeper kcat

.PHONY: all build run test test-deps unit fuzz chaos sim bench proto proto-check lint clean cluster cluster-stop

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/troupe

# run: one broker on 127.0.0.1:9092 with embedded metadata, data in ./data.
run: build
	$(BIN) serve --id 1 --listen 127.0.0.1:9092 --data-dir ./data

# cluster: ZooKeeper on 127.0.0.1:2181 and three brokers on 127.0.0.1:9092-9094,
# in the background (data and logs in .cluster/). cluster-stop stops them.
cluster: test-deps build
	$(GO) run ./internal/devcluster up -bin $(BIN) -dir .cluster

cluster-stop:
	$(GO) run ./internal/devcluster down -dir .cluster

# How long make test runs simulator seeds for (make sim runs a number of them).
SIMTIME ?= 120s
SEEDS ?= 2000

# test installs what the tests need if missing, then runs every test. Tests start the servers
# they use (ZooKeeper, brokers) on free loopback ports and stop them when they finish. The
# simulator is one goroutine: it runs without the race detector, for as many seeds as fit in
# SIMTIME.
test: test-deps build
	$(GO) test -race -timeout 30m -count=1 $$($(GO) list ./... | grep -v '/internal/sim$$')
	$(GO) test -timeout 30m -count=1 -v -run 'TestSim(Regressions|Deterministic|Seeds)$$' ./internal/sim -simtime=$(SIMTIME)
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
	done

test-deps:
	@missing=""; \
	command -v kcat >/dev/null 2>&1 || missing="$$missing kcat"; \
	{ test -f /usr/share/java/zookeeper.jar && command -v java >/dev/null 2>&1; } || missing="$$missing zookeeper"; \
	if [ -n "$$missing" ]; then \
		echo "installing test dependencies:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y $(TEST_PACKAGES); \
	fi

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$${FUZZ_LONG:-5m} $$pkg || exit 1; \
	done

# chaos repeats the cluster fault tests (kill -9, SIGSTOP, ZooKeeper outages) many
# times, with the race detector in the brokers too; it is not part of make test.
CHAOS_COUNT ?= 10
chaos: test-deps build
	TROUPE_HARNESS_RACE=1 $(GO) test -count=$(CHAOS_COUNT) -timeout 6h -run 'TestCluster' ./internal/e2e/

# sim runs SEEDS consecutive seeds of the cluster simulator (from FIRST) and reports seeds/s;
# a failing seed prints its replay command.
FIRST ?= 1
sim:
	$(GO) test -timeout 0 -count=1 -v -run 'TestSimSeeds' ./internal/sim -seeds=$(SEEDS) -first=$(FIRST)

bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=$${COUNT:-5} ./...

proto:
	@command -v protoc >/dev/null 2>&1 || { SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y protobuf-compiler; }
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc --proto_path=messages --go_out=messages --go_opt=paths=source_relative messages/*.proto

# proto-check fails when the committed generated code differs from what `make proto` writes.
proto-check: proto
	git diff --exit-code -- messages/

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin

# llmbench — build, test and benchmark. `make help` lists the targets.

GO      ?= go
BIN     := bin
# The race detector needs cgo; without a C compiler the tests run without it.
RACE    := $(shell [ "$$($(GO) env CGO_ENABLED)" = 1 ] && echo -race)
PROMPT  ?= The latency of a language model server is
TOKENS  ?= 40

.PHONY: all build demo test vet fuzz bench generate check-generated help clean tools

all: build

help:
	@echo "make demo     build refserver and generate from a prompt (synthetic GPT-2 124M)"
	@echo "make test     vet and run every test$(if $(RACE), with the race detector,)"
	@echo "make bench    kernel micro-benchmarks and the engine benchmark (prints ratios)"
	@echo "make fuzz     run each fuzz target for FUZZTIME (default 20s)"
	@echo "make build    build the binaries into $(BIN)/"
	@echo "make tools    build the pinned Jaeger and Prometheus into $(BIN)/ (once; the tests need them)"

build:
	$(GO) build -o $(BIN)/refserver ./cmd/refserver

demo: build
	@echo "== refserver generate: GPT-2 124M with synthetic weights, temperature 0.7"
	$(BIN)/refserver generate --prompt "$(PROMPT)" --max-tokens $(TOKENS)
	@echo "== the shared tiny checkpoint, greedy token ids (its reference greedy_16 is 6063,33046,...)"
	$(BIN)/refserver generate --model ../shared/fixtures/gpt2-tiny --prompt-ids 15496,995 --greedy --print-ids --max-tokens 16

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

check-generated:
	cd refserver/nn && $(GO) run ./internal/asmgen && git diff --exit-code -- kernel_amd64.s

# The integration tests run the real Jaeger and Prometheus from $(BIN)/.
# LLMBENCH_INTEGRATION=1 makes them fail, not skip, when those are missing.
test: vet check-generated tools
	LLMBENCH_INTEGRATION=1 $(GO) test $(RACE) -timeout 15m ./...
	# The pure-Go kernels must stay correct on machines without AVX2.
	$(GO) test -tags purego -count=1 ./refserver/nn/ ./refserver/gpt2/

# Jaeger and Prometheus, pinned by tools/*/go.mod, built from source into
# $(BIN)/. Each is rebuilt only when missing or older than its go.mod.
JAEGER_VERSION     = $(shell awk '$$1 == "github.com/jaegertracing/jaeger" {print $$2}' tools/jaeger/go.mod)
PROMETHEUS_VERSION = $(shell awk '$$1 == "github.com/prometheus/prometheus" {print $$2}' tools/prometheus/go.mod)

tools: $(BIN)/jaeger $(BIN)/prometheus

$(BIN)/jaeger: tools/jaeger/go.mod
	@echo "building pinned Jaeger $(JAEGER_VERSION) (about 5 minutes, once)"
	cd tools/jaeger && $(GO) build -o ../../$(BIN)/jaeger github.com/jaegertracing/jaeger/cmd/jaeger
	@touch $@  # newer than go.mod even when go build had nothing to redo

$(BIN)/prometheus: tools/prometheus/go.mod
	@echo "building pinned Prometheus $(PROMETHEUS_VERSION) (Go module version of Prometheus v3; about 5 minutes, once)"
	cd tools/prometheus && $(GO) build -o ../../$(BIN)/prometheus github.com/prometheus/prometheus/cmd/prometheus
	@touch $@  # newer than go.mod even when go build had nothing to redo

FUZZTIME ?= 20s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./refserver/safetensors/
	$(GO) test -run '^$$' -fuzz '^FuzzRoundTrip$$' -fuzztime $(FUZZTIME) ./refserver/bpe/
	$(GO) test -run '^$$' -fuzz '^FuzzStreamDecoder$$' -fuzztime $(FUZZTIME) ./refserver/bpe/
	$(GO) test -run '^$$' -fuzz '^FuzzTextOut$$' -fuzztime $(FUZZTIME) ./refserver/engine/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRequests$$' -fuzztime $(FUZZTIME) ./refserver/server/

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 2s ./refserver/nn/ ./refserver/sample/
	$(BIN)/refserver bench --http --out $(BIN)/bench.json

clean:
	rm -rf $(BIN)

# llmbench — build, test and benchmark. `make help` lists the targets.

GO      ?= go
BIN     := bin
# The race detector needs cgo; without a C compiler the tests run without it.
RACE    := $(shell [ "$$($(GO) env CGO_ENABLED)" = 1 ] && echo -race)
PROMPT  ?= The latency of a language model server is
TOKENS  ?= 40

.PHONY: all build demo test e2e gpu-bundle vet fuzz bench generate check-generated help clean tools assets

all: build

help:
	@echo "make demo     start the stack, run the baseline scenario against refserver, analyze it, write the HTML report"
	@echo "make test     vet and run every test$(if $(RACE), with the race detector,)"
	@echo "make e2e      the analyzer's verdict matrix: controlled causes against the real stack, 3 runs each (about 4 minutes)"
	@echo "make bench    kernel micro-benchmarks, the engine and HTTP benchmarks, the load generator's own (prints ratios)"
	@echo "make fuzz     run each fuzz target for FUZZTIME (default 20s)"
	@echo "make build    build the binaries into $(BIN)/"
	@echo "make tools    build the pinned Jaeger and Prometheus into $(BIN)/ (once; the tests need them)"
	@echo "make gpu-bundle  $(BIN)/gpu-bundle.tar.xz: what deploy/gpu/verify.sh runs on a GPU machine without Go"

build: assets
	$(GO) build -o $(BIN)/refserver ./cmd/refserver
	$(GO) build -o $(BIN)/llmbench ./cmd/llmbench
	$(GO) build -o $(BIN)/llmbench-dev ./cmd/llmbench-dev

# The whole platform: Jaeger, Prometheus and refserver as child processes on
# free loopback ports, the original report's load test (shortened), the
# analysis and the HTML report; everything it starts stops at the end.
# HOLD=115s gives the original 2 minutes.
HOLD ?= 20s
demo: build tools
	$(BIN)/llmbench demo -hold $(HOLD)

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

check-generated:
	cd refserver/nn && $(GO) run ./internal/asmgen && git diff --exit-code -- kernel_amd64.s

# The integration tests run the real Jaeger and Prometheus from $(BIN)/.
# LLMBENCH_INTEGRATION=1 makes them fail, not skip, when those are missing.
test: vet check-generated build tools assets chromium nvrtc
	# refserver loads CUDA at run time (purego): it must build, and run, without cgo.
	CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/refserver ./cmd/llmbench ./cmd/llmbench-dev
	LLMBENCH_INTEGRATION=1 $(GO) test $(RACE) -timeout 15m ./...
	# The pure-Go kernels must stay correct on machines without AVX2.
	$(GO) test -tags purego -count=1 ./refserver/nn/ ./refserver/gpt2/

# The verdict matrix (e2e/verdict_test.go): refserver, Jaeger and Prometheus
# as real processes, each cause built into a controlled run (queueing,
# compute, network delay, a load generator short of VUs, a CPU hog on the
# server's core, missing and partial traces), three runs each; every verdict
# must name the cause or say it cannot tell. Not in `make test`: a busy
# machine rightly changes verdicts (a contended host is a finding).
e2e: build tools
	LLMBENCH_E2E=1 LLMBENCH_INTEGRATION=1 $(GO) test -count=1 -v -run '^TestVerdictMatrix$$' -timeout 20m ./e2e/

# Everything deploy/gpu/verify.sh runs on a GPU machine, which has CUDA and
# PyTorch but no Go and no network: refserver, llmbench and the cuda
# package's test binary (stripped), the scenarios, the verify scripts and
# the GPT-2 fixture, in one archive to carry over.
FIXTURES ?= ../shared/fixtures
gpu-bundle: assets
	rm -rf $(BIN)/gpu-bundle && mkdir -p $(BIN)/gpu-bundle/bin $(BIN)/gpu-bundle/deploy $(BIN)/gpu-bundle/fixtures
	# Without cgo: no dependence on this machine's C library version.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w" -o $(BIN)/gpu-bundle/bin/refserver ./cmd/refserver
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w" -o $(BIN)/gpu-bundle/bin/llmbench ./cmd/llmbench
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w" -o $(BIN)/gpu-bundle/bin/llmbench-dev ./cmd/llmbench-dev
	CGO_ENABLED=0 $(GO) test -c -trimpath -ldflags="-s -w" -o $(BIN)/gpu-bundle/bin/cuda.test ./refserver/cuda
	cp -r deploy/gpu $(BIN)/gpu-bundle/deploy/
	cp -r scenarios $(BIN)/gpu-bundle/ && rm -rf $(BIN)/gpu-bundle/scenarios/*_test.go $(BIN)/gpu-bundle/scenarios/testdata
	cp -r $(FIXTURES)/gpt2-tiny $(BIN)/gpu-bundle/fixtures/
	# xz, not gzip: 49 MB rather than 64, under the 64 MiB a GPU session may carry beside the tree.
	# Without xz on the GPU machine: python3 -c "import tarfile; tarfile.open('gpu-bundle.tar.xz').extractall('/tmp')"
	tar -C $(BIN) -cf - gpu-bundle | xz -T0 -6 > $(BIN)/gpu-bundle.tar.xz.tmp && mv $(BIN)/gpu-bundle.tar.xz.tmp $(BIN)/gpu-bundle.tar.xz
	@ls -l $(BIN)/gpu-bundle.tar.xz

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

# ECharts for the HTML reports: the version go-echarts v2.6.7 targets, the
# npm package fetched once into .tools/npm (npm pack checks its integrity),
# its dist/echarts.min.js copied to reportgen/assets, where go:embed puts it
# into the binary. Reports inline it and work offline.
ECHARTS_VERSION = 5.4.3
ECHARTS_TGZ     = .tools/npm/echarts-$(ECHARTS_VERSION).tgz

assets: reportgen/assets/echarts.min.js

reportgen/assets/echarts.min.js: $(ECHARTS_TGZ)
	tar -xzf $(ECHARTS_TGZ) -O package/dist/echarts.min.js > $@.tmp && mv $@.tmp $@

# npm's own record of the package (npm view echarts@5.4.3 dist.integrity),
# checked whether npm or curl fetched it: a fresh machine may have no npm.
ECHARTS_SHA512 = 9982b12f1873cbacf24e2fc56846c930e654d542c61101da7887ae311e4bf899c94e9cfe611d379a79e90616d1e3e5182408225e0a724d52df7cf0233932e464

$(ECHARTS_TGZ):
	@mkdir -p $(@D)
	@if command -v npm >/dev/null; then cd $(@D) && npm pack --silent echarts@$(ECHARTS_VERSION); \
	else echo "no npm: fetching echarts $(ECHARTS_VERSION) from registry.npmjs.org with curl"; \
	  curl -fsSL -o $@.tmp https://registry.npmjs.org/echarts/-/echarts-$(ECHARTS_VERSION).tgz && mv $@.tmp $@; fi
	@echo "$(ECHARTS_SHA512)  $@" | sha512sum -c --quiet - || { echo "$@: checksum mismatch"; rm -f $@; exit 1; }

# Headless Chromium for the web UI's browser test (web/browser_test.go):
# Debian's package, installed only when no Chromium or Chrome is on PATH.
.PHONY: chromium
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null || \
	{ sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

# NVIDIA's runtime compiler, from Debian's non-free component, installed only
# when no libnvrtc is on the machine: the CUDA kernels are compiled by it in
# make test (refserver/cuda), which needs no GPU.
.PHONY: nvrtc
nvrtc:
	@sh tools/nvrtc/install.sh

FUZZTIME ?= 20s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./refserver/safetensors/
	$(GO) test -run '^$$' -fuzz '^FuzzRoundTrip$$' -fuzztime $(FUZZTIME) ./bpe/
	$(GO) test -run '^$$' -fuzz '^FuzzStreamDecoder$$' -fuzztime $(FUZZTIME) ./bpe/
	$(GO) test -run '^$$' -fuzz '^FuzzEncodeLimit$$' -fuzztime $(FUZZTIME) ./bpe/
	$(GO) test -run '^$$' -fuzz '^FuzzTextOut$$' -fuzztime $(FUZZTIME) ./refserver/engine/
	$(GO) test -run '^$$' -fuzz '^FuzzSubmit$$' -fuzztime $(FUZZTIME) ./refserver/engine/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRequests$$' -fuzztime $(FUZZTIME) ./refserver/server/
	$(GO) test -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $(FUZZTIME) ./loadgen/sse/
	$(GO) test -run '^$$' -fuzz '^FuzzChunkDecoder$$' -fuzztime $(FUZZTIME) ./loadgen/llm/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./loadgen/threshold/
	$(GO) test -run '^$$' -fuzz '^FuzzParseKey$$' -fuzztime $(FUZZTIME) ./loadgen/metrics/
	$(GO) test -run '^$$' -fuzz '^FuzzParseOptions$$' -fuzztime $(FUZZTIME) ./loadgen/executor/
	$(GO) test -run '^$$' -fuzz '^FuzzParseSegment$$' -fuzztime $(FUZZTIME) ./loadgen/executor/
	$(GO) test -run '^$$' -fuzz '^FuzzScript$$' -fuzztime $(FUZZTIME) ./loadgen/script/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRequests$$' -fuzztime $(FUZZTIME) ./runfmt/

bench: build tools
	$(GO) test -run '^$$' -bench . -benchtime 2s ./refserver/nn/ ./refserver/sample/
	$(BIN)/llmbench-dev refserver-bench --http --out $(BIN)/bench.json
	# Issue 22: every weight type on the same model, decode steps interleaved, each against its own
	# floor; then the spin-before-park experiment (idle, and beside a busy-looping process).
	$(BIN)/llmbench-dev refserver-bench --dtype all --out $(BIN)/bench-dtypes.json
	$(GO) test -run '^$$' -bench '^BenchmarkSpinBeforePark$$' -benchtime 1x ./refserver/engine/
	# A prompt's attention in tiles against row by row, prefills of 128 to 1024 tokens, alternated.
	$(GO) test -run '^$$' -bench '^BenchmarkPromptAttention$$' -benchtime 1x ./refserver/gpt2/
	# The load generator against a fake server on this machine: 1,000 streams, 500 req/s open loop;
	# the streams in lockstep, then spread as if their requests had arrived over time.
	$(BIN)/llmbench-dev selfbench --out $(BIN)/selfbench.json
	$(BIN)/llmbench-dev selfbench --stagger --out $(BIN)/selfbench-stagger.json
	$(BIN)/llmbench-dev analyze-bench --out $(BIN)/analyze-bench.json
	# Timing checks that make test never asserts: the client's timing truth at its bounds
	# (1 ms median, 3 ms p99 error, without the race detector), and a load split over three
	# processes measuring TTFT as one process does (against two single-process controls).
	LLMBENCH_BENCH=1 $(GO) test -count=1 -v -run '^TestMeasurementTruth$$' ./loadgen/llm/
	LLMBENCH_BENCH=1 $(GO) test -count=1 -v -run '^TestSegmentsMergeLikeOneProcess$$' ./e2e/deploy/
	# Four streams per VU held with client.generateAsync while the script is busy: token times
	# against the server's flushes (p50 1 ms, max 10 ms; a client waiting on the script is 300 ms late).
	LLMBENCH_BENCH=1 $(GO) test -count=1 -v -run '^TestAsyncStreamsPerVU$$' ./loadgen/
	# llama.cpp, vLLM, TGI and OpenAI fakes (internal/zoo) at 1, 4 and 8 users: TTFT and TPOT
	# against each fake's flush times, multi-token first events included (median ≤ 1 ms).
	LLMBENCH_BENCH=1 $(GO) test -count=1 -v -run '^TestServerZoo$$' ./loadgen/

clean:
	rm -rf $(BIN)

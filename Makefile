# carve — see README.md. `make run` brings the system up locally;
# `make test` runs every test.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
GO ?= go
BIN := $(CURDIR)/bin
TOOLS := $(BIN)/tools
CONTROLLER_GEN := $(TOOLS)/controller-gen
BENCHSTAT := $(TOOLS)/benchstat
FUZZTIME ?= 30s
# Each benchmark is repeated to quote medians on a noisy machine.
BENCH_COUNT ?= 5

.PHONY: all build images push print-ldflags test test-unit test-integration test-e2e generate verify bench bench-admission fuzz run stop tools control-plane clean

# What the binaries say about themselves (pkg/version, docs/images.md).
# VERSION is git describe against v* tags (v0.1.0 on a tag, v0.1.0-3-g1a2b3c4
# after it, -dirty with uncommitted changes) or, before the first tag, v and
# the chart's appVersion. Images are tagged TAG (default: the chart's
# appVersion), so the chart's default images are the ones `make images`
# builds. BUILD_DATE is the commit's time (SOURCE_DATE_EPOCH), so a commit
# always builds the same bytes.
APP_VERSION := $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$$/\1/p' charts/carve/Chart.yaml)
VERSION ?= $(shell git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null || echo v$(APP_VERSION))
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
VERSION := $(VERSION)
REVISION := $(REVISION)
SOURCE_DATE_EPOCH := $(SOURCE_DATE_EPOCH)
BUILD_DATE := $(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -r $(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ)
TREE_STATE := $(if $(shell git status --porcelain --untracked-files=no 2>/dev/null),dirty,clean)
# carve-scheduler is kube-scheduler, which reads its own version from
# component-base and takes it for the Kubernetes version it is (feature
# gates, emulation version): that stays the k8s.io/kubernetes version of
# go.mod, with carve's VERSION as semver build metadata.
KUBE_VERSION := $(shell awk '$$1 == "k8s.io/kubernetes" { print $$2 }' go.mod)
KUBE_MINOR := $(word 2,$(subst ., ,$(KUBE_VERSION)))
ifneq ($(findstring +,$(VERSION)),)
$(error VERSION=$(VERSION): no + in it, carve-scheduler appends its own build metadata)
endif
LDFLAGS := \
	-X github.com/carve-dev/carve/pkg/version.version=$(VERSION) \
	-X github.com/carve-dev/carve/pkg/version.revision=$(REVISION) \
	-X github.com/carve-dev/carve/pkg/version.buildDate=$(BUILD_DATE) \
	-X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION)+carve-$(VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 \
	-X k8s.io/component-base/version.gitMinor=$(KUBE_MINOR) \
	-X k8s.io/component-base/version.gitCommit=$(REVISION) \
	-X k8s.io/component-base/version.gitTreeState=$(TREE_STATE) \
	-X k8s.io/component-base/version.buildDate=$(BUILD_DATE)
# Where `make images` writes, and what it builds for. REGISTRY and TAG, when
# set, name the images (default carve-dev/<binary>:<appVersion>).
IMAGES := $(BIN)/images
PLATFORMS ?= linux/amd64,linux/arm64
IMAGE_FLAGS = $(if $(REGISTRY),-registry $(REGISTRY)) $(if $(TAG),-tag $(TAG))

all: build

## build: carve's binaries into bin/, versions stamped (--version prints them)
build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

## images: an OCI image per binary for PLATFORMS into bin/images: OCI layouts and docker-load tarballs (docs/images.md)
images:
	$(GO) run ./hack/image/cmd/carve-image build -go '$(GO)' -out $(IMAGES) -platforms $(PLATFORMS) $(IMAGE_FLAGS) \
	  -ldflags '$(LDFLAGS)' -version '$(VERSION)' -revision '$(REVISION)' -source-date-epoch '$(SOURCE_DATE_EPOCH)'

## push: build the images and push them to REGISTRY (credentials: docker's config and credential helpers)
push: images
	$(GO) run ./hack/image/cmd/carve-image push -out $(IMAGES) $(IMAGE_FLAGS)

# print-ldflags: the version stamps, for tests that build as make does
print-ldflags:
	@echo '$(LDFLAGS)'

## tools: the pinned code generators (hack/tools/dev/go.mod)
tools: $(CONTROLLER_GEN) $(BENCHSTAT)
$(CONTROLLER_GEN) $(BENCHSTAT): hack/tools/dev/go.mod hack/tools/dev/go.sum
	cd hack/tools/dev && $(GO) build -o $(TOOLS)/ sigs.k8s.io/controller-tools/cmd/controller-gen golang.org/x/perf/cmd/benchstat

## control-plane: build (or find cached) kube-apiserver, etcd, kwok, ... and print their folder
control-plane:
	@hack/control-plane-tools.sh

## generate: deepcopy functions and CRDs from the API types; the chart's copies of them and of the scheduler config
generate: $(CONTROLLER_GEN)
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./pkg/apis/...
	$(CONTROLLER_GEN) crd paths=./pkg/apis/... output:crd:dir=manifests/crds
	hack/chart-crds.sh
	hack/chart-scheduler-config.sh
	hack/gen-proto.sh

## verify: generated files are current, code is formatted and vetted, modules tidy
verify: generate
	hack/verify.sh

## test: everything — verify, unit (with fuzz seeds), integration against a real control plane, end to end
test: verify test-unit test-integration test-e2e

## test-unit: pure functions, handlers, fuzz seed corpora (pkg/ under the race detector); the images
test-unit:
	$(GO) test -count=1 -race ./pkg/...
	$(GO) test -count=1 ./cmd/...
	$(GO) test -count=1 -timeout 30m ./hack/...

## test-integration: real kube-apiserver + etcd + kube-controller-manager (+ kwok), and the Helm chart
test-integration:
	CARVE_BIN_DIR="$$(hack/control-plane-tools.sh | tail -n 1)" \
	  $(GO) test -count=1 -timeout 30m ./test/framework/... ./test/integration/... ./test/chart/... ./test/bench/packing/...

## test-e2e: what `make run` starts (hack/run.sh: control plane, kwok, carve's binaries), driven with kubectl
test-e2e:
	CARVE_BIN_DIR="$$(hack/control-plane-tools.sh | tail -n 1)" \
	  $(GO) test -count=1 -timeout 10m ./test/e2e/...

## fuzz: run each fuzz target for FUZZTIME
fuzz:
	$(GO) test ./pkg/podcontract -run '^$$' -fuzz '^FuzzAdmit$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/podcontract -run '^$$' -fuzz '^FuzzCheckUpdate$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/webhooks -run '^$$' -fuzz '^FuzzPodWebhook$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/kubectlcarve -run '^$$' -fuzz '^FuzzParseWaiting$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/kubectlcarve -run '^$$' -fuzz '^FuzzParseSince$$' -fuzztime $(FUZZTIME)

## bench: every benchmark (figures and how to read them: docs/benchmarks.md)
bench: bench-admission bench-packing bench-cloudprovider bench-scheduler
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) ./pkg/... | tee $(BIN)/bench-pkg.txt

## bench-admission: pod webhook latency at 1000 and 2000 reviews/s vs an allow-all floor
bench-admission: $(BENCHSTAT)
	@mkdir -p $(BIN)
	CARVE_BIN_DIR="$$(hack/control-plane-tools.sh | tail -n 1)" \
	  $(GO) test -run '^$$' -bench BenchmarkPodAdmission -benchtime 1x -count $(BENCH_COUNT) -timeout 60m \
	  ./test/bench/admission | tee $(BIN)/bench-admission.txt
	$(BENCHSTAT) -col /server $(BIN)/bench-admission.txt

## bench-cloudprovider: carve-cloudprovider's RPC latency with 50 pools x 2000 nodes vs a constant server
.PHONY: bench-cloudprovider
bench-cloudprovider: $(BENCHSTAT)
	@mkdir -p $(BIN)
	CARVE_BIN_DIR="$$(hack/control-plane-tools.sh | tail -n 1)" \
	  $(GO) test -run '^$$' -bench BenchmarkRPC -benchtime 3000x -benchmem -count $(BENCH_COUNT) -timeout 60m \
	  ./test/bench/cloudprovider | tee $(BIN)/bench-cloudprovider.txt
	$(BENCHSTAT) -col /server $(BIN)/bench-cloudprovider.txt

## bench-scheduler: pods/s of carve-scheduler vs the stock kube-scheduler, 1000 nodes and 5000 pods
.PHONY: bench-scheduler
bench-scheduler: $(BENCHSTAT)
	@mkdir -p $(BIN)
	CARVE_BIN_DIR="$$(hack/control-plane-tools.sh | tail -n 1)" \
	  $(GO) test -run '^$$' -bench BenchmarkSchedulingThroughput -benchtime 1x -count $(BENCH_COUNT) -timeout 120m \
	  ./test/bench/scheduler | tee $(BIN)/bench-scheduler.txt
	$(BENCHSTAT) -col /scheduler $(BIN)/bench-scheduler.txt

## run: the whole system locally (control plane, carve, samples); Ctrl-C stops it
run: build
	hack/run.sh

## stop: stop a local cluster that `make run` left behind (it stops its own on Ctrl-C)
stop:
	hack/local-cluster.sh stop "$${CARVE_LOCAL_DIR:-$(CURDIR)/.local}/cluster"

clean:
	rm -rf $(BIN) .local

## bench-packing: node-hours against the lower bound when a real scheduler places a day of
## ML work (stock default and MostAllocated, and carve-scheduler when cmd/carve-scheduler exists)
.PHONY: bench-packing
bench-packing: $(BENCHSTAT)
	@mkdir -p $(BIN)
	CARVE_BIN_DIR="$$(hack/control-plane-tools.sh | tail -n 1)" \
	  $(GO) test -run '^$$' -bench BenchmarkPacking -benchtime 1x -count $(BENCH_COUNT) -timeout 180m \
	  ./test/bench/packing | tee $(BIN)/bench-packing.txt
	$(BENCHSTAT) -col /scheduler $(BIN)/bench-packing.txt

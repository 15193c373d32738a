# Two entry points for a newcomer: `make demo` and `make test`. Everything they
# need is installed by the targets below; nothing by hand.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := examples/sklearn/recipe.yaml

.PHONY: demo test lint setup go-modules go-tools debian-packages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

setup: $(STAMP) go-modules go-tools debian-packages

# From Debian's packages, for the target tests: debootstrap makes Debian 11 roots (amd64 and
# arm64); qemu-user runs the arm64 root's interpreter while building, qemu-user-static the
# bundle in a root holding nothing else; binutils-aarch64-linux-gnu strips arm64 files; the
# arm64 cross glibc is what `gopack verify` runs an arm64 bundle with by default. The OCI image
# tests (tests/test_integration_oci.py) read the layout with skopeo, run it with podman on runc
# and push it to Debian's docker-registry on 127.0.0.1. shellcheck checks the workflows' scripts;
# keyutils' keyctl puts keys where a smoke program must not reach them (tests/test_sandbox_leaks.py).
# maven fetches JavaCPP's macOS CPython jars for the macOS tests (tests/macos_fixtures.py); llvm-14's
# llvm-lipo-14 thins fat Mach-O files and llvm-install-name-tool-14 edits load commands gopack cannot.
# strace shows bench/run.py which files a run of the pruned corpus bundle opens (its floor row).
DEBIAN_NEEDS := /usr/bin/shellcheck /usr/bin/keyctl /usr/sbin/debootstrap /usr/bin/qemu-aarch64 /usr/bin/qemu-aarch64-static \
	/usr/bin/aarch64-linux-gnu-strip /usr/aarch64-linux-gnu/lib/libc.so.6 \
	/usr/aarch64-linux-gnu/lib/libgcc_s.so.1 /usr/aarch64-linux-gnu/lib/libstdc++.so.6 \
	/usr/bin/skopeo /usr/bin/podman /usr/sbin/runc /usr/bin/docker-registry \
	/usr/bin/mvn /usr/bin/llvm-lipo-14 /usr/bin/llvm-install-name-tool-14 /usr/bin/strace
DEBIAN_PACKAGES := shellcheck keyutils debootstrap qemu-user qemu-user-static binutils-aarch64-linux-gnu \
	libc6-arm64-cross libgcc-s1-arm64-cross libstdc++6-arm64-cross \
	skopeo podman runc docker-registry maven llvm-14 strace
debian-packages:
	@for f in $(DEBIAN_NEEDS); do test -e $$f || missing=1; done; \
		test -z "$$missing" || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEBIAN_PACKAGES))

# actionlint (from the Go module proxy) checks the GitHub Actions workflows in `make lint`,
# with Debian's shellcheck for their scripts.
ACTIONLINT_VERSION := v1.7.12
$(BIN)/actionlint: $(STAMP)
	GOBIN=$(abspath $(BIN)) go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)
# GoReleaser (from the Go module proxy) for the test that publishes a bundle with it.
GORELEASER_VERSION := v2.17.0
$(BIN)/goreleaser: $(STAMP)
	GOBIN=$(abspath $(BIN)) go install github.com/goreleaser/goreleaser/v2@$(GORELEASER_VERSION)
go-tools: $(BIN)/actionlint $(BIN)/goreleaser

go-modules:
	cd examples/hello && go mod download
	cd examples/sklearn && go mod download

demo: setup
	$(BIN)/gopack bundle $(DEMO) --output-dir dist
	$(BIN)/gopack verify --show-output dist/sklearn-demo-0.1.0-*.tar.gz

# The linters, the type checker and the import layers (pyproject's [tool.importlinter]) run
# before the tests: a finding fails `make test` and CI.
lint: setup
	$(BIN)/ruff check gopack bench tests
	$(BIN)/ruff format --check gopack bench tests
	$(BIN)/mypy gopack bench
	$(BIN)/lint-imports
	$(BIN)/actionlint examples/github-actions/*.yml

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) dist

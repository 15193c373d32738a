# Two entry points for a newcomer: `make demo` and `make test`. Everything they
# need is installed by the targets below; nothing by hand.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := examples/sklearn/recipe.yaml

.PHONY: demo test lint setup go-modules debootstrap clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

setup: $(STAMP) go-modules debootstrap

# The target tests build Debian 11 roots with debootstrap, which comes from Debian's packages.
debootstrap:
	@command -v debootstrap >/dev/null 2>&1 || test -x /usr/sbin/debootstrap || \
		(apt-get update -qq && apt-get install -y -qq debootstrap)

go-modules:
	cd examples/hello && go mod download
	cd examples/sklearn && go mod download

demo: setup
	$(BIN)/gopack bundle $(DEMO) --output-dir dist
	$(BIN)/gopack verify --show-output dist/sklearn-demo-0.1.0-*.tar.gz

# The linters and the type checker run before the tests: a finding fails `make test` and CI.
lint: setup
	$(BIN)/ruff check gopack bench tests
	$(BIN)/ruff format --check gopack bench tests
	$(BIN)/mypy gopack bench

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) dist

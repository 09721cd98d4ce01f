# The two commands a new user types: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

PREFIX ?= /opt/chargepoint

.PHONY: demo test lint typecheck unit bench clean deps install

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# System packages the tests need (socat for serial pty pairs, shellcheck for the installer script);
# installed only if missing.
deps:
	@missing=""; for tool in socat shellcheck; do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing:$$missing (run 'sudo apt-get install$$missing')"; fi; fi

demo: $(STAMP)
	$(BIN)/chargepoint demo

lint: $(STAMP)
	$(BIN)/ruff check chargepoint hal drivers tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) deps
	$(BIN)/pytest -q

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python -m bench

# Installs the service on this machine, as root on the board (README "Install on a board"). Not the dev venv.
install:
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" PYTHON="$(PY)" sh systemd/install.sh

clean:
	rm -rf $(VENV) build *.egg-info

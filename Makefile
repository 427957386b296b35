# The two commands: `make run` and `make test` (README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HAVEN := $(BIN)/haven
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
DEBIAN_TEST_PACKAGES := postgresql chromium fonts-nanum fonts-dejavu-core poppler-utils zbar-tools

.PHONY: run test install install-test system-deps lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml setup.py
	$(BIN)/pip install -q -e .
	$(HAVEN) content compile > /dev/null
	touch $@

install: $(STAMP)

run: install
	$(HAVEN) init --if-missing
	$(HAVEN) db upgrade
	$(HAVEN) run

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install-test: $(TEST_STAMP)

# Debian packages the tests need, installed when running as root and missing.
system-deps:
	@missing=""; for p in $(DEBIAN_TEST_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing > /dev/null; \
	  else \
	    echo "missing Debian packages (run as root, or install them):$$missing"; \
	  fi; \
	fi

lint: install-test
	$(BIN)/ruff check haven tests bench
	$(BIN)/ruff format --check haven tests bench

test: install-test system-deps lint
	$(HAVEN) content check
	$(HAVEN) content lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) var build *.egg-info

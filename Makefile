# The two commands: `make run` and `make test` (README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HAVEN := $(BIN)/haven
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# Every release pinned with its hashes, compiled from pyproject.toml (README, "Dependencies").
LOCK := requirements.lock
TEST_LOCK := requirements-test.lock
DEBIAN_TEST_PACKAGES := postgresql chromium fonts-nanum fonts-dejavu-core fonts-noto-core fonts-noto-cjk poppler-utils zbar-tools

.PHONY: run test install install-test system-deps lint audit clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools

# The locked releases, then haven itself without resolving anything; pip check fails when
# pyproject.toml asks for more than the lock file holds (regenerate it).
$(STAMP): $(BIN)/python $(LOCK) pyproject.toml setup.py
	$(BIN)/pip install -q --require-hashes -r $(LOCK)
	$(BIN)/pip install -q --no-deps -e .
	@$(BIN)/pip check > /dev/null || { $(BIN)/pip check; echo "$(LOCK) is out of date"; exit 1; }
	$(HAVEN) content compile > /dev/null
	touch $@

install: $(STAMP)

run: install
	$(HAVEN) init --if-missing
	$(HAVEN) db upgrade
	$(HAVEN) run

$(TEST_STAMP): $(STAMP) $(TEST_LOCK)
	$(BIN)/pip install -q --require-hashes -r $(TEST_LOCK)
	@$(BIN)/pip check > /dev/null || { $(BIN)/pip check; echo "$(TEST_LOCK) is out of date"; exit 1; }
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
	$(BIN)/mypy

# Known vulnerabilities in the locked releases fail the run; an advisory service that cannot
# be reached is reported in one line and the run goes on.
define AUDIT_REPORT
import json, pathlib, sys
rc, report, log = int(sys.argv[1]), pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
deps = json.loads(report.read_text())["dependencies"] if report.exists() else []
audited = [d for d in deps if "skip_reason" not in d]
vulnerable = [d for d in audited if d["vulns"]]
for d in vulnerable:
    for v in d["vulns"]:
        fixed = ", ".join(v["fix_versions"]) or "no fixed release"
        print(f"pip-audit: {d['name']} {d['version']}: {v['id']} (fixed in: {fixed})")
if vulnerable:
    sys.exit(1)
errors = ("ConnectionError", "Timeout", "ServiceError", "Max retries", "Tip: your network")
if (deps and not audited) or (not deps and any(e in log.read_text() for e in errors)):
    print("pip-audit: the advisory service cannot be reached: locked releases NOT audited")
elif rc != 0 or not deps:
    print(log.read_text(), end="")
    sys.exit(rc or 1)
else:
    skipped = sorted(d["name"] for d in deps if "skip_reason" in d)
    note = f" ({len(skipped)} not found: {', '.join(skipped)})" if skipped else ""
    print(f"pip-audit: {len(audited)} locked releases, no known vulnerability{note}")
endef
export AUDIT_REPORT

audit: install-test
	@rm -f $(VENV)/audit.json; \
	$(BIN)/pip-audit --no-deps --disable-pip --require-hashes --progress-spinner off --timeout 10 \
	  -r $(LOCK) -r $(TEST_LOCK) -f json -o $(VENV)/audit.json 2> $(VENV)/audit.log; \
	$(BIN)/python -c "$$AUDIT_REPORT" $$? $(VENV)/audit.json $(VENV)/audit.log

test: install-test system-deps lint audit
	$(HAVEN) content check
	$(HAVEN) content lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) var build *.egg-info

# make run   install, index corpus/ if there is no index yet, serve http://127.0.0.1:7860
# make test  install with test extras and run the whole suite (browser tests included)
# make stress  the long fault-injection runs
# make screenshots  refresh the README's screenshots in docs/ (runs the browser tests)
# make triage-model  rebuild the safety triage classifier from evals/triage/train/
# make injection-model  rebuild the detector of instructions in documents from evals/injection/
# make ranker-model  rebuild the learned ranker from SciFact and the dev-corpus (../shared; ~12 min)
# make sentence-model  rebuild the answer's sentence scorer from the sample and dev-corpus dev splits (~3 min)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= $(or $(MENTORKB_DATA_DIR),data)

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test stress screenshots install install-test index clean chromium postgres triage-model injection-model ranker-model sentence-model

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Stamps re-run the install whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[test]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

index: install
	@if [ ! -f "$(DATA_DIR)/CURRENT" ]; then \
		$(BIN)/mentorkb --data-dir "$(DATA_DIR)" ingest corpus/ \
		|| echo "Some documents failed to ingest (see above); serving the rest." >&2; \
	fi

run: index
	$(BIN)/mentorkb --data-dir "$(DATA_DIR)" serve

# The browser tests drive Debian's Chromium; install it when missing (needs root or sudo).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	fi

# The application database's tests run on Debian's PostgreSQL 15 too (tests/pg.py starts
# its own server on a temp dir; nothing is configured system-wide).
postgres:
	@if [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; \
	fi

test: install-test chromium postgres
	$(BIN)/python -m pytest

stress: install-test
	$(BIN)/python -m pytest -m stress

# The browser tests save screenshots to a temp folder unless told to refresh docs/.
screenshots: install-test chromium
	MENTORKB_SCREENSHOTS=1 $(BIN)/python -m pytest -m browser tests/test_browser.py

triage-model: install
	$(BIN)/python -m mentorkb.tools.triage_build --data-dir "$(DATA_DIR)"

injection-model: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m mentorkb.tools.injection_build

ranker-model: install-test
	$(BIN)/python -m mentorkb.tools.train_ranker

sentence-model: install-test
	$(BIN)/python -m mentorkb.tools.train_sentences

clean:
	rm -rf $(VENV) "$(DATA_DIR)"

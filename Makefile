# yolo-explorer's two commands: `make run` (the app) and `make test` (lint and every test). Each sets up
# what it needs on first use: a virtual environment in .venv with the tested versions (requirements.txt
# constrained by requirements.lock), and for the tests Debian's chromium, haproxy and openssl where the machine
# allows it. CI runs `make test` (.ci/run).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready

.PHONY: run serve test test-quick lint system-packages lock clean

run: $(READY)
	$(BIN)/streamlit run app.py

serve: $(READY)
	deploy/serve

test: $(READY) system-packages lint
	$(BIN)/python -m pytest

# While editing: lint, and every engine and AppTest test that is not slow (no browsers, compiles, exports, fuzzing),
# on two processes (pytest-xdist; worksteal: a process that runs out of tests takes some of the other's).
test-quick: $(READY) lint
	$(BIN)/python -m pytest -q -n 2 --dist worksteal -m "not browser and not slow"

lint: $(READY)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

system-packages:
	@scripts/system-packages.sh

$(READY): requirements.txt requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt -c requirements.lock
	touch $(READY)

# After changing a requirement: the set a fresh environment resolves to, as the new tested set.
lock:
	rm -rf $(VENV).lock
	$(PYTHON) -m venv $(VENV).lock
	$(VENV).lock/bin/pip install -q -r requirements.txt
	{ sed -n '1,3p' requirements.lock; $(VENV).lock/bin/pip freeze --exclude-editable | sed 's/+cpu$$//'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock
	rm -rf $(VENV).lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis

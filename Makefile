# Two commands do everything on a fresh machine with Python 3.11 and make:
#   make run    trains the default experiment (creates .venv and installs on first use)
#   make test   runs the test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test bench lint clean speech-tools

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# pinned first: this CPU build lies on disk; a looser requirement would pull a multi-GB CUDA build
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev,data,launchers,export]"
	touch $(STAMP)

run: $(STAMP)
	$(PY) scripts/train.py

test: $(STAMP) speech-tools
	$(PY) -m pytest -q

# experiment=asr_digits synthesises its speech with these Debian packages; installed when missing (as root, or
# through sudo); without either it prints the apt-get command and goes on (tests/test_asr.py then skips its
# synthesis tests; test_framework_config's fast_dev_run of asr_digits needs them unless the data is cached)
speech-tools:
	@command -v espeak-ng >/dev/null && command -v flite >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO="sudo -n"; \
	  else echo "espeak-ng/flite missing and no root or sudo: apt-get install espeak-ng flite"; exit 0; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq espeak-ng flite; }

bench: $(STAMP)
	$(PY) scripts/bench_lstm.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) logs outputs multirun

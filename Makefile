# Blind Spots — the two commands a newcomer needs:
#   make lab    create .venv (first time only), install, open JupyterLab on notebooks/
#   make test   same set-up, lint, warm the model cache, run every test (unit, notebooks, browser)
# Everything else is optional.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8888
PYTEST_ARGS ?=
# Processes that build the model cache at once (`python -m lessons.warm --jobs`).
WARM_JOBS ?= 2
# Jupyter refuses to run as root unless told; containers and CI often are root.
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: setup lab test lint unit notebooks browser warm demo site assign grade bench clean-cache clean

setup: $(STAMP)

# torch comes first, in the build tools/torch_variant.py picks (CUDA where nvidia-smi works, the
# CPU build otherwise; TORCH_VARIANT=cpu|cuda overrides; it prints one line saying which and
# why). The CPU build (torch==X+cpu) then satisfies the lock file's torch==X in the main install.
$(STAMP): pyproject.toml constraints.txt tools/torch_variant.py
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Blind Spots needs Python 3.10+, found " + sys.version.split()[0]'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@torch_args="$$($(BIN)/python tools/torch_variant.py --constraints constraints.txt)" || exit 1; \
	  if [ -n "$$torch_args" ]; then \
	    echo "$(BIN)/python -m pip install $$torch_args"; \
	    $(BIN)/python -m pip install --quiet --disable-pip-version-check $$torch_args || exit 1; \
	  fi
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	@touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks --ip=127.0.0.1 --port=$(PORT) $(ROOT_FLAG)

# Two pytest workers, one torch thread each: on a 2-core machine this beats one process with
# two threads (small models parallelise poorly), and notebooks stay together per file.
TEST_JOBS ?= 2
test: $(STAMP) lint
	$(BIN)/python -m lessons.warm --jobs $(WARM_JOBS)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n $(TEST_JOBS) --dist loadfile --durations=25 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

unit: $(STAMP)
	$(BIN)/python -m pytest tests --ignore=tests/browser $(PYTEST_ARGS)

notebooks: $(STAMP)
	$(BIN)/python -m pytest notebooks $(PYTEST_ARGS)

browser: $(STAMP)
	$(BIN)/python -m pytest tests/browser $(PYTEST_ARGS)

warm: $(STAMP)
	$(BIN)/python -m lessons.warm --jobs $(WARM_JOBS)

demo: $(STAMP)
	$(BIN)/voila notebooks --no-browser --Voila.ip=127.0.0.1 --port=$(PORT) $(ROOT_FLAG)

# The course as a static website in build/site/ (what .github/workflows/pages.yml publishes):
# every lesson executed (warm cache first), with figures and widget state; needs npm once.
SITE_JOBS ?= 2
site: $(STAMP)
	$(BIN)/python -m lessons.warm --jobs $(WARM_JOBS)
	$(BIN)/python tools/build_site.py --out build/site --jobs $(SITE_JOBS)

assign: $(STAMP)
	$(BIN)/python -m lessons.assign notebooks student

# make grade SUBMISSIONS=submitted  → grades.csv (never overwritten; see docs/instructors.md)
SUBMISSIONS ?= submitted
GRADES ?= grades.csv
grade: $(STAMP)
	$(BIN)/python -m lessons.grade $(SUBMISSIONS) --out $(GRADES) --source notebooks

bench: $(STAMP)
	for f in benchmarks/*.py; do $(BIN)/python $$f || exit 1; done

clean-cache: $(STAMP)
	$(BIN)/python -c 'import shutil; from lessons.cache import cache_dir; d = cache_dir(); shutil.rmtree(d, ignore_errors=True); print("removed", d)'

clean:
	rm -rf $(VENV)

# looplab — the README's two commands are `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= out
STAMP := $(VENV)/.installed

.PHONY: setup demo test live-test fuzz lint bench timeloop-sweep report docker-build docker-test docker-sweep clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU torch from the local wheel first; an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,cluster]'
	touch $(STAMP)

# With LOOPLAB_SIMULATORS=DIR (a simulator bundle: bin/, problem-shapes/, py/, install.sh) setup also installs the
# bundle's Python parts (Accelergy + plug-ins, pytimeloop) into the venv, offline; `make test` then runs the
# live tests (tests/conftest.py finds the simulators). See docs/timeloop.md.
setup: $(STAMP)
	@if [ -n "$$LOOPLAB_SIMULATORS" ]; then PYTHON=$(BIN)/python bash "$$LOOPLAB_SIMULATORS/install.sh"; fi

demo: $(STAMP)
	$(BIN)/looplab demo --out $(OUT)/demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -ra

live-test: $(STAMP)
	$(BIN)/python -m pytest -q -ra -m "timeloop or pytimeloop"

fuzz: $(STAMP)
	$(BIN)/python bench/fuzz_timeloop.py --points $${POINTS:-10000} --jobs $${JOBS:-2} --out $(OUT)/fuzz

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

timeloop-sweep: $(STAMP)
	$(BIN)/looplab sweep sweeps/default.yaml --resume

report: $(STAMP)
	$(BIN)/looplab correlate tests/data/reference --out $(OUT)/report

docker-build:
	docker build -f docker/Dockerfile -t looplab:latest .

clean:
	rm -rf $(OUT) build dist *.egg-info

docker-test:
	docker run --rm looplab:latest python -m pytest -m "timeloop or pytimeloop" -ra

docker-sweep:
	mkdir -p $(OUT)
	docker run --rm -v "$(PWD)/$(OUT):/opt/looplab/out" looplab:latest make timeloop-sweep

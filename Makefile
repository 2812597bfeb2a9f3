# edgekit: `make demo` and `make test` are all a new user needs. Both create .venv and
# install on first use (the stamp file re-installs when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo-out
export PYTHONUNBUFFERED := 1

.PHONY: demo test unit lint venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	@echo "== edgekit analyze (default model: mobilenet --alpha 0.25 --resolution 96)"
	$(BIN)/edgekit analyze --plot $(DEMO_OUT)-layers.png
	@echo "== edgekit analyze mobilenet --alpha 1.0 (the paper's 569 M multiply-adds)"
	$(BIN)/edgekit analyze mobilenet --summary

test: $(STAMP)
	$(BIN)/ruff check edgekit tests tools
	$(BIN)/python -m pytest -n 2 --durations=15 -q

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

clean:
	rm -rf $(VENV) $(DEMO_OUT) $(DEMO_OUT)-*.png .pytest_cache

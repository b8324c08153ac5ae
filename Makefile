# Everything runs from the virtual environment in .venv, created by `make install`.
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
PROTOS := $(sort $(wildcard protos/pieces/v1/*.proto))

.PHONY: install node-install generate check-generated lint format test demo bench clean

install:
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory node-install; \
	else echo "npm not found: the Node.js client test (tests/e2e/test_node_client.py) will fail"; fi

# The Node.js client that the tests drive against the gateway (clients/node).
node-install:
	npm ci --prefix clients/node --ignore-scripts --no-audit --no-fund --loglevel=error

build/protodeps: pyproject.toml
	rm -rf $@
	$(PY) tools/protodeps.py $@

# Regenerates generated/ from protos/: messages, gRPC stubs, .pyi stubs and a descriptor set.
generate: build/protodeps
	rm -rf generated/pieces generated/pieces.binpb
	mkdir -p generated
	$(PY) -m grpc_tools.protoc -I protos -I build/protodeps \
	  --plugin=protoc-gen-mypy=$(BIN)/protoc-gen-mypy \
	  --plugin=protoc-gen-mypy_grpc=$(BIN)/protoc-gen-mypy_grpc \
	  --python_out=generated --grpc_python_out=generated \
	  --mypy_out=generated --mypy_grpc_out=generated \
	  --descriptor_set_out=generated/pieces.binpb --include_imports --include_source_info \
	  $(PROTOS)
	touch generated/pieces/__init__.py generated/pieces/v1/__init__.py generated/pieces/v1/py.typed

check-generated: generate
	git diff --exit-code --stat -- generated
	test -z "$$(git status --porcelain -- generated)"

lint: build/protodeps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/buf lint protos
	$(BIN)/buf format --diff --exit-code protos

format: build/protodeps
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/buf format -w protos

test:
	$(BIN)/pytest

demo:
	$(BIN)/pieces-grpc-gateway demo

bench:
	$(PY) -m bench

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache clients/node/node_modules

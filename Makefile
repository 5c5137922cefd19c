# The README's two commands: `make quickstart` and `make test`. Both create .venv on first use.
# `make quickstart` also needs npm (it fetches the emoji corpus with `npm pack`).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9
# Optional Debian packages (speech, instrument notes, event sounds, BVH mocap, WordNet, and the browser that the
# demo page's test drives); see scripts/system-packages.sh.
SYSTEM_PACKAGES := espeak-ng fluidsynth timgm6mb-soundfont sound-theme-freedesktop assimp-testmodels wordnet-base \
	chromium
# Tests and tools never reach a model hub; everything they load is local or shipped in packages.
export HF_HUB_OFFLINE := 1

.PHONY: install system-packages quickstart test lint lock bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(UV): | $(PY)
	$(PY) -m pip install --quiet uv==$(UV_VERSION)

# Exact versions and hashes from requirements.lock, then unibind itself (editable, no dependency resolution).
$(VENV)/.installed: requirements.lock pyproject.toml | $(UV)
	$(UV) pip install --python $(PY) --require-hashes -r requirements.lock
	$(UV) pip install --python $(PY) --no-deps -e .
	touch $@

install: $(VENV)/.installed system-packages

system-packages:
	@sh scripts/system-packages.sh $(SYSTEM_PACKAGES)

quickstart: install
	$(VENV)/bin/unibind quickstart

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/ruff format --check src tests benchmarks scripts

# Regenerate the lock after changing dependencies in pyproject.toml.
lock: | $(UV)
	$(UV) pip compile pyproject.toml --extra dev --extra pretrained --extra data --extra interop --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --generate-hashes --custom-compile-command "make lock" \
		-o requirements.lock

bench: install
	$(PY) benchmarks/moe_dispatch.py --quick
	$(PY) benchmarks/training_throughput.py --quick
	$(PY) benchmarks/grad_cache.py --quick
	$(PY) benchmarks/ddp_absent_modalities.py --quick
	$(PY) benchmarks/audio_pipeline.py --quick
	$(PY) benchmarks/exact_search.py --quick
	$(PY) benchmarks/rerank_latency.py --quick
	$(PY) benchmarks/image_strip_memory.py --quick

clean:
	rm -rf $(VENV) runs

# napari-selfdiff: `make demo` and `make test` do all the set-up on a fresh machine
# (Python 3.11, root, no GPU, no display). Pinned versions live in constraints.txt.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Debian packages for headless Qt/OpenGL tests under Xvfb with Mesa.
SYSTEM_PACKAGES := xvfb xauth libgl1 libgl1-mesa-dri libegl1 libglib2.0-0 libfontconfig1 libdbus-1-3 \
	libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 \
	libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xfixes0 libxcb-xkb1

.PHONY: demo test lint install system-deps clean

$(STAMP): pyproject.toml constraints.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[napari,test,batch,zarr]"
	touch $(STAMP)

install: $(STAMP)

system-deps:
	@if dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1; then echo "system packages present"; else \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES); fi

demo: $(STAMP)
	$(BIN)/napari-selfdiff demo --out demo_output

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

test: system-deps $(STAMP) lint
	xvfb-run -a -s "-screen 0 1600x1200x24" $(BIN)/python -m pytest -n 2 -m "not timing"
	@# Wall-time comparisons run alone: a parallel worker's changing load is not the code's error.
	xvfb-run -a -s "-screen 0 1600x1200x24" $(BIN)/python -m pytest -m timing

clean:
	rm -rf $(VENV) demo_output .pytest_cache .ruff_cache

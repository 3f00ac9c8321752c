# The two commands a fresh machine needs (see README):
#   make demo   set everything up and scan a sample
#   make test   set everything up and run the tests
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test bench

setup:
	bash scripts/setup.sh

demo: setup
	$(PY) -m fakescope.demo

test: setup
	bash scripts/setup_browser.sh
	$(PY) -m pytest -q

# The default detector's network per face (PyTorch vs ONNX Runtime; needs nothing else), then
# the end-to-end scan of the shared DFDC clips (needs ../shared/data/videos/dfdc). Results go to
# runs/bench/, not over the committed ones in benchmarks/results/. Every other benchmark, what it
# needs and the result it wrote: benchmarks/README.md.
bench: setup
	$(PY) benchmarks/bench_inference.py --bundle src/fakescope/weights/faceblend_dfdc.pt \
	    --out runs/bench/inference.md
	$(PY) benchmarks/bench_scan_clip.py --out runs/bench/scan_clip.md

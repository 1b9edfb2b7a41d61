#!/usr/bin/env bash
# Download, here (with network), the wheels the GPU machine lacks into .whl/ (git-ignored), to
# travel with `run`'s carry. That machine has Python 3.12, PyTorch, torchvision, TensorBoard,
# pandas, scipy, matplotlib, tabulate, PyYAML and pytest (KINDS.md's package list) but no Hydra
# or OmegaConf, and cannot download. Versions are the ones this checkout's environment runs,
# so the GPU runs the code that was tested here.
#   usage: bench/gpu_wheels.sh [PYTHON]      (default: $PY, else python3)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-${PY:-python3}}
version() { "$PY" -c "import importlib.metadata as m; print(m.version('$1'))"; }
HYDRA=$(version hydra-core); OMEGA=$(version omegaconf); ANTLR=$(version antlr4-python3-runtime)
rm -rf .whl && mkdir -p .whl
# pure-Python wheels, fetched for the GPU machine's interpreter (device README's recipe)
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "hydra-core==$HYDRA" "omegaconf==$OMEGA"
# antlr4-python3-runtime is published as a source archive only: build its (pure-Python) wheel here
"$PY" -m pip wheel -q --no-deps -w .whl "antlr4-python3-runtime==$ANTLR"
ls -l .whl
du -sh .whl

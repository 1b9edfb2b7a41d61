#!/usr/bin/env bash
# For a CUDA machine without network access: put, here where pip can download, the wheels of the
# packages that machine lacks into .whl/ (git-ignored). Copy .whl/ along with the checkout;
# bench/gpu_check.sh installs them there with `pip --no-index`, leaving its own PyTorch alone.
# Default: hydra-core and omegaconf (pure-Python wheels) and antlr4-python3-runtime (published as
# a source archive only, so its pure-Python wheel is built here), at the versions this
# environment runs, so the GPU machine runs the code tested here. Name other missing packages as
# arguments (bench/gpu_check.sh lists them); for one with compiled code set TARGET_PYTHON (e.g.
# 3.12) to fetch the manylinux x86_64 wheel for that machine's Python.
#   usage: bench/gpu_wheels.sh [PACKAGE[==VERSION] ...]      (PY: this side's python, default python3)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
version() { "$PY" -c "import importlib.metadata as m; print(m.version('$1'))"; }
HYDRA=$(version hydra-core); OMEGA=$(version omegaconf); ANTLR=$(version antlr4-python3-runtime)
TARGET=()
if [ -n "${TARGET_PYTHON:-}" ]; then
    TARGET=(--python-version "$TARGET_PYTHON" --implementation cp --platform manylinux_2_28_x86_64
            --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
fi
rm -rf .whl && mkdir -p .whl
"$PY" -m pip download -q --no-deps --only-binary=:all: ${TARGET[@]+"${TARGET[@]}"} -d .whl \
    "hydra-core==$HYDRA" "omegaconf==$OMEGA" "$@"
"$PY" -m pip wheel -q --no-deps -w .whl "antlr4-python3-runtime==$ANTLR"
ls -l .whl
du -sh .whl

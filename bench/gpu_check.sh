#!/usr/bin/env bash
# The GPU check on a CUDA machine where regstudy is not installed, possibly without network
# (README "GPU check"): install the wheels in .whl/ (bench/gpu_wheels.sh) into a private folder,
# unpack MNIST from .mnist_gz/ (bench/gpu_data.sh) unless REGSTUDY_DATA is set, then run
# `python -m bench.gpu_check --out OUT_DIR [options]` from this checkout, its output also in
# OUT_DIR/gpu_check.log.
#   usage: bash bench/gpu_check.sh OUT_DIR [--device cpu --quick ...]
#   PY: the interpreter (default python3); GPU_CHECK_SITE, GPU_CHECK_DATA: where the wheels and
#   MNIST go (default /tmp/regstudy_site, /tmp/regstudy_data)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
OUT_DIR=${1:?usage: bash bench/gpu_check.sh OUT_DIR [options of python -m bench.gpu_check]}
shift
PY=${PY:-python3}
SITE=${GPU_CHECK_SITE:-/tmp/regstudy_site}
mkdir -p "$OUT_DIR" || exit 2
if [ -d .whl ]; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" .whl/*.whl || { echo "gpu_check.sh: installing .whl/*.whl failed" >&2; exit 2; }
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
# What the check imports besides PyTorch (module:package); a missing one is named by its package.
MISSING=$("$PY" -c 'import importlib.util, sys
need = dict(m.split(":") for m in sys.argv[1:])
print(" ".join(p for m, p in need.items() if importlib.util.find_spec(m) is None))' \
    hydra:hydra-core omegaconf:omegaconf torchvision:torchvision tensorboard:tensorboard \
    matplotlib:matplotlib tqdm:tqdm pytest:pytest)
[ -z "$MISSING" ] || {
    echo "gpu_check.sh: missing: $MISSING; bring their wheels: bench/gpu_wheels.sh <those not in" \
         "its defaults> where pip can download, and copy .whl/ here" >&2; exit 2; }
if [ -z "${REGSTUDY_DATA:-}" ]; then
    [ -d .mnist_gz ] || { echo "gpu_check.sh: .mnist_gz/ missing: run bench/gpu_data.sh where MNIST is and copy .mnist_gz/ here (or set REGSTUDY_DATA)" >&2; exit 2; }
    export REGSTUDY_DATA=${GPU_CHECK_DATA:-/tmp/regstudy_data}
    mkdir -p "$REGSTUDY_DATA/MNIST/raw"
    "$PY" -c 'import gzip, pathlib, shutil, sys
for f in pathlib.Path(".mnist_gz").glob("*.gz"):
    with gzip.open(f) as src, open(pathlib.Path(sys.argv[1]) / f.stem, "wb") as dst:
        shutil.copyfileobj(src, dst)' "$REGSTUDY_DATA/MNIST/raw" || exit 2
fi
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 CUBLAS_WORKSPACE_CONFIG=:4096:8
"$PY" -m bench.gpu_check --out "$OUT_DIR" "$@" 2>&1 | tee "$OUT_DIR/gpu_check.log"

#!/usr/bin/env bash
# The GPU machine's side of the GPU check (README "GPU check"): install the carried wheels
# (.whl/, from bench/gpu_wheels.sh) into /tmp/site, unpack the carried MNIST files
# (.mnist_gz/, from bench/gpu_data.sh) unless REGSTUDY_DATA is set, then run
# `python -m bench.gpu_check --out OUT_DIR [options]`, its output also in OUT_DIR/gpu_check.log.
#   usage: bash bench/gpu_check.sh OUT_DIR [--device cpu --quick ...]     (PY: the interpreter)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
OUT_DIR=${1:?usage: bash bench/gpu_check.sh OUT_DIR [options of python -m bench.gpu_check]}
shift
PY=${PY:-python3}
SITE=${GPU_CHECK_SITE:-/tmp/site}
mkdir -p "$OUT_DIR" || exit 2
if [ -d .whl ]; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" .whl/*.whl || { echo "gpu_check.sh: installing .whl/*.whl failed" >&2; exit 2; }
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
"$PY" -c "import hydra, omegaconf" 2>/dev/null || {
    echo "gpu_check.sh: Hydra/OmegaConf missing: run bench/gpu_wheels.sh where pip works and carry .whl" >&2; exit 2; }
if [ -z "${REGSTUDY_DATA:-}" ]; then
    [ -d .mnist_gz ] || { echo "gpu_check.sh: .mnist_gz/ missing: run bench/gpu_data.sh and carry .mnist_gz (or set REGSTUDY_DATA)" >&2; exit 2; }
    export REGSTUDY_DATA=${GPU_CHECK_DATA:-/tmp/regstudy_data}
    mkdir -p "$REGSTUDY_DATA/MNIST/raw"
    "$PY" -c 'import gzip, pathlib, shutil, sys
for f in pathlib.Path(".mnist_gz").glob("*.gz"):
    with gzip.open(f) as src, open(pathlib.Path(sys.argv[1]) / f.stem, "wb") as dst:
        shutil.copyfileobj(src, dst)' "$REGSTUDY_DATA/MNIST/raw" || exit 2
fi
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 CUBLAS_WORKSPACE_CONFIG=:4096:8
"$PY" -m bench.gpu_check --out "$OUT_DIR" "$@" 2>&1 | tee "$OUT_DIR/gpu_check.log"

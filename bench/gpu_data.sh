#!/usr/bin/env bash
# For a CUDA machine that cannot download MNIST: gzip the four MNIST raw files into .mnist_gz/
# (git-ignored, about 11 MB) to copy along with the checkout; bench/gpu_check.sh unpacks them
# there (unless REGSTUDY_DATA is set on that machine).
#   usage: bench/gpu_data.sh [DATA_ROOT]     (default: $REGSTUDY_DATA, else ./data)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${1:-${REGSTUDY_DATA:-./data}}
RAW="$ROOT/MNIST/raw"
FILES="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"
for f in $FILES; do
    [ -f "$RAW/$f" ] || { echo "gpu_data.sh: $RAW/$f not found; pass the data root that holds MNIST/raw/" >&2; exit 2; }
done
rm -rf .mnist_gz && mkdir -p .mnist_gz
for f in $FILES; do gzip -9 -c "$RAW/$f" > ".mnist_gz/$f.gz"; done
ls -l .mnist_gz
du -sh .mnist_gz

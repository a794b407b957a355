#!/usr/bin/env bash
# Runs hf_crosscheck.py on a host with Python, PyTorch and transformers (no Go
# needed): build bin/refserver first (make build) and copy the tree there.
# Results go to ${OUT:-out}/.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-out}
mkdir -p "$out"
nproc > "$out/nproc.txt"
python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__, "cuda", torch.cuda.is_available())' | tee "$out/versions.txt"
python3 deploy/gpu/hf_crosscheck.py --refserver bin/refserver --out "$out" "$@" 2>&1 | tee "$out/crosscheck.log"

#!/usr/bin/env bash
# GPU check of the Triton backend, for one H100/H200 (or any CUDA GPU) with a stock CUDA PyTorch image
# (torch >= 2.6, triton >= 3.2; no Lightning or Hydra needed). In about 5-8 minutes on an H100:
#   1. the Triton tests on CUDA (tests/test_triton_*.py; needs pytest, skipped with a note if absent);
#   2. scripts/gpu_check.py: parity of backend="triton" (step, sequence, persistent) against cuDNN in fp32 and
#      bf16 at (B, T, H) = (16, 1024, 64 / 128 / 768) and (64, 100, 512), and bf16 timings of cuDNN, triton step
#      (graphed and eager), sequence and persistent: ms and µs per step, forward and forward+backward.
# Writes OUT/gpu_check.md (one Markdown table), OUT/gpu_check.json and OUT/tests.log; exit status 1 if a test or a
# parity check failed. Usage: scripts/gpu_check.sh [OUT]   (default OUT: gpu_check_out)
#   scripts/gpu_check.sh --dry-run [OUT]   the same Python on the CPU under TRITON_INTERPRET=1, tiny shapes, no tests
set -euo pipefail
cd "$(dirname "$0")/.."
DRY=""
if [[ "${1:-}" == "--dry-run" ]]; then DRY="--dry-run"; shift; fi
OUT="${1:-gpu_check_out}"
mkdir -p "$OUT"
PY="${PYTHON:-python}"
# lstmkit.kernels is the top-level kernels/ folder, mapped by setup.py: install it without its dependencies
# (Lightning and Hydra are for the applications, not the layers), offline, from this checkout
if ! "$PY" -c "import lstmkit.kernels" 2>/dev/null; then
  "$PY" -m pip install --quiet --no-deps --no-build-isolation -e .
fi
"$PY" -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, 'cuda', torch.cuda.is_available())"
status=0
if [[ -z "$DRY" ]]; then
  if "$PY" -m pytest --version >/dev/null 2>&1; then
    echo "== Triton tests on CUDA (tests/test_triton_*.py)"
    timeout 300 "$PY" -m pytest -q -p no:cacheprovider tests/test_triton_vs_reference.py tests/test_triton_variants.py \
      tests/test_triton_graphs.py tests/test_triton_persistent.py 2>&1 | tee "$OUT/tests.log" | tail -5 \
      || status=1
  else
    echo "== pytest not installed: Triton tests skipped (python -m pip install pytest to run them)" | tee "$OUT/tests.log"
  fi
fi
echo "== parity and timings (scripts/gpu_check.py)"
timeout 180 "$PY" scripts/gpu_check.py $DRY --out "$OUT" || status=1
echo "== wrote $OUT/gpu_check.md, $OUT/gpu_check.json, $OUT/tests.log; status $status"
exit $status

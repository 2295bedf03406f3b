#!/usr/bin/env bash
# The GPU checks of veracity in one go, for a machine with a CUDA GPU (a session lent one through the
# device tool runs it there; CI never does). Writes its logs into $OUT (default artifacts/gpu):
#   gpu.txt        the GPU's name, memory and driver (record it next to every figure)
#   tests.log      tests/unit/hooks/test_cuda.py and tests/unit/hooks/test_dtypes.py on the GPU
#   unit.log       every unit test that needs no embedded model (-m "not slow"), on a machine whose torch sees
#                  a GPU (defaults that pick cuda when present are exercised there)
#   real_size.log  python -m benchmarks.real_size: random-weight Llama-3.1-8B shape, bfloat16, batch 32 x 512
#                  (share of the measured bf16 matmul rate), then the Llama-3.2-1B shape
# Uses python3 as found (PYTHON= to choose). Packages missing there (transformer-lens, nnsight, ...)
# travel as wheels in .whl/ (see the device tool's README); they are installed into /tmp/site first.
set -uo pipefail
OUT=${OUT:-artifacts/gpu}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
if [ -d .whl ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
if ! $PY -c "import veracity" 2>/dev/null; then  # not installed there: the checkout is the package
  mkdir -p /tmp/veracity-src && ln -sfn "$PWD" /tmp/veracity-src/veracity
  export PYTHONPATH=/tmp/veracity-src${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
$PY -m pytest -q -p no:cacheprovider -rs tests/unit/hooks/test_cuda.py tests/unit/hooks/test_dtypes.py 2>&1 | tee "$OUT/tests.log"
tests=${PIPESTATUS[0]}
timeout "${UNIT_TIMEOUT:-240}" $PY -m pytest -q -p no:cacheprovider -n "${UNIT_WORKERS:-8}" -m "not slow" tests/unit \
  > "$OUT/unit.log" 2>&1
echo "unit tests (exit $?):"; tail -n 25 "$OUT/unit.log"
$PY -m benchmarks.real_size 2>&1 | tee "$OUT/real_size.log"
$PY -m benchmarks.real_size --shape llama-3.2-1b 2>&1 | tee -a "$OUT/real_size.log"
exit "$tests"

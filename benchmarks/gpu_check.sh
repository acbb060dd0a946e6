#!/usr/bin/env bash
# GPU check: the tests marked `gpu`, a paper-size training step in fp32 / bf16 / fp16, one bundle inference and the
# speed benchmark's GPU rows, in under 8 minutes on one GPU. Results go to OUT/gpu_check.json (default
# benchmarks/results); pytest's report to OUT/gpu_tests.xml.
#
#   bash benchmarks/gpu_check.sh [OUT]
#   GPU_CHECK_DRY_RUN=1 bash benchmarks/gpu_check.sh /tmp/out   # the same steps on a CPU, small sizes (a smoke run)
#
# A GPU machine may have torch but not this project's other dependencies, and no network: the project is then
# installed from the wheels in benchmarks/wheels/, made beforehand on a machine with a package index by
# `bash benchmarks/gpu_wheels.sh` (for the GPU machine's Python version). The machine's own torch is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-benchmarks/results}"
WHEELS=benchmarks/wheels
PY="${PYTHON:-python3}"
mkdir -p "$OUT"
start=$(date +%s)
BENCH_ARGS=()
if [ -n "${GPU_CHECK_DRY_RUN:-}" ]; then
  BENCH_ARGS=(--device cpu --quick)
else
  "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
    || { echo "gpu_check: no CUDA device visible to torch; nothing run" >&2; exit 1; }
fi
if ! "$PY" -c "import semunet_monai, monai, ignite, nibabel, SimpleITK, h5py, matplotlib, pytest" 2>/dev/null; then
  [ -d "$WHEELS" ] || { echo "gpu_check: dependencies missing and no $WHEELS folder (see benchmarks/gpu_wheels.sh)" >&2; exit 1; }
  echo "gpu_check: installing the project from $WHEELS (offline)"
  "$PY" -m pip install --quiet --no-index --find-links "$WHEELS" -e . pytest
fi
"$PY" -c "import torch; print('gpu_check:', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU (dry run)', 'torch', torch.__version__)"
set +e
# the gpu-marked tests live in tests/test_gpu.py; collecting the whole tree would need the dev extra (scikit-image)
timeout 240 "$PY" -m pytest -q -m gpu -p no:cacheprovider --junitxml "$OUT/gpu_tests.xml" tests/test_gpu.py
tests_rc=$?
[ -n "${GPU_CHECK_DRY_RUN:-}" ] && [ "$tests_rc" -eq 5 ] && tests_rc=0  # skipped everywhere without CUDA
timeout 300 "$PY" benchmarks/gpu_bench.py --out "$OUT/gpu_check.json" "${BENCH_ARGS[@]}"
bench_rc=$?
set -e
"$PY" - "$OUT" "$tests_rc" "$bench_rc" "$start" <<'PY'
import json, sys, time, xml.etree.ElementTree as ET
out, tests_rc, bench_rc, start = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
path = f"{out}/gpu_check.json"
try:
    result = json.load(open(path))
except (OSError, ValueError):
    result = {}
try:
    suite = ET.parse(f"{out}/gpu_tests.xml").getroot()
    suite = suite if suite.tag == "testsuite" else suite[0]
    result["gpu_tests"] = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
except (OSError, ET.ParseError):
    result["gpu_tests"] = None
result["gpu_tests_returncode"], result["bench_returncode"] = tests_rc, bench_rc
result["wall_seconds"] = time.time() - start
json.dump(result, open(path, "w"), indent=2)
print(json.dumps(result, indent=2))
PY
echo "gpu_check: finished in $(( $(date +%s) - start )) s (tests rc $tests_rc, benchmark rc $bench_rc)"
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]

#!/usr/bin/env bash
# Download, into benchmarks/wheels/, the wheels that benchmarks/gpu_check.sh installs offline on a GPU machine: this
# project's dependencies and its dev extra, without torch (the GPU machine keeps its own CUDA build) and without the
# packages the GPU machine already has (pass them with SKIP="numpy pillow ...").
#
#   PYTHON_VERSION=3.11 bash benchmarks/gpu_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYV="${PYTHON_VERSION:-$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')}"
mkdir -p benchmarks/wheels
# the installed set of this environment, minus torch, its own dependencies and CUDA libraries, this project, and the
# dev-only tools the GPU check does not use (ruff, scikit-image and scipy, jsonschema)
drop='torch|nvidia-|triton|semunet|sympy|mpmath|jinja2|markupsafe|filelock|fsspec|typing.extensions|networkx'
drop="$drop|ruff|scikit.image|scipy|imageio|tifffile|lazy.loader|jsonschema|attrs|referencing|rpds.py"
python3 -m pip freeze --exclude-editable | grep -viE "^($drop)" > benchmarks/wheels/requirements.txt
for name in ${SKIP:-}; do sed -i "/^${name}==/Id" benchmarks/wheels/requirements.txt; done
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version "$PYV" \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
  -d benchmarks/wheels -r benchmarks/wheels/requirements.txt
python3 -m pip download --quiet --no-deps -d benchmarks/wheels setuptools wheel
du -sh benchmarks/wheels

#!/usr/bin/env bash
# Rebuild the committed bundles in artifacts/ (CPU, fixed seed). Run from the repository root.
set -euo pipefail
kerasseq train --preset uci-lstm --data uci --seed 0 --out artifacts/uci-lstm
kerasseq export artifacts/uci-lstm --quantize int8

#!/usr/bin/env bash
# Rebuild the committed bundles in artifacts/ (CPU, fixed seed). Run from the repository root.
# The Amazon sample and IMDb are read from $KERASSEQ_DATA (default: ../shared/data beside the checkout).
set -euo pipefail
data=${KERASSEQ_DATA:-../shared/data}
kerasseq train --preset uci-lstm --data uci --seed 0 --out artifacts/uci-lstm
kerasseq export artifacts/uci-lstm --quantize int8
# 30 epochs at most (early stopping): the activity's 5 epochs under-train on this 5,000-review sample.
kerasseq train --preset amazon-stacked-lstm --data amazon --data-dir "$data" --seed 0 --epochs 30 \
    --out artifacts/amazon-stacked-lstm --export
# ~12 minutes on 2 cores; the same run as seed 0 of `scripts/reproduce_accuracy.py --presets imdb-attention`.
kerasseq train --preset imdb-attention --data imdb --data-dir "$data" --seed 0 --out artifacts/imdb-attention --export
# ~6 minutes on 2 cores: early stopping ends it when the held-out tail of the book stops improving.
kerasseq train --preset alice-char-lstm --seed 0 --out artifacts/alice-char-lstm --export
# ~25 minutes on 2 cores (8 epochs of ~190 s); resumable: run the same line again after an interruption.
kerasseq train --preset warpeace-char-lstm --data-dir "$data" --seed 0 --out artifacts/warpeace-char-lstm --export
# Forecasters (~1 minute each): the same runs as scripts/reproduce_forecasts.py's preset rows.
kerasseq train --preset sales-simplernn --data-dir "$data" --seed 0 --out artifacts/sales-simplernn --export
kerasseq train --preset stock-lstm --data-dir "$data" --seed 0 --out artifacts/stock-lstm --export

"""Train the forecasting presets on the shared data and tabulate test errors beside naive baselines.

    python scripts/reproduce_forecasts.py [--data-dir ../shared/data] [--out artifacts/benchmarks]

Rows: `sales-simplernn` (next week's sales of 811 products; test: the last week), the same model
trained all 10,000 epochs as the seed does, `stock-lstm` (DJIA next-day close, target "return";
test: 2023) and the same LSTM fitted to price levels as the seed does (target "price", trained on
all of 1990-2022). ~15 minutes on 2 cores. Writes forecasting.md and .json.
Same presets and seed as `scripts/make_artifacts.sh`, so the same numbers as the committed bundles.
"""

import argparse
import json
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from kerasseq import bundle  # noqa: E402
from kerasseq.models import get_preset  # noqa: E402
from kerasseq.train_forecast import train_forecaster  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RUNS = {
    "sales-simplernn": ("sales-simplernn", {}),
    "sales-simplernn, all 10,000 epochs (the seed's)": ("sales-simplernn", {"validation_fraction": 0.0,
                                                                           "patience": None}),
    "stock-lstm": ("stock-lstm", {}),
    "stock-lstm, target price (the seed's)": ("stock-lstm", {"target": "price", "validation_fraction": 0.0}),
}
SEED_REFERENCE = {"sales-simplernn": "training MSE 7.31 after 10,000 epochs (seed 003)",
                  "stock-lstm": "test R² 0.9 (seed 004)"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("KERASSEQ_DATA", str(ROOT.parent / "shared" / "data")))
    parser.add_argument("--out", default=str(ROOT / "artifacts" / "benchmarks"))
    parser.add_argument("--runs", default=str(ROOT / "runs" / "forecasts"))
    args = parser.parse_args()
    results = {}
    for label, (preset, changes) in RUNS.items():
        spec = get_preset(preset).replace(**changes)
        name = preset + ("-" + "-".join(f"{k}-{v}" for k, v in changes.items()) if changes else "")
        out = train_forecaster(preset, spec=spec, out=Path(args.runs) / name, data_dir=args.data_dir, verbose=0)
        metrics = bundle.read_json(out / bundle.METRICS)
        results[label] = {k: metrics[k] for k in ("test", "train", "rows", "epochs_run", "best_epoch",
                                                    "train_seconds", "parameters")}
        results[label]["changes"] = changes
        print(label, json.dumps(metrics["test"]), flush=True)
    result = {"results": results, "seed_loss_floor": seed_loss_floor(args.data_dir),
              "python": platform.python_version(), "cores": os.cpu_count()}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    bundle.write_json(Path(args.out) / "forecasting.json", result)
    (Path(args.out) / "forecasting.md").write_text(markdown(results, result["seed_loss_floor"]), encoding="utf-8")
    print(f"wrote {args.out}/forecasting.md")


def seed_loss_floor(data_dir):
    """The lowest value the seed's sales loss can take on this table.

    The seed feeds each product's 51 weeks as one step of 51 features, so it makes one forecast per
    product, and its MSE compares that one number with all 51 shifted weeks: the loss cannot go
    below the mean, over products, of the variance of weeks W1..W51.
    """
    from kerasseq.series import read_weekly_sales
    from kerasseq.train_forecast import _find

    _, values = read_weekly_sales(_find("sales", data_dir, "weekly-sales"))
    return float(values[:, 1:].var(axis=1).mean())


def markdown(results, floor):
    rows = []
    for label, r in results.items():
        for name, m in r["test"].items():
            if isinstance(m, dict):
                rows.append(f"| {label} | {r['test']['target']} | {name.replace('_', ' ')} | {m['mse']:.4g} | "
                            f"{m['mae']:.4g} | {m['r2']:.4f} |")
    sales, seed_run = results["sales-simplernn"], results["sales-simplernn, all 10,000 epochs (the seed's)"]
    return f"""# Forecasting: test errors beside naive baselines

`python scripts/reproduce_forecasts.py` (seed 0, 2 CPU cores). Chronological splits: the sales model trains
on weeks W0..W50 of 811 products and forecasts W51; the DJIA models train on 1990-2022 and forecast each
2023 close from the days before it.

| run | test | forecast | MSE | MAE | R² |
|---|---|---|---|---|---|
{chr(10).join(rows)}

| run | epochs (kept) | seconds | parameters |
|---|---|---|---|
{chr(10).join(f"| {k} | {r['epochs_run']} ({r['best_epoch']}) | {r['train_seconds']} | {r['parameters']:,} |" for k, r in results.items())}

Sales training MSE (one week ahead at every fitted week, sales units): {seed_run['train']['mse_all_weeks']:.2f} after
all 10,000 epochs, {sales['train']['mse_all_weeks']:.2f} for the early-stopped preset. Seed reference:
{SEED_REFERENCE['sales-simplernn']}. That number is not comparable and cannot be reached on this table with the seed's
code: it feeds each product's 51 weeks as one step of 51 features, makes one forecast per product and compares it with
all 51 shifted weeks, so its loss cannot go below the products' mean variance of W1..W51, {floor:.2f} here.
Stock model seed reference: {SEED_REFERENCE['stock-lstm']}.
"""


if __name__ == "__main__":
    sys.exit(main())

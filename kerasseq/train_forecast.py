"""Train a recurrent forecaster (weekly sales or daily prices) and write a forecast bundle."""

import sys
import time
from pathlib import Path

import numpy as np

from kerasseq import bundle
from kerasseq.models import get_preset
from kerasseq.plots import plot_losses, pyplot
from kerasseq.models.spec import ForecastSpec
from kerasseq.series import Standardizer, read_price_history, read_weekly_sales
from kerasseq.series.features import DAILY_FEATURES
from kerasseq.series.prepare import (complete_windows, daily_feature_matrix, price_targets, prices_from_targets,
                                     weekly_inputs, windows)

SALES_FILES = ("sales_weekly/Sales_Transactions_Dataset_Weekly.csv", "Sales_Transactions_Dataset_Weekly.csv")
SAMPLE_ROWS = 64  # test inputs kept in samples.json for export checks
DATA_SOURCES = {
    "sales": "Sales Transactions Dataset Weekly (UCI; Tan & Lau 2014), 811 products x 52 weeks",
    "stocks/DJIA.csv": "Dow Jones Industrial Average daily Open/High/Low/Close/Volume, 1988-2023",
}


def train_forecaster(preset, data=None, epochs=None, out=None, export=False, seed=0, data_dir=None, verbose=None,
                     spec=None, overwrite=False):
    """Train `preset` (or `spec`, a ForecastSpec) and write a bundle; returns its path.

    `data` overrides the preset's source: "sales", a path in the data directory such as
    "stocks/IBM.csv", or a CSV path. The split is chronological (see ForecastSpec).
    `out` must be new, empty or a kerasseq bundle unless `overwrite=True` (checked before training).
    """
    import keras

    from kerasseq.models.forecast import build_forecaster
    from kerasseq.train import _best_epoch, _deterministic_ops, _versions, save_inference_model

    spec = spec or get_preset(preset)
    if not isinstance(spec, ForecastSpec):
        raise ValueError(f"preset {preset!r} is not a forecaster (task 'forecast')")
    spec = spec.replace(epochs=epochs or spec.epochs, data=data or spec.data)
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 0
    out = bundle.check_destination(Path(out) if out else Path("runs") / preset, overwrite)
    path = _find(spec.data, data_dir, spec.series)
    prepared = _weekly(spec, path) if spec.series == "weekly-sales" else _daily(spec, path)

    keras.utils.set_random_seed(seed)
    _deterministic_ops()
    model = build_forecaster(spec, prepared["x"].shape[-1])
    monitor = "val_loss" if prepared["val"] is not None else "loss"
    callbacks = []
    if spec.patience:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=spec.patience,
                                                       restore_best_weights=True))
    started = time.perf_counter()
    history = model.fit(prepared["x"], prepared["y"], validation_data=prepared["val"], epochs=spec.epochs,
                        batch_size=spec.batch_size or len(prepared["x"]), shuffle=True, callbacks=callbacks,
                        verbose=verbose)
    train_seconds = time.perf_counter() - started
    losses = history.history
    best_epoch = _best_epoch(losses, monitor) if spec.patience else len(losses["loss"])

    metrics, plot_test = prepared["evaluate"](model)
    metrics.update(preset=preset, data=str(spec.data), train_seconds=round(train_seconds, 1),
                   epochs_run=len(losses["loss"]), best_epoch=best_epoch, monitor=monitor,
                   parameters=int(model.count_params()), seed=seed, spec=spec.to_dict(),
                   history={k: [float(v) for v in vals] for k, vals in losses.items()}, versions=_versions())
    with bundle.atomic_directory(out, overwrite) as tmp:
        save_inference_model(model, tmp / bundle.KERAS_MODEL)
        bundle.write_json(tmp / bundle.PREPROCESSING, bundle.forecast_dict(spec, preset, prepared["config"]))
        bundle.write_json(tmp / bundle.METRICS, metrics)
        bundle.write_json(tmp / bundle.SAMPLES, {"inputs": prepared["x_test"][:SAMPLE_ROWS].tolist()})
        plot_losses(losses, tmp / "loss.png", preset, "MSE (standardized units)",
                    "validation (end of the training period)", log_scale=True)
        plot_test(tmp)
        (tmp / bundle.MODEL_CARD).write_text(_model_card(spec, metrics), encoding="utf-8")
    if export:
        from kerasseq.export import export_bundle

        export_bundle(out)
    return out


def _find(data, data_dir, series):
    from kerasseq.data.sources import find_data

    if data == "sales":
        return find_data(SALES_FILES, data_dir, what="the weekly sales table")
    if Path(data).is_file():
        return Path(data)
    return find_data((data,), data_dir, what=f"the {series} table {data!r}")


def _r2(y, p):
    return float(1.0 - np.sum((y - p) ** 2) / np.sum((y - np.mean(y)) ** 2))


def _errors(y, p):
    return {"mse": float(np.mean((y - p) ** 2)), "mae": float(np.mean(np.abs(y - p))), "r2": _r2(y, p)}


def _weekly(spec, path):
    """Sales: fit on weeks 0..n-2 (inputs 0..n-3, targets one week ahead; with a validation
    fraction, week n-2 is held out instead: forecast from weeks 0..n-3, it picks the best epoch);
    test: week n-1, forecast from weeks 0..n-2."""
    codes, values = read_weekly_sales(path)
    if values.shape[1] < 4:
        raise ValueError(f"{path}: {values.shape[1]} weeks; training needs at least 4")
    seen = values[:, :-1]  # the last week is the test target, never seen in training
    scaler = Standardizer.fit(seen.reshape(-1, 1))
    fit_weeks = seen[:, :-1] if spec.validation_fraction else seen
    x = weekly_inputs(fit_weeks[:, :-1], scaler)
    y = scaler.transform(fit_weeks[:, 1:, None])
    val = None
    if spec.validation_fraction:  # forecast the last training week from the weeks before it
        weights = np.zeros(seen.shape[:1] + (seen.shape[1] - 1,), np.float32)
        weights[:, -1] = 1.0  # only the last step counts: the week the model has not been fitted to
        val = (weekly_inputs(seen[:, :-1], scaler), scaler.transform(seen[:, 1:, None]), weights)
    x_test = weekly_inputs(seen, scaler)

    def evaluate(model):
        """(metrics, plot(folder)) of the trained model; the plot shows the same test forecasts."""
        train_pred = scaler.inverse(model.predict(x, batch_size=1024, verbose=0))[..., 0]
        pred = scaler.inverse(model.predict(x_test, batch_size=1024, verbose=0))[:, -1, 0]
        truth = values[:, -1]
        metrics = {"train": {"mse_all_weeks": float(np.mean((train_pred - fit_weeks[:, 1:]) ** 2))},
                   "test": {"target": f"week W{values.shape[1] - 1} of {len(codes)} products",
                            "model": _errors(truth, pred), "naive_last_week": _errors(truth, seen[:, -1]),
                            "product_mean": _errors(truth, seen.mean(axis=1))},
                   "rows": {"products": len(codes), "weeks": int(values.shape[1]),
                            "fitted_target_weeks": f"W1..W{fit_weeks.shape[1] - 1}",
                            "validation_week": f"W{seen.shape[1] - 1}" if val else None}}
        return metrics, lambda folder: _plot_sales(codes, values, pred, folder)

    config = {"scaler": scaler.to_dict(), "features": ["sales"], "columns": ["Product_Code", "W0", "W1", "..."]}
    return {"x": x, "y": y, "val": val, "x_test": x_test, "evaluate": evaluate, "config": config}


def _daily(spec, path):
    """Prices: windows ending on the training days (train_start..train_end) train, later ones test."""
    history = read_price_history(path)
    dates = np.array(history["dates"])
    features = daily_feature_matrix(history)
    targets = price_targets(history["Close"], spec.target)
    ready = complete_windows(features, spec.window) & np.isfinite(targets)
    in_train = ready & (dates <= spec.train_end) & (dates >= (spec.train_start or dates[0]))
    train_ends, test_ends = np.flatnonzero(in_train), np.flatnonzero(ready & (dates > spec.train_end))
    if len(train_ends) < 10 or len(test_ends) < 1:
        raise ValueError(f"{path}: {len(train_ends)} training and {len(test_ends)} test days around "
                         f"{spec.train_end}; need at least 10 and 1")
    feature_scaler = Standardizer.fit(features[train_ends])
    target_scaler = Standardizer.fit(targets[train_ends, None])
    scaled = feature_scaler.transform(np.nan_to_num(features))  # NaN rows never enter a ready window
    n_val = int(len(train_ends) * spec.validation_fraction)
    fit_ends, val_ends = train_ends[:len(train_ends) - n_val], train_ends[len(train_ends) - n_val:]
    x, y = windows(scaled, spec.window, fit_ends), target_scaler.transform(targets[fit_ends, None])
    val = (windows(scaled, spec.window, val_ends), target_scaler.transform(targets[val_ends, None])) if n_val else None
    x_test = windows(scaled, spec.window, test_ends)
    close = history["Close"]

    def forecast(model, ends):
        raw = target_scaler.inverse(model.predict(windows(scaled, spec.window, ends), batch_size=1024, verbose=0))
        return prices_from_targets(raw[:, 0], close[ends - 1], spec.target)

    def evaluate(model):
        """(metrics, plot(folder)) of the trained model; the plot shows the same test forecasts."""
        truth, pred = close[test_ends], forecast(model, test_ends)
        metrics = {"test": {"target": f"close of {len(test_ends)} days {dates[test_ends[0]]}..{dates[test_ends[-1]]}",
                            "model": _errors(truth, pred), "naive_previous_close": _errors(truth, close[test_ends - 1])},
                   "train": {"model": _errors(close[fit_ends], forecast(model, fit_ends))},
                   "rows": {"train": len(fit_ends), "validation": len(val_ends), "test": len(test_ends),
                            "train_days": f"{dates[train_ends[0]]}..{dates[train_ends[-1]]}"}}
        return metrics, lambda folder: _plot_prices(dates[test_ends], truth, pred, close[test_ends - 1], folder)

    config = {"features": list(DAILY_FEATURES), "feature_scaler": feature_scaler.to_dict(),
              "target_scaler": target_scaler.to_dict(), "columns": ["Date", "Open", "High", "Low", "Close", "Volume"]}
    return {"x": x, "y": y, "val": val, "x_test": x_test, "evaluate": evaluate, "config": config}


def _plot_sales(codes, values, pred, folder):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for i in np.random.default_rng(0).choice(len(codes), 5, replace=False):
        ax.plot(values[i], label=codes[i])
    ax.set_xlabel("week")
    ax.set_ylabel("sales")
    ax.set_title("five random products")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "sales_series.png", dpi=80)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(values[:, -1], pred, s=6, alpha=0.5)
    top = max(values[:, -1].max(), pred.max())
    ax.plot([0, top], [0, top], "k--", lw=1)
    ax.set_xlabel("true sales, last week")
    ax.set_ylabel("forecast")
    ax.set_title("last week: forecast vs truth")
    fig.tight_layout()
    fig.savefig(folder / "last_week.png", dpi=80)
    plt.close(fig)


def _plot_prices(dates, truth, pred, naive, folder):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.5))
    x = np.array(dates, dtype="datetime64[D]")
    ax.plot(x, truth, label="close", lw=1.5)
    ax.plot(x, pred, label="forecast", lw=1)
    ax.plot(x, naive, label="previous close", lw=1, alpha=0.6)
    ax.set_title("test period: next-day close")
    ax.legend()
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(folder / "test_forecast.png", dpi=80)
    plt.close(fig)


def _model_card(spec, metrics):
    layers = " → ".join(f"{r.kind.upper()}({r.units})" for r in spec.recurrent)
    dense = "".join(f" → Dense({u}, relu)" for u in spec.dense)
    test = metrics["test"]
    baselines = "\n".join(f"| {name.replace('_', ' ')} | {m['mse']:.4g} | {m['mae']:.4g} | {m['r2']:.4f} |"
                          for name, m in test.items() if isinstance(m, dict))
    if spec.series == "weekly-sales":
        inputs = ("each product's weekly sales, one value per week, standardized with the mean and std of "
                  "the training weeks; a forecast of the next week at every week")
    else:
        inputs = (f"{spec.window} consecutive days of 36 daily features (see `kerasseq.series.features`: "
                  "yesterday's prices and volume, 5/21/252-day averages, deviations, ratios and returns), "
                  f"standardized on the training days; target: the day's {spec.target}")
    return f"""# Model card: {metrics['preset']}

{spec.description}

- Architecture: {layers}{dense} → Dense(1); {metrics['parameters']:,} parameters.
- Input: {inputs}.
- Data: {DATA_SOURCES.get(metrics['data'], metrics['data'])}; rows {metrics['rows']}.
- Training: {spec.optimizer} (lr {spec.learning_rate}), batch {spec.batch_size or 'full'}, {metrics['epochs_run']} epochs
  (epoch {metrics['best_epoch']}, the best by {metrics['monitor']}, kept), {metrics['train_seconds']} s.

## Test: {test['target']}

| forecast | MSE | MAE | R² |
|---|---|---|---|
{baselines}

## Limits

A forecast from history alone: no news, no events, no uncertainty estimate. Chronological split;
the test period follows the training period.
Versions: {', '.join(f'{k} {v}' for k, v in metrics['versions'].items())}.
"""

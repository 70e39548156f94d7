"""`Forecaster`: next-step forecasts from a CSV history with onnxruntime over a forecast bundle."""

import numpy as np

from kerasseq import bundle
from kerasseq.serve.providers import load_session
from kerasseq.serve.signature import check_forecaster
from kerasseq.series import read_price_history, read_weekly_sales
from kerasseq.series.features import warmup_days
from kerasseq.series.prepare import complete_windows, daily_feature_matrix, prices_from_targets, weekly_inputs, windows


class Forecaster:
    """Replays the bundle's features and scalers (numpy) and runs `model.onnx`. Never imports TensorFlow.

    Weekly sales: a table of Product_Code, W0..Wn gives each product's forecast for week n+1.
    Daily prices: a Date/Open/High/Low/Close/Volume history gives the next trading day's close;
    `every_day=True` also forecasts each earlier day from the days before it (a backtest).
    """

    def __init__(self, bundle_dir, providers=None, threads=None):
        self.bundle_dir = bundle_dir
        self.config = bundle.read_forecast(bundle_dir)
        model_path = bundle.bundle_file(bundle_dir, bundle.ONNX_MODEL)
        self.session = load_session(model_path, providers or ["CPUExecutionProvider"], threads)
        check_forecaster(model_path, self.session, self.config)

    def _run(self, x):
        return self.session.run([bundle.FORECAST_OUTPUT], {bundle.SERIES_INPUT: np.asarray(x, np.float32)})[0]

    def forecast(self, source, every_day=False):
        """A list of dicts, one per forecast. `source` is a CSV path or CSV text (with a newline)."""
        if self.config["series"] == "weekly-sales":
            return self._weekly(source)
        return self._daily(source, every_day)

    def _weekly(self, source):
        codes, values = read_weekly_sales(source)
        scaler = self.config["scaler"]
        raw = self._run(weekly_inputs(values, scaler))[:, -1, :]
        forecasts = scaler.inverse(raw)[:, 0]
        week = f"W{values.shape[1]}"
        return [{"product": code, "week": week, "forecast": float(f)} for code, f in zip(codes, forecasts)]

    def _daily(self, source, every_day):
        history = read_price_history(source)
        window, target = self.config["window"], self.config["target"]
        features = daily_feature_matrix(history, extra_day=True)
        complete = complete_windows(features, window)
        n = len(history["dates"])  # row n is the day after the history
        if not complete[n]:
            finite = np.all(np.isfinite(features), axis=1)
            bad = [history["dates"][t] for t in range(max(0, n - window + 1), n) if not finite[t]]
            need = warmup_days() + window - 1
            if n < need:
                raise ValueError(f"the history has {n} days; forecasting needs at least {need} (252-day averages "
                                 f"of the days before each of the {window} days in the window)")
            raise ValueError(f"the features of {bad or 'the next day'} are not finite: check for zero prices or "
                             "volumes in the days before")
        scaled = self.config["feature_scaler"].transform(np.nan_to_num(features))
        ends = np.flatnonzero(complete) if every_day else np.array([n])
        raw = self.config["target_scaler"].inverse(self._run(windows(scaled, window, ends)))[:, 0]
        close = history["Close"]
        prices = prices_from_targets(raw, close[ends - 1], target)
        if not np.all(np.isfinite(prices)):
            raise ValueError("the model gave a non-finite forecast; the history holds values it cannot use")
        rows = []
        for t, price in zip(ends.tolist(), prices.tolist()):
            row = {"date": history["dates"][t] if t < n else "next", "after": history["dates"][t - 1],
                   "forecast_close": price, "previous_close": float(close[t - 1])}
            if t < n:
                row["close"] = float(close[t])
            rows.append(row)
        return rows


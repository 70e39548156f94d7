"""Model inputs and targets from series tables, the same at training and at serve time. numpy only."""

import numpy as np

from kerasseq.series.features import DAILY_FEATURES, daily_features


def weekly_inputs(values, scaler):
    """float32 [products, weeks, 1]: each product's weekly sales, standardized."""
    return scaler.transform(np.asarray(values, np.float64)[:, :, None])


def daily_feature_matrix(history, extra_day=False):
    """float64 [days, 36]: the daily features of every day of `history` (NaN until enough
    history). With `extra_day=True` one more row: the features of the day after the last, which
    use only the history given (tomorrow's features are known today)."""
    columns = [history[c] for c in ("Open", "High", "Low", "Close", "Volume")]
    if extra_day:
        columns = [np.append(c, np.nan) for c in columns]
    features = daily_features(*columns)
    return np.stack([features[name] for name in DAILY_FEATURES], axis=1)


def complete_windows(features, window):
    """bool [days]: True where day t ends a window of `window` days whose features are all finite."""
    finite = np.all(np.isfinite(features), axis=1)
    complete = np.zeros(len(finite), bool)
    if len(finite) >= window:
        complete[window - 1:] = np.lib.stride_tricks.sliding_window_view(finite, window).all(axis=1)
    return complete


def windows(rows, window, ends):
    """[len(ends), window, features]: rows ends[i] - window + 1 .. ends[i] for each i."""
    ends = np.asarray(ends)
    return rows[ends[:, None] + np.arange(1 - window, 1)]


def price_targets(close, target):
    """The model's target per day: the close itself, or the return from the previous close
    (NaN on the first day)."""
    close = np.asarray(close, np.float64)
    if target == "price":
        return close
    previous = np.concatenate([[np.nan], close[:-1]])
    return close / previous - 1.0


def prices_from_targets(values, previous_close, target):
    """Invert `price_targets`: forecasts in price units."""
    values = np.asarray(values, np.float64)
    return values if target == "price" else np.asarray(previous_close, np.float64) * (1.0 + values)

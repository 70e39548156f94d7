"""Daily price features from an Open/High/Low/Close/Volume history, for next-day forecasts.

The features of day t use only days up to t-1, so a history that ends today gives the features
of tomorrow. They follow *Python Machine Learning By Example* (ch. 6, reused by the LSTM of
ch. 12), without its same-day `open`, which is not known a day ahead. Windows of 5, 21 and 252
trading days stand for a week, a month and a year.
"""

import numpy as np

PERIODS = {"5": 5, "30": 21, "365": 252}


def _shift(x, n=1):
    """x moved n days later: out[t] = x[t - n], NaN for the first n days."""
    out = np.full_like(x, np.nan)
    out[n:] = x[:-n]
    return out


def _rolling(x, window, fn):
    """fn over each trailing window of `window` days ending at t (NaN before a full window or on NaN input)."""
    out = np.full_like(x, np.nan)
    if len(x) >= window:
        windows = np.lib.stride_tricks.sliding_window_view(x, window)
        out[window - 1:] = fn(windows, axis=1)
    return out


def _add_level_features(features, name, series):
    """avg and std of `series` over 5/21/252 days (up to yesterday) and the ratios between them."""
    for stat, fn in (("avg", np.mean), ("std", np.std)):
        values = {p: _shift(_rolling(series, days, fn)) for p, days in PERIODS.items()}
        for p, v in values.items():
            features[f"{stat}_{name}_{p}"] = v
        for a, b in (("5", "30"), ("5", "365"), ("30", "365")):
            with np.errstate(divide="ignore", invalid="ignore"):
                features[f"ratio_{stat}_{name}_{a}_{b}"] = values[a] / values[b]


def daily_features(open_, high, low, close, volume):
    """{name: float64 array [days]}: 36 features of each day from the days before it (NaN until
    there is enough history: see `warmup_days`)."""
    o, h, lo, c, v = (np.asarray(a, np.float64) for a in (open_, high, low, close, volume))
    features = {"open_1": _shift(o), "close_1": _shift(c), "high_1": _shift(h), "low_1": _shift(lo),
                "volume_1": _shift(v)}
    _add_level_features(features, "price", c)
    _add_level_features(features, "volume", v)
    ret_1 = (c - _shift(c)) / _shift(c)
    for p, days in (("1", 1), ("5", 5), ("30", 21), ("365", 252)):
        features[f"return_{p}"] = _shift((c - _shift(c, days)) / _shift(c, days))
    for p, days in PERIODS.items():
        features[f"moving_avg_{p}"] = _shift(_rolling(_shift(ret_1), days, np.mean))
    return features


DAILY_FEATURES = list(daily_features(*np.ones((5, 1))))


def warmup_days():
    """Days of history before the first day whose features are all defined (254)."""
    n = 600
    rng = np.random.default_rng(0)
    c = 100 + rng.random(n)
    f = daily_features(c, c + 1, c - 1, c, 1e6 + rng.random(n))
    defined = np.all(np.isfinite(np.stack(list(f.values()))), axis=0)
    return int(np.argmax(defined))

"""Numeric series for forecasting: CSV tables, daily price features, scalers. numpy only."""

from kerasseq.series.features import DAILY_FEATURES, daily_features, warmup_days
from kerasseq.series.scaler import Standardizer
from kerasseq.series.table import read_price_history, read_weekly_sales

__all__ = ["DAILY_FEATURES", "Standardizer", "daily_features", "read_price_history", "read_weekly_sales",
           "warmup_days"]

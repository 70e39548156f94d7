"""Forecasting: CSV tables and their errors, daily features, scalers, training, export parity,
and the Forecaster / `kerasseq forecast` without TensorFlow."""

import json

import numpy as np
import pytest

from kerasseq import bundle
from kerasseq.models import get_preset
from kerasseq.series import Standardizer, daily_features, read_price_history, read_weekly_sales, warmup_days
from tests.conftest import ROOT
from tests.test_serve import run_python

DATA = ROOT / "tests" / "data"
DJIA_TAIL = DATA / "djia_last_300_days.csv"  # DJIA 2022-10 .. 2023-12 (public market data)
SALES_HEAD = DATA / "sales_20_products.csv"  # the first 20 products of the UCI weekly sales table

PRICES = "Date,Open,High,Low,Close,Volume\n"


def _history_csv(path, days=700, seed=0):
    """A random-walk daily history, oldest first."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, days)))
    open_ = close * (1 + rng.normal(0, 0.002, days))
    dates = np.arange(np.datetime64("2020-01-01"), np.datetime64("2020-01-01") + days)
    lines = [f"{d},{o:.4f},{max(o, c) * 1.01:.4f},{min(o, c) * 0.99:.4f},{c:.4f},{int(v)}"
             for d, o, c, v in zip(dates, open_, close, rng.integers(1e6, 2e6, days))]
    path.write_text(PRICES + "\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- tables ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text, message", [
    ("Date,Open,High,Low,Close\n2020-01-01,1,1,1,1\n", r"missing column\(s\) \['Volume'\]"),
    (PRICES + "2020-01-01,1,1,1,,5\n", "row 2, column 'Close': an empty cell is not a finite number"),
    (PRICES + "2020-01-01,1,1,1,NaN,5\n", "row 2, column 'Close': 'NaN' is not a finite number"),
    (PRICES + "2020-01-01,1,1,1,1,5\n2020-01-02,1,abc,1,1,5\n", "row 3, column 'High': 'abc'"),
    (PRICES + "2020-01-01,1,1,1,1,5\n2020-01-01,1,1,1,1,5\n", "rows 2 and 3: duplicate date 2020-01-01"),
    (PRICES + "2020-01-01,1,1,1,1,5\n2020-01-03,1,1,1,1,5\n2020-01-02,1,1,1,1,5\n", "row 4: date 2020-01-02 is out of order"),
    (PRICES + "yesterday,1,1,1,1,5\n", "row 2, column 'Date': 'yesterday' is not a date"),
    (PRICES + "2020-01-01,1,1,1,1\n", "row 2: expected 6 cells"),
    ("Date,Open\n", "expected a header row and at least one data row"),
])
def test_price_history_errors_name_the_row_and_column(text, message):
    with pytest.raises(ValueError, match=message):
        read_price_history(text)


def test_price_history_reads_either_order():
    newest_first = PRICES + "2020-01-03,3,3,3,3,30\n2020-01-02,2,2,2,2,20\n"
    history = read_price_history(newest_first)
    assert history["dates"] == ["2020-01-02", "2020-01-03"] and history["Close"].tolist() == [2.0, 3.0]
    ibm_style = PRICES.replace("Date,Open,High,Low,Close,Volume", "Date,Close,Volume,Open,High,Low") + \
        "1/24/2020,140.5,1,139,141,138\n"
    assert read_price_history(ibm_style)["Close"].tolist() == [140.5]
    with pytest.raises(FileNotFoundError, match="CSV file not found"):
        read_price_history("no_such_file.csv")


def test_weekly_sales_table():
    codes, values = read_weekly_sales(SALES_HEAD)
    assert codes[:2] == ["P1", "P2"] and values.shape == (20, 52) and values[0, :3].tolist() == [11, 12, 10]
    with pytest.raises(ValueError, match=r"missing \['W1'\]"):
        read_weekly_sales("Product_Code,W0,W2\nP1,1,2\n")
    with pytest.raises(ValueError, match="row 2, column 'W1'"):
        read_weekly_sales("Product_Code,W0,W1\nP1,1,\n")
    with pytest.raises(ValueError, match="empty product code"):
        read_weekly_sales("Product_Code,W0,W1\n,1,2\n")


# --- features and scalers -------------------------------------------------------------------


def test_daily_features_use_only_the_days_before():
    rng = np.random.default_rng(1)
    o, h, lo, c, v = (100 + rng.random(400) for _ in range(5))
    features = daily_features(o, h, lo, c, v)
    assert len(features) == 36 and warmup_days() == 254
    t = 300
    assert features["close_1"][t] == c[t - 1] and features["volume_1"][t] == v[t - 1]
    assert np.isclose(features["avg_price_5"][t], c[t - 5:t].mean())
    assert np.isclose(features["std_price_30"][t], c[t - 21:t].std())
    assert np.isclose(features["return_5"][t], (c[t - 1] - c[t - 6]) / c[t - 6])
    changed = c.copy()
    changed[t] *= 2  # day t's own close must not reach day t's features
    after = daily_features(o, h, lo, changed, v)
    for name, values in features.items():
        assert np.array_equal(values[:t + 1], after[name][:t + 1], equal_nan=True), name


def test_standardizer_round_trips_through_json():
    x = np.random.default_rng(0).normal(5, 3, size=(100, 3))
    x[:, 2] = 7.0  # a constant column keeps std 1
    scaler = Standardizer.from_dict(json.loads(json.dumps(Standardizer.fit(x).to_dict())))
    assert np.allclose(scaler.transform(x).mean(0), 0, atol=1e-6) and scaler.std[2] == 1.0
    assert np.allclose(scaler.inverse(scaler.transform(x)), x, atol=1e-5)
    with pytest.raises(ValueError, match="NaN"):
        Standardizer.fit(np.array([[1.0], [np.nan]]))


def test_forecast_presets():
    sales, stock = get_preset("sales-simplernn"), get_preset("stock-lstm")
    assert sales.recurrent[0].kind == "simplernn" and sales.recurrent[0].units == 10 and sales.learning_rate == 0.001
    assert [r.units for r in stock.recurrent] == [16, 16] and stock.window == 5 and stock.learning_rate == 0.01


# --- train, export, serve -------------------------------------------------------------------


def _train_and_export(tmp_path_factory, preset, data, **changes):
    pytest.importorskip("keras")
    pytest.importorskip("tf2onnx")
    from kerasseq.export import export_bundle
    from kerasseq.train_forecast import train_forecaster

    out = tmp_path_factory.mktemp("forecast") / preset
    spec = get_preset(preset).replace(data=str(data), **changes)
    train_forecaster(preset, out=out, spec=spec, verbose=0)
    return out, export_bundle(out)


@pytest.fixture(scope="module")
def sales_bundle(tmp_path_factory):
    return _train_and_export(tmp_path_factory, "sales-simplernn", SALES_HEAD, epochs=30, patience=None)


@pytest.fixture(scope="module")
def stock_bundle(tmp_path_factory):
    history = _history_csv(tmp_path_factory.mktemp("prices") / "prices.csv")
    return _train_and_export(tmp_path_factory, "stock-lstm", history, epochs=3, train_start="2020-09-01",
                             train_end="2021-09-30", patience=None)


def test_sales_model_exports_native_and_serves_like_keras(sales_bundle):
    from kerasseq.models import load_model
    from kerasseq.serve import Forecaster

    out, report = sales_bundle
    assert report["passed"] and report["max_abs_diff"] <= 1e-5
    assert report["recurrent_nodes"] == {"RNN": 1} and report["loop_nodes"] == 0
    metrics = bundle.read_json(out / bundle.METRICS)
    assert metrics["test"]["target"] == "week W51 of 20 products" and metrics["epochs_run"] == 30
    for name in ("loss.png", "sales_series.png", "last_week.png", "MODEL_CARD.md"):
        assert (out / name).is_file()
    forecaster = Forecaster(out)
    rows = forecaster.forecast(SALES_HEAD)
    assert [r["product"] for r in rows[:2]] == ["P1", "P2"] and rows[0]["week"] == "W52"
    codes, values = read_weekly_sales(SALES_HEAD)
    scaler = forecaster.config["scaler"]
    keras_out = load_model(out / bundle.KERAS_MODEL)(scaler.transform(values[:, :, None]), training=False)
    want = scaler.inverse(np.asarray(keras_out)[:, -1, :])[:, 0]
    assert np.abs(np.array([r["forecast"] for r in rows]) - want).max() <= 1e-4  # sales units (std ~ 10)


def test_stock_model_forecasts_the_next_day_like_keras(stock_bundle, tmp_path):
    from kerasseq.models import load_model
    from kerasseq.serve import Forecaster
    from kerasseq.series.prepare import daily_feature_matrix, prices_from_targets, windows

    out, report = stock_bundle
    assert report["passed"] and report["recurrent_nodes"] == {"LSTM": 2} and report["loop_nodes"] == 0
    metrics = bundle.read_json(out / bundle.METRICS)
    assert metrics["test"]["naive_previous_close"]["r2"] < 1 and "model" in metrics["test"]
    forecaster = Forecaster(out)
    source = tmp_path / "prices.csv"
    _history_csv(source)
    rows = forecaster.forecast(source, every_day=True)
    assert rows[-1]["date"] == "next" and rows[-2]["date"] == "2021-11-30" and "close" in rows[-2]
    assert len(rows) == 700 - (warmup_days() + 4) + 1
    config = forecaster.config
    history = read_price_history(source)
    scaled = config["feature_scaler"].transform(np.nan_to_num(daily_feature_matrix(history, extra_day=True)))
    keras_out = load_model(out / bundle.KERAS_MODEL)(windows(scaled, 5, [700]), training=False)
    raw = config["target_scaler"].inverse(np.asarray(keras_out))[:, 0]
    want = prices_from_targets(raw, history["Close"][-1:], config["target"])[0]
    assert abs(rows[-1]["forecast_close"] - want) <= 1e-3 * max(1.0, abs(want) / 100)
    short = tmp_path / "short.csv"
    short.write_text("\n".join(source.read_text().splitlines()[:201]) + "\n")
    with pytest.raises(ValueError, match="the history has 200 days; forecasting needs at least 258"):
        forecaster.forecast(short)


def test_forecast_cli_runs_without_tensorflow(stock_bundle, sales_bundle, tmp_path):
    prices = _history_csv(tmp_path / "prices.csv", days=400)
    bad = tmp_path / "bad.csv"
    bad.write_text(prices.read_text().replace(",", ",x", 1).replace("Open", "Open", 1), encoding="utf-8")
    result = run_python(f"""
        from kerasseq.cli import main
        assert main(["forecast", {str(stock_bundle[0])!r}, "--csv", {str(prices)!r}]) == 0
        assert main(["forecast", {str(sales_bundle[0])!r}, "--csv", {str(SALES_HEAD)!r}, "--format", "json"]) == 0
        assert main(["forecast", {str(sales_bundle[0])!r}, "--csv", {str(prices)!r}]) == 1
        assert not any(m.split(".")[0] in ("tensorflow", "keras") for m in sys.modules)
    """)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "date,after,forecast_close,previous_close" and lines[1].startswith("next,2021-02-03,")
    assert json.loads(lines[2])["product"] == "P1" and len(lines) == 2 + 20
    assert "missing column(s) ['Product_Code', 'W0']" in result.stderr


@pytest.mark.parametrize("name, csv", [("sales-simplernn", SALES_HEAD), ("stock-lstm", DJIA_TAIL)])
def test_committed_forecast_bundles_answer_without_tensorflow(name, csv):
    artifact = ROOT / "artifacts" / name
    if not artifact.is_dir():
        pytest.skip(f"artifacts/{name} not built")
    result = run_python(f"""
        import json
        from kerasseq.serve import Forecaster
        print(json.dumps(Forecaster({str(artifact)!r}).forecast({str(csv)!r})))
        assert not any(m.split(".")[0] in ("tensorflow", "keras") for m in sys.modules)
    """)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    values = [r.get("forecast", r.get("forecast_close")) for r in rows]
    assert rows and all(np.isfinite(values))
    report = bundle.read_json(artifact / bundle.EXPORT_REPORT)
    assert report["passed"] and report["max_abs_diff"] <= 1e-5 and report["loop_nodes"] == 0
    if name == "stock-lstm":  # the next trading day after 2023-12-29, near the last close
        assert rows[0]["after"] == "2023-12-29" and abs(values[0] / 37689.54 - 1) < 0.05

"""CSV tables of numeric series: weekly sales per product and daily price histories.

Every defect is an error that names the file, the row (1 = the header) and the column: a missing
column, an empty, NaN, infinite or non-numeric cell, a value outside its domain (a price that is
not > 0, a negative volume or weekly sales figure, anything above MAX_VALUE), a bad, duplicate or
out-of-order date. Nothing is filled in silently.
"""

import csv
import datetime
import io
import math
import re
from pathlib import Path

import numpy as np

PRICE_COLUMNS = ("Open", "High", "Low", "Close", "Volume")
DATE_COLUMN = "Date"
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y")
PRODUCT_COLUMN = "Product_Code"
_WEEK = re.compile(r"W(\d+)")
MAX_VALUE = 1e15  # above any real price, volume or weekly sales; larger values overflow the float32 model input
POSITIVE = ("Open", "High", "Low", "Close")  # prices; volumes and weekly sales may be 0, never negative


def _rows(source):
    """(name, header, data rows) of a CSV path, or of CSV text given as a str containing a newline."""
    if isinstance(source, str) and "\n" in source:
        name, text = "<csv text>", source.removeprefix("\ufeff")  # a BOM, as utf-8-sig drops from files
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"CSV file not found: {path}")
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as e:
            raise ValueError(f"{path} is not UTF-8 text: {e}") from None
        name = str(path)
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if len(rows) < 2:
        raise ValueError(f"{name}: expected a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    for row_no, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ValueError(f"{name} row {row_no}: expected {len(header)} cells like the header, got {len(row)}")
    return name, header, rows[1:]


def _number(name, row_no, column, cell, positive=False):
    """The cell's value: finite, at most MAX_VALUE, > 0 when `positive`, else >= 0."""
    try:
        value = float(cell)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value):
        shown = "an empty cell" if not cell.strip() else repr(cell)
        raise ValueError(f"{name} row {row_no}, column '{column}': {shown} is not a finite number")
    if value <= 0 if positive else value < 0:
        raise ValueError(f"{name} row {row_no}, column '{column}': {cell.strip()} is not "
                         f"{'a positive price' if positive else 'a non-negative number'}")
    if value > MAX_VALUE:
        raise ValueError(f"{name} row {row_no}, column '{column}': {cell.strip()} is above {MAX_VALUE:g}, "
                         "the largest value a forecaster accepts")
    return value


def _date(name, row_no, cell):
    for fmt in DATE_FORMATS:
        try:
            return datetime.datetime.strptime(cell, fmt).date()
        except ValueError:
            pass
    raise ValueError(f"{name} row {row_no}, column '{DATE_COLUMN}': {cell!r} is not a date (YYYY-MM-DD or M/D/YYYY)")


def _require(name, header, columns):
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}; the header has {header}")


def read_price_history(source):
    """A daily history with columns Date (YYYY-MM-DD or M/D/YYYY), Open, High, Low, Close, Volume (any order,
    other columns ignored), oldest first or newest first (then reversed).

    Returns {"dates": [str], "Open": float64 array, ...}, oldest first.
    """
    name, header, rows = _rows(source)
    _require(name, header, (DATE_COLUMN, *PRICE_COLUMNS))
    at = {c: header.index(c) for c in (DATE_COLUMN, *PRICE_COLUMNS)}
    dates = []
    for row_no, row in enumerate(rows, start=2):
        dates.append(_date(name, row_no, row[at[DATE_COLUMN]].strip()))
    values = {c: np.array([_number(name, r, c, row[at[c]], c in POSITIVE) for r, row in enumerate(rows, start=2)])
              for c in PRICE_COLUMNS}
    order = np.arange(len(dates))
    if len(dates) > 1 and dates[0] > dates[-1]:  # newest first: read it backwards
        order = order[::-1]
    for a, b in zip(order[:-1], order[1:]):
        if dates[b] == dates[a]:
            raise ValueError(f"{name} rows {a + 2} and {b + 2}: duplicate date {dates[a]}")
        if dates[b] < dates[a]:
            raise ValueError(f"{name} row {b + 2}: date {dates[b]} is out of order after {dates[a]} (row {a + 2}); "
                             "dates must be sorted, oldest or newest first")
    result = {"dates": [dates[i].isoformat() for i in order]}
    result.update({c: values[c][order] for c in PRICE_COLUMNS})
    return result


def read_weekly_sales(source):
    """Weekly sales per product: columns Product_Code and W0, W1, ... Wn (consecutive; other
    columns such as MIN, MAX, Normalized i are ignored).

    Returns (product codes [str], float64 array [products, weeks]).
    """
    name, header, rows = _rows(source)
    _require(name, header, (PRODUCT_COLUMN, "W0"))
    weeks = sorted(int(m.group(1)) for h in header if (m := _WEEK.fullmatch(h)))
    expected = list(range(len(weeks)))
    if weeks != expected:
        missing = sorted(set(range(max(weeks) + 1)) - set(weeks))
        raise ValueError(f"{name}: week columns must run W0, W1, ... without gaps; missing "
                         f"{[f'W{w}' for w in missing]}")
    at = [header.index(f"W{w}") for w in weeks]
    code_at = header.index(PRODUCT_COLUMN)
    codes = [row[code_at].strip() for row in rows]
    for row_no, code in enumerate(codes, start=2):
        if not code:
            raise ValueError(f"{name} row {row_no}, column '{PRODUCT_COLUMN}': empty product code")
    values = np.array([[_number(name, r, f"W{w}", row[i]) for w, i in zip(weeks, at)]
                       for r, row in enumerate(rows, start=2)])
    return codes, values

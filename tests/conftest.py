import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("KERASSEQ_DATA", ROOT.parent / "shared" / "data"))
ARTIFACT = ROOT / "artifacts" / "uci-lstm"


@pytest.fixture(scope="session")
def uci():
    from kerasseq.data import load_uci

    return load_uci()


@pytest.fixture(scope="session")
def review_corpus(uci):
    """Real review text: the embedded UCI sentences plus the Amazon polarity sample when present."""
    import csv

    texts = list(uci.texts)
    amazon = SHARED_DATA / "amazon_polarity" / "amazon_reviews_5000.csv"
    if amazon.is_file():
        with open(amazon, encoding="utf-8", newline="") as f:
            texts += [row["review_text"] for row in csv.DictReader(f)][:2000]
    return texts

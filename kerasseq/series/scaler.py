"""Standardization fitted on training data only, saved as JSON and replayed at serve time."""

import numpy as np


class Standardizer:
    """x → (x - mean) / std per column (the last axis); a constant column keeps std 1."""

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, np.float64)
        self.std = np.asarray(std, np.float64)
        if self.mean.shape != self.std.shape or self.mean.ndim != 1:
            raise ValueError("mean and std must be 1-D and of the same length")
        if not (np.all(np.isfinite(self.mean)) and np.all(self.std > 0)):
            raise ValueError("mean must be finite and std positive")

    @classmethod
    def fit(cls, x):
        """Fit on `x` [..., columns]; every value must be finite."""
        x = np.asarray(x, np.float64).reshape(-1, np.shape(x)[-1])
        if not np.all(np.isfinite(x)):
            raise ValueError("cannot fit a scaler on NaN or infinite values")
        std = x.std(axis=0)
        return cls(x.mean(axis=0), np.where(std > 0, std, 1.0))

    def transform(self, x):
        return ((np.asarray(x, np.float64) - self.mean) / self.std).astype(np.float32)

    def inverse(self, x):
        return np.asarray(x, np.float64) * self.std + self.mean

    def to_dict(self):
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data):
        return cls(data["mean"], data["std"])

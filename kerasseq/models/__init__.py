"""Model specs, presets and the Keras builder (Keras is imported only by `build_model`)."""

from kerasseq.models.presets import DEFAULT_PRESET, PRESETS, get_preset
from kerasseq.models.spec import ModelSpec, Recurrent


def build_model(spec, name=None):
    """Build and compile the Keras model for `spec` (imports Keras on first use)."""
    from kerasseq.models.build import build_model as _build

    return _build(spec, name=name)


__all__ = ["DEFAULT_PRESET", "PRESETS", "ModelSpec", "Recurrent", "build_model", "get_preset"]

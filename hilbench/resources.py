"""Where the bench's shipped data lives: the DBC and signal map, the scenario suite, the models.

In a checkout they are the top-level ``dbc/`` and ``fixtures/`` folders; an
installed wheel carries the same files under ``hilbench/_data`` (symlinks in
the source tree, copied when the wheel is built), so ``pip install .`` works
as well as an editable install.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent


def _pick(checkout: Path, installed: Path) -> Path:
    return checkout if checkout.is_dir() else installed


def dbc_dir() -> Path:
    """The bench's DBCs and signal map: ``dbc/`` in a checkout, else the installed copy."""
    return _pick(_CHECKOUT / "dbc", _PACKAGE / "_data" / "dbc")


def scenarios_dir() -> Path:
    """The bundled scenario suite: ``fixtures/scenarios/`` in a checkout, else the installed copy."""
    return _pick(_CHECKOUT / "fixtures" / "scenarios", _PACKAGE / "_data" / "scenarios")


def models_dir() -> Path:
    """The bundled ONNX models and their manifest: ``fixtures/models/`` in a checkout, else the installed copy."""
    return _pick(_CHECKOUT / "fixtures" / "models", _PACKAGE / "_data" / "models")

"""Fixtures shared by the test modules."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

#: The reason every MXNet-oracle test gives when it skips.
MXNET_MISSING = "MXNet 1.9.1 not importable here"


@pytest.fixture(scope="session")
def mx() -> Any:
    """The ``mxnet`` module, imported once; skips when ``import mxnet`` raises anything
    (ImportError where it is not installed, AttributeError from MXNet 1.9.1 under numpy >= 1.24)."""
    try:
        with warnings.catch_warnings():  # MXNet 1.9.1's import warns about old numpy APIs
            warnings.simplefilter("ignore")
            import mxnet
    except Exception:
        pytest.skip(MXNET_MISSING)
    return mxnet

"""CoT fixtures: the hand-made KG of ``cot_helpers``, built once."""

from __future__ import annotations

from pathlib import Path

import pytest
from cot_helpers import build_kg


@pytest.fixture(scope="session")
def toy_kg(tmp_path_factory) -> Path:
    return build_kg(tmp_path_factory.mktemp("cot-kg"))

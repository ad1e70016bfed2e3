from __future__ import annotations

import pytest

from hcl_model import Module, load_module


@pytest.fixture(scope="session")
def module() -> Module:
    return load_module()

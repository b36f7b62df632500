from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.serving.helpers import (
    Client,
    make_client,
    numeric_estimator,
    numeric_metadata,
    regression_estimator,
    regression_metadata,
    served,
)


@pytest.fixture(scope="session")
def numeric_model():  # type: ignore[no-untyped-def]
    return served(numeric_metadata(), numeric_estimator())


@pytest.fixture
def client(numeric_model) -> Iterator[Client]:  # type: ignore[no-untyped-def]
    c = make_client(numeric_model, max_body_bytes=4096)
    yield c
    c.close()


@pytest.fixture
def reg_client() -> Iterator[Client]:
    c = make_client(served(regression_metadata(), regression_estimator()))
    yield c
    c.close()

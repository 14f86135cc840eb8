"""Fixtures of the simulator's tests. The shared ones live in :mod:`simulator.testing`
so that other teams' tests can use the same running simulator (see that module)."""

from __future__ import annotations

import pytest

from simulator.testing import (  # noqa: F401 (fixtures)
    SimulatorHandle,
    simulator,
    simulator_pki,
    simulator_server,
)


@pytest.fixture
def ebms(simulator: SimulatorHandle):  # noqa: F811 (the fixture imported above)
    """zeep ebMS client with SENDER_A's certificate (simulator reset for this test)."""
    return simulator.ebms_client()

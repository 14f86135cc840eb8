"""``Route``: the one shape ``Hooks.route`` takes, from a batch row, a connection row or
the results trigger's sandbox triples."""

import pytest

from bbx.domain.delivery import Route


def test_route_of_a_batch_row_and_of_a_connection_row():
    batch = {"connection_code": "pf_metaal", "code": None, "sandbox": False, "cpa_id": "cpa-1", "oin": "1" * 20}
    connection = {"code": "voorbeeld", "sandbox": True, "cpa_id": "cpa-2", "oin": "2" * 20}
    assert Route.of(batch) == Route("pf_metaal", False, "cpa-1", "1" * 20)
    assert Route.of(connection) == Route("voorbeeld", True, "cpa-2", "2" * 20)


def test_a_live_row_needs_no_cpa_id_but_a_sandbox_route_does():
    assert Route.of({"connection_code": "pf_metaal", "sandbox": False}) == Route("pf_metaal")
    with pytest.raises(ValueError, match="voorbeeld"):
        Route("voorbeeld", sandbox=True, oin="2" * 20)

import uuid

from bbx.domain import ids


def test_message_id_is_a_stable_uuid5():
    a = ids.message_id("voorbeeld", 12, "249566758")
    assert a == ids.message_id("voorbeeld", 12, "249566758")
    assert uuid.UUID(a).version == 5


def test_message_id_differs_per_input():
    base = ids.message_id("voorbeeld", 12, "249566758")
    assert base != ids.message_id("voorbeeld", 13, "249566758")
    assert base != ids.message_id("pf_metaal", 12, "249566758")
    assert base != ids.message_id("voorbeeld", 12, "111222333")


def test_batch_and_request_ids_do_not_collide_with_message_ids():
    assert ids.batch_id("voorbeeld", 12, 1) != ids.batch_id("voorbeeld", 12, 2)
    assert ids.batch_id("voorbeeld", 12, 1) != ids.message_id("voorbeeld", 12, "1")
    assert ids.subscription_request_id("voorbeeld", "2026-11-28", "full") != ids.subscription_request_id(
        "voorbeeld", "2026-11-29", "full"
    )

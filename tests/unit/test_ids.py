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


def test_ids_keep_their_issued_values():
    # Idempotency keys: these values were issued by the uuid.uuid5 implementation and must never change.
    assert ids.message_id("voorbeeld", 12, "249566758") == "36b0ec77-3235-5d02-9bd7-78d9551e5c94"
    assert ids.message_id("pf_metaal", 7, "111222333") == "19956f8d-e6b8-50b0-8ae8-eba6843040b3"
    assert ids.message_id("café", 12, "249566758") == "7987885b-1d0c-532c-b49c-4e79b1f6bcd5"
    assert ids.batch_id("voorbeeld", 12, 3) == "d83907b4-61c3-55d2-b122-fbe60cb65850"
    assert ids.subscription_request_id("voorbeeld", "2026-11-28", "full") == "b8eaeb81-6197-5b0b-8e56-5e481ee2a6d5"


def test_ids_equal_uuid5_over_many_inputs():
    for n in range(2000):
        parts = ("bericht", "voorbeeld", n % 37, f"{n:09d}")
        assert ids.message_id(*parts[1:]) == str(uuid.uuid5(ids.BBX_NAMESPACE, "\x1f".join(str(p) for p in parts)))


def test_message_ids_of_one_submission_equal_message_id():
    of = ids.message_ids("café", 12)
    assert of("249566758") == "7987885b-1d0c-532c-b49c-4e79b1f6bcd5"  # an issued value
    for n in range(2000):
        assert ids.message_ids("voorbeeld", n % 37)(f"{n:09d}") == ids.message_id("voorbeeld", n % 37, f"{n:09d}")


def test_message_ids_without_hyphens_are_the_same_ids():
    # add_rows COPYs the 32-hex form (PostgreSQL's uuid input takes it): the same uuid5
    for submission in (1, 12, 987654):
        of, compact = ids.message_ids("voorbeeld", submission), ids.message_ids("voorbeeld", submission, hyphens=False)
        for n in range(500):
            key = f"{n * 7919:09d}"
            assert of(key) == ids.message_id("voorbeeld", submission, key)
            assert compact(key) == uuid.UUID(of(key)).hex

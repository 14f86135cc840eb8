"""The demo's tenant receiver checks BBX-Signature from the documented scheme (docs/api.md),
written on its own (the simulator imports nothing from bbx): it must agree with what BBX signs."""

import time

from bbx.domain import callbacks
from simulator.callback_receiver import SIGNATURE_HEADER, verified


def test_the_receiver_accepts_what_bbx_signs_and_nothing_else():
    secret, body = callbacks.new_secret(), b'{"event":"submission.closed","counts":{"delivered":2}}'
    header = callbacks.signature(secret, body)
    assert SIGNATURE_HEADER == callbacks.HEADER
    assert verified(secret, body, header)
    assert not verified(secret, body + b" ", header)  # another body
    assert not verified("whsec_other", body, header)  # another secret
    assert not verified(secret, body, "v1=00")  # no timestamp
    old = callbacks.signature(secret, body, timestamp=int(time.time()) - 301)
    assert not verified(secret, body, old)  # older than five minutes

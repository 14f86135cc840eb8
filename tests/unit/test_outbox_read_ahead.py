"""``outbox.read_ahead``: the result file's chunks come through whole and in order, made in
the caller's language; a failing producer fails the upload; an upload that stops early
stops the producer's thread."""

from __future__ import annotations

import contextlib
import threading

import pytest

from bbx.delivery.outbox import read_ahead
from bbx.i18n import current_language, language


def test_every_chunk_in_order_and_in_the_callers_language():
    def chunks():
        for n in range(50):
            yield f"{n}:{current_language()}".encode()

    with language("en"):
        got = list(read_ahead(chunks(), depth=2))
    assert got == [f"{n}:en".encode() for n in range(50)]


def test_an_error_of_the_producer_reaches_the_consumer():
    def chunks():
        yield b"a"
        raise OSError("database went away")

    ahead = read_ahead(chunks())
    assert next(ahead) == b"a"
    with pytest.raises(OSError, match="database went away"):
        next(ahead)


def test_stopping_early_ends_the_producer():
    produced = []
    before = threading.active_count()

    def chunks():
        for n in range(10_000):
            produced.append(n)
            yield b"x"

    with contextlib.closing(read_ahead(chunks(), depth=1)) as ahead:
        assert next(ahead) == b"x"
    assert threading.active_count() == before
    assert len(produced) < 10_000

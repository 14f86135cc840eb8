"""Benchmark: build + validate GLOBE-R-BV-Request batches of standard-text messages.

Single process, so the figure is per core. Target: ≥ 20,000 messages/s including
validation against BBX's own XSD.

    .venv/bin/python bench/bench_globe_build.py            # N=50,000, batches of 1000
    .venv/bin/python bench/bench_globe_build.py -n 200000 --batch-size 500
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import UTC, datetime

from bbx.domain import bsn, ids
from bbx.domain.chunking import cut_batches
from bbx.domain.globe import BatchHeader, OutgoingMessage, build_batch, serialized_size

TEXT = (
    "Beste inwoner,\n\n"
    "Uw paspoort of identiteitskaart verloopt binnenkort. Vraag op tijd een nieuw document "
    "aan: maak een afspraak via de website van de gemeente of bel 14 020.\n"
    "Neem een recente pasfoto mee & uw huidige document.\n\n"
    "Met vriendelijke groet,\nGemeente Voorbeeld"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--messages", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()

    started = time.perf_counter()
    messages = [
        OutgoingMessage(
            message_id=ids.message_id("gemeente-voorbeeld", "bench", number),
            message_type_code="PAS2026",
            subject="Uw paspoort verloopt binnenkort",
            text=TEXT,
            reference="PAS-2026",
            bsn=number,
        )
        for number in bsn.generate(args.messages, seed=1)
    ]
    prepared = time.perf_counter() - started

    started = time.perf_counter()
    plan = list(
        cut_batches(
            ((m.message_id, serialized_size(m)) for m in messages), max_messages=args.batch_size
        )
    )
    planned = time.perf_counter() - started

    by_id = {m.message_id: m for m in messages}
    created = datetime.now(UTC)
    total_bytes = 0
    started = time.perf_counter()
    for batch in plan:
        header = BatchHeader(
            ids.batch_id("gemeente-voorbeeld", "bench", batch.number), created, "0" * 20
        )
        data = build_batch(header, [by_id[i] for i in batch.message_ids], validate=True)
        total_bytes += len(data)
    built = time.perf_counter() - started

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rate = args.messages / built
    print(f"messages            {args.messages:>12,}")
    print(f"batches             {len(plan):>12,} (≤ {args.batch_size} messages)")
    print(f"XML produced        {total_bytes / 2**20:>12,.1f} MB")
    print(f"prepare messages    {prepared:>12.2f} s (test data: BSNs, UUIDv5; not timed below)")
    print(f"size + cut batches  {planned:>12.2f} s ({args.messages / planned:,.0f} messages/s)")
    print(f"build + validate    {built:>12.2f} s")
    print(f"throughput          {rate:>12,.0f} messages/s on one core (target ≥ 20,000)")
    print(f"peak RSS            {peak_mb:>12,.0f} MB")


if __name__ == "__main__":
    main()

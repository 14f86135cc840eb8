"""Benchmark: stream a gzip-compressed subscription answer of N entries (default 1,000,000).

Shows entries/s and that peak RSS stays flat (the answer is never held as a tree).

    .venv/bin/python bench/bench_subscription_parse.py [-n 1000000]
"""

from __future__ import annotations

import argparse
import gzip
import io
import resource
import time

from bbx.domain.subscription import NS_SUBSCRIPTION, iter_subscription_answer


def answer(count: int) -> bytes:
    """A gzip answer; BSN-shaped numbers (the parser checks the format, not the 11-test)."""
    head = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ns0:AbonnementAntwoord xmlns:ns0="{NS_SUBSCRIPTION}">'
        "<VerzoekId>bench</VerzoekId><PeilDatum>2026-03-02T04:00:00Z</PeilDatum><Abonnementen>"
    ).encode()
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6) as gz:
        gz.write(head)
        for start in range(0, count, 10_000):
            gz.write(
                "".join(
                    f"<Abonnement><BSN>{100_000_000 + i:09d}</BSN><Status>Actief</Status>"
                    "<DatumIngang>2020-01-01</DatumIngang></Abonnement>"
                    for i in range(start, min(start + 10_000, count))
                ).encode()
            )
        gz.write(b"</Abonnementen></ns0:AbonnementAntwoord>")
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--entries", type=int, default=1_000_000)
    args = parser.parse_args()

    data = answer(args.entries)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    header, entries = iter_subscription_answer(io.BytesIO(data))
    count = sum(1 for _ in entries)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"entries             {count:>12,} (request {header.request_id})")
    print(f"gzip answer         {len(data) / 2**20:>12,.1f} MB")
    print(f"parse               {elapsed:>12.2f} s ({count / elapsed:,.0f} entries/s)")
    print(f"peak RSS            {peak:>12,.0f} MB (before parsing: {rss_before:,.0f} MB)")


if __name__ == "__main__":
    main()

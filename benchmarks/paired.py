"""Paired batches: two strategies on the same seeded batches, one after the other, batch by batch.

Why: on this 2-core machine one batch's lag × requests varies by ±15–20 % from run to run (the
same batch traced twice gave 10.0 and 15.5 at speed 7), so the three runs of ``run.py`` can show a
strategy ahead by chance. Here strategy A and strategy B meet batch *k* back to back (the
simulator seeded *k*: the same job lengths), for many *k*, and which of them runs first
alternates. A strategy is ahead only when it is ahead on most batches *and* in the median;
``benchmarks.run`` judges the Tracker's first batch so against its closest baseline
(``polling.paired_products``; ``README.md``, "Issue 18").

    python -m benchmarks.paired                                  # mjwidgets vs stepped, 15 batches
    python -m benchmarks.paired --a mjwidgets --b trueai-2s --seeds 8 --speed 1
"""

from __future__ import annotations

import argparse

from .common import median
from .polling import paired_products


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", default="mjwidgets", help="the strategy judged")
    parser.add_argument("--b", default="stepped", help="the strategy it is judged against")
    parser.add_argument("--seeds", type=int, default=15, help="batches (seeds 1 … this)")
    parser.add_argument("--speed", type=float, default=7.0)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--flavor", default="plus")
    args = parser.parse_args(argv)
    products = paired_products(args.a, args.b, args.seeds, args.speed, args.n, args.flavor)
    ours, theirs = products[args.a], products[args.b]
    ahead = sum(x < y for x, y in zip(ours, theirs, strict=True))
    print(
        f"{args.a}: lag×req median {median(ours):g} against {args.b}'s {median(theirs):g}; "
        f"ahead on {ahead} of {len(ours)} batches"
    )


if __name__ == "__main__":
    main()

"""Command line: `mjwidgets sim` runs the simulator, `mjwidgets demo` walks the workflow on it."""

from __future__ import annotations

import argparse
import json
import sys

from . import sim


def _sim_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim", help="run the Midjourney-proxy simulator in the foreground")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    p.add_argument("--flavor", default="plus", choices=sorted(sim.FLAVORS))
    p.add_argument(
        "--speed",
        type=float,
        default=sim.DEMO_SPEED,
        help="time scale: a ~55 s fast job takes 55/speed seconds",
    )
    p.add_argument(
        "--secret", default=None, help="require this API key, read the way the flavour reads it"
    )
    p.add_argument(
        "--auth",
        default="flavor",
        choices=("flavor", "any"),
        help="'flavor': the server's own header rule (default); 'any': every style",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="checks no real server makes: mask size/format, modal status, --zoom, customIds",
    )
    p.add_argument(
        "--image-urls",
        action="store_true",
        help="trueai's per-tile imageUrls (its EnableFillOfficialCdn), served under /cdn/",
    )
    p.add_argument(
        "--seed", type=int, default=None, help="fix task ids and job hashes (fresh by default)"
    )
    p.add_argument("--remix", action="store_true", help="variations, reroll and pan ask a modal")
    p.add_argument("--concurrency", type=int, default=3)
    p.add_argument("--queue-size", type=int, default=10)
    p.add_argument(
        "--image-host", action="store_true", help="serve images from a second port, like a CDN"
    )
    p.add_argument(
        "--faults", default=None, help="JSON fault settings, e.g. '{\"error_rate\": 0.2}'"
    )
    p.add_argument(
        "--account",
        default="official",
        choices=["official", "youchuan", "discord"],
        help="Midjourney account behind the proxy: discord refuses edits and retexture",
    )


def _demo_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="JupyterLab on the quick-start notebook, on the simulator")
    p.add_argument(
        "--script",
        action="store_true",
        help="walk imagine → U2 → Vary (Region) as a script and save the images",
    )
    p.add_argument("--out", default="mjwidgets-demo", help="folder for the script's images")
    p.add_argument("--dir", default="mjwidgets-notebooks", help="folder for the notebooks")
    p.add_argument("--port", type=int, default=8888)
    p.add_argument("--no-browser", action="store_true", help="do not open a web browser")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mjwidgets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _sim_parser(sub)
    _demo_parser(sub)
    args, extra = parser.parse_known_args(argv)
    if args.command == "sim":
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return _run_sim(args)
    from .demo import run_demo, run_lab_demo

    if args.script:
        return run_demo(args.out)
    return run_lab_demo(
        args.dir, port=args.port, open_browser=not args.no_browser, extra_args=extra
    )


def _run_sim(args: argparse.Namespace) -> int:
    try:
        faults = json.loads(args.faults) if args.faults else None
        server = sim.create(
            host=args.host,
            port=args.port,
            speed=args.speed,
            flavor=args.flavor,
            secret=args.secret,
            remix=args.remix,
            concurrency=args.concurrency,
            queue_size=args.queue_size,
            image_host=args.image_host,
            faults=faults,
            account=args.account,
            auth=args.auth,
            strict=args.strict,
            image_urls=args.image_urls,
            seed=args.seed,
        )
    except (ValueError, OSError) as exc:
        print(f"mjwidgets sim: {exc}", file=sys.stderr)
        return 2
    print(f"mjwidgets simulator ({args.flavor}, speed {args.speed:g}) at {server.url}", flush=True)
    print(
        f"  try: curl -s -X POST {server.url}/mj/submit/imagine "
        "-H 'Content-Type: application/json' -d '{\"prompt\": \"a red fox in snow\"}'",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

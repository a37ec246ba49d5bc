"""Which ``arssr upsample`` method for which kind of request, on the held-out validation slabs.

Run: ``python benchmarks/cli_method_choice.py [--profile cpu]``; writes nothing, prints the table
that ``arssr_core.study.advice.method_choice`` computes from notebook 09's
``results/<profile>/tables/09_validation_slabs.csv`` (four held-out slabs: MNI152, the CAT12
0.5 mm template, the ROBEX head, MRHead; never the test subject). Per kind of request
(isotropic x3; thick slices 1x1x3 and 1x1x5) and method: the cells, the mean PSNR (dB), the
mean and worst gain over cubic, the mean gain over the recommended method, the cells below
cubic by more than 0.1 dB, and the advice. The CLI's default and its ``--help`` follow it
(``tests/test_advice.py`` checks). The printed table is kept in
``benchmarks/results/cli_method_choice.txt``.
"""

from __future__ import annotations

import argparse

import pandas as pd

from arssr_core.study.advice import method_choice, validation_table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="cpu")
    args = ap.parse_args()
    choice = method_choice(validation_table(args.profile))
    with pd.option_context("display.width", 200, "display.max_colwidth", 90, "display.float_format", "{:.2f}".format):
        print(f"# PSNR (dB) on the held-out validation slabs, results/{args.profile}/tables/09_validation_slabs.csv")
        print(choice.drop(columns="advice").to_string(index=False))
        print()
        print(choice[["kind", "method", "advice"]].to_string(index=False))


if __name__ == "__main__":
    main()

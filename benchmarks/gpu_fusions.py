"""How XLA runs the full U-net's convolutions on a GPU: one bf16 call at batch 32, its optimised HLO dumped
(run with XLA_FLAGS="--xla_dump_to=DIR --xla_dump_hlo_as_text"), and the cuDNN custom calls in it counted by
kind: convolutions with bias and activation fused into their epilogue against bare ones, whose bias and
ReLU cost extra passes over the activations.

    XLA_FLAGS="--xla_dump_to=DIR --xla_dump_hlo_as_text" python benchmarks/gpu_fusions.py DIR
"""
import argparse
import collections
import re
from pathlib import Path

import numpy as np

from mpipaint.model.jax_unet import JaxUnet
from random_bundle import random_weights, unet_architecture

CUSTOM_CALL = re.compile(r'custom_call_target="([^"]+)"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dump", type=Path, help="the --xla_dump_to directory")
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    architecture = unet_architecture(512)
    net = JaxUnet(architecture, random_weights(architecture), "bf16")
    net.launch(np.zeros((args.batch, 512, 512, 1), np.float32)).block_until_ready()
    optimised = sorted(args.dump.glob("*jit_apply*after_optimizations.txt"))
    if not optimised:
        raise SystemExit(f"no optimised HLO of the net in {args.dump}: was XLA_FLAGS set?")
    calls = collections.Counter(CUSTOM_CALL.findall(optimised[-1].read_text()))
    print(f"{optimised[-1].name}: custom calls by target\n| target | count |\n| --- | --- |")
    for target, count in calls.most_common():
        print(f"| {target} | {count} |")


if __name__ == "__main__":
    main()

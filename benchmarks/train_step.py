"""Training-step cost of the default ConvFM by batch size (why batch_size = 1024).

    python benchmarks/train_step.py [--threads 2]

Prints ms per step and rows per second for batch sizes 32..4096, measured side by side
in one run on synthetic inputs of the demo's vocabulary sizes.
"""

from __future__ import annotations

import argparse
import time

import torch

from ml.config import ModelConfig
from ml.features import ModelInput, fields_of
from ml.model import ConvFM

VOCAB_SIZES = {"user": 2002, "job": 1400, "skill": 150, "city": 18, "region": 14, "company": 74}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--sizes", default="32,128,512,1024,2048,4096")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = ConvFM(VOCAB_SIZES, ModelConfig())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    n_cat, n_bag, n_dense = (len(fields_of(k)) for k in ("categorical", "bag", "dense"))
    print(f"threads={args.threads}  default ConvFM")
    print(f"{'batch':>6} {'ms/step':>9} {'rows/s':>9} {'vs 32':>6}")
    base = None
    for size in (int(s) for s in args.sizes.split(",")):
        x = ModelInput(
            torch.randint(1, 14, (size, n_cat)),
            torch.randint(0, 150, (size, n_bag, 8)),
            torch.rand(size, n_dense),
        )
        y = torch.randint(0, 2, (size,)).float()

        def step(x=x, y=y):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        for _ in range(3):
            step()
        n = max(5, 20_000 // size)
        start = time.perf_counter()
        for _ in range(n):
            step()
        seconds = (time.perf_counter() - start) / n
        rate = size / seconds
        base = base or rate
        print(f"{size:>6} {seconds * 1000:>9.1f} {rate:>9.0f} {rate / base:>5.1f}x")


if __name__ == "__main__":
    main()

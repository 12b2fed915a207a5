"""CPU inference throughput: eager PyTorch against ONNX Runtime, batch 1 and 16 (issue 5's speed figures).

For the paper's ResNet-50 U-Net and the compact model (randomly initialised:
speed does not depend on the weights), prints slices per second for each
backend and batch size (network forward on 224 x 224 inputs plus the
pre- and post-processing of ``Segmenter.predict`` on 256 x 256 slices),
median of ``--repeats`` runs, and the ONNX Runtime / eager ratio.  Also the
training throughput (images per second, forward + backward + Adam step).

Usage: python benchmarks/inference_speed.py [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from timing import median_seconds

from myomap.model.inference import OnnxSegmenter, Segmenter, default_meta, export_onnx, save_model_file
from myomap.model.network import build_network
from myomap.model.registry import get_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=["unet-resnet50", "unet-mobilenet"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    slices = [rng.gamma(2.0, 400.0, (256, 256)).astype(np.float32) for _ in range(16)]
    print(f"== inference, CPU, {args.threads} threads, slices per second (median of {args.repeats}) ==")
    print(f"{'model':<16}{'backend':<14}{'batch 1':>10}{'batch 16':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            spec = get_spec(name)
            model_file = Path(tmp) / f"{name}.pt"
            save_model_file(model_file, build_network(spec).eval(), default_meta(spec, 224))
            onnx_file = export_onnx(model_file, Path(tmp) / f"{name}.onnx")
            rates = {}
            for backend, segmenter in (
                ("pytorch", Segmenter.from_file(model_file)),
                ("onnxruntime", OnnxSegmenter.from_file(onnx_file, threads=args.threads)),
            ):
                one = median_seconds(lambda: segmenter.predict(slices[:1], batch_size=1), args.repeats)
                many = median_seconds(lambda: segmenter.predict(slices, batch_size=16), args.repeats)
                rates[backend] = (1 / one, 16 / many)
                print(f"{name:<16}{backend:<14}{1 / one:>10.2f}{16 / many:>10.2f}")
            print(
                f"{name:<16}{'ratio ORT/eager':<14}{rates['onnxruntime'][0] / rates['pytorch'][0]:>10.2f}{rates['onnxruntime'][1] / rates['pytorch'][1]:>10.2f}"
            )

    print("\n== training throughput, CPU, batch 16, 224 x 224 (forward + backward + Adam) ==")
    for name in args.models:
        network = build_network(get_spec(name))
        optimiser = torch.optim.Adam(network.parameters())
        x, y = torch.randn(16, 1, 224, 224), torch.randint(0, 3, (16, 224, 224))

        def step() -> None:
            loss = torch.nn.functional.cross_entropy(network(x), y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()

        seconds = median_seconds(step, max(2, args.repeats // 2))
        print(f"{name:<16}{16 / seconds:>8.2f} images/s")


if __name__ == "__main__":
    main()

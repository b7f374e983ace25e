"""PyTorch reference for `npm run bench -- torch`: a Bi-Real-18 training step on the CPU.

The network follows the authors' PyTorch code (liuzechun/Bi-Real-net, BiReal18_34/birealnet.py):
real stem (7x7/2 conv, BN, 3x3/2 max-pool, no ReLU), 16 blocks out = BN(BinConv3x3(sign(x))) +
shortcut(x), shortcut = AvgPool 2x2 -> 1x1 conv -> BN where the shape changes, ApproxSign for
activations and the magnitude-aware scaled sign for weights (the paper's gradient alpha*1{|W|<1}).

Prints one JSON line per input size: {"size", "images_per_second", "forward_ms", "backward_ms",
"optimizer_ms", "threads", "torch"}. Usage: python3 torch_bireal.py --sizes 64,128,224
--batch 32 --steps 3 --warmup 3 --threads 1
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class ApproxSign(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return dy * torch.clamp(2 - 2 * x.abs(), min=0)


class MagnitudeAwareSign(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w):
        alpha = w.abs().mean(dim=(1, 2, 3), keepdim=True)
        ctx.save_for_backward(w, alpha)
        return alpha * torch.where(w >= 0, torch.ones_like(w), -torch.ones_like(w))

    @staticmethod
    def backward(ctx, dy):
        w, alpha = ctx.saved_tensors
        return dy * alpha * (w.abs() < 1).to(dy.dtype)


class BinaryConv(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride = stride
        self.weight = nn.Parameter(torch.randn(cout, cin, 3, 3) * (2 / (9 * cin)) ** 0.5)

    def forward(self, x):
        return F.conv2d(ApproxSign.apply(x), MagnitudeAwareSign.apply(self.weight), stride=self.stride, padding=1)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv = BinaryConv(cin, cout, stride)
        self.bn = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(
                nn.AvgPool2d(2, stride), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        return self.bn(self.conv(x)) + (x if self.down is None else self.down(x))


class BiReal18(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.MaxPool2d(3, 2, 1)
        )
        blocks, cin = [], 64
        for stage, cout in enumerate([64, 128, 256, 512]):
            for i in range(4):
                blocks.append(Block(cin, cout, 2 if i == 0 and stage > 0 else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def bench(size, batch, steps, warmup):
    torch.manual_seed(0)
    model = BiReal18(10)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images = torch.randn(batch, 3, size, size)
    labels = torch.randint(0, 10, (batch,))
    forward, backward, update = [], [], []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(images), labels)
        t1 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        t2 = time.perf_counter()
        optimizer.step()
        t3 = time.perf_counter()
        if i >= warmup:
            forward.append(t1 - t0)
            backward.append(t2 - t1)
            update.append(t3 - t2)
    median = lambda v: sorted(v)[len(v) // 2]
    f, b, o = median(forward), median(backward), median(update)
    return {
        "size": size,
        "images_per_second": batch / (f + b + o),
        "forward_ms": 1000 * f,
        "backward_ms": 1000 * b,
        "optimizer_ms": 1000 * o,
    }


def cpu_capability():
    """ATen's vector kernels (e.g. AVX2); its convolutions run on oneDNN, which
    ONEDNN_MAX_CPU_ISA caps as it caps bireal's (both load Debian's libdnnl)."""
    for line in torch.__config__.show().splitlines():
        if "CPU capability usage:" in line:
            return line.split(":", 1)[1].strip()
    return "unknown"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="64,128,224")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for size in map(int, args.sizes.split(",")):
        result = bench(size, args.batch, args.steps, args.warmup)
        result.update(threads=args.threads, torch=f"{torch.__version__} (ATen {cpu_capability()})")
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

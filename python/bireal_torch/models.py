"""The model registry of src/models/index.ts in PyTorch: same topology, layer names and padding.

Every module is named as the tfjs layer it mirrors (`stem_conv`, `s2_bn3`, `s2_down_conv`, `fc`,
...), so a state dict key is `<tfjs layer>.<weight>`; see `bireal_torch.weights` for the mapping.
Models take NHWC float32 images, as bireal's do, and return logits. Convolutions and pooling pad
as TensorFlow's 'same' does: an output of ceil(size / stride), the padding split with the extra
pixel at the bottom and right. BatchNorm follows tfjs-layers (momentum 0.9, epsilon 1e-5, the
moving variance from the biased batch variance).
"""
import math

import torch
import torch.distributed.nn.functional as dist_fn
import torch.nn as nn
import torch.nn.functional as F

from .binarize import BINARIZERS, ESTIMATORS, binarize_activation, binarize_weight, check_name

SPECS = {
    "bireal18": ("bireal", (2, 2, 2, 2), "Bi-Real-18 (1-bit)"),
    "bireal34": ("bireal", (3, 4, 6, 3), "Bi-Real-34 (1-bit)"),
    "resnet18": ("real", (2, 2, 2, 2), "ResNet-18 (real-valued)"),
    "resnet34": ("real", (3, 4, 6, 3), "ResNet-34 (real-valued)"),
    "plain-binary-resnet18": (
        "plain-binary",
        (2, 2, 2, 2),
        "1-bit ResNet-18 without per-conv shortcuts (the paper baseline)",
    ),
    "plain-binary-resnet34": ("plain-binary", (3, 4, 6, 3), "1-bit ResNet-34 without per-conv shortcuts"),
}
MODEL_NAMES = tuple(SPECS)
STAGE_CHANNELS = (64, 128, 256, 512)
LEAKY_CLIP_SLOPE = 0.1
DEFAULTS = {
    "classes": 1000,
    "inputSize": 224,
    "inputChannels": 3,
    "smallInput": False,
    "width": 1,
    "activation": "relu",
    "block": "basic",
    "estimator": "approx-sign",
    "binarizer": "magnitude-aware",
}
CHOICES = {
    "activation": ("relu", "clip", "leaky-clip"),
    "block": ("basic", "bireal"),
    "estimator": ESTIMATORS,
    "binarizer": BINARIZERS,
}


def same_padding(size, kernel, stride):
    """TensorFlow's 'same' padding of one axis: (before, after), the odd pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pad_same(x, kernel, stride, value=0.0):
    """Pads an NCHW tensor as 'same' does for this kernel and stride."""
    top, bottom = same_padding(x.shape[2], kernel, stride)
    left, right = same_padding(x.shape[3], kernel, stride)
    return F.pad(x, (left, right, top, bottom), value=value)


class Conv2d(nn.Conv2d):
    """A bias-free conv with 'same' padding (symmetric padding goes to the conv itself)."""

    def __init__(self, cin, cout, kernel, stride):
        super().__init__(cin, cout, kernel, stride, padding=0, bias=False)
        nn.init.trunc_normal_(self.weight, std=math.sqrt(2 / (cin * kernel * kernel)))  # heNormal

    def kernel(self):
        """The weights the convolution uses (binarized in BinaryConv2d)."""
        return self.weight

    def forward(self, x):
        k, s = self.kernel_size[0], self.stride[0]
        pads = same_padding(x.shape[2], k, s) + same_padding(x.shape[3], k, s)
        if pads[0] == pads[1] == pads[2] == pads[3]:
            return F.conv2d(x, self.kernel(), None, s, pads[0])
        return F.conv2d(pad_same(x, k, s), self.kernel(), None, s)


class BinaryConv2d(Conv2d):
    """bireal's BinaryConv2D: conv(sign(x), binarized W), zero padding after the sign."""

    def __init__(self, cin, cout, stride, estimator, binarizer):
        super().__init__(cin, cout, 3, stride)
        bound = math.sqrt(6 / (9 * (cin + cout)))  # glorotUniform, as BinaryConv2D
        nn.init.uniform_(self.weight, -bound, bound)
        self.estimator = check_name("estimator", estimator, ESTIMATORS)
        self.binarizer = check_name("binarizer", binarizer, BINARIZERS)

    def kernel(self):
        return binarize_weight(self.weight, self.binarizer)

    def forward(self, x):
        return super().forward(binarize_activation(x, self.estimator))


class BatchNorm(nn.BatchNorm2d):
    """tfjs-layers' BatchNormalization. With `sync` set (the trainer does, for several processes)
    training takes the mean and variance over the batches of all processes, as bireal's
    data-parallel replicas and PyTorch's SyncBatchNorm do; this version also runs on gloo (CPU)."""

    def __init__(self, channels):
        super().__init__(channels, eps=1e-5, momentum=0.1)
        self.sync = False

    def forward(self, x):
        if not self.training:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0, self.eps)
        dims = (0, 2, 3)
        total = dist_fn.all_reduce if self.sync else (lambda t: t)
        # Two passes, as tf.moments: the sum (with the example count last), then the squares.
        sums = total(torch.cat([x.sum(dims), x.new_full((1,), x.numel() // x.shape[1])]))
        mean, count = sums[:-1] / sums[-1], sums[-1]
        centred = x - mean[None, :, None, None]
        variance = total((centred * centred).sum(dims)) / count
        with torch.no_grad():
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(variance, self.momentum)
        scale = self.weight * torch.rsqrt(variance + self.eps)
        return centred * scale[None, :, None, None] + self.bias[None, :, None, None]


def activation(x, name):
    """ReLU, clip(x, -1, 1) or the authors' leaky clip (slope 0.1 outside [-1, 1])."""
    if name == "relu":
        return F.relu(x)
    clipped = torch.clamp(x, -1, 1)
    return clipped if name == "clip" else clipped + LEAKY_CLIP_SLOPE * (x - clipped)


class Net(nn.Module):
    """A network of the registry; build it with `create_model`."""

    def __init__(self, name, options):
        super().__init__()
        kind, blocks, _ = SPECS[name]
        self.name = name
        o = self.options = options
        self.real = kind == "real"
        self.real_basic = self.real and o["block"] == "basic"
        # Bi-Real's topology: a shortcut around every 3x3 conv (binary, or real with block 'bireal').
        self.per_conv = kind == "bireal" or (self.real and not self.real_basic)
        channels = max(1, round(64 * o["width"]))
        small = o["smallInput"]
        self.stem_conv = Conv2d(o["inputChannels"], channels, 3 if small else 7, 1 if small else 2)
        self.stem_bn = BatchNorm(channels)
        # Each unit: its (conv, bn) names (one with per-conv shortcuts, else two), the shortcut's
        # stage prefix (None: identity) and the stride.
        self.units = []
        for index, count in enumerate(blocks):
            stage = f"s{index + 1}"
            filters = max(1, round(STAGE_CHANNELS[index] * o["width"]))
            convs = 0
            for block in range(count):
                stride = 2 if block == 0 and index > 0 else 1
                for s in (stride, 1) if self.per_conv else (stride,):
                    down = stage if s > 1 or channels != filters else None
                    if down is not None:
                        # avg-pool 2x2/s -> 1x1 conv (Bi-Real), or a strided 1x1 conv (ResNet).
                        self.add_module(f"{stage}_down_conv", Conv2d(channels, filters, 1, s if self.real_basic else 1))
                        self.add_module(f"{stage}_down_bn", BatchNorm(filters))
                    names = []
                    for cin, cs in [(channels, s)] if self.per_conv else [(channels, s), (filters, 1)]:
                        convs += 1
                        conv, bn = f"{stage}_conv{convs}", f"{stage}_bn{convs}"
                        if self.real:
                            self.add_module(conv, Conv2d(cin, filters, 3, cs))
                        else:
                            self.add_module(conv, BinaryConv2d(cin, filters, cs, o["estimator"], o["binarizer"]))
                        self.add_module(bn, BatchNorm(filters))
                        names.append((conv, bn))
                    self.units.append((names, down, s))
                    channels = filters
        self.fc = nn.Linear(channels, o["classes"])
        bound = math.sqrt(6 / (channels + o["classes"]))  # glorotUniform and a zero bias, as tfjs
        nn.init.uniform_(self.fc.weight, -bound, bound)
        nn.init.zeros_(self.fc.bias)

    def shortcut(self, x, prefix, stride):
        if prefix is None:
            return x
        if not self.real_basic and stride > 1:
            x = F.avg_pool2d(x, stride, stride, ceil_mode=True)  # 'same': the divisor skips padding
        return getattr(self, f"{prefix}_down_bn")(getattr(self, f"{prefix}_down_conv")(x))

    def conv_bn(self, x, names):
        conv, bn = names
        return getattr(self, bn)(getattr(self, conv)(x))

    def act(self, x):
        return activation(x, self.options["activation"])

    def forward(self, images):
        """Logits [n, classes] of NHWC images [n, size, size, channels]."""
        o = self.options
        expected = (o["inputSize"], o["inputSize"], o["inputChannels"])
        if images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"expected NHWC images [n, {', '.join(map(str, expected))}], got {list(images.shape)}")
        x = self.stem_bn(self.stem_conv(images.permute(0, 3, 1, 2)))
        if self.real_basic:
            x = self.act(x)
        if not o["smallInput"]:
            x = F.max_pool2d(pad_same(x, 3, 2, -math.inf), 3, 2)
        for names, down, stride in self.units:
            shortcut = self.shortcut(x, down, stride)
            if self.per_conv:  # out = BN(conv(sign(x) or act(x))) + shortcut(x)
                x = self.conv_bn(self.act(x) if self.real else x, names[0]) + shortcut
            elif self.real_basic:
                y = self.act(self.conv_bn(x, names[0]))
                x = self.act(self.conv_bn(y, names[1]) + shortcut)
            else:
                x = self.conv_bn(self.conv_bn(x, names[0]), names[1]) + shortcut
        return self.fc(x.mean(dim=(2, 3)))


def model_options(options):
    """bireal's ModelOptions (camelCase, as recipes and deploy files write them) with defaults
    filled in; unknown keys and values raise ValueError."""
    unknown = set(options) - set(DEFAULTS) - {"seed"}
    if unknown:
        raise ValueError(f"unknown model option(s) {', '.join(sorted(unknown))}; valid: {', '.join(DEFAULTS)}")
    o = {**DEFAULTS, **{k: v for k, v in options.items() if k != "seed"}}
    for key, valid in CHOICES.items():
        check_name(key, o[key], valid)
    for key in ("classes", "inputSize", "width"):
        if not (isinstance(o[key], (int, float)) and o[key] > 0):
            raise ValueError(f"{key} must be positive, got {o[key]!r}")
    return o


def create_model(name, options=None):
    """Builds registry model `name` with bireal's ModelOptions (`seed` seeds the initialisation)."""
    check_name("model", name, MODEL_NAMES)
    options = options or {}
    if options.get("seed") is not None:
        torch.manual_seed(options["seed"])
    return Net(name, model_options(options))

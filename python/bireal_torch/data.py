"""The datasets of src/data/open.ts for PyTorch: ImageNet-layout folders (`imagenette:SPLIT`,
`imagenet:SPLIT` from env BIREAL_IMAGENET, `folder:PATH:SPLIT`) and the CIFAR-10 binaries
(`cifar10:train|test`), with bireal's augmentation (src/data/augment.ts): RandomResizedCrop over
`scale` and aspect ratios 3/4-4/3 or the CIFAR pad-4 crop, a horizontal flip and AlexNet's PCA
lighting for training; for evaluation the shorter side resized to imageSize * resizeRatio and a
centre crop. Resampling is PIL's bilinear (antialiased when shrinking), as bireal's. Images come
out NHWC float32, normalised by the dataset's mean and std; random choices follow (seed, epoch,
index), but from Python's generators, not bireal's.
"""
import json
import math
import os
import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".png")
PHOTOS = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225), "resizeRatio": 256 / 224}
CIFAR10 = {"mean": (0.4914, 0.4822, 0.4465), "std": (0.247, 0.2435, 0.2616), "resizeRatio": 1}
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_FILES = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
SPLITS = {"imagenette": ("train", "val"), "imagenet": ("train", "val"), "cifar10": ("train", "test")}
PAD = 4
EIGVAL = np.array([0.2175, 0.0188, 0.0045])
EIGVEC = np.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.814], [-0.5836, -0.6948, 0.4203]])


class DataError(ValueError):
    """A dataset that cannot be opened or read; the message says what is wrong and where."""


def cache_dir():
    """env BIREAL_CACHE, else this checkout's data/cache (where `bireal data fetch` puts data)."""
    return Path(os.environ.get("BIREAL_CACHE") or ROOT / "data" / "cache")


def js_round(x):
    """JavaScript's Math.round (halves go up), as bireal rounds sizes."""
    return math.floor(x + 0.5)


class Split:
    """A labelled split: `classes` (ids in label order), `labels` (names), `size`, `targets`,
    normalisation stats, and `image(index)`, a PIL image."""

    def __init__(self, spec, classes, labels, targets, stats, paths=None, pixels=None):
        self.id, self.classes, self.labels = spec, list(classes), list(labels)
        self.targets, self.paths, self.pixels = targets, paths, pixels
        self.mean, self.std, self.resize_ratio = stats["mean"], stats["std"], stats["resizeRatio"]
        self.size = len(targets)

    def keep(self, names):
        """The examples of the classes `names` (ids or labels) only, relabelled 0, 1, ... in that
        order, as a recipe's `dataset.classes` asks."""
        chosen = []
        for name in names:
            index = self.classes.index(name) if name in self.classes else self.labels.index(name) if name in self.labels else -1
            if index < 0:
                raise DataError(f"{self.id} has no class '{name}'; its classes: {', '.join(self.classes)}")
            if index in chosen:
                raise DataError(f"{self.id}: class '{self.classes[index]}' is named twice")
            chosen.append(index)
        relabel = np.full(len(self.classes), -1)
        relabel[chosen] = np.arange(len(chosen))
        targets = relabel[self.targets]
        kept = np.flatnonzero(targets >= 0)
        stats = {"mean": self.mean, "std": self.std, "resizeRatio": self.resize_ratio}
        return Split(
            self.id,
            [self.classes[i] for i in chosen],
            [self.labels[i] for i in chosen],
            targets[kept],
            stats,
            paths=None if self.paths is None else [self.paths[i] for i in kept],
            pixels=None if self.pixels is None else self.pixels[kept],
        )

    def image(self, index):
        if self.pixels is not None:
            return Image.fromarray(self.pixels[index])
        try:
            with Image.open(self.paths[index]) as image:
                return image.convert("RGB")
        except OSError as error:
            raise DataError(f"{self.paths[index]}: not a decodable JPEG or PNG image ({error})") from None


def _folders(path):
    return sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")) if path.is_dir() else []


def open_folder(spec, root, split, labels=None):
    """ROOT/SPLIT/<class>/<image>: classes are the sorted class folders of this split and of
    train/val/test beside it (so labels agree across splits); an empty class folder is an error."""
    root = Path(root)
    splits = _folders(root)
    if not root.is_dir() or split not in splits:
        raise DataError(f"{root}: no '{split}' folder (expected ROOT/SPLIT/<class>/<image>; found {', '.join(splits) or 'nothing'})")
    siblings = [s for s in splits if s == split or s in ("train", "val", "test")]
    classes = sorted({c for s in siblings for c in _folders(root / s)})
    paths, targets = [], []
    for label, name in enumerate(classes):
        folder = root / split / name
        files = sorted(
            p for p in (folder.iterdir() if folder.is_dir() else [])
            if not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
        )
        if not files:
            raise DataError(f"{folder}: empty or missing class folder (expected .jpg, .jpeg or .png images)")
        paths += files
        targets += [label] * len(files)
    names = [(labels or {}).get(c, c) for c in classes]
    return Split(spec, classes, names, np.array(targets), PHOTOS, paths=paths)


def open_cifar10(spec, split):
    """CIFAR-10's binary release (records of a label byte and 3072 channel-major pixel bytes)."""
    folder = cache_dir() / "cifar10"
    records = []
    for name in CIFAR10_FILES[split]:
        path = folder / name
        if not path.is_file():
            raise DataError(f"{path}: missing (run `npx bireal data fetch cifar10`)")
        data = np.fromfile(path, dtype=np.uint8)
        if data.size % 3073:
            raise DataError(f"{path}: {data.size} bytes is not a whole number of 3073-byte CIFAR-10 records")
        records.append(data.reshape(-1, 3073))
    records = np.concatenate(records)
    pixels = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
    return Split(spec, CIFAR10_CLASSES, CIFAR10_CLASSES, records[:, 0].astype(np.int64), CIFAR10, pixels=pixels)


def open_split(spec, classes=None):
    """Opens `imagenette:train|val`, `cifar10:train|test`, `imagenet:train|val` or
    `folder:PATH:SPLIT`; with `classes`, only those (see Split.keep)."""
    split = _open(spec)
    return split if classes is None else split.keep(classes)


def _open(spec):
    name, _, rest = spec.partition(":")
    if name == "folder":
        path, _, split = rest.rpartition(":")
        if not path or not split:
            raise DataError(f"expected folder:PATH:SPLIT, got '{spec}'")
        return open_folder(spec, path, split)
    if name not in SPLITS:
        raise DataError(f"unknown dataset '{spec}'; valid: imagenette:train|val, cifar10:train|test, imagenet:train|val, folder:PATH:SPLIT")
    if rest not in SPLITS[name]:
        raise DataError(f"{name} has the splits {', '.join(SPLITS[name])}; got '{spec}'")
    if name == "cifar10":
        return open_cifar10(spec, rest)
    if name == "imagenet":
        root = os.environ.get("BIREAL_IMAGENET")
        if not root:
            raise DataError("imagenet needs its folder: set BIREAL_IMAGENET to ROOT of ROOT/train|val/<wnid>/*.JPEG")
        return open_folder(spec, root, rest)
    root = cache_dir() / "imagenette"
    if not root.is_dir():
        raise DataError(f"{root}: missing (run `npx bireal data fetch imagenette`)")
    manifest = json.loads((ROOT / "data" / "datasets.json").read_text())
    return open_folder(spec, root, rest, manifest["imagenette"].get("labels"))


def random_resized_crop(rng, width, height, scale):
    """torchvision's RandomResizedCrop box (left, top, right, bottom), as bireal draws it."""
    area = width * height
    low, high = math.log(3 / 4), math.log(4 / 3)
    for _ in range(10):
        target = area * (scale[0] + (scale[1] - scale[0]) * rng.random())
        aspect = math.exp(low + (high - low) * rng.random())
        w, h = js_round(math.sqrt(target * aspect)), js_round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = rng.randrange(height - h + 1)
            left = rng.randrange(width - w + 1)
            return left, top, left + w, top + h
    w, h = width, height
    if width / height < 3 / 4:
        h = js_round(width * 4 / 3)
    elif width / height > 4 / 3:
        w = js_round(height * 4 / 3)
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


class Samples(torch.utils.data.Dataset):
    """Items (epoch, index) of a split -> (NHWC-ready float32 image, label), augmented for
    training. `dataset` is a recipe's dataset spec (imageSize, channels, crop, scale, lighting)."""

    def __init__(self, split, dataset, augment, seed):
        self.split, self.augment, self.seed = split, augment, seed
        self.size = dataset["imageSize"]
        self.channels = dataset.get("channels", 3)
        self.crop = dataset.get("crop", "resized")
        self.scale = dataset.get("scale", (0.08, 1))
        self.lighting = dataset.get("lighting", 0.1)
        mean, std = np.array(split.mean), np.array(split.std)
        if self.channels == 1:  # grey from RGB by luma, as bireal (its stats stay the dataset's)
            mean, std = mean[:1], std[:1]
        self.mean, self.std = mean.astype(np.float32), std.astype(np.float32)

    def __len__(self):
        return self.split.size

    def __getitem__(self, item):
        epoch, index = item
        rng = random.Random(f"{self.seed}:{epoch}:{index}")
        image = self.split.image(index)
        size, (width, height) = self.size, image.size
        left = top = 0
        light = 0.0
        if not self.augment:
            short = js_round(size * self.split.resize_ratio)
            resize = (short, short * height // width) if width <= height else (short * width // height, short)
            image = image.resize(resize, Image.BILINEAR)
            left, top = js_round((resize[0] - size) / 2), js_round((resize[1] - size) / 2)
        elif self.crop == "padded":
            top, left = rng.randrange(2 * PAD + 1) - PAD, rng.randrange(2 * PAD + 1) - PAD
            image = image.resize((size, size), Image.BILINEAR)
        else:
            box = random_resized_crop(rng, width, height, self.scale)
            image = image.resize((size, size), Image.BILINEAR, box=box)
        if self.channels == 1:
            image = image.convert("L")
        pixels = np.asarray(image, dtype=np.float32).reshape(image.size[1], image.size[0], -1) / 255
        out = np.zeros((size, size, self.channels), np.float32)  # zero padding where out of the image
        ys = slice(max(top, 0), min(top + size, pixels.shape[0]))
        xs = slice(max(left, 0), min(left + size, pixels.shape[1]))
        out[ys.start - top : ys.stop - top, xs.start - left : xs.stop - left] = pixels[ys, xs]
        if self.augment:
            if rng.random() < 0.5:
                out = out[:, ::-1]
            if self.channels == 3 and self.lighting > 0:
                alpha = np.array([rng.gauss(0, 1) for _ in range(3)]) * self.lighting * EIGVAL
                light = (EIGVEC @ alpha).astype(np.float32)
        return np.ascontiguousarray((out + light - self.mean) / self.std, dtype=np.float32), int(self.split.targets[index])

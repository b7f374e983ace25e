"""bireal_torch: bireal's networks, recipes and weights on PyTorch, for training beyond one machine.

The TypeScript library `bireal` (TensorFlow.js) stays the reference; this package mirrors it:

- `bireal_torch.models`: the model registry (Bi-Real-18/34, the plain 1-bit ResNets, the real
  ResNets) with the same estimators, weight binarizers, TensorFlow 'same' padding, layer names and
  NHWC input, so that weights move between the two by name;
- `bireal_torch.recipe`: `configs/*.json` parsed and validated as `src/train/recipe.ts` does;
- `bireal_torch.data`: the ImageNet-layout folders (Imagenette, ImageNet) and CIFAR-10 binaries
  with bireal's augmentation;
- `bireal_torch.train`: the trainer, on DistributedDataParallel (`torchrun`), writing bireal's
  run folder files;
- `bireal_torch.weights`: torch files <-> the neutral safetensors files that `bireal export
  --format torch` and `bireal import --torch` exchange.

Run with Debian's PyTorch: `PYTHONPATH=python /usr/bin/python3 -m bireal_torch.train --help`.
"""

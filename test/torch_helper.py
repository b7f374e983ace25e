"""The PyTorch side of test/torch.test.ts (run with PYTHONPATH=python).

    compare DIR   for each DIR/*.safetensors written by the test (tfjs weights, plus `test:input`,
                  `test:labels` (one-hot), `test:logits` (inference), `test:loss` and, where the case
                  says `gradients`, `test:grad:<weight>` from one training-mode step), prints one JSON
                  line per case: the largest logit, loss and gradient differences, each relative to
                  the largest tfjs value (gradient: of the worst weight; null when not compared)
    make MODEL OPTIONS_JSON OUT.pt OUT.safetensors
                  a torch file of a fresh model with random BatchNorm statistics, and an input with
                  its inference logits (`test:input`, `test:logits`)
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bireal_torch.models import create_model
from bireal_torch.weights import entries, load_tfjs_tensors, read_safetensors, save_torch_file, write_safetensors


def relative(mine, theirs):
    return float(np.abs(mine - theirs).max() / max(np.abs(theirs).max(), 1e-12))


def compare(folder):
    for path in sorted(Path(folder).glob("*.safetensors")):
        tensors, metadata = read_safetensors(path)
        case = json.loads(metadata["case"])
        extra = {k: tensors.pop(k) for k in [k for k in tensors if k.startswith("test:")]}
        model = create_model(case["model"], case["options"])
        load_tfjs_tensors(model, tensors, path.name)
        images = torch.from_numpy(extra["test:input"])
        model.eval()
        with torch.no_grad():
            logits = model(images).numpy()
        model.train()
        train_logits = model(images)
        targets = torch.from_numpy(extra["test:labels"]).argmax(1)
        loss = F.cross_entropy(train_logits, targets, label_smoothing=case["labelSmoothing"])
        loss.backward()
        params = dict(model.named_parameters())
        pairs = {
            tfjs: (to_tfjs(params[key].grad).numpy(), extra[f"test:grad:{tfjs}"])
            for key, tfjs, to_tfjs in entries(model)
            if key in params and case["gradients"]
        }
        # Each weight's error relative to its largest gradient, floored at 1e-3 of the model's
        # largest: some gradients are 0 in exact arithmetic (a BatchNorm's beta before another
        # BatchNorm), and both sides then hold rounding noise only.
        floor = 1e-3 * max((np.abs(theirs).max() for _, theirs in pairs.values()), default=0)
        grads = {
            tfjs: float(np.abs(mine - theirs).max() / max(np.abs(theirs).max(), floor))
            for tfjs, (mine, theirs) in pairs.items()
        }
        worst = max(grads, key=grads.get) if grads else None
        print(json.dumps({
            "case": path.stem,
            "logits": relative(logits, extra["test:logits"]),
            "loss": relative(loss.detach().numpy(), extra["test:loss"]),
            "gradients": len(grads),
            "grad": grads.get(worst),
            "worst": worst,
        }), flush=True)


def make(name, options, torch_path, tensors_path):
    torch.manual_seed(1)
    model = create_model(name, json.loads(options))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.2)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.2)
    model.eval()
    o = model.options
    images = torch.randn(3, o["inputSize"], o["inputSize"], o["inputChannels"])
    with torch.no_grad():
        logits = model(images)
    classes = [f"c{i}" for i in range(o["classes"])]
    save_torch_file(torch_path, model, {"classes": classes, "dataset": {"train": "imagenette:train", "eval": "imagenette:val"}})
    write_safetensors(tensors_path, {"test:input": images.numpy(), "test:logits": logits.numpy()}, {})


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"compare": compare, "make": make}[command](*args)

"""Weights between PyTorch and bireal (tfjs): torch files and the safetensors files they trade.

A torch file (`torch.save`) is a dict: `format` ("bireal-torch/1"), `state_dict`, and `bireal`,
a JSON text of what bireal records beside the weights: `model` (a registry name), `options`
(bireal's ModelOptions with classes, inputSize and inputChannels), `classes`, `dataset` ({train,
eval} specs), and where known `recipe`, `state` (the trainer's progress) and `eval`. The
trainer's checkpoints add `optimizer` (its state tensors, and its param_groups as JSON text).
Nothing but tensors, strings and integers is pickled, so `torch.load(weights_only=True)` reads
these files without running code from them.

bireal reads and writes safetensors (https://huggingface.co/docs/safetensors: a little-endian
u64 header length, a JSON header, raw little-endian data) keyed by tfjs weight names in tfjs
layouts (`s1_conv1/kernel` [kh, kw, cIn, cOut], `fc/kernel` [in, out], `stem_bn/gamma`, ...),
with everything but the weights as JSON in the header's `__metadata__.bireal`. Usage:

    python3 -m bireal_torch.weights to-torch IN.safetensors OUT.pt
    python3 -m bireal_torch.weights from-torch IN.pt OUT.safetensors
"""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn as nn

from .models import create_model

FORMAT = "bireal-torch/1"
# PyTorch parameter or buffer name -> tfjs weight name, per module type.
BN_NAMES = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}
DTYPES = {"F32": np.float32, "I32": np.int32}


def read_safetensors(path):
    """The tensors (name -> numpy array) and the `__metadata__` dict of a safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: not a safetensors file (too short)")
    (length,) = struct.unpack("<Q", data[:8])
    try:
        header = json.loads(data[8 : 8 + length])
    except ValueError:
        raise ValueError(f"{path}: not a safetensors file (bad header)") from None
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, entry in header.items():
        if entry["dtype"] not in DTYPES:
            raise ValueError(f"{path}: {name} has dtype {entry['dtype']}; expected one of {', '.join(DTYPES)}")
        start, end = (8 + length + offset for offset in entry["data_offsets"])
        array = np.frombuffer(data[start:end], dtype=DTYPES[entry["dtype"]])
        tensors[name] = array.reshape(entry["shape"]).copy()
    return tensors, metadata


def write_safetensors(path, tensors, metadata):
    """Writes name -> float32/int32 arrays and a str -> str metadata dict as safetensors."""
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        dtype = next(key for key, value in DTYPES.items() if array.dtype == value)
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        blobs.append(array.tobytes())
        offset += array.nbytes
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def entries(model):
    """(state dict key, tfjs name, to-tfjs layout function) for every weight of `model`."""
    for module_name, module in model.named_modules():
        if isinstance(module, nn.BatchNorm2d):
            for key, tfjs in BN_NAMES.items():
                yield f"{module_name}.{key}", f"{module_name}/{tfjs}", lambda t: t
        elif isinstance(module, nn.Conv2d):
            yield f"{module_name}.weight", f"{module_name}/kernel", lambda t: t.permute(2, 3, 1, 0)
        elif isinstance(module, nn.Linear):
            yield f"{module_name}.weight", f"{module_name}/kernel", lambda t: t.t()
            yield f"{module_name}.bias", f"{module_name}/bias", lambda t: t


def tfjs_tensors(model):
    """The weights of `model` by tfjs name, in tfjs layouts (numpy float32)."""
    state = model.state_dict()
    return {tfjs: to_tfjs(state[key]).detach().cpu().contiguous().numpy() for key, tfjs, to_tfjs in entries(model)}


def load_tfjs_tensors(model, tensors, source="weights"):
    """Loads tfjs-named weights into `model`; missing, unused or misshapen weights raise ValueError."""
    state = model.state_dict()
    wanted = {}
    for key, tfjs, to_tfjs in entries(model):
        if tfjs not in tensors:
            raise ValueError(f"{source}: no weight {tfjs} (model {model.options})")
        expected = tuple(to_tfjs(state[key]).shape)
        if tuple(tensors[tfjs].shape) != expected:
            raise ValueError(f"{source}: {tfjs} has shape {list(tensors[tfjs].shape)}, expected {list(expected)}")
        wanted[key] = (tfjs, to_tfjs)
    unused = set(tensors) - {tfjs for tfjs, _ in wanted.values()}
    if unused:
        raise ValueError(f"{source}: weights the model does not have: {', '.join(sorted(unused))}")
    with torch.no_grad():
        for key, (tfjs, to_tfjs) in wanted.items():
            to_tfjs(state[key]).copy_(torch.from_numpy(tensors[tfjs]))


def load_torch_file(path):
    """A torch file of this package (see the module docstring): (info dict, its model loaded,
    the optimizer state dict or None)."""
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except Exception as error:  # pickle and zip errors alike
        raise ValueError(f"{path}: not a torch file ({error})") from None
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise ValueError(f"{path}: not a bireal torch file (expected a dict with format '{FORMAT}')")
    info = json.loads(content["bireal"])
    model = create_model(info["model"], info["options"])
    model.load_state_dict(content["state_dict"])
    optimizer = content.get("optimizer")
    if optimizer is not None:
        optimizer = {"state": optimizer["state"], "param_groups": json.loads(optimizer["param_groups"])}
    return info, model, optimizer


def save_torch_file(path, model, info, optimizer=None):
    """Writes `model` (a registry Net), `info` (classes, dataset, ...) and optionally an
    optimizer's state as a torch file."""
    meta = {"model": model.name, "options": model.options, **info}
    content = {"format": FORMAT, "state_dict": model.state_dict(), "bireal": json.dumps(meta)}
    if optimizer is not None:
        state = optimizer.state_dict()
        content["optimizer"] = {"state": state["state"], "param_groups": json.dumps(state["param_groups"])}
    torch.save(content, path)


def to_torch(source, target):
    """safetensors from bireal -> torch file."""
    tensors, metadata = read_safetensors(source)
    if "bireal" not in metadata:
        raise ValueError(f"{source}: no bireal metadata (model name and options)")
    info = json.loads(metadata["bireal"])
    model = create_model(info.pop("model"), info.pop("options"))
    load_tfjs_tensors(model, tensors, source)
    save_torch_file(target, model, info)


def from_torch(source, target):
    """torch file -> safetensors for bireal (without the optimizer state)."""
    info, model, _ = load_torch_file(source)
    write_safetensors(target, tfjs_tensors(model), {"bireal": json.dumps(info)})


def main(argv):
    commands = {"to-torch": to_torch, "from-torch": from_torch}
    if len(argv) != 3 or argv[0] not in commands:
        print(__doc__.split("Usage:")[1].rstrip(), file=sys.stderr)
        return 2
    try:
        commands[argv[0]](argv[1], argv[2])
    except (ValueError, OSError) as error:
        print(f"bireal_torch.weights: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

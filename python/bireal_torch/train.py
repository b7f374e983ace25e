"""Trains a bireal recipe on PyTorch, on one process or many (DistributedDataParallel).

    torchrun --standalone --nproc_per_node=8 -m bireal_torch.train --config configs/X.json --out runs/X

Each recipe stage builds its registry model (initialised from the previous stage by layer name
where the recipe says `init: previous`, as bireal's initFromReal), wraps it in DDP and trains it
with the recipe's optimizer (Adam or SGD with momentum; L2 weight decay on conv and dense kernels
only), schedule (per step), label smoothing and augmentation. `batchSize` is the batch of all
processes together: each takes its share of every batch, and with several processes BatchNorm
takes its statistics over the whole batch (as bireal's data-parallel replicas), so the training
does not depend on the process count beyond float rounding. gloo on CPUs, NCCL on GPUs (one per
process, LOCAL_RANK).

The run folder gets what bireal's trainer writes (src/train/trainer.ts): config.json (the recipe
as parsed), metrics.jsonl (start, stage, step, epoch, eval, end), summary.json (with the backend,
the world size and the distributed backend), and checkpoints/<n>-<stage>.pt after every epoch:
torch files of bireal_torch.weights with the optimizer state and the training state, from which
--resume continues and which `bireal import --torch` reads.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from .data import DataError, Samples, open_split
from .models import BatchNorm, BinaryConv2d, create_model
from .recipe import RecipeError, learning_rate, load_recipe, parse_recipe, with_overrides
from .weights import load_torch_file, save_torch_file


class Cluster:
    """This process's place: rank, world size, device, and the collectives the trainer uses."""

    def __init__(self, backend):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        cuda = torch.cuda.is_available() and backend != "gloo"
        self.backend = backend or ("nccl" if cuda else "gloo")
        self.device = torch.device(f"cuda:{os.environ.get('LOCAL_RANK', '0')}" if cuda else "cpu")
        if cuda:
            torch.cuda.set_device(self.device)
        if self.world > 1:
            dist.init_process_group(self.backend)

    def sum(self, values):
        """Element-wise sum over the processes of a list of numbers (float64)."""
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.world > 1:
            dist.all_reduce(tensor)
        return tensor.tolist()

    def barrier(self):
        if self.world > 1:
            dist.barrier()

    def describe(self):
        where = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else f"CPU, {torch.get_num_threads()} thread(s) each"
        return f"torch {torch.__version__} ({self.backend}, {self.world} process{'es' if self.world > 1 else ''}, {where})"


def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_atomic(path, write):
    """Calls write(temp path), then renames the temp file to `path`."""
    temp = f"{path}.tmp-{os.getpid()}"
    write(temp)
    os.replace(temp, path)


def json_text(value, indent=2):
    return json.dumps(value, indent=indent, ensure_ascii=False) + "\n"


def init_from_previous(model, previous):
    """bireal's initFromReal: copies every same-named module whose weights have the same shapes."""
    report = {"copied": [], "missing": [], "mismatched": [], "unused": []}
    source = {name: module for name, module in previous.named_children()}
    for name, module in model.named_children():
        if not list(module.state_dict()):
            continue
        other = source.pop(name, None)
        if other is None:
            report["missing"].append(name)
            continue
        mine, theirs = module.state_dict(), other.state_dict()
        if any(mine[k].shape != theirs[k].shape for k in mine):
            shapes = lambda s: [list(t.shape) for k, t in s.items() if k != "num_batches_tracked"]
            report["mismatched"].append({"layer": name, "target": shapes(mine), "source": shapes(theirs)})
            continue
        module.load_state_dict(theirs)
        report["copied"].append(name)
    report["unused"] = [name for name, module in source.items() if list(module.state_dict())]
    return report


def binary_signs(model):
    """The signs (w >= 0) of every binary conv's latent weights, or None without binary convs."""
    kernels = [m.weight.detach().flatten() for m in model.modules() if isinstance(m, BinaryConv2d)]
    return torch.cat(kernels) >= 0 if kernels else None


def weights_digest(model):
    """sha256 of every parameter and buffer, to compare the processes' copies."""
    digest = hashlib.sha256()
    for value in model.state_dict().values():
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class Trainer:
    def __init__(self, recipe, out, cluster):
        self.recipe, self.out, self.cluster = recipe, Path(out), cluster
        self.metrics = self.out / "metrics.jsonl"
        classes = recipe["dataset"].get("classes")
        self.train_split = open_split(recipe["dataset"]["train"], classes)
        self.eval_split = open_split(recipe["dataset"]["eval"], classes)
        if self.train_split.classes != self.eval_split.classes:
            raise DataError(f"{self.train_split.id} and {self.eval_split.id} have different classes")
        self.state = {"stage": 0, "epoch": 0, "step": 0, "wallSeconds": 0, "metricsBytes": 0, "stages": []}
        self.model = None
        self.optimizer_state = None
        self.started = time.perf_counter()
        self.wall_before = 0

    def log(self, entry):
        if self.cluster.rank == 0:
            with open(self.metrics, "a", encoding="utf8") as f:
                f.write(json.dumps(entry, separators=(",", ":"), ensure_ascii=False) + "\n")

    def wall_seconds(self):
        return self.wall_before + time.perf_counter() - self.started

    def checkpoint_path(self, index):
        return self.out / "checkpoints" / f"{index + 1}-{self.recipe['stages'][index]['name']}.pt"

    def model_options(self, stage):
        return {
            **stage["model"]["options"],
            "classes": len(self.train_split.classes),
            "inputSize": self.recipe["dataset"]["imageSize"],
            "inputChannels": self.recipe["dataset"].get("channels", 3),
            "seed": self.recipe["seed"],
        }

    def restore(self):
        """Loads the latest checkpoint, if any, and truncates metrics.jsonl back to it."""
        paths = [self.checkpoint_path(i) for i in range(len(self.recipe["stages"]))]
        latest = next((p for p in reversed(paths) if p.exists()), None)
        if latest is None:
            if self.cluster.rank == 0:
                self.metrics.write_text("")
            return
        info, model, self.optimizer_state = load_torch_file(latest)
        self.model = model.to(self.cluster.device)
        self.state = info["state"]
        self.wall_before = self.state["wallSeconds"]
        if self.cluster.rank == 0:
            os.truncate(self.metrics, self.state["metricsBytes"])

    def start_stage(self, index):
        stage = self.recipe["stages"][index]
        model = create_model(stage["model"]["name"], self.model_options(stage)).to(self.cluster.device)
        init = init_from_previous(model, self.model) if stage["init"] == "previous" else None
        self.model = model
        self.state.update(stage=index, epoch=0, step=0)
        checkpoint = str(self.checkpoint_path(index).relative_to(self.out))
        record = {"name": stage["name"], "model": stage["model"]["name"], "init": init, "epochs": 0, "train": None, "eval": None, "checkpoint": checkpoint}
        self.state["stages"].append(record)
        self.log({
            "type": "stage", "stage": stage["name"], "index": index + 1, "model": stage["model"]["name"],
            "options": stage["model"]["options"],
            "init": init and {"copied": len(init["copied"]), "missing": init["missing"], "mismatched": [m["layer"] for m in init["mismatched"]]},
        })

    def optimizer(self, stage, model):
        spec = stage["optimizer"]
        kernels = [p for n, p in model.named_parameters() if n.endswith("weight") and p.dim() > 1]
        others = [p for n, p in model.named_parameters() if not (n.endswith("weight") and p.dim() > 1)]
        groups = [{"params": kernels, "weight_decay": spec["weightDecay"]}, {"params": others, "weight_decay": 0}]
        if spec["type"] == "adam":  # tfjs' Adam: beta 0.9 / 0.999, epsilon 1e-7
            return torch.optim.Adam(groups, lr=spec["lr"], betas=(0.9, 0.999), eps=1e-7)
        return torch.optim.SGD(groups, lr=spec["lr"], momentum=spec["momentum"])

    def loader(self, samples, batches):
        workers = self.recipe["dataset"]["workers"]
        return torch.utils.data.DataLoader(samples, batch_sampler=batches, num_workers=workers, pin_memory=self.cluster.device.type == "cuda")

    def steps_per_epoch(self, stage):
        steps = self.train_split.size // stage["batchSize"]
        limit = self.recipe["limitBatches"]
        return min(steps, limit) if limit else steps

    def train_batches(self, index, epoch, stage):
        """This process's share of each batch of the epoch: global order fixed by (seed, stage, epoch)."""
        batch, (rank, world) = stage["batchSize"], (self.cluster.rank, self.cluster.world)
        order = np.random.default_rng([self.recipe["seed"] + index, epoch]).permutation(self.train_split.size)
        return [[(epoch, int(i)) for i in order[b * batch : (b + 1) * batch][rank::world]] for b in range(self.steps_per_epoch(stage))]

    def evaluate(self, stage):
        """Top-1, top-5, per class and confusion over the eval split, each process a share."""
        model, split, device = self.model, self.eval_split, self.cluster.device
        limit = self.recipe["limitBatches"]
        n = min(split.size, limit * stage["batchSize"]) if limit else split.size
        mine = list(range(n))[self.cluster.rank :: self.cluster.world]
        batches = [[(0, i) for i in mine[b : b + stage["batchSize"]]] for b in range(0, len(mine), stage["batchSize"])]
        samples = Samples(split, self.recipe["dataset"], augment=False, seed=self.recipe["seed"])
        classes = len(split.classes)
        confusion = torch.zeros(classes, classes, dtype=torch.float64)
        top5 = 0
        model.eval()
        with torch.no_grad():
            for images, labels in self.loader(samples, batches):
                logits = model(images.to(device)).cpu()
                predictions = logits.topk(min(5, classes), dim=1).indices
                top5 += (predictions == labels[:, None]).any(dim=1).sum().item()
                confusion.index_put_((labels, predictions[:, 0]), torch.ones(len(labels), dtype=torch.float64), accumulate=True)
        totals = self.cluster.sum(confusion.flatten().tolist() + [top5])
        confusion = np.array(totals[:-1], dtype=np.int64).reshape(classes, classes)
        per_class = [
            {"class": c, "label": label, "n": int(row.sum()), "accuracy": row[i] / row.sum() if row.sum() else None}
            for i, (c, label, row) in enumerate(zip(split.classes, split.labels, confusion))
        ]
        return {"dataset": split.id, "n": n, "top1": np.trace(confusion) / n, "top5": totals[-1] / n, "perClass": per_class, "confusion": confusion.tolist()}

    def train_stage(self, index):
        stage = self.recipe["stages"][index]
        record = self.state["stages"][index]
        model, cluster = self.model, self.cluster
        for module in model.modules():
            if isinstance(module, BatchNorm):
                module.sync = cluster.world > 1
        parallel = model
        if cluster.world > 1:  # BatchNorm statistics are synchronised: no buffers to broadcast
            devices = [cluster.device] if cluster.device.type == "cuda" else None
            parallel = DistributedDataParallel(model, device_ids=devices, broadcast_buffers=False)
        optimizer = self.optimizer(stage, model)
        if self.optimizer_state is not None:
            optimizer.load_state_dict(self.optimizer_state)
            self.optimizer_state = None
        if stage["batchSize"] % cluster.world:
            raise ValueError(f"stage '{stage['name']}': batchSize {stage['batchSize']} does not split over {cluster.world} processes")
        steps = self.steps_per_epoch(stage)
        if steps == 0:
            raise DataError(f"{self.train_split.id} has {self.train_split.size} examples, fewer than one batch of {stage['batchSize']}")
        seed = self.recipe["seed"] + index
        samples = Samples(self.train_split, self.recipe["dataset"], augment=True, seed=seed)
        result = None
        for epoch in range(self.state["epoch"], stage["epochs"]):
            model.train()
            signs = binary_signs(model)
            start = last = time.perf_counter()
            totals = np.zeros(3)  # loss * n, correct, n over all processes
            for images, labels in self.loader(samples, self.train_batches(index, epoch, stage)):
                lr = learning_rate(stage, self.state["step"], steps)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                images, labels = images.to(cluster.device, non_blocking=True), labels.to(cluster.device, non_blocking=True)
                logits = parallel(images)
                loss = F.cross_entropy(logits, labels, label_smoothing=stage["labelSmoothing"])
                step_totals = cluster.sum([loss.item() * len(labels), (logits.argmax(1) == labels).sum().item(), len(labels)])
                if not np.isfinite(step_totals[0]):
                    raise FloatingPointError(f"training diverged at step {self.state['step'] + 1} (stage '{stage['name']}', epoch {epoch + 1}): loss is {step_totals[0]}; weights not updated")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                now = time.perf_counter()
                self.state["step"] += 1
                totals += step_totals
                loss_sum, correct, n = step_totals
                self.log({"type": "step", "stage": stage["name"], "epoch": epoch + 1, "step": self.state["step"], "loss": loss_sum / n, "accuracy": correct / n, "lr": lr, "imagesPerSecond": n / (now - last)})
                last = now
            stats = {"loss": totals[0] / totals[2], "accuracy": totals[1] / totals[2], "lr": lr, "seconds": time.perf_counter() - start}
            if signs is not None:
                stats["weightSignFlips"] = (signs != binary_signs(model)).float().mean().item()
            last_epoch = epoch + 1 == stage["epochs"]
            evaluation = self.evaluate(stage) if last_epoch or self.recipe["evalEveryEpoch"] else None
            where = {"stage": stage["name"], "epoch": epoch + 1, "step": self.state["step"]}
            self.log({"type": "epoch", **where, **stats})
            record.update(epochs=epoch + 1, train={"loss": stats["loss"], "accuracy": stats["accuracy"]})
            line = f"{stage['name']} epoch {epoch + 1}/{stage['epochs']}: loss {stats['loss']:.4f}, train acc {100 * stats['accuracy']:.1f}%, {stats['seconds']:.1f} s"
            if evaluation:
                score = {k: evaluation[k] for k in ("n", "top1", "top5")}
                self.log({"type": "eval", **where, "dataset": evaluation["dataset"], **score})
                line += f"; {evaluation['dataset']} top-1 {100 * score['top1']:.1f}%, top-5 {100 * score['top5']:.1f}%"
                if last_epoch:
                    record["eval"] = score
                    result = evaluation
            self.state.update(epoch=epoch + 1, wallSeconds=self.wall_seconds())
            if cluster.rank == 0:
                print(f"bireal_torch: {line}", flush=True)
                self.state["metricsBytes"] = self.metrics.stat().st_size
                self.save_checkpoint(index, optimizer)
            cluster.barrier()
        digest = weights_digest(model)
        print(f"bireal_torch: rank {cluster.rank}/{cluster.world} stage '{stage['name']}' weights sha256 {digest}", flush=True)
        return result

    def save_checkpoint(self, index, optimizer):
        info = {
            "classes": self.train_split.classes,
            "dataset": {"train": self.recipe["dataset"]["train"], "eval": self.recipe["dataset"]["eval"]},
            "recipe": self.recipe,
            "state": self.state,
            "eval": self.state["stages"][index]["eval"],
        }
        write_atomic(self.checkpoint_path(index), lambda temp: save_torch_file(temp, self.model, info, optimizer))

    def run(self, resume):
        if resume:
            self.restore()
        commit, backend = git_commit(), self.cluster.describe()
        self.log({"type": "start", "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"), "commit": commit, "backend": backend, "resume": resume, "stage": self.recipe["stages"][self.state["stage"]]["name"], "completedEpochs": self.state["epoch"]})
        final = None
        for index in range(self.state["stage"], len(self.recipe["stages"])):
            if self.model is None or index != self.state["stage"]:
                self.start_stage(index)
            final = self.train_stage(index)
        if final is None:
            final = self.evaluate(self.recipe["stages"][-1])
        dataset = self.recipe["dataset"]
        summary = {
            "recipe": self.recipe["name"],
            "seed": self.recipe["seed"],
            "commit": commit,
            "backend": backend,
            "wallSeconds": self.wall_seconds(),
            "replicas": self.cluster.world,
            "worldSize": self.cluster.world,
            "distributedBackend": self.cluster.backend if self.cluster.world > 1 else None,
            "dataset": {"train": dataset["train"], "eval": dataset["eval"], "imageSize": dataset["imageSize"], "classes": len(self.train_split.classes)},
            "stages": self.state["stages"],
            "eval": final,
        }
        self.log({"type": "end", "wallSeconds": summary["wallSeconds"], "top1": final["top1"]})
        if self.cluster.rank == 0:
            write_atomic(self.out / "summary.json", lambda temp: Path(temp).write_text(json_text(summary)))
        return summary


def prepare_run_folder(out, recipe, resume):
    """Creates the run folder, or checks that the run to resume was started with this recipe."""
    out = Path(out)
    config = out / "config.json"
    if resume:
        if not config.exists():
            raise ValueError(f"{out} has no config.json: no run to resume")
        if parse_recipe(json.loads(config.read_text()), str(config)) != recipe:
            raise ValueError(f"the recipe differs from {config}, the one this run started with; resume with that recipe")
        return
    if config.exists():
        raise ValueError(f"{out} already holds a run: resume it (--resume) or choose another folder")
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    write_atomic(config, lambda temp: Path(temp).write_text(json_text(recipe)))
    (out / "metrics.jsonl").write_text("")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m bireal_torch.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="recipe file (configs/*.json); default with --resume: the run's config.json")
    parser.add_argument("--out", required=True, help="run folder")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--epochs", type=int, help="epochs of every stage")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--limit-batches", type=int, help="batches per epoch and per evaluation (smoke runs)")
    parser.add_argument("--backend", choices=("gloo", "nccl"), help="default: nccl with GPUs, else gloo")
    args = parser.parse_args(argv)
    cluster = None
    try:
        config = args.config or (str(Path(args.out) / "config.json") if args.resume else None)
        if config is None:
            parser.error("--config is required (or --resume)")
        recipe = with_overrides(load_recipe(config), args.epochs, args.seed, args.limit_batches)
        cluster = Cluster(args.backend)
        if cluster.rank == 0:
            prepare_run_folder(args.out, recipe, args.resume)
        cluster.barrier()
        torch.manual_seed(recipe["seed"])
        Trainer(recipe, args.out, cluster).run(args.resume)
    except (RecipeError, DataError, ValueError, FloatingPointError) as error:
        print(f"bireal_torch: {error}", file=sys.stderr)
        return 1
    finally:
        if cluster is not None and cluster.world > 1:
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())

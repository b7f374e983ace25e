"""bireal's training recipes (`configs/*.json`): parsed, validated and completed with the defaults
exactly as src/train/recipe.ts does, so that the `config.json` written here reads back in bireal;
and the learning-rate schedule of src/train/schedule.ts."""
import json
import math
import re

from .binarize import BINARIZERS, ESTIMATORS
from .models import MODEL_NAMES


class RecipeError(ValueError):
    """A recipe that fails validation; the message names the source and the field."""


NUMBERS = {
    "positive": (lambda n: n > 0, "a positive number"),
    "non-negative": (lambda n: n >= 0, "a non-negative number"),
    "positive-int": (lambda n: n == int(n) and n > 0, "a positive integer"),
    "non-negative-int": (lambda n: n == int(n) and n >= 0, "a non-negative integer"),
    "fraction": (lambda n: 0 <= n < 1, "a number in [0, 1)"),
}
NAME = (r"^\w[\w.-]*$", "must be letters, digits, . _ - (a file name)")
SPLIT = (r"^[a-z0-9-]+:.+$", "must be a dataset spec 'NAME:SPLIT'")


class Fields:
    """Reads one JSON object's fields, naming the source and field path in every error."""

    def __init__(self, value, source, path):
        self.source, self.path, self.known = source, path, []
        if not isinstance(value, dict):
            self.fail(path or "the recipe", "must be an object", value)
        self.object = value

    def fail(self, field, expected, value):
        raise RecipeError(f"{self.source}: {field} {expected}, got {json.dumps(value)}")

    def field(self, key):
        return f"{self.path}.{key}" if self.path else key

    def raw(self, key, fallback=None):
        self.known.append(key)
        value = self.object.get(key)
        return fallback if value is None else value

    def has(self, key):
        self.known.append(key)
        return self.object.get(key) is not None

    def string(self, key, pattern=None):
        value = self.raw(key)
        if not isinstance(value, str) or value == "":
            self.fail(self.field(key), "must be a non-empty string", value)
        if pattern and not re.match(pattern[0], value, re.I):
            self.fail(self.field(key), pattern[1], value)
        return value

    def one_of(self, key, valid, fallback=None):
        value = self.raw(key, fallback)
        if value not in valid or isinstance(value, bool):
            self.fail(self.field(key), f"must be one of {', '.join(map(str, valid))}", value)
        return value

    def number(self, key, kind, fallback=None):
        value = self.raw(key, fallback)
        ok, expected = NUMBERS[kind]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not ok(value):
            self.fail(self.field(key), f"must be {expected}", value)
        return value

    def boolean(self, key, fallback):
        value = self.raw(key, fallback)
        if not isinstance(value, bool):
            self.fail(self.field(key), "must be true or false", value)
        return value

    def done(self):
        for key, value in self.object.items():
            if key not in self.known:
                self.fail(self.field(key), f"is not a known field (known: {', '.join(dict.fromkeys(self.known))})", value)


def _model(value, source, path):
    f = Fields(value, source, path)
    name = f.one_of("name", MODEL_NAMES)
    o = Fields(f.raw("options", {}), source, f.field("options"))
    options = {}
    for key, read in (
        ("smallInput", lambda: o.boolean("smallInput", False)),
        ("width", lambda: o.number("width", "positive")),
        ("activation", lambda: o.one_of("activation", ("relu", "clip", "leaky-clip"))),
        ("block", lambda: o.one_of("block", ("basic", "bireal"))),
        ("estimator", lambda: o.one_of("estimator", ESTIMATORS)),
        ("binarizer", lambda: o.one_of("binarizer", BINARIZERS)),
    ):
        if o.has(key):
            options[key] = read()
    o.done()
    f.done()
    return {"name": name, "options": options}


def _optimizer(value, source, path):
    f = Fields(value, source, path)
    spec = {"type": f.one_of("type", ("adam", "sgd")), "lr": f.number("lr", "positive")}
    if f.has("lrReferenceBatch"):
        spec["lrReferenceBatch"] = f.number("lrReferenceBatch", "positive-int")
    weight_decay = f.number("weightDecay", "non-negative", 0)
    if spec["type"] == "sgd":
        spec["momentum"] = f.number("momentum", "fraction", 0.9)
    spec["weightDecay"] = weight_decay
    f.done()
    return spec


def _schedule(value, source, path):
    f = Fields(value, source, path)
    kind = f.one_of("type", ("linear", "step"))
    warmup = f.number("warmupEpochs", "non-negative", 0)
    if kind == "linear":
        spec = {"type": kind, "warmupEpochs": warmup}
    else:
        milestones = f.raw("milestones", [])
        valid = isinstance(milestones, list) and all(
            isinstance(m, int) and not isinstance(m, bool) and m > 0 and (i == 0 or m > milestones[i - 1])
            for i, m in enumerate(milestones)
        )
        if not valid:
            f.fail(f.field("milestones"), "must be increasing positive integers (epochs)", milestones)
        spec = {"type": kind, "milestones": milestones, "gamma": f.number("gamma", "positive", 0.1), "warmupEpochs": warmup}
    f.done()
    return spec


def _stage(value, source, index):
    f = Fields(value, source, f"stages[{index}]")
    stage = {
        "name": f.string("name", NAME),
        "model": _model(f.raw("model"), source, f.field("model")),
        "init": f.one_of("init", ("none", "previous"), "none"),
        "optimizer": _optimizer(f.raw("optimizer"), source, f.field("optimizer")),
        "schedule": _schedule(f.raw("schedule"), source, f.field("schedule")),
        "epochs": f.number("epochs", "positive-int"),
        "batchSize": f.number("batchSize", "positive-int"),
        "labelSmoothing": f.number("labelSmoothing", "fraction", 0),
    }
    f.done()
    if index == 0 and stage["init"] == "previous":
        f.fail(f.field("init"), "cannot be 'previous' in the first stage", "previous")
    return stage


def parse_recipe(value, source="recipe"):
    """Validates a parsed JSON recipe and fills in its defaults (RecipeError names the field)."""
    f = Fields(value, source, "")
    name = f.string("name", NAME)
    description = f.raw("description", "")
    if not isinstance(description, str):
        f.fail("description", "must be a string", description)
    d = Fields(f.raw("dataset"), source, "dataset")
    dataset = {
        "train": d.string("train", SPLIT),
        "eval": d.string("eval", SPLIT),
        "imageSize": d.number("imageSize", "positive-int"),
        "workers": d.number("workers", "non-negative-int", 2),
    }
    if d.has("channels"):
        dataset["channels"] = d.one_of("channels", (1, 3))
    if d.has("crop"):
        dataset["crop"] = d.one_of("crop", ("resized", "padded"))
    if d.has("scale"):
        scale = d.raw("scale")
        if not (isinstance(scale, list) and len(scale) == 2 and all(isinstance(s, (int, float)) for s in scale) and 0 < scale[0] <= scale[1] <= 1):
            d.fail("dataset.scale", "must be [min, max] with 0 < min <= max <= 1", scale)
        dataset["scale"] = scale
    if d.has("lighting"):
        dataset["lighting"] = d.number("lighting", "non-negative")
    if d.has("classes"):
        classes = d.raw("classes")
        if not (isinstance(classes, list) and len(classes) >= 2 and all(isinstance(c, str) and c for c in classes) and len(set(classes)) == len(classes)):
            d.fail("dataset.classes", "must be 2 or more distinct class names", classes)
        dataset["classes"] = classes
    d.done()
    stages = f.raw("stages")
    if not isinstance(stages, list) or not stages:
        f.fail("stages", "must be a non-empty array of stages", stages)
    stages = [_stage(s, source, i) for i, s in enumerate(stages)]
    names = [s["name"] for s in stages]
    duplicates = [n for i, n in enumerate(names) if n in names[:i]]
    if duplicates:
        f.fail("stages", "must have unique names", duplicates[0])
    recipe = {
        "name": name,
        "description": description,
        "seed": f.number("seed", "non-negative-int", 0),
        "dataset": dataset,
        "stages": stages,
        "evalEveryEpoch": f.boolean("evalEveryEpoch", False),
        "limitBatches": None if f.raw("limitBatches") is None else f.number("limitBatches", "positive-int"),
    }
    f.done()
    return recipe


def load_recipe(path):
    """Reads and validates a recipe file; errors name the file."""
    try:
        with open(path, encoding="utf8") as file:
            text = file.read()
    except OSError as error:
        raise RecipeError(f"cannot read recipe {path}: {error.strerror}") from None
    try:
        value = json.loads(text)
    except ValueError as error:
        raise RecipeError(f"{path} is not valid JSON: {error}") from None
    return parse_recipe(value, path)


def with_overrides(recipe, epochs=None, seed=None, limit_batches=None):
    """A copy of `recipe` with `bireal train`'s overrides (--epochs, --seed, --limit-batches)."""
    changed = dict(recipe)
    if seed is not None:
        changed["seed"] = seed
    if limit_batches is not None:
        changed["limitBatches"] = limit_batches
    if epochs is not None:
        changed["stages"] = [{**stage, "epochs": epochs} for stage in recipe["stages"]]
    return parse_recipe(changed, "overrides")


def base_learning_rate(stage):
    """lr, times batchSize / lrReferenceBatch when that is set."""
    optimizer = stage["optimizer"]
    reference = optimizer.get("lrReferenceBatch")
    return optimizer["lr"] if reference is None else optimizer["lr"] * stage["batchSize"] / reference


def learning_rate(stage, step, steps_per_epoch):
    """The rate of the 0-based `step` of a stage: linear warmup, then linear decay to 0 or step decay."""
    base = base_learning_rate(stage)
    schedule = stage["schedule"]
    warmup = math.floor(schedule["warmupEpochs"] * steps_per_epoch + 0.5)  # Math.round
    if step < warmup:
        return base * (step + 1) / warmup
    if schedule["type"] == "linear":
        total = stage["epochs"] * steps_per_epoch - warmup
        return base * max(0, 1 - (step - warmup) / total)
    decays = sum(1 for m in schedule["milestones"] if m <= step // steps_per_epoch)
    return base * schedule["gamma"] ** decays

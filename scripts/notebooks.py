#!/usr/bin/python3
"""The tutorial notebooks: build them from their sources, execute them, check them.

Sources are notebooks/src/NN-name.ts in the "percent" format (as jupytext writes it): a line
`// %% [markdown]` starts a markdown cell whose lines start with `// `, a line `// %%` starts a
code cell, and `// %% tags=["node"]` a code cell that needs Node.js (files, datasets, threads):
the site shows its stored output instead of running it in the browser. `// %% tags=["answer"]`
is the answer to a checkable exercise (ending in a check that throws unless it is right): collapsed on the site
and in Jupyter, run like any cell, so `npm test` checks every answer. The notebooks notebooks/NN-name.ipynb are generated from them and committed with the
outputs of a full-mode run.

  notebooks.py build [NAME...]  write notebooks/*.ipynb from the sources that changed (their
                                outputs cleared, or kept when only markdown changed; notebooks
                                that match their source are kept)
  notebooks.py retag [NAME...]  copy the sources' cell tags into notebooks/*.ipynb (outputs kept)
  notebooks.py run [NAME...]    execute in full mode, writing the outputs into notebooks/
  notebooks.py pictures [NAME...]  add the missing PNG beside each Plotly chart of notebooks/*.ipynb
                                (without executing them)
  notebooks.py check [NAME...]  fail unless every .ipynb matches its source and has a PNG beside
                                each chart, then execute each in quick mode (BIREAL_QUICK=1) into
                                runs/notebooks-quick/

Every executed notebook gets a PNG beside each Plotly chart (add_chart_images), so that viewers
without plotly.js (GitHub, nbviewer, classic Jupyter Notebook) show the figure too.

Runs with Debian's Jupyter (python3-nbclient) and the project's tslab kernel in ./.jupyter
(scripts/setup.sh registers it). tslab reports an error as text on the cell's stderr and skips
the cells after it: a failure here prints that cell, its source and its stderr.
"""
import json
import os
import re
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SOURCES = NOTEBOOKS / "src"
KERNEL = {"name": "tslab", "display_name": "TypeScript", "language": "typescript"}
CELL_TIMEOUT_S = 3600
PLOTLY_MIME = "application/vnd.plotly.v1+json"


def parse(source: str) -> list[dict]:
    """Cells of a percent-format TypeScript source."""
    cells: list[dict] = []
    for line in source.splitlines():
        if line.startswith("// %%"):
            kind = "markdown" if "[markdown]" in line else "code"
            tags = re.search(r"tags=(\[.*\])", line)
            cells.append({"cell_type": kind, "lines": [], "tags": json.loads(tags[1]) if tags else []})
        elif not cells:
            raise ValueError(f"text before the first '// %%' line: {line!r}")
        elif cells[-1]["cell_type"] == "markdown":
            if line.strip() and not line.startswith("//"):
                raise ValueError(f"markdown line without '// ': {line!r}")
            cells[-1]["lines"].append(line[3:] if line.startswith("// ") else line[2:])
        else:
            cells[-1]["lines"].append(line)
    return [
        {"cell_type": c["cell_type"], "source": "\n".join(c["lines"]).strip("\n"), "tags": c["tags"]}
        for c in cells
    ]


def notebook_of(name: str) -> dict:
    cells = []
    for i, cell in enumerate(parse((SOURCES / f"{name}.ts").read_text())):
        metadata = {"tags": cell["tags"]} if cell["tags"] else {}
        if "answer" in cell["tags"]:
            metadata["jupyter"] = {"source_hidden": True}
        out = {"cell_type": cell["cell_type"], "id": f"c{i:02d}", "metadata": metadata, "source": cell["source"]}
        if cell["cell_type"] == "code":
            out.update(execution_count=None, outputs=[])
        cells.append(out)
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": KERNEL,
            "language_info": {"name": "typescript", "file_extension": ".ts"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def names(args: list[str]) -> list[str]:
    available = sorted(p.stem for p in SOURCES.glob("*.ts"))
    for a in args:
        if a not in available:
            sys.exit(f"no notebook source notebooks/src/{a}.ts; there are: {', '.join(available)}")
    return args or available


def source_text(cell: dict) -> str:
    s = cell["source"]
    return "".join(s) if isinstance(s, list) else s


def add_chart_images(name: str, nb) -> bool:
    """Puts a PNG of every Plotly chart beside it (`image/png` in the same output), drawn by
    headless Chromium with plotly.js (site/build/chart-images.ts): viewers without a Plotly
    renderer (GitHub, nbviewer, classic Jupyter Notebook) show the picture, the others the chart."""
    outputs = [
        o
        for cell in nb.cells
        for o in cell.get("outputs", [])
        if PLOTLY_MIME in o.get("data", {})
    ]
    if not outputs:
        return True
    figures = json.dumps([o["data"][PLOTLY_MIME] for o in outputs])
    done = subprocess.run(
        ["node", str(ROOT / "dist" / "site" / "build" / "cli.js"), "chart-images"],
        input=figures, capture_output=True, text=True, cwd=ROOT,
    )
    if done.returncode != 0:
        print(f"{name}: cannot draw the chart pictures: {done.stderr.strip()}", file=sys.stderr)
        return False
    for output, picture in zip(outputs, json.loads(done.stdout)):
        output["data"]["image/png"] = picture
    return True


def execute(name: str, nb: dict, out: pathlib.Path, quick: bool) -> bool:
    """Executes `nb` in notebooks/ (the kernel's working folder), writes it to `out`."""
    import nbclient
    import nbformat
    from nbclient.exceptions import CellExecutionError

    os.environ["JUPYTER_PATH"] = str(ROOT / ".jupyter" / "share" / "jupyter")
    if quick:
        os.environ["BIREAL_QUICK"] = "1"
    else:
        os.environ.pop("BIREAL_QUICK", None)
    node = nbformat.from_dict(nb)
    client = nbclient.NotebookClient(
        node, kernel_name="tslab", timeout=CELL_TIMEOUT_S, resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    start = time.time()
    ok = True
    try:
        client.execute()
    except CellExecutionError:
        ok = False
    except Exception as error:  # kernel died, timeout
        ok = False
        print(f"{name}: {type(error).__name__}: {error}", file=sys.stderr)
    for cell in node.cells:
        cell.get("metadata", {}).pop("execution", None)
    if ok:
        ok = add_chart_images(name, node)
    nbformat.write(node, str(out))
    mode = "quick" if quick else "full"
    if ok:
        print(f"{name}: ok ({mode} mode, {time.time() - start:.0f} s)")
        return True
    failed = [
        (i, c)
        for i, c in enumerate(node.cells)
        if c.cell_type == "code"
        and any(o.get("name") == "stderr" or o.get("output_type") == "error" for o in c.get("outputs", []))
    ]
    print(f"{name}: FAILED ({mode} mode); executed notebook: {out}", file=sys.stderr)
    for i, cell in failed[-1:]:
        print(f"--- cell {i} source:\n{source_text(cell)}\n--- cell {i} stderr:", file=sys.stderr)
        for o in cell.outputs:
            if o.get("name") == "stderr":
                print(source_text({"source": o["text"]}), file=sys.stderr, end="")
            elif o.get("output_type") == "error":
                print("\n".join(o.get("traceback", [])), file=sys.stderr)
    return False


def is_stale(name: str) -> bool:
    """Whether notebooks/NAME.ipynb is missing or its cells' sources or tags differ from the source's."""
    path = NOTEBOOKS / f"{name}.ipynb"
    committed = json.loads(path.read_text()) if path.exists() else {"cells": []}

    def shape(cells: list[dict]) -> list[tuple]:
        return [(source_text(c), c.get("metadata", {}).get("tags", [])) for c in cells]

    return shape(committed["cells"]) != shape(notebook_of(name)["cells"])


def with_kept_outputs(name: str) -> tuple[dict, bool]:
    """The notebook of NAME's source, with the committed outputs when only markdown changed
    (the same code cells, sources and tags, in the same order): prose edits need no re-run."""
    nb = notebook_of(name)
    path = NOTEBOOKS / f"{name}.ipynb"
    if not path.exists():
        return nb, False
    committed = json.loads(path.read_text())

    def code(cells: list[dict]) -> list[dict]:
        return [c for c in cells if c["cell_type"] == "code"]

    old, new = code(committed["cells"]), code(nb["cells"])
    shape = lambda c: (source_text(c), c.get("metadata", {}).get("tags", []))  # noqa: E731
    if [shape(c) for c in old] != [shape(c) for c in new] or not any(c.get("outputs") for c in old):
        return nb, False
    for fresh, done in zip(new, old):
        fresh["outputs"], fresh["execution_count"] = done["outputs"], done.get("execution_count")
    nb["metadata"] = committed.get("metadata", nb["metadata"])
    return nb, True


def is_pictured(name: str) -> bool:
    """Whether every Plotly chart in notebooks/NAME.ipynb has its PNG beside it."""
    committed = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())
    return all(
        "image/png" in o["data"]
        for cell in committed["cells"]
        for o in cell.get("outputs", [])
        if PLOTLY_MIME in o.get("data", {})
    )


def main() -> None:
    command, *args = sys.argv[1:] or ["check"]
    if command == "build":
        for name in filter(is_stale, names(args)):
            nb, kept = with_kept_outputs(name)
            if kept:  # written as `run` writes it
                import nbformat

                nbformat.write(nbformat.from_dict(nb), str(NOTEBOOKS / f"{name}.ipynb"))
            else:
                (NOTEBOOKS / f"{name}.ipynb").write_text(json.dumps(nb, indent=1) + "\n")
            print(f"notebooks/{name}.ipynb" + (" (prose only: outputs kept)" if kept else ""))
    elif command == "retag":
        for name in names(args):
            path = NOTEBOOKS / f"{name}.ipynb"
            committed = json.loads(path.read_text())
            expected = notebook_of(name)["cells"]
            if [source_text(c) for c in committed["cells"]] != [c["source"] for c in expected]:
                sys.exit(f"notebooks/{name}.ipynb: sources changed, not only tags; run `npm run notebooks`")
            for cell, source in zip(committed["cells"], expected):
                cell["metadata"] = {**cell.get("metadata", {}), **source["metadata"]}
                if not source["metadata"]:
                    cell["metadata"].pop("tags", None)
            path.write_text(json.dumps(committed, indent=1, ensure_ascii=False) + "\n")
            print(f"notebooks/{name}.ipynb")
    elif command == "run":
        results = [execute(n, notebook_of(n), NOTEBOOKS / f"{n}.ipynb", quick=False) for n in names(args)]
        sys.exit(0 if all(results) else 1)
    elif command == "pictures":
        import nbformat

        for name in names(args):
            path = NOTEBOOKS / f"{name}.ipynb"
            nb = nbformat.read(str(path), as_version=4)
            if not add_chart_images(name, nb):
                sys.exit(1)
            nbformat.write(nb, str(path))
            print(f"notebooks/{name}.ipynb")
    elif command == "check":
        stale = [name for name in names(args) if is_stale(name)]
        if stale:
            sys.exit(
                f"notebooks out of date with notebooks/src: {', '.join(stale)}; "
                "run `npm run notebooks` (executes them in full mode) and commit the result"
            )
        unpictured = [name for name in names(args) if not is_pictured(name)]
        if unpictured:
            sys.exit(
                f"notebooks with a Plotly chart but no picture beside it: {', '.join(unpictured)}; "
                "run `npm run notebooks` (or `notebooks.py pictures NAME`) and commit the result"
            )
        out = ROOT / "runs" / "notebooks-quick"
        out.mkdir(parents=True, exist_ok=True)
        results = [execute(n, notebook_of(n), out / f"{n}.ipynb", quick=True) for n in names(args)]
        sys.exit(0 if all(results) else 1)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

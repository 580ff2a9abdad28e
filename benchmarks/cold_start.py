"""Cold start: import time of each function's handler with production dependencies only, and bundle sizes.

Production dependencies only: the Lambda layer's requirements (``infra.bundling.layer_requirements``:
the project's dependencies and its ``opensearch`` extra) plus boto3, which the Lambda runtime provides,
are ``pip install --target``-ed for this machine's Python into a cache folder, and the ``ragline``
package is copied beside them as the layer copies it (without ``local/``, the CLI and the demo corpus).
Each measurement is a fresh ``python -E -S`` process whose ``sys.path`` is the function's folder, that
folder and the standard library, nothing else (so nothing from the development venv can leak in). It
times ``import handler`` (the module Lambda loads), and, as a baseline in the same run, ``import boto3``
alone; runs alternate and the medians are compared. A third series adds the adapters a deployed
function builds on its first request (Bedrock embedder and generator, OpenSearch store, registry, S3).
``python -X importtime`` lists what the handler imports at module load; the heaviest are reported.

Sizes: the layer is built with ``infra.bundling.build_layer`` (arm64 wheels for CPython 3.12, as
``cdk synth`` builds it) and zipped; each function's folder is zipped as its code asset.

    .venv/bin/python benchmarks/cold_start.py [--runs 9] [--no-layer]

Target: the query handler's import under 2x boto3's.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import _bench

FUNCTIONS = _bench.REPO / "functions"
TARGET_RATIO = 2.0
PRODUCTION_ADAPTERS = (
    "ragline.embedders.bedrock",
    "ragline.generators.bedrock",
    "ragline.stores.opensearch",
    "ragline.registries.dynamodb",
    "ragline.objectstores.s3",
)


def _bundling() -> Any:
    # jsii's banner about this machine's Node.js version says nothing about the layer: keep it quiet.
    node = (
        subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip().lstrip("v").split(".")[0]
    )
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    if node.isdigit():
        os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", node)
    if str(_bench.REPO) not in sys.path:
        sys.path.insert(0, str(_bench.REPO))
    from infra import bundling  # imports aws_cdk and jsii: the infra extra

    return bundling


def cache_dir() -> Path:
    base = os.environ.get("RAGLINE_BENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "ragline", "bench"
    )
    return Path(base)


def production_site(requirements: list[str] | None = None) -> Path:
    """A folder with the layer's requirements (and boto3) for this Python, and the ragline package as the layer
    has it."""
    bundling = _bundling()
    requirements = requirements or bundling.layer_requirements()
    key = hashlib.sha256("\n".join([sys.version, *requirements]).encode()).hexdigest()[:12]
    site = cache_dir() / f"prod-site-{key}"
    if not (site / ".complete").exists():
        shutil.rmtree(site, ignore_errors=True)
        site.mkdir(parents=True)
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            "--no-compile",
            "--only-binary=:all:",
            "--target",
            str(site),
            *requirements,
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"pip could not install {requirements}:\n{result.stderr[-2000:]}")
        (site / ".complete").write_text("\n".join(requirements))
    for cache in list(site.rglob("__pycache__")):  # as the layer ships: sources only
        shutil.rmtree(cache, ignore_errors=True)
    package = site / "ragline"
    shutil.rmtree(package, ignore_errors=True)  # always the current source
    shutil.copytree(bundling.PACKAGE, package, ignore=shutil.ignore_patterns(*bundling.PACKAGE_EXCLUDES))
    functions = site / "_functions"
    shutil.rmtree(functions, ignore_errors=True)
    shutil.copytree(FUNCTIONS, functions, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return site


def compiled_twin(site: Path) -> Path:
    """A copy of ``site`` with every module byte-compiled (.pyc beside the sources, as a warm cache)."""
    twin = site.with_name(site.name + "-compiled")
    shutil.rmtree(twin, ignore_errors=True)
    shutil.copytree(site, twin)
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", str(twin)], capture_output=True)
    return twin


def _isolated(
    code: str, function: str | None, site: Path, extra_args: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    paths = ([str(site / "_functions" / function)] if function else []) + [str(site)]
    prelude = f"import sys; sys.path[:0] = {paths!r}; sys.dont_write_bytecode = True\n"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "bench",
        "LANG": "C.UTF-8",
    }
    return subprocess.run(
        [sys.executable, "-E", "-S", *extra_args, "-c", prelude + code], capture_output=True, text=True, env=env
    )


_TIMED = """
import time
started = time.perf_counter()
{imports}
print(repr((time.perf_counter() - started) * 1000))
"""


def import_ms(function: str | None, modules: list[str], site: Path) -> float:
    code = _TIMED.format(imports="\n".join(f"import {m}" for m in modules))
    result = _isolated(code, function, site)
    if result.returncode != 0:
        raise RuntimeError(f"import {modules} failed:\n{result.stderr[-3000:]}")
    return float(result.stdout.strip().splitlines()[-1])


def importtime(function: str, site: Path, top: int = 12) -> dict[str, list[dict[str, Any]]]:
    """What ``import handler`` imports (-X importtime): the handler's direct imports by cumulative time,
    and the time spent in each top-level package's own modules (self time summed by package)."""
    result = _isolated("import handler", function, site, ("-X", "importtime"))
    rows = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)", line)
        if not match:
            continue
        self_us, cumulative_us, indent, name = int(match[1]), int(match[2]), len(match[3]), match[4]
        rows.append(
            {
                "module": name,
                "self_ms": self_us / 1000,
                "cumulative_ms": cumulative_us / 1000,
                "depth": (indent - 1) // 2,
            }
        )
    top_level = [r for r in rows if r["depth"] == 0]
    # Below the handler itself: its direct imports are at depth 1.
    handler = [r for r in rows if r["module"] == "handler"]
    direct = [r for r in rows if r["depth"] == 1] if handler else top_level
    ranked = sorted(direct or top_level, key=lambda r: r["cumulative_ms"], reverse=True)
    by_package: dict[str, float] = {}
    for r in rows:
        root = r["module"].split(".")[0]
        by_package[root] = by_package.get(root, 0.0) + r["self_ms"]
    packages = sorted(by_package.items(), key=lambda item: item[1], reverse=True)
    return {
        "direct": [{"module": r["module"], "cumulative_ms": round(r["cumulative_ms"], 1)} for r in ranked[:top]],
        "self_by_package": [{"package": name, "self_ms": round(ms, 1)} for name, ms in packages[:top]],
        "modules": len(rows),
    }


def zipped_size(folder: Path) -> tuple[int, int, int]:
    """(zipped bytes, unzipped bytes, files) of ``folder`` zipped with deflate, as a CDK asset is (no .pyc)."""
    handle, name = tempfile.mkstemp(suffix=".zip")
    os.close(handle)
    raw = files = 0
    with zipfile.ZipFile(name, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.relative_to(folder).parts and path.suffix != ".pyc":
                archive.write(path, path.relative_to(folder))
                raw += path.stat().st_size
                files += 1
    size = os.path.getsize(name)
    os.unlink(name)
    return size, raw, files


def layer_sizes(architecture: str = "arm64") -> dict[str, Any]:
    bundling = _bundling()
    out = Path(tempfile.mkdtemp(prefix="ragline-layer-"))
    try:
        site = bundling.build_layer(out, architecture=architecture)
        zipped, raw, files = zipped_size(out)
        biggest = sorted(
            (
                (sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else p.stat().st_size, p.name)
                for p in site.iterdir()
            ),
            reverse=True,
        )[:8]
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return {
        "architecture": architecture,
        "zipped_bytes": zipped,
        "unzipped_bytes": raw,
        "files": files,
        "largest_entries": [{"name": name, "bytes": size} for size, name in biggest],
        "requirements": bundling.layer_requirements(),
    }


def _series(site: Path, functions: list[str], runs: int) -> dict[str, Any]:
    series: dict[str, list[float]] = {"boto3": []}
    for name in functions:
        series[name] = []
        series[f"{name}+adapters"] = []
    for _ in range(runs):  # alternate, so that drift in machine load touches every series alike
        series["boto3"].append(import_ms(None, ["boto3"], site))
        for name in functions:
            series[name].append(import_ms(name, ["handler"], site))
            series[f"{name}+adapters"].append(import_ms(name, ["handler", *PRODUCTION_ADAPTERS], site))
    medians = {name: statistics.median(values) for name, values in series.items()}
    return {
        "import_ms": {name: _bench.summary(values, 1) for name, values in series.items()},
        "ratio_to_boto3": {name: round(medians[name] / medians["boto3"], 2) for name in series if name != "boto3"},
    }


def run(runs: int = 9, layer: bool = True) -> dict[str, Any]:
    site = production_site()
    twin = compiled_twin(site)
    functions = sorted(p.name for p in FUNCTIONS.iterdir() if (p / "handler.py").is_file())
    compiled = _series(twin, functions, runs)
    source = _series(site, functions, max(3, runs // 2))
    results: dict[str, Any] = {
        "runs": runs,
        "python": sys.version.split()[0],
        # Headline: with .pyc files, the usual way to compare import cost.
        "import_ms": compiled["import_ms"],
        "ratio_to_boto3": compiled["ratio_to_boto3"],
        # As the layer ships today (pip --no-compile, no .pyc; /opt is read-only, so nothing gets cached).
        "source_only": source,
        "heaviest_imports": {name: importtime(name, twin) for name in functions},
        "site": str(site),
    }
    results["function_zip"] = {}
    for name in functions:
        zipped, raw, files = zipped_size(FUNCTIONS / name)
        results["function_zip"][name] = {"zipped_bytes": zipped, "unzipped_bytes": raw, "files": files}
    if layer:
        try:
            results["layer"] = layer_sizes()
        except Exception as error:  # pip for another platform can fail offline: report, don't crash
            results["layer"] = {"error": f"{type(error).__name__}: {str(error)[:500]}"}
    if "query" in results["ratio_to_boto3"]:
        ratio = results["ratio_to_boto3"]["query"]
        results["target"] = {
            "what": "query handler import / boto3 import (medians)",
            "limit": TARGET_RATIO,
            "value": ratio,
            "met": ratio < TARGET_RATIO,
        }
    return results


def print_table(results: dict[str, Any]) -> None:
    source = results["source_only"]
    rows = [
        [
            name,
            s["p50"],
            s["min"],
            s["max"],
            results["ratio_to_boto3"].get(name, 1.0),
            source["import_ms"][name]["p50"],
            source["ratio_to_boto3"].get(name, 1.0),
        ]
        for name, s in results["import_ms"].items()
    ]
    print(
        f"cold start: import time with production dependencies only ({results['runs']} fresh processes "
        f"each, Python {results['python']})"
    )
    print(
        _bench.table(
            rows,
            ["import", "median ms (.pyc)", "min ms", "max ms", "x boto3", "median ms (no .pyc)", "x boto3 (no .pyc)"],
        )
    )
    for name, heaviest in results["heaviest_imports"].items():
        print(
            f"{name} handler ({heaviest['modules']} modules), direct imports: "
            + ", ".join(f"{h['module']} {h['cumulative_ms']} ms" for h in heaviest["direct"][:6])
        )
        print(
            "   own time by package: "
            + ", ".join(f"{h['package']} {h['self_ms']} ms" for h in heaviest["self_by_package"][:8])
        )
    size_rows = [
        [f"function {name}", round(z["zipped_bytes"] / 1024, 1), round(z["unzipped_bytes"] / 1024, 1), z["files"]]
        for name, z in results["function_zip"].items()
    ]
    layer = results.get("layer") or {}
    if "zipped_bytes" in layer:
        size_rows.append(
            [
                f"layer ({layer['architecture']})",
                round(layer["zipped_bytes"] / 1024, 1),
                round(layer["unzipped_bytes"] / 1024, 1),
                layer["files"],
            ]
        )
    print(_bench.table(size_rows, ["asset", "zipped KiB", "unzipped KiB", "files"]))
    if "error" in layer:
        print(f"layer: {layer['error']}")
    if "target" in results:
        t = results["target"]
        print(f"target: {t['what']} < {t['limit']}x: {t['value']}x -> {'met' if t['met'] else 'MISSED'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--no-layer", action="store_true", help="skip building the arm64 layer")
    parser.add_argument("--no-wait", action="store_true")
    args = parser.parse_args(argv)
    quiet = _bench.before_run(args.no_wait)
    results = run(args.runs, layer=not args.no_layer)
    results["conditions"] = _bench.conditions(quiet)
    print_table(results)
    print(f"wrote {_bench.write_result('cold_start', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

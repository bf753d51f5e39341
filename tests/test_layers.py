"""The package layers of xling_jax/__init__.py: every import (function-level ones included) goes to the
importer's own layer or one before it, and xling_jax modules are imported inside functions only by the
CLI or where a comment just above says the import is lazy (for start-up time), never to dodge a circle."""
import ast
import pathlib
import re

import xling_jax

PACKAGE = pathlib.Path(xling_jax.__file__).parent


def layers() -> dict[str, int]:
    """{package: layer index} from the table in xling_jax/__init__.py's docstring."""
    out = {}
    for i, line in enumerate(re.findall(r"^    (\S.*?)\s{2,}\S", xling_jax.__doc__, re.M)):
        for name in line.split(","):
            out[name.strip()] = i
    return out


def imports():
    """(importing package, imported package, file, line, inside a function without a comment saying it
    is lazy on its line or the two before) for every xling_jax import."""
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).parts
        pkg = rel[0] if len(rel) > 1 else rel[0][:-3]
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        tree = ast.parse(source)
        nested = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                  for n in ast.walk(f)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module + "." + a.name for a in node.names] if node.module == "xling_jax" else [node.module]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "xling_jax" and len(parts) > 1 and parts[1] != "__version__":
                    said = "lazily" in " ".join(lines[max(node.lineno - 3, 0):node.lineno])
                    yield pkg, parts[1], "/".join(rel), node.lineno, id(node) in nested and not said


def test_every_package_has_a_layer():
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    packages |= {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert packages == set(layers())


def test_imports_go_to_the_same_or_an_earlier_layer():
    layer = layers()
    upward = [f"{file}:{line} ({pkg}) imports {dep}" for pkg, dep, file, line, _ in imports()
              if layer[dep] > layer[pkg]]
    assert not upward, "\n".join(upward)


def test_function_level_imports_are_lazy_on_purpose():
    """Elsewhere a function-level import hides a circle (the CLI's are for start-up time: cli/main.py)."""
    nested = [f"{file}:{line} imports xling_jax.{dep}" for pkg, dep, file, line, inner in imports()
              if inner and pkg != "cli"]
    assert not nested, "\n".join(nested)

"""Provider SDKs loaded one module at a time: only the classes the program uses are imported.

The generated SDKs make each service a lazily imported sub-package (`pulumi_gcp.compute`), but the
first attribute read runs its `__init__`, which imports every resource module of that service:
`pulumi_gcp.compute` alone is ~290 modules for the ~15 classes the program uses (41% of a prod
preview's import time, `python -X importtime`). `install()` replaces each not-yet-loaded sub-package
with a `LightPackage` that, per attribute, imports just the module defining it (generated SDKs name
the module after the class: `Network` in `network.py`, `Namespace` in `Namespace.py`, `NetworkArgs`
beside it, nested input types in `_inputs.py`). Anything else falls back to running the sub-package's
own `__init__` into it, so every name the SDK exports stays reachable; classes are the SDK's own
(a submodule is imported once), so nothing else changes: `gcp.compute.Network(...)` reads the same.
The nested input types of each service (`_inputs.py`) load with postponed annotations
(LazyAnnotationsLoader), which the SDK resolves on use exactly as it resolves eager ones.
"""

from __future__ import annotations
import __future__

import importlib
import importlib.machinery
import importlib.util
import marshal
import os
import re
import sys
import types
from pathlib import Path
from typing import Any

PROVIDERS = ("pulumi_aws", "pulumi_gcp", "pulumi_kubernetes", "pulumi_tls", "pulumi_random")
_SHARED = ("_inputs", "outputs", "_enums")  # where nested input/output types and enums live
# word boundaries of a class name, acronyms kept whole: VPNTunnel -> vpn_tunnel, SSLCertificate -> ssl_certificate
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def _snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


class LightPackage(types.ModuleType):
    """A generated SDK sub-package whose attributes are imported module by module (see the module doc)."""

    def __init__(self, name: str, spec: importlib.machinery.ModuleSpec) -> None:
        super().__init__(name)
        self.__spec__ = spec
        self.__loader__ = spec.loader
        self.__file__ = spec.origin
        self.__path__ = list(spec.submodule_search_locations or ())
        self.__package__ = name
        self._light_whole = False

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") or attr == "_light_whole":
            raise AttributeError(attr)
        base = Path(self.__path__[0])
        stem = attr[:-4] if attr.endswith("Args") else attr
        invoke = attr.removesuffix("_output")  # `get_project_output` lives beside `get_project` in get_project.py
        for module in dict.fromkeys((attr, stem, invoke, _snake(attr), _snake(stem), *_SHARED)):
            if (base / module / "__init__.py").is_file():
                value = light(f"{self.__name__}.{module}")
            elif (base / f"{module}.py").is_file():
                found = importlib.import_module(f"{self.__name__}.{module}")
                if hasattr(found, attr):  # the class (k8s names its file after it: core/v1/Namespace.py)
                    value = getattr(found, attr)
                elif module == attr:  # a plain submodule (`outputs`)
                    value = found
                else:
                    continue
            else:
                continue
            setattr(self, attr, value)
            return value
        if not self._light_whole:  # the package's own __init__, once: every exported name
            self._light_whole = True
            code = compile(Path(self.__file__).read_text(), self.__file__, "exec")
            exec(code, self.__dict__)  # the SDK's own package __init__
            if attr in self.__dict__:
                return self.__dict__[attr]
        raise AttributeError(f"module {self.__name__!r} has no attribute {attr!r}")


def light(fullname: str) -> types.ModuleType:
    """`fullname` as a LightPackage, unless it is already imported (then the module as it is)."""
    current = sys.modules.get(fullname)
    if current is not None and (isinstance(current, LightPackage) or type(current).__name__ != "_LazyModule"):
        return current
    spec = importlib.util.find_spec(fullname)
    if spec is None or not spec.submodule_search_locations:
        return importlib.import_module(fullname)
    package = LightPackage(fullname, spec)
    sys.modules[fullname] = package
    parent, _, child = fullname.rpartition(".")
    if parent in sys.modules:
        setattr(sys.modules[parent], child, package)
    return package


class LazyAnnotationsLoader(importlib.machinery.SourceFileLoader):
    """Loads a generated `_inputs.py` as if it began with `from __future__ import annotations`.

    Those modules define every nested input type of a service (wafv2: ~1,000 classes) with annotations
    such as `pulumi.Input[Optional[Sequence[pulumi.Input['RuleGroupRuleArgs']]]]`, which Python 3.11
    evaluates eagerly: building the typing objects is most of the module's run time (measured: the
    wafv2 module runs 3x faster with postponed annotations). Postponed annotations are how the SDK
    already resolves its types: pulumi._types reads them with `typing.get_type_hints` and the class's
    module globals (PEP 563), so serialization and type translation are unchanged (the suite's wire
    form assertions run through it). The code is cached beside the SDK's own, under its own tag."""

    FLAGS = __future__.annotations.compiler_flag
    TAG = "postponed"

    def get_code(self, fullname: str) -> types.CodeType:
        source_path = self.get_filename(fullname)
        cached = importlib.util.cache_from_source(source_path, optimization=self.TAG)
        stat = Path(source_path).stat()
        stamp = f"{stat.st_mtime_ns}:{stat.st_size}".encode()
        try:
            data = Path(cached).read_bytes()
            head, _, body = data.partition(b"\n")
            if head == stamp:
                return marshal.loads(body)
        except (OSError, ValueError, EOFError):
            pass
        code = compile(self.get_data(source_path), source_path, "exec", flags=self.FLAGS, dont_inherit=True)
        try:
            Path(cached).parent.mkdir(parents=True, exist_ok=True)
            temp = Path(f"{cached}.{os.getpid()}")
            temp.write_bytes(stamp + b"\n" + marshal.dumps(code))
            temp.replace(cached)  # atomic: a parallel process reads the old file or the new one
        except OSError:
            pass  # a read-only site-packages: compile each time
        return code


class LazyAnnotationsFinder:
    """Routes the providers' `_inputs` modules to LazyAnnotationsLoader; everything else is untouched."""

    @staticmethod
    def find_spec(name: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if not (name.endswith("._inputs") and name.split(".", 1)[0] in PROVIDERS):
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            spec.loader = LazyAnnotationsLoader(name, spec.origin)
        return spec


def install(providers: tuple[str, ...] = PROVIDERS) -> None:
    """Import the provider SDKs' top packages and make their unloaded sub-packages light (idempotent)."""
    if LazyAnnotationsFinder not in sys.meta_path:
        sys.meta_path.insert(0, LazyAnnotationsFinder)
    for provider in providers:
        top = importlib.import_module(provider)
        for name, value in list(vars(top).items()):
            if isinstance(value, types.ModuleType) and type(value).__name__ == "_LazyModule":
                light(f"{provider}.{name}")

"""Prints the public surface of the installed (or PYTHONPATH) shark_auth
package as JSON, read with inspect: for every name in shark_auth.__all__
(and shark_auth.claims.AgentTokenClaims, as "claims.AgentTokenClaims"), a
class's constructor parameters, public methods with their parameters,
properties, and a dataclass's fields; a function's parameters. The parity
test compares this with the TypeScript package and sdk/parity/parity.json."""
import ast
import dataclasses
import inspect
import json
import sys
import textwrap

import shark_auth
import shark_auth.claims


def params(fn):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    out = []
    for p in sig.parameters.values():
        if p.name in ("self", "cls") or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        out.append(p.name)
    return out


def describe_class(cls):
    d = {"kind": "class", "init": [], "methods": {}, "properties": [], "fields": []}
    if issubclass(cls, BaseException):
        d["kind"] = "error"
        d["base"] = cls.__mro__[1].__name__
    if dataclasses.is_dataclass(cls):
        d["kind"] = "result"
        d["fields"] = [f.name for f in dataclasses.fields(cls)]
    if "__init__" in vars(cls) or any("__init__" in vars(b) for b in cls.__mro__[1:-1]):
        d["init"] = params(cls.__init__)
    for name, member in inspect.getmembers(cls):
        if name.startswith("_"):
            continue
        if isinstance(inspect.getattr_static(cls, name), property):
            d["properties"].append(name)
        elif inspect.isfunction(member) or inspect.ismethod(member):
            # Methods the class defines or inherits from shark_auth (not object/Exception).
            owner = next((b for b in cls.__mro__ if name in vars(b)), None)
            if owner is not None and owner.__module__.startswith("shark_auth"):
                d["methods"][name] = params(member)
    # Instance attributes (Client.agents, AgentTokenClaims.raw) exist only on
    # instances: read them from the `self.X = ...` assignments of __init__.
    for name in init_attributes(cls):
        if not name.startswith("_") and name not in d["fields"] and name not in d["properties"] \
                and name not in d["methods"]:
            d["properties"].append(name)
    d["properties"].sort()
    return d


def init_attributes(cls):
    names = []
    for base in cls.__mro__:
        init = vars(base).get("__init__")
        if init is None or not base.__module__.startswith("shark_auth"):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
        except (OSError, TypeError, SyntaxError):
            continue
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
            for t in targets:
                for el in (t.elts if isinstance(t, ast.Tuple) else [t]):
                    if isinstance(el, ast.Attribute) and isinstance(el.value, ast.Name) \
                            and el.value.id == "self" and el.attr not in names:
                        names.append(el.attr)
    return names


def main():
    out = {"classes": {}, "functions": {}}
    names = list(shark_auth.__all__)
    for name in names:
        obj = getattr(shark_auth, name)
        if inspect.isclass(obj):
            out["classes"][name] = describe_class(obj)
        elif callable(obj):
            out["functions"][name] = params(obj)
    out["classes"]["claims.AgentTokenClaims"] = describe_class(shark_auth.claims.AgentTokenClaims)
    json.dump(out, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Assembles the OpenAPI 3.1 document from api/openapi/ and writes it as YAML
and as a C source that embeds it (api_openapi_yaml, api_openapi_yaml_len).

    assemble.py FRAGMENT_DIR OUT_YAML OUT_C [DEPFILE]

FRAGMENT_DIR holds base.yaml (openapi, info, servers, components, security,
tags) and any number of paths-<area>.yaml (a mapping of path -> Path Item)
and components-<area>.yaml (a mapping of component kind -> name -> object).
Every such file is picked up; the build fails on a path, component or
operationId defined twice, on a $ref that points nowhere, and on any other
file name or top-level key it does not know. The depfile names the directory
itself, so adding a fragment rebuilds too."""
import glob
import os
import sys

import yaml

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def fail(msg):
    sys.stderr.write("assemble.py: %s\n" % msg)
    sys.exit(1)


def load(path):
    with open(path, encoding="utf-8") as f:
        try:
            doc = yaml.safe_load(f)
        except yaml.YAMLError as e:
            fail("%s: %s" % (path, e))
    if not isinstance(doc, dict):
        fail("%s: the top level must be a mapping" % path)
    return doc


def refs(node, out):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                out.append(v)
            else:
                refs(v, out)
    elif isinstance(node, list):
        for v in node:
            refs(v, out)
    return out


def resolve(doc, ref):
    if not ref.startswith("#/"):
        return False
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def assemble(root):
    base_path = os.path.join(root, "base.yaml")
    doc = load(base_path)
    if not str(doc.get("openapi", "")).startswith("3.1."):
        fail("%s: openapi must be 3.1.x" % base_path)
    if doc.get("paths"):
        fail("%s: paths belong in paths-<area>.yaml files" % base_path)
    doc["paths"] = {}
    components = doc.setdefault("components", {})
    seen = {}
    files = [base_path]
    for path in sorted(glob.glob(os.path.join(root, "*.yaml"))):
        name = os.path.basename(path)
        if name == "base.yaml":
            continue
        files.append(path)
        frag = load(path)
        if name.startswith("paths-"):
            for p, item in frag.items():
                if not isinstance(p, str) or not p.startswith("/"):
                    fail("%s: %r is not a path" % (name, p))
                if p in doc["paths"]:
                    fail("%s: path %s is already defined in %s" % (name, p, seen[p]))
                if not isinstance(item, dict):
                    fail("%s: %s must be a Path Item mapping" % (name, p))
                doc["paths"][p] = item
                seen[p] = name
        elif name.startswith("components-"):
            for kind, entries in frag.items():
                if not isinstance(entries, dict):
                    fail("%s: %s must be a mapping of name -> object" % (name, kind))
                into = components.setdefault(kind, {})
                for key, value in entries.items():
                    if key in into:
                        fail("%s: components/%s/%s is defined twice" % (name, kind, key))
                    into[key] = value
        else:
            fail("%s: name it paths-<area>.yaml or components-<area>.yaml" % name)
    ops = {}
    for p, item in doc["paths"].items():
        for m in METHODS:
            op = item.get(m)
            if op is None:
                continue
            oid = op.get("operationId")
            if not oid:
                fail("%s %s has no operationId" % (m.upper(), p))
            if oid in ops:
                fail("operationId %s is used by %s and %s %s" % (oid, ops[oid], m.upper(), p))
            ops[oid] = "%s %s" % (m.upper(), p)
            # Status codes as strings (YAML reads an unquoted 200 as a number), in
            # order, default last, however a fragment lists them.
            if isinstance(op.get("responses"), dict):
                op["responses"] = {str(k): v for k, v in sorted(
                    op["responses"].items(), key=lambda kv: (str(kv[0]) == "default", str(kv[0])))}
    for ref in refs(doc, []):
        if not resolve(doc, ref):
            fail("$ref %s points nowhere" % ref)
    return doc, files


def c_literal(data):
    out = ['"']
    for b in data:
        c = chr(b)
        if c == "\n":
            out.append('\\n"\n"')
        elif c in '"\\?':
            out.append("\\" + c)
        elif 32 <= b < 127:
            out.append(c)
        else:
            out.append("\\%03o" % b)
    out.append('"')
    return "".join(out)


def main():
    if len(sys.argv) not in (4, 5):
        fail("usage: assemble.py FRAGMENT_DIR OUT_YAML OUT_C [DEPFILE]")
    root, out_yaml, out_c = sys.argv[1:4]
    doc, files = assemble(root)
    # ASCII only (others escaped): a client that guesses the charset reads it right.
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=False, width=100)
    with open(out_yaml, "w", encoding="utf-8") as f:
        f.write(text)
    data = text.encode("utf-8")
    with open(out_c, "w", encoding="utf-8") as f:
        f.write("/* Generated by api/assemble.py from api/openapi/; do not edit. */\n")
        f.write("#include <stddef.h>\n\n")
        f.write("extern const char api_openapi_yaml[];\nextern const size_t api_openapi_yaml_len;\n")
        f.write("const char api_openapi_yaml[] =\n%s;\n" % c_literal(data))
        f.write("const size_t api_openapi_yaml_len = sizeof(api_openapi_yaml) - 1;\n")
    if len(sys.argv) == 5:
        with open(sys.argv[4], "w", encoding="utf-8") as f:
            deps = [root] + files + [os.path.abspath(__file__)]
            f.write("%s: %s\n" % (out_yaml, " ".join(d.replace(" ", "\\ ") for d in deps)))


if __name__ == "__main__":
    main()

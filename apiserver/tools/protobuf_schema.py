#!/usr/bin/env python3
"""Regenerates apiserver/protobuf-data/k8s-v1.33-protobuf.json, the schema the protobuf codec walks.

Three inputs, cross-checked against each other (any disagreement aborts):

1. The Go struct facts of v1.33 (field order, JSON names, `omitempty`, pointer or value, inline
   embedding, protobuf field numbers): read from the Go runtime type descriptors of the
   `kubectl` v1.33 binary (Google Cloud SDK's `kubectl.1.33`, Go 1.24, amd64, not PIE), which
   carries every k8s.io/api and apimachinery type with its struct tags.
2. The same facts for apiextensions.k8s.io/v1, which kubectl does not link: parsed from the Go
   declarations of k8s.io/apiextensions-apiserver v0.33.x, `pkg/apis/apiextensions/v1/types.go`
   and `types_jsonschema.go` (struct tags and field types only).
3. The protobuf wire shapes (scalar kinds, repeated, maps, wrapper messages) from the prost
   bindings of the upstream `generated.proto` files in the crates.io crate `k8s-pb` 0.9.

Usage:
  python3 protobuf_schema.py KUBECTL_1_33 APIEXT_TYPES_DIR K8S_PB_SRC_DIR > ../protobuf-data/k8s-v1.33-protobuf.json

APIEXT_TYPES_DIR may instead be an earlier output (`k8s-v1.33-protobuf.json`): its
apiextensions.k8s.io/v1 messages and kinds are kept as they are, and everything kubectl links is
read again (how new group-versions are added without the apiextensions sources at hand).
"""
import json
import os
import re
import struct
import sys

# Group-versions whose kinds the server decodes, by Go package.
PACKAGES = {
    "k8s.io/api/core/v1": "v1",
    "k8s.io/api/apps/v1": "apps/v1",
    "k8s.io/api/authentication/v1": "authentication.k8s.io/v1",
    "k8s.io/api/authorization/v1": "authorization.k8s.io/v1",
    "k8s.io/api/autoscaling/v1": "autoscaling/v1",
    "k8s.io/api/autoscaling/v2": "autoscaling/v2",
    "k8s.io/api/batch/v1": "batch/v1",
    "k8s.io/api/certificates/v1": "certificates.k8s.io/v1",
    "k8s.io/api/admissionregistration/v1": "admissionregistration.k8s.io/v1",
    "k8s.io/api/flowcontrol/v1": "flowcontrol.apiserver.k8s.io/v1",
    "k8s.io/api/coordination/v1": "coordination.k8s.io/v1",
    "k8s.io/api/discovery/v1": "discovery.k8s.io/v1",
    "k8s.io/api/events/v1": "events.k8s.io/v1",
    "k8s.io/api/networking/v1": "networking.k8s.io/v1",
    "k8s.io/api/node/v1": "node.k8s.io/v1",
    "k8s.io/api/policy/v1": "policy/v1",
    "k8s.io/api/rbac/v1": "rbac.authorization.k8s.io/v1",
    "k8s.io/api/scheduling/v1": "scheduling.k8s.io/v1",
    "k8s.io/api/storage/v1": "storage.k8s.io/v1",
    "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1": "apiextensions.k8s.io/v1",
    "k8s.io/apimachinery/pkg/apis/meta/v1": "meta.k8s.io/v1",
}
META = "k8s.io/apimachinery/pkg/apis/meta/v1"
APIEXT = "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
# meta/v1 kinds that every group-version registers (metav1.AddToGroupVersion).
SHARED_META_KINDS = ["DeleteOptions", "Status", "CreateOptions", "UpdateOptions", "PatchOptions",
                     "GetOptions", "ListOptions", "WatchEvent"]
# meta.k8s.io/v1 kinds only that version serves (metadata-only lists for Go metadata clients).
META_ONLY_KINDS = ["PartialObjectMetadata", "PartialObjectMetadataList"]

# Types whose JSON form is not their struct's: the codec implements these by name.
CUSTOM = {
    "k8s.io/apimachinery/pkg/api/resource.Quantity": "quantity",
    META + ".Time": "time",
    META + ".MicroTime": "microtime",
    META + ".Duration": "duration",
    META + ".FieldsV1": "fieldsv1",
    "k8s.io/apimachinery/pkg/util/intstr.IntOrString": "intorstring",
    "k8s.io/apimachinery/pkg/runtime.RawExtension": "rawextension",
    APIEXT + ".JSON": "json",
    APIEXT + ".JSONSchemaPropsOrBool": "propsorbool",
    APIEXT + ".JSONSchemaPropsOrArray": "propsorarray",
    APIEXT + ".JSONSchemaPropsOrStringArray": "propsorstringarray",
}

KINDS = {1: "bool", 2: "int", 3: "int8", 4: "int16", 5: "int32", 6: "int64", 7: "uint", 8: "uint8",
         9: "uint16", 10: "uint32", 11: "uint64", 12: "uintptr", 13: "float32", 14: "float64",
         17: "array", 18: "chan", 19: "func", 20: "interface", 21: "map", 22: "ptr", 23: "slice",
         24: "string", 25: "struct", 26: "unsafeptr"}


def fail(msg):
    sys.exit("protobuf_schema: " + msg)


# ---------------------------------------------------------------- Go binary type descriptors
class GoBinary:
    """Go 1.21+ runtime type descriptors (abi.Type is 48 bytes on amd64)."""

    def __init__(self, path):
        self.data = open(path, "rb").read()
        self.sections = self._sections()
        self.types_base = self.sections[".rodata"][0]
        addr, size, _ = self.sections[".typelink"]
        raw = self.data[self.off(addr):self.off(addr) + size]
        self.typelinks = [self.types_base + o for (o,) in struct.iter_unpack("<i", raw)]
        self.cache = {}

    def _sections(self):
        d = self.data
        if d[:4] != b"\x7fELF" or d[4] != 2:
            fail("kubectl is not a 64-bit ELF")
        shoff, = struct.unpack_from("<Q", d, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", d, 0x3A)
        hdrs = [struct.unpack_from("<IIQQQQIIQQ", d, shoff + i * shentsize) for i in range(shnum)]
        stroff = hdrs[shstrndx][4]
        out = {}
        for h in hdrs:
            name = d[stroff + h[0]: d.index(b"\0", stroff + h[0])].decode()
            out[name] = (h[3], h[5], h[4])
        return out

    def off(self, addr):
        for addr0, size, foff in self.sections.values():
            if addr0 and addr0 <= addr < addr0 + size:
                return foff + addr - addr0
        raise ValueError("address %#x is in no section" % addr)

    def u64(self, addr):
        return struct.unpack_from("<Q", self.data, self.off(addr))[0]

    def _varint(self, o):
        v = s = 0
        while True:
            b = self.data[o]
            o += 1
            v |= (b & 0x7F) << s
            s += 7
            if b < 0x80:
                return v, o

    def name(self, addr):
        o = self.off(addr)
        flags = self.data[o]
        n, o = self._varint(o + 1)
        name = self.data[o:o + n].decode()
        o += n
        tag = ""
        if flags & 2:
            t, o = self._varint(o)
            tag = self.data[o:o + t].decode()
        return name, tag, flags

    def typ(self, addr):
        """A normalised Go type: kind, name, pkg and elem/key/fields, recursively by address."""
        if addr in self.cache:
            return self.cache[addr]
        o = self.off(addr)
        _size, _ptrdata, _hash, tflag, _a, _fa, kind = struct.unpack_from("<QQIBBBB", self.data, o)
        stroff, = struct.unpack_from("<i", self.data, o + 40)
        kind = KINDS.get(kind & 0x1F, "?")
        name = self.name(self.types_base + stroff)[0]
        if tflag & 2:
            name = name[1:]
        t = {"kind": kind, "name": name.split(".")[-1] if tflag & 4 else "", "pkg": ""}
        self.cache[addr] = t
        uncommon = {"ptr": 56, "slice": 56, "struct": 80, "interface": 80, "array": 72, "chan": 64,
                    "func": 56}.get(kind, 48)
        if kind == "map":
            uncommon = None
        if tflag & 1 and uncommon is not None:
            pkgoff, = struct.unpack_from("<i", self.data, self.off(addr + uncommon))
            if pkgoff:
                t["pkg"] = self.name(self.types_base + pkgoff)[0]
        if kind in ("ptr", "slice", "array"):
            t["elem"] = self.u64(addr + 48)
        elif kind == "map":
            t["key"], t["elem"] = self.u64(addr + 48), self.u64(addr + 56)
        elif kind == "struct":
            fptr, flen = self.u64(addr + 56), self.u64(addr + 64)
            t["fields"] = []
            for i in range(flen):
                fa = fptr + i * 24
                fname, ftag, fflags = self.name(self.u64(fa))
                t["fields"].append({"name": fname, "tag": ftag, "embedded": bool(fflags & 8),
                                    "type": self.u64(fa + 8)})
        return t

    def resolve(self, t):
        """Replaces type addresses by type dicts (lazily, cycles share dicts)."""
        for k in ("elem", "key"):
            if isinstance(t.get(k), int):
                t[k] = self.resolve(self.typ(t[k]))
        for f in t.get("fields", []):
            if isinstance(f["type"], int):
                f["type"] = self.resolve(self.typ(f["type"]))
        return t

    def named_structs(self):
        """Every named struct type reachable from the type links, by "pkg.Name"."""
        seen, out, stack = set(), {}, list(self.typelinks)
        while stack:
            a = stack.pop()
            if a in seen:
                continue
            seen.add(a)
            t = self.typ(a)
            if t["kind"] == "struct" and t["name"] and t["pkg"]:
                out[t["pkg"] + "." + t["name"]] = a
            for k in ("elem", "key"):
                if k in t and isinstance(t[k], int):
                    stack.append(t[k])
            for f in t.get("fields", []):
                if isinstance(f["type"], int):
                    stack.append(f["type"])
        return out


# ---------------------------------------------------------------- Go source declarations
GO_IMPORTS = {"metav1": META, "runtime": "k8s.io/apimachinery/pkg/runtime",
              "types": "k8s.io/apimachinery/pkg/types"}
BASIC = {"string", "bool", "int32", "int64", "float64", "byte", "int"}


class GoSource:
    """Struct and named-type declarations of one Go package, from its source files."""

    def __init__(self, pkg, paths, binary, binary_structs):
        self.pkg, self.binary, self.binary_structs = pkg, binary, binary_structs
        self.decls = {}
        for p in paths:
            self._parse(open(p).read())
        self.cache = {}

    def _parse(self, src):
        for m in re.finditer(r"^type (\w+) struct \{(.*?)^\}|^type (\w+) struct\{\}|^type (\w+) (\S+)$",
                             src, re.S | re.M):
            if m.group(1):
                fields = []
                for line in m.group(2).split("\n"):
                    line = line.strip()
                    if not line or line.startswith("//"):
                        continue
                    fm = re.match(r"^(\w+)\s+([\w.*\[\]]+)\s+`(.*)`$", line)
                    em = re.match(r"^([\w.*]+)\s+`(.*)`$", line)
                    if fm:
                        fields.append({"name": fm.group(1), "texpr": fm.group(2), "tag": fm.group(3),
                                       "embedded": False})
                    elif em:
                        fields.append({"name": em.group(1).split(".")[-1], "texpr": em.group(1),
                                       "tag": em.group(2), "embedded": True})
                    else:
                        fail("cannot parse Go struct field line %r" % line)
                self.decls[m.group(1)] = ("struct", fields)
            elif m.group(3):
                self.decls[m.group(3)] = ("struct", [])
            else:
                self.decls[m.group(4)] = ("named", m.group(5))

    def typ(self, expr):
        if expr in self.cache:
            return self.cache[expr]
        if expr.startswith("*"):
            t = {"kind": "ptr", "name": "", "pkg": "", "elem": self.typ(expr[1:])}
        elif expr.startswith("[]"):
            inner = expr[2:]
            t = {"kind": "slice", "name": "", "pkg": "",
                 "elem": {"kind": "uint8", "name": "", "pkg": ""} if inner == "byte" else self.typ(inner)}
        elif expr.startswith("map[string]"):
            t = {"kind": "map", "name": "", "pkg": "", "key": self.typ("string"),
                 "elem": self.typ(expr[len("map[string]"):])}
        elif expr in BASIC:
            t = {"kind": expr, "name": "", "pkg": ""}
        elif "." in expr:
            alias, name = expr.split(".")
            pkg = GO_IMPORTS.get(alias) or fail("unknown Go import alias in %s" % expr)
            if pkg + "." + name in self.binary_structs:
                t = self.binary.resolve(self.binary.typ(self.binary_structs[pkg + "." + name]))
            elif expr == "types.UID":
                t = {"kind": "string", "name": "UID", "pkg": pkg}
            else:
                fail("Go type %s is neither in kubectl nor known" % expr)
        else:
            decl = self.decls.get(expr) or fail("undeclared Go type %s in %s" % (expr, self.pkg))
            if decl[0] == "struct":
                t = {"kind": "struct", "name": expr, "pkg": self.pkg, "fields": []}
                self.cache[expr] = t
                for f in decl[1]:
                    t["fields"].append({"name": f["name"], "tag": f["tag"], "embedded": f["embedded"],
                                        "type": self.typ(f["texpr"])})
                return t
            under = self.typ(decl[1])
            t = dict(under, name=expr, pkg=self.pkg)
        self.cache[expr] = t
        return t


# ---------------------------------------------------------------- k8s-pb (prost) wire shapes
def prost_messages(src_dir):
    """{(package, lowercased message name): {tag: (kind, label, value kind)}}."""
    out = {}
    for root, _dirs, files in os.walk(src_dir):
        if "mod.rs" not in files:
            continue
        rel = os.path.relpath(root, src_dir).replace(os.sep, "/")
        if rel.startswith("api/"):
            pkg = "k8s.io/" + rel
        elif rel.startswith("apimachinery/"):
            pkg = "k8s.io/" + rel
        elif rel.startswith("apiextensions_apiserver/"):
            pkg = "k8s.io/apiextensions-apiserver/" + rel[len("apiextensions_apiserver/"):]
        else:
            continue
        text = open(os.path.join(root, "mod.rs")).read()
        for m in re.finditer(r"pub struct (\w+) \{(\}|.*?\n\})", text, re.S):
            fields = {}
            for a in re.finditer(r'#\[prost\((.*?)\)\]\s*pub (r#)?(\w+):\s*([^\n]*)', m.group(2), re.S):
                attrs = a.group(1)
                tag = int(re.search(r'tag = "(\d+)"', attrs).group(1))
                mm = re.match(r'(btree_map|hash_map) = "string, (\w+)"', attrs)
                if mm:
                    fields[tag] = ("map", mm.group(2), a.group(4))
                    continue
                kind = re.match(r"(\w+)", attrs).group(1)
                label = "repeated" if ", repeated" in attrs else "optional"
                fields[tag] = (kind, label, a.group(4))
            out[(pkg, m.group(1).lower())] = fields
    return out


# ---------------------------------------------------------------- schema assembly
class Builder:
    def __init__(self, prost):
        self.prost = prost
        self.messages = {}

    def prost_fields(self, t):
        key = (t["pkg"], t["name"].lower())
        if key not in self.prost:
            fail("k8s-pb has no message for Go type %s.%s" % key)
        return self.prost[key]

    def message(self, t):
        """Registers the message of a Go struct (or wrapper) type; returns its schema name."""
        full = t["pkg"] + "." + t["name"]
        if full in self.messages:
            return full
        if full in CUSTOM:
            self.messages[full] = {"custom": CUSTOM[full]}
            if CUSTOM[full].startswith("props"):
                self.messages[full]["fields"] = self.fields(t)
            return full
        if t["kind"] == "slice":
            # A named slice that generated.proto wraps as `message X { repeated T items = 1; }`.
            entry = {"custom": "items"}
            self.messages[full] = entry
            entry["fields"] = [[1, "items", "l", self.elem_type(t["elem"], t)]]
            return full
        entry = {}
        self.messages[full] = entry
        entry["fields"] = self.fields(t)
        return full

    def fields(self, t):
        pfields = self.prost_fields(t)
        out = []
        for f in t["fields"]:
            tag = f["tag"]
            jm = re.search(r'json:"([^"]*)"', tag)
            pm = re.search(r'protobuf:"(\w+),(\d+),', tag)
            jname, opts = ("", [])
            if jm:
                parts = jm.group(1).split(",")
                jname, opts = parts[0], parts[1:]
            elif CUSTOM.get(t["pkg"] + "." + t["name"], "").startswith("props"):
                jname = f["name"]
            if jname == "-":
                if pm and not (t["pkg"] + "." + t["name"] in CUSTOM):
                    fail("%s.%s has protobuf but no JSON" % (t["name"], f["name"]))
            for o in opts:
                if o not in ("omitempty", "inline"):
                    fail("unsupported json option %r on %s.%s" % (o, t["name"], f["name"]))
            if not pm:
                if f["embedded"] and f["type"]["name"] in ("TypeMeta", "ListMeta") and jname == "":
                    out.append([0, "", "t", "typemeta" if f["type"]["name"] == "TypeMeta" else "?"])
                    if f["type"]["name"] != "TypeMeta":
                        fail("embedded %s without protobuf tag" % f["type"]["name"])
                    continue
                if jname == "-" or not jm:
                    continue
                fail("%s.%s has JSON but no protobuf tag" % (t["name"], f["name"]))
            num = int(pm.group(2))
            if num not in pfields:
                fail("k8s-pb %s lacks field %d (%s)" % (t["name"], num, f["name"]))
            flags, typ = self.shape(f, pfields[num], t)
            if "omitempty" in opts:
                flags += "o"
            inline = f["embedded"] and jname == ""
            if inline:
                flags += "i"
            out.append([num, jname, flags, typ])
        return out

    def shape(self, f, pfield, owner):
        """Flags (p pointer, l list, m map, w wrapper message) and element type of one field."""
        gt = f["type"]
        where = "%s.%s" % (owner["name"], f["name"])
        pkind, plabel, _prust = pfield
        flags = ""
        if gt["kind"] == "ptr":
            flags += "p"
            gt = gt["elem"]
            if gt["kind"] in ("slice", "map") and gt["name"] == "":
                fail("pointer to unnamed slice/map at " + where)
        if gt["kind"] == "slice" and not (gt["elem"]["kind"] == "uint8" and gt["name"] == ""):
            if pkind == "message" and plabel == "optional" and gt["name"]:
                # Wrapper message such as ExtraValue / Verbs.
                return flags, self.message(gt)
            if plabel != "repeated":
                fail("%s is a Go slice but not repeated in k8s-pb" % where)
            flags += "l"
            return flags, self.elem_type(gt["elem"], owner, pkind, where)
        if gt["kind"] == "map":
            if pkind != "map":
                fail("%s is a Go map but not a map in k8s-pb" % where)
            if gt["key"]["kind"] != "string":
                fail("non-string map key at " + where)
            flags += "m"
            vt = gt["elem"]
            vkind = pfield[1]
            if vt["kind"] == "slice" and vt["name"] and vt["elem"]["kind"] != "uint8":
                if vkind != "message":
                    fail("map of named slices not wrapped at " + where)
                return flags, self.message(vt)
            return flags, self.elem_type(vt, owner, vkind, where)
        if plabel == "repeated":
            fail("%s is repeated in k8s-pb but not a Go slice" % where)
        return flags, self.elem_type(gt, owner, pkind, where)

    def elem_type(self, gt, owner, pkind=None, where=""):
        k = gt["kind"]
        if k == "ptr":
            fail("pointer element at " + where)
        if k == "struct":
            if pkind not in (None, "message"):
                fail("%s is a struct but %s in k8s-pb" % (where, pkind))
            return self.message(gt)
        if k == "slice" and gt["elem"]["kind"] == "uint8":
            scalar = "bytes"
        elif k in ("string", "bool", "int32", "int64", "float64"):
            scalar = k
        elif k == "int":
            scalar = "int64"
        else:
            fail("unsupported Go kind %s at %s" % (k, where))
        want = {"bytes": "bytes", "string": "string", "bool": "bool", "int32": "int32",
                "int64": "int64", "float64": "double"}[scalar]
        if pkind is not None and pkind != want:
            fail("%s is Go %s but %s in k8s-pb" % (where, scalar, pkind))
        return scalar


def main(kubectl, apiext_dir, pb_dir):
    binary = GoBinary(kubectl)
    structs = binary.named_structs()
    earlier = None
    if apiext_dir.endswith(".json"):
        with open(apiext_dir) as f:
            earlier = json.load(f)
        apiext = None
    else:
        apiext = GoSource(APIEXT, [os.path.join(apiext_dir, f) for f in ("types.go", "types_jsonschema.go")],
                          binary, structs)
    builder = Builder(prost_messages(pb_dir))
    kinds = {}

    def is_kind(t):
        return any(f["embedded"] and f["type"]["name"] == "TypeMeta" for f in t["fields"])

    roots = []
    for full, addr in sorted(structs.items()):
        pkg = full.rsplit(".", 1)[0]
        if pkg in PACKAGES and pkg != APIEXT:
            roots.append(binary.resolve(binary.typ(addr)))
    for name, decl in sorted(apiext.decls.items() if apiext else []):
        if decl[0] == "struct":
            roots.append(apiext.typ(name))
    for t in roots:
        if not is_kind(t) or t["pkg"] == META and t["name"] not in SHARED_META_KINDS + META_ONLY_KINDS:
            continue
        name = builder.message(t)
        gv = PACKAGES[t["pkg"]]
        kinds[gv + "/" + t["name"]] = name
        if t["pkg"] == META and t["name"] in SHARED_META_KINDS:
            for other in PACKAGES.values():
                kinds.setdefault(other + "/" + t["name"], name)
    if earlier is not None:
        for name, msg in earlier["messages"].items():
            if name.startswith(APIEXT + "."):
                builder.messages.setdefault(name, msg)
        for kind, msg in earlier["kinds"].items():
            if kind.startswith(PACKAGES[APIEXT] + "/"):
                kinds.setdefault(kind, msg)
    json.dump({
        "about": "Kubernetes v1.33 protobuf schema: Go struct facts (kubectl 1.33, apiextensions-apiserver "
                 "v0.33) and wire shapes (k8s-pb 0.9); Apache-2.0, The Kubernetes Authors. "
                 "Regenerate with apiserver/tools/protobuf_schema.py.",
        "kinds": dict(sorted(kinds.items())),
        "messages": dict(sorted(builder.messages.items())),
    }, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])

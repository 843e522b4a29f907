"""The pgbank.* settings as the C build defines them: each
DefineCustom*Variable call of extension/*.c, read as text (no server needed).

Used by scripts/gen-docs.py (the secret settings, which pg_settings hides)
and scripts/sqlbuild.py (the managed build's defaults are the C build's, so
they are written once, in the C).
"""
import glob
import os
import re

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

TIME = [("ms", 1), ("s", 1000), ("min", 60000), ("h", 3600000), ("d", 86400000)]
MEMORY = [("kB", 1), ("MB", 1024), ("GB", 1024 ** 2), ("TB", 1024 ** 3)]
UNIT_FLAGS = {"GUC_UNIT_MS": "ms", "GUC_UNIT_S": "s", "GUC_UNIT_MIN": "min", "GUC_UNIT_KB": "kB"}
CALL = re.compile(r"DefineCustom(Int|Real|Bool|String|Enum)Variable\(")
STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def with_unit(value, unit):
    """A number in its unit as SHOW prints it: the largest unit that divides it."""
    if not unit or value in (None, ""):
        return value
    m = re.fullmatch(r"(\d*)(\D+)", unit)
    mult, base = int(m.group(1) or 1), m.group(2)
    scale = TIME if base in dict(TIME) else MEMORY
    n = int(value) * mult * dict(scale)[base]
    if n == 0:
        return "0"
    for name, size in reversed(scale):
        if n % size == 0:
            return "%d%s" % (n // size, name)
    return "%s%s" % (value, unit)


def arguments(text, start):
    """The top-level comma-separated arguments of the call whose "(" is at
    text[start - 1], and where the call ends."""
    args, depth, i, begin = [], 0, start, start
    while True:
        c = text[i]
        if c == '"':
            i = STRING.match(text, i).end()
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                args.append(text[begin:i].strip())
                return args, i
            depth -= 1
        elif c == "," and depth == 0:
            args.append(text[begin:i].strip())
            begin = i + 1
        i += 1


def literal(arg):
    """A C string literal (adjacent ones joined), or None for NULL."""
    if arg == "NULL":
        return None
    return "".join(m.group(1) for m in STRING.finditer(arg)).replace('\\"', '"')


def constant(expr):
    """An integer constant expression of digits, * / + - and parentheses, or
    None (a library's macro, say)."""
    if not re.fullmatch(r"[\d\s*/+()-]+", expr):
        return None
    return int(eval(expr, {"__builtins__": {}}))  # digits and operators only


def enum_value(text, options, name):
    """The label of enum constant name in the options array of the file."""
    table = re.search(r"config_enum_entry\s+%s\[\]\s*=\s*\{(.*?)\};" % re.escape(options), text, re.S)
    for label, const in re.findall(r'\{\s*"([^"]+)"\s*,\s*(\w+)', table.group(1)):
        if const == name:
            return label
    raise SystemExit("gucs: %s is no entry of %s" % (name, options))


def c_settings():
    """Every pgbank.* setting of extension/*.c, in file order: name, vartype
    (integer, real, bool, string, enum), boot (the default as SHOW prints it,
    or None when the C gives it by a macro), context (suset, postmaster...),
    short_desc, extra_desc, secret (hidden from everyone: GUC_NO_SHOW_ALL)."""
    out = []
    for src in sorted(glob.glob(os.path.join(ROOT, "extension", "*.c"))):
        text = open(src, encoding="utf-8").read()
        for m in CALL.finditer(text):
            kind = m.group(1).lower()
            args, _ = arguments(text, m.end())
            name, short, extra, boot = literal(args[0]), literal(args[1]), literal(args[2]), args[4]
            rest = args[7:] if kind in ("int", "real") else args[6:] if kind == "enum" else args[5:]
            context, flags = rest[0], rest[1]
            if kind == "string":
                value = literal(boot) or ""
            elif kind == "enum":
                value = enum_value(text, args[5], boot)
            elif kind == "bool":
                value = "on" if boot == "true" else "off"
            else:
                n = constant(boot)
                unit = next((u for f, u in UNIT_FLAGS.items() if re.search(r"\b%s\b" % f, flags)), None)
                value = None if n is None else with_unit(n, unit) if unit else str(n)
            out.append({"name": name, "vartype": {"int": "integer"}.get(kind, kind), "boot": value,
                        "context": context[4:].lower(), "short_desc": short, "extra_desc": extra,
                        "secret": "GUC_NO_SHOW_ALL" in flags})
    return out

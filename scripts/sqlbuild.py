#!/usr/bin/env python3
"""Build pgbank's SQL scripts from sql/src (the fragments, one per concern).

  sqlbuild.py install VERSION FRAGMENT...
      The install script of VERSION: every fragment, in the order given.

  sqlbuild.py managed VERSION TWINS... -- FRAGMENT...
      The install script of the managed build (no C: docs/managed.md):
      the fragments, each LANGUAGE C routine replaced by its twin, the
      routine of the same name, arguments and result in TWINS (the files
      of sql/managed), written in SQL or PL/pgSQL. Every C routine must
      have a twin and every twin a C routine. The other statements of a
      file sql/managed/NN_*.sql (the managed build's own tables and
      helpers) go just before the first fragment numbered NN or more, and
      current_setting( in the fragments becomes pgbank.setting(, which
      reads the settings the C build defines as GUCs (docs/managed.md).
      A line "--@c-setting-defaults except NAME..." in a managed file
      becomes one "WHEN 'name' THEN 'default'" line for each setting the
      C build defines (scripts/gucs.py) that its statement does not name
      already in a WHEN, nor the line after "except": the managed
      build's defaults are the C build's, written once.

  sqlbuild.py pgtle VERSION DESCRIPTION REQUIRES MANAGED_SCRIPT
      The pg_tle payload: one pgtle.install_extension('pgbank', VERSION,
      DESCRIPTION, <script>, REQUIRES) call whose script is the managed
      install script without its psql line and with CREATE SCHEMA pgbank
      first (a TLE has no control file to name its schema). REQUIRES is
      comma-separated.

  sqlbuild.py upgrade FROM TO MIGRATION FRAGMENT...
      The upgrade script FROM -> TO: the hand-written MIGRATION (schema and
      data changes, DROP FUNCTION for a function whose signature changed),
      then every *replaceable* statement of the fragments, so that each
      function ends up exactly as a fresh install of TO defines it. A line
      "--@functions" in MIGRATION says where they go; what follows it runs
      after them (data changes that call new functions).

A replaceable statement is CREATE OR REPLACE FUNCTION or PROCEDURE, COMMENT
ON, GRANT or REVOKE: running it again on an older schema gives what a fresh
install gives. Everything else (tables, types, indexes, triggers, rows) is
schema: it runs once at install, and any later change to it is written in a
migration. A plain CREATE FUNCTION is refused, because it could not be run
on an upgrade.

Only released scripts are committed (sql/pgbank--*.sql); those of the
unreleased version are built into build/ by the Makefile.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gucs import c_settings  # noqa: E402

REPLACEABLE = re.compile(
    r"(CREATE\s+OR\s+REPLACE\s+(FUNCTION|PROCEDURE)|COMMENT\s+ON|GRANT|REVOKE)\b",
    re.I)
PLAIN_CREATE_ROUTINE = re.compile(r"CREATE\s+(FUNCTION|PROCEDURE)\b", re.I)
DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")
MARKER = "--@functions"


def statements(text, where):
    """Split SQL text into (chunk, first_code) pieces.

    A chunk is a statement with the comments before it; first_code is the
    statement without its leading comments ('' for trailing comments, and
    psql meta-commands are chunks of their own). Quotes, dollar quotes and
    comments are skipped so that only a top-level semicolon ends a statement.
    """
    out = []
    i = 0
    start = 0
    n = len(text)
    code_start = None
    while i < n:
        c = text[i]
        if c == "-" and text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if c == "/" and text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                sys.exit(f"sqlbuild: {where}: unterminated comment")
            i = j + 2
            continue
        if c == "\\" and code_start is None and (i == 0 or text[i - 1] == "\n"):
            j = text.find("\n", i)
            j = n if j < 0 else j + 1
            out.append((text[start:j], text[i:j].strip()))
            i = start = j
            continue
        if c.isspace():
            i += 1
            continue
        if code_start is None:
            code_start = i
        if c == "'":
            escapes = i > 0 and text[i - 1] in "eE" and (
                i < 2 or not (text[i - 2].isalnum() or text[i - 2] == "_"))
            j = i + 1
            while True:
                if j >= n:
                    sys.exit(f"sqlbuild: {where}: unterminated string")
                if escapes and text[j] == "\\":
                    j += 2
                    continue
                if text[j] == "'":
                    if text.startswith("''", j):
                        j += 2
                        continue
                    break
                j += 1
            i = j + 1
            continue
        if c == '"':
            j = text.find('"', i + 1)
            if j < 0:
                sys.exit(f"sqlbuild: {where}: unterminated identifier")
            i = j + 1
            continue
        if c == "$":
            m = DOLLAR_TAG.match(text, i)
            if m and not (i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")):
                j = text.find(m.group(0), m.end())
                if j < 0:
                    sys.exit(f"sqlbuild: {where}: unterminated {m.group(0)} quote")
                i = j + len(m.group(0))
                continue
        if c == ";":
            out.append((text[start:i + 1], text[code_start:i + 1]))
            i = start = i + 1
            code_start = None
            continue
        i += 1
    rest = text[start:]
    if code_start is not None:
        sys.exit(f"sqlbuild: {where}: statement without a closing semicolon")
    if rest.strip():
        out.append((rest, ""))
    return out


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def check_fragment(path, pieces):
    for _, code in pieces:
        if PLAIN_CREATE_ROUTINE.match(code):
            name = code.split("(", 1)[0]
            sys.exit(f"sqlbuild: {path}: {name}: write CREATE OR REPLACE, "
                     "so that upgrades can run it")


def fragments(paths):
    for path in paths:
        pieces = [p for p in statements(read(path), path) if not p[1].startswith("\\")]
        check_fragment(path, pieces)
        yield path, pieces


def install(version, paths):
    print(f"-- pgbank {version}: install script, built by scripts/sqlbuild.py from")
    print("-- sql/src/*.sql. Do not edit: edit the fragments.")
    print('\\echo Use "CREATE EXTENSION pgbank" to load this file. \\quit')
    for path, pieces in fragments(paths):
        print(f"\n-- ==== {path} ====")
        sys.stdout.write("".join(chunk for chunk, _ in pieces).strip("\n") + "\n")


ROUTINE = re.compile(
    r"CREATE\s+OR\s+REPLACE\s+(FUNCTION|PROCEDURE)\s+([A-Za-z_][A-Za-z_0-9.]*)\s*\(", re.I)
LANGUAGE_C = re.compile(r"\bLANGUAGE\s+C\b", re.I)
# What ends a routine's RETURNS clause.
AFTER_RETURNS = re.compile(
    r"\s(AS|LANGUAGE|IMMUTABLE|STABLE|VOLATILE|SECURITY|SET|STRICT|CALLED|PARALLEL"
    r"|ROWS|COST|RETURN|BEGIN)\b", re.I)
CURRENT_SETTING = re.compile(r"\b(pg_catalog\.)?current_setting\(", re.I)


def normal(text):
    return " ".join(text.split()).replace("( ", "(").replace(" )", ")")


def routine_api(code, where):
    """(kind, name, arguments, result) of a CREATE OR REPLACE routine, or
    None: the API a twin must keep (argument names and defaults too)."""
    m = ROUTINE.match(code)
    if not m:
        return None
    depth, i = 1, m.end()
    while depth:
        if i >= len(code):
            sys.exit(f"sqlbuild: {where}: {m.group(2)}: unbalanced parentheses")
        depth += {"(": 1, ")": -1}.get(code[i], 0)
        i += 1
    args = code[m.end():i - 1]
    rest = code[i:]
    result = ""
    if re.match(r"\s*RETURNS\b", rest, re.I):
        e = AFTER_RETURNS.search(rest)
        result = rest[:e.start()] if e else rest
    return (m.group(1).upper(), m.group(2).lower(), normal(args), normal(result))


SETTING_DEFAULTS = re.compile(r"^([ \t]*)--@c-setting-defaults(?: except ([^\n]*))?$", re.M)


def setting_defaults(chunk, path):
    """The chunk with its --@c-setting-defaults line expanded (docstring)."""
    m = SETTING_DEFAULTS.search(chunk)
    if not m:
        return chunk
    skip = set(re.findall(r"WHEN '(pgbank\.[a-z0-9_]+)'", chunk)) | set((m.group(2) or "").split())
    lines = []
    for g in c_settings():
        if g["name"] in skip:
            continue
        if g["boot"] is None:
            sys.exit(f"sqlbuild: {path}: {g['name']}: its C default is not a constant; "
                     "give the managed default in a WHEN or name it after except")
        lines.append("%sWHEN '%s' THEN '%s'" % (m.group(1), g["name"], g["boot"].replace("'", "''")))
    return chunk[:m.start()] + "\n".join(lines) + chunk[m.end():]


def managed(version, twin_paths, paths):
    """The install script of the managed build (see the docstring). A
    routine of sql/managed is a twin when a fragment has a routine of its
    name (then that one must be LANGUAGE C, with the same arguments and
    result); any other statement is the managed build's own."""
    frags = list(fragments(paths))
    fragment_names = {api[1] for _, pieces in frags for _, code in pieces
                      for api in [routine_api(code, "")] if api}
    twins = {}
    extras = []
    for path in twin_paths:
        m = re.match(r"(\d+)_", path.rsplit("/", 1)[-1])
        if not m:
            sys.exit(f"sqlbuild: {path}: a managed file is named NN_concern.sql")
        mine = []
        for chunk, code in statements(read(path), path):
            if code.startswith("\\"):
                continue
            if PLAIN_CREATE_ROUTINE.match(code):
                sys.exit(f"sqlbuild: {path}: write CREATE OR REPLACE")
            if LANGUAGE_C.search(code):
                sys.exit(f"sqlbuild: {path}: the managed build has no LANGUAGE C")
            api = routine_api(code, path)
            if api is None or api[1] not in fragment_names:
                mine.append(setting_defaults(chunk, path))
                continue
            if api[:3] in twins:
                sys.exit(f"sqlbuild: {path}: {api[1]}: two twins")
            twins[api[:3]] = (api, chunk, path)
        extras.append((int(m.group(1)), path, mine))
    # A twin must replace a C routine of its name, arguments and result.
    c_routines = {api[:3]: api for _, pieces in frags for _, code in pieces
                  for api in [routine_api(code, "")] if api and LANGUAGE_C.search(code)}
    for key, (api, _, path) in sorted(twins.items()):
        if key not in c_routines and not any(
                k[:3] == key for _, pieces in frags for _, code in pieces
                for k in [routine_api(code, "")] if k):
            sys.exit(f"sqlbuild: {path}: {api[1]}({api[2]}) is the twin of no "
                     "LANGUAGE C routine of sql/src with these arguments")
    used = set()
    print(f"-- pgbank {version}: install script of the managed build (no C), built")
    print("-- by scripts/sqlbuild.py from sql/src/*.sql and sql/managed/*.sql.")
    print('\\echo Use "CREATE EXTENSION pgbank" to load this file. \\quit')
    pending = sorted(extras, key=lambda e: (e[0], e[1]))
    for path, pieces in frags:
        m = re.match(r"(\d+)_", path.rsplit("/", 1)[-1])
        while m and pending and pending[0][0] <= int(m.group(1)):
            _, mpath, chunks = pending.pop(0)
            print(f"\n-- ==== {mpath} (the managed build's own objects) ====")
            sys.stdout.write("".join(chunks).strip("\n") + "\n")
        print(f"\n-- ==== {path} ====")
        out = []
        for chunk, code in pieces:
            api = routine_api(code, path)
            if api is None or not LANGUAGE_C.search(code):
                if api is not None and api[:3] in twins:
                    sys.exit(f"sqlbuild: {twins[api[:3]][2]}: {api[1]}: a twin of "
                             f"a routine of {path} that is not LANGUAGE C")
                out.append(CURRENT_SETTING.sub("pgbank.setting(", chunk))
                continue
            twin = twins.get(api[:3])
            if twin is None:
                sys.exit(f"sqlbuild: {path}: {api[1]}({api[2]}) is LANGUAGE C and "
                         "has no twin in sql/managed")
            if twin[0][3] != api[3]:
                sys.exit(f"sqlbuild: {twin[2]}: {api[1]}: the twin {twin[0][3]!r} "
                         f"differs from the C routine's {api[3]!r}")
            used.add(api[:3])
            lead = chunk[:len(chunk) - len(chunk.lstrip())]
            comments = chunk.strip()[: -len(code)] if code else ""
            out.append(f"{lead}{comments}-- managed: the twin in {twin[2]}\n"
                       f"{twin[1].strip()}")
        sys.stdout.write("".join(out).strip("\n") + "\n")
    for _, mpath, chunks in pending:
        print(f"\n-- ==== {mpath} (the managed build's own objects) ====")
        sys.stdout.write("".join(chunks).strip("\n") + "\n")
    for key, (api, _, path) in sorted(twins.items()):
        if key not in used:
            sys.exit(f"sqlbuild: {path}: {api[1]}({api[2]}) is the twin of no "
                     "LANGUAGE C routine of sql/src with these arguments")


PGTLE_TAG = "$_pgtle_$"


def pgtle(version, description, requires, script_path):
    """The pg_tle payload of the managed install script (docstring)."""
    script = read(script_path)
    lines = [line for line in script.splitlines(keepends=True)
             if not line.startswith("\\echo ")]
    body = ("CREATE SCHEMA pgbank;\n" + "".join(lines)).strip("\n") + "\n"
    if PGTLE_TAG in body:
        sys.exit(f"sqlbuild: {script_path} holds {PGTLE_TAG}")
    if LANGUAGE_C.search(body) or "MODULE_PATHNAME" in body:
        sys.exit(f"sqlbuild: {script_path} is not free of C")
    reqs = ", ".join("'" + r.strip().replace("'", "''") + "'" for r in requires.split(",") if r.strip())
    print(f"-- pgbank {version} for pg_tle (Trusted Language Extensions): built by")
    print(f"-- scripts/sqlbuild.py from {script_path}. Run it as a member of")
    print("-- pgtle_admin, then CREATE EXTENSION pgcrypto; CREATE EXTENSION pgbank;")
    print("SELECT pgtle.install_extension(")
    print("\t'pgbank',")
    print(f"\t'{version}',")
    print("\t'" + description.replace("'", "''") + "',")
    sys.stdout.write(PGTLE_TAG + body + PGTLE_TAG + ",\n")
    print(f"\tARRAY[{reqs}]::text[]")
    print(");")


def upgrade(old, new, migration, paths):
    text = read(migration)
    before, sep, after = text.partition(MARKER + "\n")
    if not sep and text.rstrip().endswith(MARKER):
        before, after = text.rstrip()[: -len(MARKER)], ""
    print(f"-- pgbank {old} -> {new}: upgrade script, built by scripts/sqlbuild.py")
    print(f"-- from {migration} and the replaceable statements of sql/src/*.sql.")
    print(f'\\echo Use "ALTER EXTENSION pgbank UPDATE TO \'{new}\'" to load this file. \\quit')
    print(f"\n-- ==== {migration} ====")
    sys.stdout.write(before.strip("\n") + "\n")
    for path, pieces in fragments(paths):
        chunks = [chunk for chunk, code in pieces if REPLACEABLE.match(code)]
        if chunks:
            print(f"\n-- ==== {path} (replaceable statements) ====")
            sys.stdout.write("".join(chunks).strip("\n") + "\n")
    if after.strip():
        print(f"\n-- ==== {migration} (after the functions) ====")
        sys.stdout.write(after.strip("\n") + "\n")


def main(argv):
    if len(argv) >= 3 and argv[1] == "install":
        install(argv[2], argv[3:])
    elif len(argv) == 6 and argv[1] == "pgtle":
        pgtle(argv[2], argv[3], argv[4], argv[5])
    elif len(argv) >= 4 and argv[1] == "managed" and "--" in argv:
        sep = argv.index("--")
        managed(argv[2], argv[3:sep], argv[sep + 1:])
    elif len(argv) >= 5 and argv[1] == "upgrade":
        upgrade(argv[2], argv[3], argv[4], argv[5:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)

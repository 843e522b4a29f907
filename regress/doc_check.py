#!/usr/bin/env python3
"""Link and command check of README.md and docs/*.md.

  - every relative link [text](target) points to an existing file, and its
    #anchor (if any) to a heading of the target (GitHub's anchor rule);
  - every `make TARGET` in code (inline or fenced) names a target that
    make knows (asked with `make -n`, so PGXS's targets count);
  - every path under scripts/, docker/, k8s/ or regress/ named in code or
    in a link exists.
Prints each problem as FILE:LINE: message and exits 1 if there is any.
Python 3 standard library only.
"""
import glob
import os
import re
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
PATH_PREFIXES = ("scripts/", "docker/", "k8s/", "regress/")


def slug(heading):
    """GitHub's anchor for a heading (same rule as scripts/render-api.py)."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors(path):
    out, seen = set(), {}
    in_fence = False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.lstrip().startswith("```"):
                in_fence = not in_fence
                continue
            if in_fence:
                continue
            m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
            if m:
                text = re.sub(r"`|\*|\[([^\]]*)\]\([^)]*\)", lambda x: x.group(1) or "", m.group(1))
                base = slug(text)
                n = seen.get(base, 0)
                seen[base] = n + 1
                out.add(base if n == 0 else "%s-%d" % (base, n))
            for a in re.findall(r'<a\s+(?:id|name)="([^"]+)"', line):
                out.add(a)
    return out


def split_code(text):
    """(line number, prose, code) for each line: code is fenced lines and inline spans."""
    rows, in_fence = [], False
    for n, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            rows.append((n, "", line))
        else:
            spans = re.findall(r"`([^`]+)`", line)
            rows.append((n, re.sub(r"`[^`]+`", "", line), "\n".join(spans)))
    return rows


def make_targets(code):
    """Targets of each `make ...` command in a code text."""
    out = []
    for m in re.finditer(r"(?:^|[\s;&|(])make((?:[ \t]+[^\s;&|)#]+)*)", code):
        for tok in m.group(1).split():
            if tok.startswith("-"):
                if tok in ("-C", "-f", "-I", "-o", "-W"):
                    break           # an option with an argument: not checked further
                continue
            if "=" in tok:
                continue
            if re.fullmatch(r"[A-Za-z0-9_./-]+", tok):
                out.append(tok)
    return out


def ignored(path):
    """A path git ignores on purpose (generated secrets, build output)."""
    return any(subprocess.run(["git", "-C", ROOT, "check-ignore", "-q", "--no-index", p]).returncode == 0
               for p in (path, path.rstrip("/") + "/"))


_known = {}


def make_knows(target):
    if target not in _known:
        p = subprocess.run(["make", "-n", "-s", "-C", ROOT, target],
                           capture_output=True, text=True, timeout=60)
        _known[target] = "No rule to make target" not in p.stderr and p.returncode == 0
    return _known[target]


def main():
    files = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
    problems = []
    for path in files:
        if not os.path.exists(path):
            problems.append("%s: missing" % os.path.relpath(path, ROOT))
            continue
        where = os.path.relpath(path, ROOT)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for n, prose, code in split_code(text):
            for target in re.findall(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", prose):
                if re.match(r"[a-z][a-z0-9+.-]*:", target):
                    continue        # http:, https:, mailto: are not checked here
                file_part, _, anchor = target.partition("#")
                dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
                if not os.path.exists(dest):
                    problems.append("%s:%d: link to %s: no such file" % (where, n, target))
                elif anchor and dest.endswith(".md") and anchor not in anchors(dest):
                    problems.append("%s:%d: link to %s: no such heading in %s"
                                    % (where, n, target, os.path.relpath(dest, ROOT)))
            for t in make_targets(code):
                if not make_knows(t):
                    problems.append("%s:%d: `make %s`: make has no such target" % (where, n, t))
            for m in re.finditer(r"(?<![\w./-])((?:%s)[\w./-]*)" % "|".join(map(re.escape, PATH_PREFIXES)),
                                 code):
                p = m.group(1).rstrip(".,:;")
                if not os.path.exists(os.path.join(ROOT, p)) and not ignored(p):
                    problems.append("%s:%d: %s does not exist" % (where, n, p))
    for p in problems:
        print(p)
    print("doc_check: %d files, %d problems" % (len(files), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Drift check: the deploy files (docker/, k8s/) against the code.

The facts come from the code itself, never from a copy:
  - the shim's environment variables and default listen port from
    `shim/pgbank-http --help`;
  - the paths the shim serves from the string literals of its C sources
    (shim/*.c, where the route table lives);
  - the GUC names from the extension's C sources (extension/*.c);
  - the version from the Makefile, the database and role names from
    scripts/env.sh, the shared libraries each binary needs from its ELF
    header (objdump), mapped to Debian packages with dpkg.
Each check prints "ok" or "FAIL" with what differs; the script exits 1 if
any check failed. Without a built shim the checks that need it fail (they
do not skip): run `make` first.

Uses /usr/bin/python3 with python3-yaml (Debian's; yamllint depends on it).
"""
import argparse
import glob
import os
import re
import shlex
import subprocess
import sys

import yaml

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
results = []
# Docs of the deploy issue whose PGBANK_* names must be the shim's.
DEPLOY_DOCS = ("architecture.md", "operations.md", "scaling.md")


def check(name, errors):
    """Record one check: errors is a list of strings (empty when it holds)."""
    results.append((name, list(errors)))


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def rel(path):
    return os.path.relpath(path, ROOT)


# --------------------------------------------------------------------------
# Facts from the code
# --------------------------------------------------------------------------

class Shim:
    """What the shim really offers: --help and the paths in its sources."""

    def __init__(self, binary, srcdir):
        self.error = None
        self.help = ""
        self.env = set()
        self.port = None
        self.host = None
        self.paths = set()
        self.paths_from = None
        self.shutdown_timeout = None
        if not os.access(binary, os.X_OK):
            self.error = ("%s is not built (the shim issue; `make` builds it): "
                          "cannot read its --help" % rel(binary))
            return
        try:
            p = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as e:
            self.error = "%s --help failed: %s" % (rel(binary), e)
            return
        self.help = p.stdout + p.stderr
        if p.returncode != 0:
            self.error = "%s --help exited %d" % (rel(binary), p.returncode)
            return
        self.env = set(re.findall(r"\bPGBANK_[A-Z0-9_]+\b", self.help))
        # The default of PGBANK_LISTEN: the first host:port after its name.
        at = self.help.find("PGBANK_LISTEN")
        m = re.search(r"(\d{1,3}(?:\.\d{1,3}){3}|localhost|\[[0-9a-fA-F:]+\]):(\d{1,5})\b",
                      self.help[at:]) if at >= 0 else None
        if m:
            self.host, self.port = m.group(1), int(m.group(2))
        else:
            self.error = "--help names no default host:port for PGBANK_LISTEN"
        m = re.search(r"^\s*PGBANK_SHUTDOWN_TIMEOUT:.*\(default (\d+)\)", self.help, re.M)
        self.shutdown_timeout = int(m.group(1)) if m else None
        # Served paths: the route table as the binary prints it when it
        # can (`--routes`), else the path literals of its C sources.
        if "--routes" in self.help:
            self.paths_from = "pgbank-http --routes"
            p = subprocess.run([binary, "--routes"], capture_output=True, text=True, timeout=10)
            if p.returncode != 0:
                self.error = "%s --routes exited %d" % (rel(binary), p.returncode)
            for line in p.stdout.splitlines():
                cols = line.split("\t")
                if len(cols) >= 2 and cols[1].startswith("/"):
                    self.paths.add(cols[1])
        else:
            self.paths_from = "the path literals of %s/*.c" % rel(srcdir)
            sources = sorted(glob.glob(os.path.join(srcdir, "*.c")))
            if not sources:
                self.error = "no C sources in %s to read the routes from" % rel(srcdir)
            for src in sources:
                with open(src, encoding="utf-8") as f:
                    self.paths |= set(re.findall(r'"(/[A-Za-z0-9_./{}:-]*)"', f.read()))
        if not self.paths and not self.error:
            self.error = "no served paths found in %s" % self.paths_from


def extension_gucs():
    names = set()
    for src in glob.glob(os.path.join(ROOT, "extension", "*.c")):
        with open(src, encoding="utf-8") as f:
            names |= set(re.findall(r'DefineCustom[A-Za-z]+Variable\(\s*"(pgbank\.[a-z_][a-z0-9_]*)"', f.read()))
    return names


def make_version():
    m = re.search(r"^EXTVERSION\s*=\s*(\S+)", read("Makefile"), re.M)
    return m.group(1) if m else None


def env_default(name):
    m = re.search(r"^%s=\$\{%s:-([^}]*)\}" % (name, name), read("scripts/env.sh"), re.M)
    return m.group(1) if m else None


def conf_block(text, marker, subst):
    """The name = value lines of the postgresql.conf heredoc after marker."""
    at = text.find(marker)
    out = {}
    if at < 0:
        return out
    for line in text[at + len(marker):].splitlines()[1:]:
        line = line.strip()
        if line == "CONF":
            break
        m = re.fullmatch(r"([a-z_.]+)\s*=\s*(.*?)\s*(#.*)?", line)
        if m:
            v = m.group(2)
            for a, b in subst.items():
                v = v.replace(a, b or "")
            out[m.group(1)] = v.strip("'")
    return out


def needed_packages(binary):
    """Debian packages holding the libraries an ELF file names as NEEDED."""
    out = subprocess.run(["objdump", "-p", binary], capture_output=True, text=True,
                         check=True).stdout
    pkgs = {}
    for lib in re.findall(r"^\s*NEEDED\s+(\S+)", out, re.M):
        path = None
        for d in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
                  "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib", "/usr/lib"):
            if os.path.exists(os.path.join(d, lib)):
                path = os.path.realpath(os.path.join(d, lib))
                break
        owner = None
        if path:
            q = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
            if q.returncode != 0 and path.startswith("/usr/"):
                q = subprocess.run(["dpkg", "-S", path[4:]], capture_output=True, text=True)
            if q.returncode == 0:
                owner = q.stdout.split(":")[0]
        pkgs[lib] = owner
    return pkgs


# --------------------------------------------------------------------------
# Facts from the deploy files
# --------------------------------------------------------------------------

def dockerfile(path):
    """A Dockerfile as (stage index, instruction, argument text) tuples."""
    text = read(path).replace("\\\n", " ")
    out, stage = [], -1
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, arg = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            stage += 1
        out.append((stage, instr, arg.strip()))
    return out


def docker_env(instrs, stage):
    env = {}
    for s, instr, arg in instrs:
        if s == stage and instr == "ENV":
            for tok in shlex.split(arg):
                k, _, v = tok.partition("=")
                env[k] = v
    return env


def last_stage(instrs):
    return max(s for s, _, _ in instrs)


def apt_installs(instrs, stage):
    pkgs = set()
    for s, instr, arg in instrs:
        if s == stage and instr == "RUN":
            for m in re.finditer(r"apt-get install ((?:\s*-\S+)*)((?:\s+[a-z0-9][a-z0-9.+-]+)+)", arg):
                pkgs |= set(m.group(2).split())
    return pkgs


def listen_port(value):
    m = re.fullmatch(r"(.*):(\d+)", value or "")
    return (m.group(1), int(m.group(2))) if m else (None, None)


def conninfo(value):
    return dict(kv.split("=", 1) for kv in shlex.split(value or "") if "=" in kv)


def healthcheck_probe(cmd):
    """(port, path) asked by a bash /dev/tcp or URL health check command."""
    text = " ".join(cmd) if isinstance(cmd, list) else cmd
    m = re.search(r"/dev/tcp/[^/\s]+/(\d+).*?GET (/\S*)", text)
    if m:
        return int(m.group(1)), m.group(2)
    m = re.search(r"https?://[^/:\s]+:(\d+)(/\S*)", text)
    if m:
        return int(m.group(1)), m.group(2)
    return None, None


def load_yaml_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def k8s_objects():
    objs = []
    for path in sorted(glob.glob(os.path.join(ROOT, "k8s", "**", "*.yaml"), recursive=True)):
        for doc in load_yaml_docs(path):
            if isinstance(doc, dict):
                objs.append((rel(path), doc))
            else:
                objs.append((rel(path), {"kind": "Patch", "ops": doc}))
    return objs


def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def resolve_port(container, port):
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    return None


# --------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shim", default=os.path.join(ROOT, "shim", "pgbank-http"),
                    help="the shim binary to ask for --help (default: shim/pgbank-http)")
    ap.add_argument("--shim-src", default=os.path.join(ROOT, "shim"),
                    help="directory of the shim's C sources (default: shim/)")
    args = ap.parse_args()

    shim = Shim(args.shim, args.shim_src)
    check("shim: --help and route table readable%s" % (" (paths from %s)" % shim.paths_from if shim.paths_from else ""),
          [shim.error] if shim.error else [])
    version = make_version()
    control = re.search(r"default_version\s*=\s*'([^']+)'", read("pgbank.control"))
    check("version: Makefile EXTVERSION = pgbank.control default_version",
          [] if control and control.group(1) == version else
          ["Makefile says %s, pgbank.control %s" % (version, control and control.group(1))])
    dbname, web_role = env_default("PGBANK_DBNAME"), env_default("PGBANK_WEB_ROLE")
    gucs = extension_gucs()

    df_pg = dockerfile("docker/Dockerfile.postgres")
    df_shim = dockerfile("docker/Dockerfile.shim")
    compose = load_yaml_docs(os.path.join(ROOT, "docker", "compose.yaml"))[0]
    services = compose.get("services", {})
    objs = k8s_objects()

    # Which compose service builds which image.
    built = {}
    for name, svc in services.items():
        b = svc.get("build")
        if b:
            built[os.path.normpath(os.path.join("docker", b["context"], b["dockerfile"]))] = (name, svc)
    errs = []
    for want in ("docker/Dockerfile.postgres", "docker/Dockerfile.shim"):
        if want not in built:
            errs.append("no compose service builds %s" % want)
    check("compose: a service builds each Dockerfile", errs)
    if errs:
        return report()
    pg_name, pg_svc = built["docker/Dockerfile.postgres"]
    shim_name, shim_svc = built["docker/Dockerfile.shim"]
    pg_image, shim_image = pg_svc.get("image", ""), shim_svc.get("image", "")

    # ---- images -----------------------------------------------------------
    errs = []
    for img in (pg_image, shim_image):
        repo, _, tag = img.rpartition(":")
        if tag != version:
            errs.append("compose image %s: tag is not the extension version %s" % (img, version))
    k8s_containers = []   # (file, kind, name, container, pod spec)
    for path, o in objs:
        if o.get("kind") in ("Deployment", "StatefulSet"):
            spec = o["spec"]["template"]["spec"]
            for c in spec.get("containers", []):
                k8s_containers.append((path, o["kind"], o["metadata"]["name"], c, o))
                if c["image"] not in (pg_image, shim_image):
                    errs.append("%s: image %s is not one compose builds (%s, %s)"
                                % (path, c["image"], pg_image, shim_image))
        if o.get("kind") == "Kustomization":
            for im in o.get("images", []):
                if im["name"] not in (pg_image.rpartition(":")[0], shim_image.rpartition(":")[0]):
                    errs.append("%s: images entry %s names no image compose builds" % (path, im["name"]))
                if "newTag" in im and str(im["newTag"]) != version:
                    errs.append("%s: %s newTag %s is not the version %s" % (path, im["name"], im["newTag"], version))
    check("images: k8s and compose name the same images, tagged with the version", errs)

    shim_cs = [x for x in k8s_containers if x[3]["image"] == shim_image]
    pg_cs = [x for x in k8s_containers if x[3]["image"] == pg_image]
    if not shim_cs or not pg_cs:
        check("k8s: a container runs each image", ["missing shim or postgres container in k8s/"])
        return report()

    # ---- environment variables -------------------------------------------
    errs = []
    used = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "docker", "*"))
                       + glob.glob(os.path.join(ROOT, "k8s", "**", "*"), recursive=True)
                       + [os.path.join(ROOT, "docs", d) for d in DEPLOY_DOCS]):
        if os.path.isfile(path):
            for v in re.findall(r"\bPGBANK_[A-Z0-9_]+\b", open(path, encoding="utf-8").read()):
                used.setdefault(v, set()).add(rel(path))
    if shim.error:
        errs.append("cannot compare without the shim's --help")
    else:
        for v, where in sorted(used.items()):
            if v not in shim.env:
                errs.append("%s (in %s) is not in `pgbank-http --help`" % (v, ", ".join(sorted(where))))
    shim_envs = [("docker/compose.yaml", shim_svc.get("environment", {}))]
    shim_envs += [(p, env_of(c)) for p, _, _, c, _ in shim_cs]
    for where, env in shim_envs:
        if isinstance(env, list):
            env = dict(e.split("=", 1) for e in env)
        for k in env:
            if not k.startswith("PGBANK_") and not re.fullmatch(r"PG[A-Z]+", k):
                errs.append("%s: shim variable %s is neither PGBANK_* nor a libpq PG* variable" % (where, k))
    check("env: every PGBANK_* variable in docker/, k8s/ and the deploy docs is one the shim documents", errs)

    # ---- the shim's port and probe paths ---------------------------------
    errs = []
    port = shim.port
    if shim.error:
        errs.append("cannot compare without the shim's --help")
    else:
        def same(what, p):
            if p != port:
                errs.append("%s: port %s, but the shim's default PGBANK_LISTEN port is %s" % (what, p, port))

        def inside(what, value):
            host, p = listen_port(value)
            same(what + " PGBANK_LISTEN", p)
            if host not in ("0.0.0.0", "[::]", "::"):
                errs.append("%s: PGBANK_LISTEN host %s is unreachable from outside the container"
                            % (what, host))

        final = last_stage(df_shim)
        for s, instr, arg in df_shim:
            if s == final and instr == "EXPOSE":
                for p in arg.split():
                    same("Dockerfile.shim EXPOSE", int(p.split("/")[0]))
            if s == final and instr == "HEALTHCHECK":
                hp, path = healthcheck_probe(arg)
                same("Dockerfile.shim HEALTHCHECK", hp)
                if path not in shim.paths:
                    errs.append("Dockerfile.shim HEALTHCHECK asks %s, not a path the shim serves" % path)
        inside("Dockerfile.shim ENV", docker_env(df_shim, final).get("PGBANK_LISTEN"))
        env = shim_svc.get("environment", {})
        inside("compose %s" % shim_name, env.get("PGBANK_LISTEN"))
        for mapping in shim_svc.get("ports", []):
            same("compose %s ports %s" % (shim_name, mapping), int(str(mapping).split(":")[-1]))
        hp, path = healthcheck_probe(shim_svc.get("healthcheck", {}).get("test", []))
        same("compose %s healthcheck" % shim_name, hp)
        if path != "/healthz" or path not in shim.paths:
            errs.append("compose %s healthcheck asks %s: want /healthz, served by the shim" % (shim_name, path))
        for path_, kind, name, c, o in shim_cs:
            what = "%s %s/%s" % (path_, kind, name)
            inside(what, env_of(c).get("PGBANK_LISTEN"))
            for p in c.get("ports", []):
                same(what + " containerPort", p["containerPort"])
            for probe, want in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
                get = c.get(probe, {}).get("httpGet")
                if not get:
                    errs.append("%s: no %s httpGet" % (what, probe))
                    continue
                same("%s %s" % (what, probe), resolve_port(c, get["port"]))
                if get["path"] != want or get["path"] not in shim.paths:
                    errs.append("%s: %s path %s: want %s, served by the shim" % (what, probe, get["path"], want))
            # SIGTERM: the pod must outlive the preStop pause plus the
            # shim's own wait for in-flight requests.
            spec = o["spec"]["template"]["spec"]
            grace = spec.get("terminationGracePeriodSeconds", 30)
            pause = 0
            pre = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
            if len(pre) == 2 and pre[0] == "sleep":
                pause = int(pre[1])
            wait = int(env_of(c).get("PGBANK_SHUTDOWN_TIMEOUT") or shim.shutdown_timeout or 0)
            if shim.shutdown_timeout is None:
                errs.append("--help gives no default for PGBANK_SHUTDOWN_TIMEOUT")
            elif grace < pause + wait:
                errs.append("%s: terminationGracePeriodSeconds %d < preStop %ds + shutdown timeout %ds"
                            % (what, grace, pause, wait))
        # Services, Ingress and NetworkPolicy in front of the shim.
        svc_ports = {}
        for path_, o in objs:
            sel = (o.get("spec") or {}).get("selector") or {}
            if o.get("kind") == "Service" and sel.get("app.kubernetes.io/component") == "http":
                for p in o["spec"]["ports"]:
                    same("%s Service %s targetPort" % (path_, o["metadata"]["name"]),
                         resolve_port(shim_cs[0][3], p["targetPort"]))
                    svc_ports.setdefault(o["metadata"]["name"], set()).add(p["port"])
        if not svc_ports:
            errs.append("k8s: no Service selects the shim's pods")
        for path_, o in objs:
            if o.get("kind") == "Ingress":
                for rule in o["spec"]["rules"]:
                    for hp_ in rule["http"]["paths"]:
                        b = hp_["backend"]["service"]
                        if b["port"].get("number") not in svc_ports.get(b["name"], set()):
                            errs.append("%s: Ingress backend %s:%s is no port of a shim Service"
                                        % (path_, b["name"], b["port"]))
            if o.get("kind") == "NetworkPolicy" and \
                    o["spec"]["podSelector"]["matchLabels"].get("app.kubernetes.io/component") == "http":
                for rule in o["spec"].get("ingress", []):
                    for p in rule.get("ports", []):
                        same("%s NetworkPolicy %s ingress" % (path_, o["metadata"]["name"]), p["port"])
    check("ports and probes: the shim's port and served paths everywhere", errs)

    # ---- PostgreSQL: port, names, connection strings ---------------------
    errs = []
    pg_port = 5432
    final = last_stage(df_pg)
    exposes = [int(a.split()[0]) for s, i, a in df_pg if s == final and i == "EXPOSE"]
    if exposes != [pg_port]:
        errs.append("Dockerfile.postgres EXPOSE %s, want %s" % (exposes, pg_port))
    entry = read("docker/postgres-entrypoint.sh")
    for var, want in (("dbname", dbname), ("web_role", web_role)):
        m = re.search(r"^%s=(\S+)" % var, entry, re.M)
        if not m or m.group(1) != want:
            errs.append("postgres-entrypoint.sh %s=%s, scripts/env.sh uses %s" % (var, m and m.group(1), want))
    pg_hosts = {pg_name}
    for path_, o in objs:
        sel = (o.get("spec") or {}).get("selector") or {}
        if o.get("kind") == "Service" and sel.get("app.kubernetes.io/component") == "postgres":
            pg_hosts.add(o["metadata"]["name"])
            for p in o["spec"]["ports"]:
                if p["port"] != pg_port or resolve_port(pg_cs[0][3], p["targetPort"]) != pg_port:
                    errs.append("%s: Service %s port %s" % (path_, o["metadata"]["name"], p))
        if o.get("kind") == "NetworkPolicy" and \
                o["spec"]["podSelector"]["matchLabels"].get("app.kubernetes.io/component") == "postgres":
            for rule in o["spec"].get("ingress", []):
                for p in rule.get("ports", []):
                    if p["port"] != pg_port:
                        errs.append("%s: NetworkPolicy lets the shim in on %s, want %s" % (path_, p["port"], pg_port))
                peers = [f.get("podSelector", {}).get("matchLabels", {}) for f in rule.get("from", [])]
                if not peers or any(pe.get("app.kubernetes.io/component") != "http" for pe in peers):
                    errs.append("%s: PostgreSQL NetworkPolicy admits more than the shim: %s" % (path_, peers))
    for path_, kind, name, c, o in pg_cs:
        ports = [p["containerPort"] for p in c.get("ports", [])]
        if ports != [pg_port]:
            errs.append("%s %s: containerPort %s" % (path_, name, ports))
    dbs = [("docker/compose.yaml", shim_svc.get("environment", {}).get("PGBANK_DB"))]
    dbs += [(p, env_of(c).get("PGBANK_DB")) for p, _, _, c, _ in shim_cs]
    for where, value in dbs:
        ci = conninfo(value)
        if "password" in ci:
            errs.append("%s: PGBANK_DB holds a password; use the web_password secret" % where)
        for key, want in (("port", str(pg_port)), ("dbname", dbname), ("user", web_role)):
            if ci.get(key) != want:
                errs.append("%s: PGBANK_DB %s=%s, want %s" % (where, key, ci.get(key), want))
        if ci.get("host") not in pg_hosts:
            errs.append("%s: PGBANK_DB host=%s names no PostgreSQL service (%s)"
                        % (where, ci.get("host"), ", ".join(sorted(pg_hosts))))
    check("postgres: port, database, role and connection strings agree", errs)

    # ---- server settings: the image's are the local set-up's -------------
    errs = []
    local_only = {"port", "listen_addresses", "unix_socket_directories", "max_connections", "include_if_exists"}
    setup_conf = conf_block(read("scripts/setup.sh"), "# --- pgbank local cluster ---",
                            {"$PGBANK_DBNAME": dbname})
    image_conf = conf_block(entry, "# --- pgbank (docker/postgres-entrypoint.sh) ---", {"$dbname": dbname})
    if not setup_conf or not image_conf:
        errs.append("cannot find the postgresql.conf blocks of scripts/setup.sh and the entrypoint")
    for k, v in sorted(setup_conf.items()):
        if k not in local_only and image_conf.get(k) != v:
            errs.append("scripts/setup.sh sets %s = %s, docker/postgres-entrypoint.sh %s"
                        % (k, v, "= " + image_conf[k] if k in image_conf else "does not"))
    check("server settings: the image's postgresql.conf has the local set-up's", errs)

    # ---- GUCs named in deploy files exist in the extension ---------------
    errs = []
    for path in sorted(glob.glob(os.path.join(ROOT, "docker", "*"))
                       + glob.glob(os.path.join(ROOT, "k8s", "**", "*"), recursive=True)):
        if os.path.isfile(path):
            for g in sorted(set(re.findall(r"\b(pgbank\.[a-z_][a-z0-9_]*)\s*=", open(path, encoding="utf-8").read()))):
                if g not in gucs:
                    errs.append("%s sets %s, which no extension/*.c defines" % (rel(path), g))
    check("GUCs: every pgbank.* setting in docker/ and k8s/ is defined by the extension", errs)

    # ---- the settings table of docs/operations.md is the extension's -----
    errs = []
    documented = set(re.findall(r"^\| `(pgbank\.[a-z_][a-z0-9_]*)` \|", read("docs/operations.md"), re.M))
    for g in sorted(gucs - documented):
        errs.append("%s is defined in extension/ but has no row in docs/operations.md" % g)
    for g in sorted(documented - gucs):
        errs.append("docs/operations.md documents %s, which no extension/*.c defines" % g)
    check("GUCs: docs/operations.md lists exactly the extension's settings", errs)

    # ---- connections: replicas x pool <= max_connections -----------------
    errs = []
    max_conn = 100
    for _, _, _, c, _ in pg_cs:
        a = c.get("args", [])
        for i, tok in enumerate(a):
            m = re.fullmatch(r"max_connections=(\d+)", tok)
            if m and i > 0 and a[i - 1] == "-c":
                max_conn = int(m.group(1))
    for path_, kind, name, c, o in shim_cs:
        pool = env_of(c).get("PGBANK_POOL_SIZE")
        if pool is None:
            errs.append("%s: PGBANK_POOL_SIZE not set, so connections cannot be bounded" % path_)
            continue
        most = o["spec"].get("replicas", 1)
        for _, h in objs:
            if h.get("kind") == "HorizontalPodAutoscaler" and h["spec"]["scaleTargetRef"]["name"] == name:
                most = max(most, h["spec"]["maxReplicas"])
        # Leave room for superuser_reserved_connections (3) and pg_cron's jobs.
        if most * int(pool) > max_conn - 10:
            errs.append("%s: %d replicas x PGBANK_POOL_SIZE %s exceeds max_connections %d - 10"
                        % (path_, most, pool, max_conn))
    check("connections: the shim's largest pool fits PostgreSQL's max_connections", errs)

    # ---- kustomize layout and secrets ------------------------------------
    errs = []
    for path_, o in objs:
        base = os.path.dirname(os.path.join(ROOT, path_))
        if o.get("kind") == "Kustomization":
            for r in o.get("resources", []):
                if not os.path.exists(os.path.join(base, r)):
                    errs.append("%s: resource %s does not exist" % (path_, r))
            for p in o.get("patches", []):
                if "path" in p and not os.path.exists(os.path.join(base, p["path"])):
                    errs.append("%s: patch %s does not exist" % (path_, p["path"]))
            for g in o.get("secretGenerator", []):
                for f in g.get("files", []):
                    f = os.path.join(base, f.split("=", 1)[-1])
                    ig = subprocess.run(["git", "-C", ROOT, "check-ignore", "-q", "--no-index", f])
                    if ig.returncode != 0:
                        errs.append("%s: secret file %s is not ignored by git" % (path_, rel(f)))
        if o.get("kind") == "Secret" and (o.get("data") or o.get("stringData")):
            errs.append("%s: a Secret with values is committed" % path_)
    # Secret volumes must be readable by the pod's non-root user: files are
    # owned by root and the fsGroup (a supplementary group of the pod's
    # processes), with the volume's defaultMode.
    for path_, kind, name, c, o in k8s_containers:
        spec = o["spec"]["template"]["spec"]
        sc = spec.get("securityContext", {})
        for v in spec.get("volumes", []):
            if "secret" not in v:
                continue
            mode = v["secret"].get("defaultMode", 0o644)
            if not (mode & 0o004 or (mode & 0o040 and sc.get("fsGroup") is not None)):
                errs.append("%s %s: secret volume %s (mode %o) is unreadable by uid %s"
                            % (path_, name, v["name"], mode, sc.get("runAsUser")))
    for name, s in (compose.get("secrets") or {}).items():
        f = os.path.join(ROOT, "docker", s["file"])
        if subprocess.run(["git", "-C", ROOT, "check-ignore", "-q", "--no-index", f]).returncode != 0:
            errs.append("compose secret %s: %s is not ignored by git" % (name, rel(f)))
    for path, instrs in (("docker/Dockerfile.postgres", df_pg), ("docker/Dockerfile.shim", df_shim)):
        for s, instr, arg in instrs:
            if instr == "COPY" and "--from" not in arg:
                for src in shlex.split(arg)[:-1]:
                    if src != "." and not os.path.exists(os.path.join(ROOT, src)):
                        errs.append("%s: COPY source %s does not exist" % (path, src))
    check("layout: kustomize references exist, secrets are not committed", errs)

    # ---- run-time images carry the libraries the binaries need -----------
    errs = []
    pkglib = subprocess.run([os.environ.get("PG_CONFIG", "pg_config"), "--pkglibdir"],
                            capture_output=True, text=True).stdout.strip()
    pairs = [(os.path.join(ROOT, "pgbank.so"), "docker/Dockerfile.postgres", df_pg),
             (os.path.join(pkglib, "pg_cron.so"), "docker/Dockerfile.postgres", df_pg),
             (args.shim, "docker/Dockerfile.shim", df_shim)]
    for binary, path, instrs in pairs:
        if not os.path.exists(binary):
            errs.append("%s is not built: cannot read what it links" % binary)
            continue
        have = apt_installs(instrs, last_stage(instrs))
        for lib, pkg in needed_packages(binary).items():
            if pkg is None:
                errs.append("%s needs %s, which no Debian package provides here" % (rel(binary), lib))
            elif pkg not in have and pkg not in ("libc6",) and not pkg.startswith("postgresql-15"):
                errs.append("%s needs %s (package %s), not installed by %s's run-time stage"
                            % (os.path.basename(binary), lib, pkg, path))
    check("libraries: each run-time image installs what its binaries link", errs)

    return report()


def report():
    failed = 0
    for name, errs in results:
        if errs:
            failed += 1
            print("FAIL  %s" % name)
            for e in errs:
                print("      - %s" % e)
        else:
            print("ok    %s" % name)
    print("deploy_check: %d passed, %d failed" % (len(results) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

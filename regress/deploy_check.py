#!/usr/bin/python3
"""The Kubernetes manifests, as kustomize renders them, against the code.

The images and the compose stack are built and run by regress/t/60-images.sh;
Kubernetes cannot run here, so its objects are checked instead. Each of
k8s/base and k8s/overlays/example is rendered with `kubectl kustomize` (in a
copy of k8s/, with the overlay's secret files generated there), and the
rendered objects are compared with what the code expects:

  - images: the ones docker/compose.yaml names (the suite builds), tagged
    with pgbank.control's default_version;
  - the shim: every variable is one `pgbank-http --help` documents, its
    listen port is the default one there, probes ask paths `--routes`
    serves, Services, Ingress and NetworkPolicy reach that port, the pod
    outlives the preStop pause plus the shutdown timeout, its largest pool
    fits PostgreSQL's max_connections, it can write its password file;
  - PostgreSQL: port 5432, PGBANK_DB names its Service, the database of
    config/pgbank.conf and the API role of scripts/env.sh, with no
    password; every pgbank.* argument is a setting the extension defines;
  - the http image (docker/Dockerfile): the directories PGBANK_WEB_ROOT and
    PGBANK_SWAGGER_ROOT name are copied into it, from web/ and from
    build/swagger-ui (where scripts/swagger-ui.sh puts swagger-ui-dist);
  - secrets: no committed Secret with values, the generated files are
    ignored by git, each secret volume is readable by its pod's user.

Prints "ok" or "FAIL" per check; exits 1 if any failed. Needs the built
shim (`make`) and kubectl. Uses /usr/bin/python3 with python3-yaml.
"""
import argparse
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
PG_PORT = 5432
results = []


def check(name, errors):
    results.append((name, list(errors)))


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


# ---- what the code says ------------------------------------------------------

def shim_facts(binary):
    """Variables, default port and shutdown timeout from --help; the served
    paths from --routes."""
    help_text = subprocess.run([binary, "--help"], capture_output=True, text=True, check=True).stdout
    routes = subprocess.run([binary, "--routes"], capture_output=True, text=True, check=True).stdout
    port = re.search(r"PGBANK_LISTEN:.*?default [^\s)]*:(\d+)", help_text)
    grpc_port = re.search(r"PGBANK_GRPC_LISTEN:.*?default [^\s)]*:(\d+)", help_text)
    timeout = re.search(r"PGBANK_SHUTDOWN_TIMEOUT:.*\(default (\d+)\)", help_text)
    return {
        "env": set(re.findall(r"\bPGBANK_[A-Z0-9_]+\b", help_text)),
        "port": int(port.group(1)) if port else None,
        "grpc_port": int(grpc_port.group(1)) if grpc_port else None,
        "shutdown_timeout": int(timeout.group(1)) if timeout else None,
        "paths": {line.split("\t")[1] for line in routes.splitlines() if "\t" in line},
    }


def conf_value(path, name):
    m = re.search(r"^%s\s*=\s*'([^']*)'" % re.escape(name), read(path), re.M)
    return m.group(1) if m else None


def facts(shim):
    return {
        "version": re.search(r"^default_version\s*=\s*'([^']+)'", read("pgbank.control"), re.M).group(1),
        "dbname": conf_value("config/pgbank.conf", "cron.database_name"),
        "web_role": re.search(r"^PGBANK_WEB_ROLE=\$\{PGBANK_WEB_ROLE:-([^}]*)\}", read("scripts/env.sh"), re.M).group(1),
        "gucs": {g for src in glob.glob(os.path.join(ROOT, "extension", "*.c"))
                 for g in re.findall(r'DefineCustom[A-Za-z]+Variable\(\s*"(pgbank\.[a-z0-9_]+)"',
                                     open(src, encoding="utf-8").read())},
        "images": {s["image"] for s in yaml.safe_load(read("docker/compose.yaml"))["services"].values()},
        "shim": shim,
    }


# ---- the rendered objects ----------------------------------------------------

def render(kubectl):
    """{"base": [objects], "overlays/example": [objects]} and the overlay's
    secretGenerator files, rendered in a scratch copy of k8s/."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        k8s = os.path.join(tmp, "k8s")
        shutil.copytree(os.path.join(ROOT, "k8s"), k8s, ignore=shutil.ignore_patterns("secrets"))
        overlay = "overlays/example"
        kust = yaml.safe_load(read(os.path.join("k8s", overlay, "kustomization.yaml")))
        files = [f.split("=", 1)[-1] for g in kust.get("secretGenerator", []) for f in g.get("files", [])]
        subprocess.run([os.path.join(ROOT, "scripts", "gen-secrets.sh"),
                        os.path.join(k8s, overlay, "secrets")], check=True, capture_output=True)
        for d in ("base", overlay):
            p = subprocess.run([kubectl, "kustomize", os.path.join(k8s, d)], capture_output=True, text=True)
            if p.returncode != 0:
                raise SystemExit("deploy_check: kubectl kustomize k8s/%s failed:\n%s" % (d, p.stderr))
            out[d] = [o for o in yaml.safe_load_all(p.stdout) if o]
    return out, [os.path.join("k8s", overlay, f) for f in files]


def of_kind(objs, kind):
    return [o for o in objs if o["kind"] == kind]


def component(o):
    sel = o["spec"].get("selector") or {}
    return (sel.get("matchLabels") or sel).get("app.kubernetes.io/component")


def workloads(objs):
    """(object, pod spec, container) for each container, by component."""
    out = {}
    for o in of_kind(objs, "Deployment") + of_kind(objs, "StatefulSet"):
        spec = o["spec"]["template"]["spec"]
        for c in spec["containers"]:
            out.setdefault(component(o), []).append((o, spec, c))
    return out


def env_of(c):
    return {e["name"]: e.get("value") for e in c.get("env", [])}


def port_of(c, port):
    if isinstance(port, int):
        return port
    return next((p["containerPort"] for p in c.get("ports", []) if p.get("name") == port), None)


# ---- the checks --------------------------------------------------------------

def check_images(name, objs, f):
    """Base: compose's images themselves; an overlay may move them to its
    registry (images: newName), keeping name and tag."""
    errs = []
    for comp, items in workloads(objs).items():
        for o, _, c in items:
            if c["image"].rpartition(":")[2] != f["version"]:
                errs.append("%s: image %s is not tagged %s" % (o["metadata"]["name"], c["image"], f["version"]))
            if not any(c["image"] == i or (name != "base" and c["image"].endswith("/" + i)) for i in f["images"]):
                errs.append("%s: image %s is none of compose's %s" % (o["metadata"]["name"], c["image"],
                                                                       sorted(f["images"])))
    for i in f["images"]:
        if i.rpartition(":")[2] != f["version"]:
            errs.append("docker/compose.yaml: image %s is not tagged %s" % (i, f["version"]))
    check("%s: images are the suite's, tagged with the extension's version" % name, errs)


def check_shim(name, objs, f):
    errs, shim = [], f["shim"]
    items = workloads(objs).get("http", [])
    if not items:
        check("%s: the shim" % name, ["no Deployment of component http"])
        return
    port = shim["port"]
    for o, spec, c in items:
        what = "%s/%s" % (o["kind"], o["metadata"]["name"])
        env = env_of(c)
        for k in env:
            if k.startswith("PGBANK_") and k not in shim["env"]:
                errs.append("%s: %s is not in `pgbank-http --help`" % (what, k))
            elif not k.startswith("PGBANK_") and not re.fullmatch(r"PG[A-Z]+", k):
                errs.append("%s: %s is neither PGBANK_* nor a libpq variable" % (what, k))
        listen = env.get("PGBANK_LISTEN", "")
        if not re.fullmatch(r"(0\.0\.0\.0|\[::\]):%d" % port, listen):
            errs.append("%s: PGBANK_LISTEN %r is not every interface on the shim's port %d" % (what, listen, port))
        if port_of(c, "http") != port:
            errs.append("%s: no containerPort named http on the shim's port %d: %s" % (what, port, c.get("ports")))
        gport = shim["grpc_port"]
        if not re.fullmatch(r"(0\.0\.0\.0|\[::\]):%s" % gport, env.get("PGBANK_GRPC_LISTEN", "")) or \
                port_of(c, "grpc") != gport:
            errs.append("%s: want PGBANK_GRPC_LISTEN on every interface and a containerPort named grpc, "
                        "on the shim's gRPC port %s" % (what, gport))
        if port_of(c, ((c.get("startupProbe") or {}).get("grpc") or {}).get("port")) != gport:
            errs.append("%s: startupProbe %s: want the gRPC health check on %s"
                        % (what, c.get("startupProbe"), gport))
        for probe, want in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            get = (c.get(probe) or {}).get("httpGet")
            if not get or get["path"] != want or want not in shim["paths"] or port_of(c, get["port"]) != port:
                errs.append("%s: %s %s: want GET %s on %d, served by the shim" % (what, probe, get, want, port))
        pause = 0
        pre = ((c.get("lifecycle") or {}).get("preStop") or {}).get("exec", {}).get("command", [])
        if len(pre) == 2 and pre[0] == "sleep":
            pause = int(pre[1])
        wait = int(env.get("PGBANK_SHUTDOWN_TIMEOUT") or shim["shutdown_timeout"])
        grace = spec.get("terminationGracePeriodSeconds", 30)
        if grace < pause + wait:
            errs.append("%s: terminationGracePeriodSeconds %d < preStop %ds + shutdown timeout %ds"
                        % (what, grace, pause, wait))
        if (c.get("securityContext") or {}).get("readOnlyRootFilesystem") and \
                not any(m["mountPath"] == "/tmp" for m in c.get("volumeMounts", [])):
            errs.append("%s: read-only root and no volume at /tmp, where the entrypoint writes "
                        "the password file" % what)
        ci = dict(kv.split("=", 1) for kv in shlex.split(env.get("PGBANK_DB", "")) if "=" in kv)
        pg_services = {s["metadata"]["name"] for s in of_kind(objs, "Service") if component(s) == "postgres"}
        want = {"port": str(PG_PORT), "dbname": f["dbname"], "user": f["web_role"]}
        if "password" in ci:
            errs.append("%s: PGBANK_DB holds a password" % what)
        if ci.get("host") not in pg_services or any(ci.get(k) != v for k, v in want.items()):
            errs.append("%s: PGBANK_DB %s: want host one of %s and %s" % (what, ci, sorted(pg_services), want))
    c = items[0][2]
    svc_ports = {}
    for s in of_kind(objs, "Service"):
        if component(s) == "http":
            for p in s["spec"]["ports"]:
                if p.get("name") == "grpc" and port_of(c, p["targetPort"]) != shim["grpc_port"]:
                    errs.append("Service %s: grpc targetPort %s is not the shim's %s"
                                % (s["metadata"]["name"], p["targetPort"], shim["grpc_port"]))
                if p.get("name") != "http":
                    continue
                if port_of(c, p["targetPort"]) != port:
                    errs.append("Service %s: targetPort %s is not the shim's %d" % (s["metadata"]["name"], p["targetPort"], port))
                svc_ports.setdefault(s["metadata"]["name"], set()).add(p["port"])
    if not svc_ports:
        errs.append("no Service port named http selects the shim")
    for ing in of_kind(objs, "Ingress"):
        for rule in ing["spec"]["rules"]:
            for hp in rule["http"]["paths"]:
                b = hp["backend"]["service"]
                if b["port"].get("number") not in svc_ports.get(b["name"], set()):
                    errs.append("Ingress %s: backend %s:%s is no port of a shim Service"
                                % (ing["metadata"]["name"], b["name"], b["port"]))
    for np in of_kind(objs, "NetworkPolicy"):
        if np["spec"]["podSelector"]["matchLabels"].get("app.kubernetes.io/component") == "http":
            allowed = [p["port"] for rule in np["spec"].get("ingress", []) for p in rule.get("ports", [])]
            for want in (port, shim["grpc_port"]):
                if want not in allowed:
                    errs.append("NetworkPolicy %s: ingress ports %s leave out the shim's %s"
                                % (np["metadata"]["name"], allowed, want))
    check("%s: the shim's variables, ports (HTTP, gRPC), probes, shutdown and database" % name, errs)


def check_postgres(name, objs, f):
    errs = []
    items = workloads(objs).get("postgres", [])
    if not items:
        check("%s: PostgreSQL" % name, ["no StatefulSet of component postgres"])
        return
    max_conn = 100
    for o, spec, c in items:
        if [p["containerPort"] for p in c.get("ports", [])] != [PG_PORT]:
            errs.append("%s: containerPorts %s, want %d" % (o["metadata"]["name"], c.get("ports"), PG_PORT))
        args = c.get("args", [])
        for i, a in enumerate(args):
            if i > 0 and args[i - 1] == "-c":
                key, _, value = a.partition("=")
                if key.startswith("pgbank.") and key not in f["gucs"]:
                    errs.append("%s: -c %s: no extension/*.c defines %s" % (o["metadata"]["name"], a, key))
                if key == "max_connections":
                    max_conn = int(value)
        for probe in ("readinessProbe", "livenessProbe"):
            p = c.get(probe) or {}
            port = port_of(c, (p.get("tcpSocket") or {}).get("port")) if "tcpSocket" in p else \
                next((int(x) for i, x in enumerate(p.get("exec", {}).get("command", []))
                      if i > 0 and p["exec"]["command"][i - 1] == "-p"), None)
            if port != PG_PORT:
                errs.append("%s: %s does not ask port %d: %s" % (o["metadata"]["name"], probe, PG_PORT, p))
    for s in of_kind(objs, "Service"):
        if component(s) == "postgres":
            for p in s["spec"]["ports"]:
                if p["port"] != PG_PORT or port_of(items[0][2], p["targetPort"]) != PG_PORT:
                    errs.append("Service %s: port %s" % (s["metadata"]["name"], p))
    for np in of_kind(objs, "NetworkPolicy"):
        if np["spec"]["podSelector"]["matchLabels"].get("app.kubernetes.io/component") == "postgres":
            for rule in np["spec"].get("ingress", []):
                peers = [x.get("podSelector", {}).get("matchLabels", {}) for x in rule.get("from", [])]
                if [p["port"] for p in rule.get("ports", [])] != [PG_PORT] or not peers or \
                        any(pe.get("app.kubernetes.io/component") != "http" for pe in peers):
                    errs.append("NetworkPolicy %s admits more than the shim on %d: %s"
                                % (np["metadata"]["name"], PG_PORT, rule))
    # Connections: the shim's largest pool, with room for superusers and pg_cron.
    for o, _, c in workloads(objs).get("http", []):
        pool = int(env_of(c).get("PGBANK_POOL_SIZE") or 0)
        most = max([o["spec"].get("replicas", 1)] +
                   [h["spec"]["maxReplicas"] for h in of_kind(objs, "HorizontalPodAutoscaler")
                    if h["spec"]["scaleTargetRef"]["name"] == o["metadata"]["name"]])
        if not pool or most * pool > max_conn - 10:
            errs.append("%s: %d replicas x PGBANK_POOL_SIZE %s does not fit max_connections %d - 10"
                        % (o["metadata"]["name"], most, pool or "unset", max_conn))
    check("%s: PostgreSQL's port, probes, settings and connections" % name, errs)


def check_secrets(name, objs, generated):
    errs = []
    secrets = {s["metadata"]["name"] for s in of_kind(objs, "Secret")}
    if generated is None:
        for s in of_kind(objs, "Secret"):
            if s.get("data") or s.get("stringData"):
                errs.append("Secret %s with values is committed" % s["metadata"]["name"])
    else:
        for f in generated:
            if subprocess.run(["git", "-C", ROOT, "check-ignore", "-q", "--no-index", f]).returncode != 0:
                errs.append("secret file %s is not ignored by git" % f)
    for comp, items in workloads(objs).items():
        for o, spec, c in items:
            sc = spec.get("securityContext", {})
            if not sc.get("runAsNonRoot") or not sc.get("runAsUser"):
                errs.append("%s: not runAsNonRoot with a runAsUser" % o["metadata"]["name"])
            for v in spec.get("volumes", []):
                if "secret" not in v:
                    continue
                mode = v["secret"].get("defaultMode", 0o644)
                if not (mode & 0o004 or (mode & 0o040 and sc.get("fsGroup") is not None)):
                    errs.append("%s: secret volume %s (mode %o) unreadable by uid %s"
                                % (o["metadata"]["name"], v["name"], mode, sc.get("runAsUser")))
                if generated is not None and v["secret"]["secretName"] not in secrets:
                    errs.append("%s: secret %s is not the generated one (%s)"
                                % (o["metadata"]["name"], v["secret"]["secretName"], sorted(secrets)))
    check("%s: secrets, and non-root pods" % name, errs)


def dockerfile_stages(text):
    """{stage name: [its instructions, continuation lines joined]}."""
    stages, cur = {}, None
    for line in re.sub(r"\\\n\s*", " ", text).splitlines():
        line = line.strip()
        m = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.I)
        if m:
            cur = stages.setdefault(m.group(1), [])
        elif cur is not None and line and not line.startswith("#"):
            cur.append(line)
    return stages


def check_http_image():
    """What the shim serves from files is in its image, where its settings say."""
    errs = []
    stages = dockerfile_stages(read("docker/Dockerfile"))
    http = stages.get("http", [])
    env = dict(re.findall(r"\b(PGBANK_[A-Z_]+)=(\S+)", " ".join(l for l in http if l.startswith("ENV"))))
    copies = [l.split() for l in http if l.startswith("COPY")]
    wants = {"PGBANK_WEB_ROOT": lambda c: c[1] == "--from=build" and c[2] == "/src/web",
             "PGBANK_SWAGGER_ROOT": lambda c: c[1].rstrip("/") == "build/swagger-ui" and
             "build/swagger-ui" in read("scripts/swagger-ui.sh")}
    for var, source_ok in wants.items():
        if var not in env:
            errs.append("the http stage sets no %s" % var)
        elif not any(c[-1].rstrip("/") == env[var].rstrip("/") and source_ok(c) for c in copies):
            errs.append("the http stage copies nothing right into %s (%s)" % (env[var], var))
    check("the http image holds the web app and Swagger UI where its settings say", errs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shim", default=os.path.join(ROOT, "shim", "pgbank-http"))
    ap.add_argument("--kubectl", default="kubectl")
    args = ap.parse_args()
    f = facts(shim_facts(args.shim))
    rendered, generated = render(args.kubectl)
    check_http_image()
    for name, objs in rendered.items():
        check_images(name, objs, f)
        check_shim(name, objs, f)
        check_postgres(name, objs, f)
        check_secrets(name, objs, None if name == "base" else generated)
    failed = 0
    for name, errs in results:
        print("%s  %s" % ("FAIL" if errs else "ok  ", name))
        for e in errs:
            print("      - %s" % e)
        failed += bool(errs)
    print("deploy_check: %d passed, %d failed" % (len(results) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The files the shim serves (shim/static.c, docs/web.md): the web app at /
and Swagger UI at /swagger/ with their content types, ETag and 304,
Cache-Control, the security headers on every answer (a
Content-Security-Policy the pages satisfy, nosniff, frame-ancestors), no
path traversal (.., hidden files, links out of the root), the /swagger
redirect, and the verification link's page for a browser.
"""
import html.parser
import os
import re
import shutil
import sys
import tempfile

import helpers
from helpers import *  # noqa: F401,F403

WEB = os.path.join(ROOT, "web")


def get(path, headers=None, port=None, method="GET"):
    return request_all(method, path, headers=headers, port=port)


def test_types_and_caching():
    for path, ctype in (("/", "text/html; charset=utf-8"), ("/index.html", "text/html; charset=utf-8"),
                        ("/js/app.js", "text/javascript; charset=utf-8"), ("/css/app.css", "text/css; charset=utf-8"),
                        ("/favicon.svg", "image/svg+xml"), ("/swagger/", "text/html; charset=utf-8"),
                        ("/swagger/swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
                        ("/swagger/swagger-ui.css", "text/css; charset=utf-8"),
                        ("/swagger/favicon-32x32.png", "image/png"), ("/swagger/LICENSE", "application/octet-stream")):
        st, hdrs, body = get(path)
        h = dict(hdrs)
        check(f"GET {path}: 200 {ctype}", st == 200 and h.get("content-type") == ctype, f"{st} {h.get('content-type')}")
    st, hdrs, body = get("/")
    h = dict(hdrs)
    with open(os.path.join(WEB, "index.html")) as f:
        check("GET / is web/index.html", body == f.read())
    etag = h.get("etag", "")
    check("a strong ETag", re.fullmatch(r'"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"', etag) is not None, etag)
    check("the web app's files are revalidated (Cache-Control: no-cache)", h.get("cache-control") == "no-cache")
    st, hdrs, body = get("/", headers={"If-None-Match": etag})
    check("If-None-Match with the ETag: 304, no body, the ETag again",
          st == 304 and body == "" and dict(hdrs).get("etag") == etag, f"{st} {body!r}")
    st, _, _ = get("/", headers={"If-None-Match": f'"x", {etag}'})
    check("If-None-Match listing it among others: 304", st == 304, str(st))
    st, _, _ = get("/", headers={"If-None-Match": '"0-0-0"'})
    check("If-None-Match with another ETag: 200", st == 200, str(st))
    _, hdrs, _ = get("/swagger/swagger-ui-bundle.js")
    check("Swagger UI's pinned files are kept a day", dict(hdrs).get("cache-control") == "public, max-age=86400")
    st, hdrs, body = get("/", method="HEAD")
    check("HEAD /: 200, the headers, no body", st == 200 and body == "" and
          dict(hdrs).get("content-length") == str(os.path.getsize(os.path.join(WEB, "index.html"))), f"{st} {hdrs}")
    st, _, body = get("/swagger/index.html")
    check("/swagger/ is our initializer page, not swagger-ui-dist's",
          st == 200 and "/swagger/swagger-initializer.js" in body and "petstore" not in body)
    st, _, body = get("/swagger/swagger-initializer.js")
    check("/swagger/swagger-initializer.js is ours, on /openapi.json", st == 200 and "/openapi.json" in body)
    st, _, body = get("/swagger/LICENSE")
    check("swagger-ui-dist's LICENSE is served with it", st == 200 and "Apache License" in body)


def test_security_headers():
    for path in ("/", "/swagger/", "/js/app.js", "/v1/games", "/nope", "/healthz"):
        _, hdrs, _ = get(path)
        h = dict(hdrs)
        csp = h.get("content-security-policy", "")
        check(f"GET {path}: CSP (no inline script, frame-ancestors 'none'), nosniff",
              "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "default-src 'none'" in csp and
              "unsafe-inline" not in csp and h.get("x-content-type-options") == "nosniff" and
              h.get("referrer-policy") == "same-origin", str(h))


class Inline(html.parser.HTMLParser):
    """What a CSP without 'unsafe-inline' refuses: inline scripts and
    styles, style and on* attributes, javascript: URLs."""

    def __init__(self):
        super().__init__()
        self.found = []
        self.in_script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self.in_script = "src" not in a
        if tag == "style":
            self.found.append("<style>")
        for k, v in attrs:
            if k == "style" or k.startswith("on") or (v or "").startswith("javascript:"):
                self.found.append(f"{tag} {k}")

    def handle_endtag(self, tag):
        if tag == "script":
            self.in_script = False

    def handle_data(self, data):
        if self.in_script and data.strip():
            self.found.append("inline <script>")


def test_pages_satisfy_csp():
    pages = []
    for d, _, files in os.walk(WEB):
        pages += [os.path.join(d, f) for f in files if f.endswith(".html")]
    for p in sorted(pages):
        parser = Inline()
        with open(p) as f:
            parser.feed(f.read())
        check(f"{os.path.relpath(p, ROOT)} has nothing the CSP refuses", not parser.found, str(parser.found))
    js = []
    for d, _, files in os.walk(os.path.join(WEB, "js")):
        js += [os.path.join(d, f) for f in files]
    bad = [p for p in js if re.search(r"innerHTML|outerHTML|eval\(|new Function|\.style\s*=|setAttribute\('style'",
                                      open(p).read())]
    check("the scripts build no HTML from text and set no inline style", not bad, str(bad))


def test_traversal():
    for raw in ("/../etc/passwd", "/js/../../shim/main.c", "/%2e%2e/%2e%2e/etc/passwd", "/js/%2e%2e/index.html",
                "/.git/config", "/js/.hidden", "/swagger/../index.html", "/swagger/../../shim/main.c",
                "/js//app.js", "//etc/passwd", "/js\\..\\index.html", "/index.html/", "/js/app.js%00.html",
                "/" + "a/" * 300 + "x", "/js/", "/swagger/.version", "/nope.html"):
        st, hdrs, body = get(raw)
        check(f"GET {raw[:40]}: 404 or 400 (nothing outside the roots, no hidden file)",
              st in (400, 404) and "root:" not in str(body) and "#include" not in str(body), f"{st} {str(body)[:80]}")
    st, _, body = get("/nope")
    check("an unknown file: the JSON 404", st == 404 and body.get("error") == "no such route", f"{st} {body}")
    st, _, _ = request_all("POST", "/index.html", raw="x")
    check("files are GET and HEAD only: POST 404", st == 404, str(st))

    # a root of our own: a link out of it, a link inside it, a directory
    root = tempfile.mkdtemp(prefix="pgbank-web-")
    try:
        with open(os.path.join(root, "index.html"), "w") as f:
            f.write("<!DOCTYPE html><title>t</title>")
        os.mkdir(os.path.join(root, "dir"))
        secret = os.path.join(tempfile.gettempdir(), f"pgbank-secret-{TAG}.txt")
        with open(secret, "w") as f:
            f.write("secret")
        os.symlink(secret, os.path.join(root, "out.txt"))
        os.symlink(os.path.join(root, "index.html"), os.path.join(root, "in.html"))
        os.chmod(root, 0o755)
        shim = Shim(PGBANK_WEB_ROOT=root, PGBANK_SWAGGER_ROOT="")
        try:
            st, _, body = get("/out.txt", port=shim.port)
            check("a link out of the root: 404", st == 404 and "secret" not in str(body), f"{st} {body}")
            st, _, _ = get("/in.html", port=shim.port)
            check("a link inside the root: 200", st == 200, str(st))
            st, _, _ = get("/dir", port=shim.port)
            check("a directory without index.html: 404", st == 404, str(st))
            st, _, _ = get("/swagger/swagger-ui.css", port=shim.port)
            check("PGBANK_SWAGGER_ROOT empty: no Swagger UI (404)", st == 404, str(st))
            st, _, _ = get("/", port=shim.port)
            check("PGBANK_WEB_ROOT: another root's index.html", st == 200, str(st))
        finally:
            shim.stop()
            os.unlink(secret)
        shim = Shim(PGBANK_WEB_ROOT="")
        try:
            st, _, _ = get("/", port=shim.port)
            check("PGBANK_WEB_ROOT empty: no web app (404)", st == 404, str(st))
        finally:
            shim.stop()
    finally:
        shutil.rmtree(root)


def test_swagger_redirect():
    st, hdrs, _ = get("/swagger")
    check("GET /swagger: 301 to /swagger/", st == 301 and dict(hdrs).get("location") == "/swagger/", f"{st} {hdrs}")


def test_verify_email_page():
    q = "/v1/verify_email?email_id=1&secret_code=" + "x" * 32
    st, hdrs, body = get(q, headers={"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"})
    with open(os.path.join(WEB, "v1", "verify_email.html")) as f:
        page = f.read()
    check("the verification link, navigated to by a browser: the landing page (HTML)",
          st == 200 and dict(hdrs).get("content-type", "").startswith("text/html") and body == page, f"{st}")
    st, _, body = get(q, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    check("... or asked for HTML first, without Fetch Metadata", st == 200 and body == page, f"{st}")
    st, _, body = get(q, headers={"Sec-Fetch-Dest": "empty", "Accept": "text/html"})
    check("a script's fetch of it (Sec-Fetch-Dest: empty) gets the JSON answer",
          isinstance(body, dict) and body.get("code") in ("P0002", "PB040"), f"{st} {body}")
    st, _, body = get(q)
    check("an API client gets the JSON answer", isinstance(body, dict) and "code" in body, f"{st} {body}")


def main():
    helpers.SHIM = Shim()
    try:
        test_types_and_caching()
        test_security_headers()
        test_pages_satisfy_csp()
        test_traversal()
        test_swagger_redirect()
        test_verify_email_page()
    finally:
        stop_front()
    return finish()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""End-to-end tests of pgbank-http's gRPC front (run by regress/t/31-grpc.sh).

A real gRPC client: the stubs are generated here, at test time, by protoc
and grpc_python_plugin from the same .proto files the shim is built from
(proto/, and Debian's grpc-proto for health and reflection). Starts the shim
with its gRPC listener on a free loopback port against the local cluster,
as the API role, and checks every RPC's answer and each of its errors (the
status, and for INVALID_ARGUMENT the google.rpc.BadRequest naming the
field), the metadata (bearer token, user-agent, x-forwarded-for,
idempotency-key), field presence in UpdateUser, server reflection (v1 and
v1alpha: list, file and symbol lookups, the true descriptors, a client built
from reflection alone), health (Check, and Watch streams: changes, PostgreSQL
down and back, shutdown), a deadline that cancels its statement, an
unknown method, malformed, nested and oversized messages, the log line, the
metrics, UNAVAILABLE while PostgreSQL is down, and shutdown. Reuses the HTTP
suite's helpers (regress/http/helpers.py, and the games' data of
regress/http/test_games.py). One "ok"/"FAIL" line per case.
"""
import datetime
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "http"))
import helpers as e2e  # noqa: E402
import test_games as http_games  # noqa: E402
from helpers import check, psql  # noqa: E402

ROOT = e2e.ROOT
STUBS = tempfile.mkdtemp(prefix="pgbank-grpc-stubs-")
PROTO_DIR = os.path.join(ROOT, "proto")
GRPC_PROTO = "/usr/share/grpc-proto"
TAG = uuid.uuid4().hex[:8]


def generate_stubs():
    """Python stubs of proto/ and of the health and reflection protos (under
    grpc_health/ and grpc_reflection/, so they do not shadow the grpc
    package), and the FileDescriptorSet protoc makes of the served files."""
    protos = sorted(os.path.relpath(os.path.join(d, f), PROTO_DIR)
                    for d, _, fs in os.walk(PROTO_DIR) for f in fs if f.endswith(".proto"))
    plugin = subprocess.check_output(["which", "grpc_python_plugin"], text=True).strip()
    subprocess.run(["protoc", f"-I{PROTO_DIR}", "-I/usr/include",
                    f"-Igrpc_health={GRPC_PROTO}/grpc/health",
                    f"-Igrpc_reflection={GRPC_PROTO}/grpc/reflection",
                    f"--python_out={STUBS}", f"--grpc_out={STUBS}",
                    f"--plugin=protoc-gen-grpc={plugin}"] + protos +
                   ["grpc_health/v1/health.proto", "grpc_reflection/v1/reflection.proto",
                    "grpc_reflection/v1alpha/reflection.proto"], check=True)
    subprocess.run(["protoc", f"-I{PROTO_DIR}", "-I/usr/include", f"-I{GRPC_PROTO}",
                    "--include_imports", f"--descriptor_set_out={STUBS}/served.pb",
                    "service_simple_bank.proto", "pgbank/v1/bank.proto"], check=True)
    sys.path.insert(0, STUBS)


generate_stubs()
import grpc  # noqa: E402
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, struct_pb2  # noqa: E402
from google.protobuf import message_factory, timestamp_pb2  # noqa: E402
from google.rpc import error_details_pb2, status_pb2  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
from grpc_reflection.v1 import reflection_pb2 as refl_v1, reflection_pb2_grpc as refl_v1_grpc  # noqa: E402
from grpc_reflection.v1alpha import reflection_pb2 as refl_va, reflection_pb2_grpc as refl_va_grpc  # noqa: E402
from pgbank.v1 import bank_pb2 as bank, bank_pb2_grpc as bank_grpc  # noqa: E402
import rpc_create_user_pb2 as create_user  # noqa: E402
import rpc_login_user_pb2 as login_user  # noqa: E402
import rpc_update_user_pb2 as update_user  # noqa: E402
import rpc_verify_email_pb2 as verify_email  # noqa: E402
import service_simple_bank_pb2  # noqa: E402
import service_simple_bank_pb2_grpc as simple_bank_grpc  # noqa: E402

AGENT = "pgbank-grpc-e2e"
SERVICES = {"pb.SimpleBank", "pgbank.v1.Bank", "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"}


def free_grpc_port():
    for port in range(19090, 19100):
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port in 19090-19099")


class Front:
    """A shim with its gRPC listener, and stubs on a channel to it."""

    def __init__(self, **env):
        self.grpc_port = free_grpc_port()
        env.setdefault("PGBANK_GRPC_LISTEN", f"127.0.0.1:{self.grpc_port}")
        self.shim = e2e.Shim(**env)
        deadline = time.time() + 10
        while time.time() < deadline and env["PGBANK_GRPC_LISTEN"]:
            try:
                socket.create_connection(("127.0.0.1", self.grpc_port), timeout=0.2).close()
                break
            except OSError:
                if self.shim.proc.poll() is not None:
                    raise RuntimeError("the shim exited: " + "\n".join(self.shim.log_lines()[-5:]))
                time.sleep(0.05)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}",
                                             options=[("grpc.primary_user_agent", AGENT)])
        self.sb = simple_bank_grpc.SimpleBankStub(self.channel)
        self.bank = bank_grpc.BankStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        rc = self.shim.stop(sig, timeout)
        self.channel.close()
        return rc


F = None


def call(method, request, token=None, metadata=(), timeout=30):
    """(code, response or None, details, BadRequest violations or None)."""
    md = list(metadata)
    if token is not None:
        md.append(("authorization", f"Bearer {token}"))
    try:
        return grpc.StatusCode.OK, method(request, metadata=md, timeout=timeout), "", None
    except grpc.RpcError as e:
        violations = None
        for k, v in e.trailing_metadata() or ():
            if k == "grpc-status-details-bin":
                st = status_pb2.Status.FromString(v)
                violations = []
                for d in st.details:
                    if d.type_url == "type.googleapis.com/google.rpc.BadRequest":
                        br = error_details_pb2.BadRequest.FromString(d.value)
                        violations += [(fv.field, fv.description) for fv in br.field_violations]
                if st.code != e.code().value[0] or st.message != e.details():
                    violations = ("status mismatch", st.code, st.message)
        return e.code(), None, e.details(), violations


def expect_ok(name, got, cond=lambda r: True):
    code, rsp, details, _ = got
    return check(name, code == grpc.StatusCode.OK and cond(rsp), f"{code} {details} {rsp}")


def expect_code(name, got, code, field=None):
    """An error with this status; INVALID_ARGUMENT must name the field in a
    google.rpc.BadRequest (and only INVALID_ARGUMENT carries one)."""
    c, rsp, details, violations = got
    ok = c == code
    if ok and code == grpc.StatusCode.INVALID_ARGUMENT and field is not None:
        ok = isinstance(violations, list) and len(violations) == 1 and violations[0][0] == field and \
            violations[0][1] == details
    elif ok and code != grpc.StatusCode.INVALID_ARGUMENT:
        ok = violations is None
    return check(name, ok, f"got {c} {details!r} {violations}")


def user_req(name, **kw):
    b = dict(username=name, full_name=f"User {name}", email=f"{name}@example.com", password="secret1")
    b.update(kw)
    return create_user.CreateUserRequest(**b)


def login(name, password="secret1", metadata=()):
    return call(F.sb.LoginUser, login_user.LoginUserRequest(username=name, password=password),
                metadata=metadata)


def struct(d):
    s = struct_pb2.Struct()
    s.update(d)
    return s


def plain(msg):
    return json_format.MessageToDict(msg, preserving_proto_field_name=True)


EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def micros(text):
    """An RFC 3339 time of the JSON API as microseconds since the epoch."""
    return (datetime.datetime.fromisoformat(text.replace("Z", "+00:00")) - EPOCH) // \
        datetime.timedelta(microseconds=1)


def http_diff(msg, value, path=""):
    """Where a response message differs from the JSON answer of the same
    call over HTTP; [] when it is the same answer. Each JSON key must be a
    field of the message: the shim's converter skips a key the message
    lacks (pbjson.c), so a field the .proto is missing would be lost without
    an error, and only this comparison sees it. Values must be equal (a
    JSON null is a field left unset), and each field the message sets must
    be in the JSON."""
    d = msg.DESCRIPTOR
    if d.full_name == "google.protobuf.Timestamp":
        ok = isinstance(value, str) and msg.seconds * 10 ** 6 + msg.nanos // 1000 == micros(value)
        return [] if ok else [f"{path}: {msg.ToJsonString()} vs {value!r}"]
    if d.full_name.startswith("google.protobuf."):
        return [] if json_format.MessageToDict(msg) == value else [f"{path}: {plain(msg)} vs {value!r}"]
    if not isinstance(value, dict):
        return [f"{path}: a {d.full_name} vs {value!r}"]
    out = []
    for key, v in value.items():
        f = d.fields_by_name.get(key)
        if f is None:
            out.append(f"{path}{key}: in the HTTP answer, not a field of {d.full_name}")
        elif f.label == f.LABEL_REPEATED:
            got = getattr(msg, key)
            if len(got) != len(v or []):
                out.append(f"{path}{key}: {len(got)} elements vs {len(v or [])}")
            for i, (g, x) in enumerate(zip(got, v or [])):
                out += http_diff(g, x, f"{path}{key}[{i}].") if f.message_type else \
                    ([] if g == x else [f"{path}{key}[{i}]: {g!r} vs {x!r}"])
        elif f.message_type:
            if v is None and msg.HasField(key):
                out.append(f"{path}{key}: set vs null")
            elif v is not None:
                out += http_diff(getattr(msg, key), v, f"{path}{key}.") if msg.HasField(key) else \
                    [f"{path}{key}: unset vs {v!r}"]
        elif getattr(msg, key) != (f.default_value if v is None else v):
            out.append(f"{path}{key}: {getattr(msg, key)!r} vs {v!r}")
    out += [f"{path}{f.name}: set, not in the HTTP answer" for f, _ in msg.ListFields() if f.name not in value]
    return out


def expect_http(name, got, http, pick=lambda r: r):
    """A call that answers OK with what HTTP answers for the same call."""
    code, rsp, details, _ = got
    diff = http_diff(pick(rsp), http[2]) if code == grpc.StatusCode.OK and http[0] == 200 else ["not OK"]
    return check(name, not diff, f"{code} {details} HTTP {http[0]}: {diff} {http[2]}")


def http(method, path, who=None, body=None, key=None):
    """The same call over HTTP, on the shim's HTTP port."""
    return e2e.request(method, path, body=body, token=who, port=F.shim.port,
                       headers={"Idempotency-Key": key} if key else None)


# ----- the table and the protos -----

def test_table():
    out = subprocess.check_output([e2e.BIN, "--rpcs"], text=True).splitlines()
    served = {line.split("\t")[0] for line in out}
    declared = set()
    for svc in (service_simple_bank_pb2.DESCRIPTOR.services_by_name["SimpleBank"],
                bank.DESCRIPTOR.services_by_name["Bank"]):
        declared |= {f"/{svc.full_name}/{m.name}" for m in svc.methods}
    check("--rpcs serves exactly the methods of pb.SimpleBank and pgbank.v1.Bank, plus health "
          "and reflection", served - declared == {
              "/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch",
              "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
              "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"} and declared <= served,
          f"{sorted(served ^ declared)}")
    routes = {(line.split("\t")[0], line.split("\t")[1]) for line in
              subprocess.check_output([e2e.BIN, "--routes"], text=True).splitlines()}
    routes = {f"{m} {p}" for m, p in routes}
    bad = [line for line in out if line.split("\t")[1] != "-" and line.split("\t")[1] not in routes]
    check("each SQL RPC runs the statement of an HTTP route", not bad, f"{bad}")
    with open(os.path.join(ROOT, "docs", "grpc.md")) as f:
        doc = f.read()
    documented = set(re.findall(r"^\| `(/[A-Za-z0-9_.]+/[A-Za-z]+)` \|", doc, re.M))
    check("docs/grpc.md lists exactly the methods served", documented == served,
          f"{sorted(documented ^ served)}")
    copy_set = os.path.join(STUBS, "c-copy.pb")
    subprocess.run(["protoc", f"-I{os.path.join(ROOT, 'shim', 'proto-c')}", f"-I{PROTO_DIR}", "-I/usr/include",
                    f"--descriptor_set_out={copy_set}", "rpc_update_user.proto"], check=True)
    fds = descriptor_pb2.FileDescriptorSet()
    with open(copy_set, "rb") as f:
        fds.ParseFromString(f.read())
    true_fd = descriptor_pb2.FileDescriptorProto.FromString(served_files()["rpc_update_user.proto"])

    def shape(fd):
        return [(m.name, [(f.name, f.number, f.type, f.label, f.oneof_index if f.HasField("oneof_index") else None)
                          for f in m.field], [o.name for o in m.oneof_decl]) for m in fd.message_type]
    check("shim/proto-c/rpc_update_user.proto is the true file on the wire: same fields, numbers, "
          "types, and a oneof of one field for each optional one", shape(fds.file[0]) == shape(true_fd),
          f"{shape(fds.file[0])} vs {shape(true_fd)}")
    u = update_user.UpdateUserRequest.DESCRIPTOR
    check("UpdateUserRequest's full_name, email, password have presence (proto3 optional)",
          all(u.fields_by_name[n].has_presence for n in ("full_name", "email", "password")) and
          not u.fields_by_name["username"].has_presence, "")


# ----- pb.SimpleBank -----

class Users:
    def __init__(self):
        self.alice, self.bob, self.banker = f"ga_{TAG}", f"gb_{TAG}", f"gk_{TAG}"


def test_create_user(users):
    code, rsp, details, _ = call(F.sb.CreateUser, user_req(users.alice))
    u = rsp.user if rsp else None
    check("CreateUser OK: the user, with its timestamps", code == grpc.StatusCode.OK and
          u.username == users.alice and u.full_name == f"User {users.alice}" and
          u.email == f"{users.alice}@example.com" and u.HasField("created_at") and
          abs(u.created_at.seconds - time.time()) < 300, f"{code} {details} {rsp}")
    for n in (users.bob, users.banker):
        call(F.sb.CreateUser, user_req(n))
    psql(f"INSERT INTO pgbank.user_roles (username, role) VALUES ('{users.banker}', 'banker')")
    expect_code("CreateUser duplicate username: ALREADY_EXISTS",
                call(F.sb.CreateUser, user_req(users.alice)), grpc.StatusCode.ALREADY_EXISTS)
    expect_code("CreateUser duplicate email: ALREADY_EXISTS",
                call(F.sb.CreateUser, user_req(f"gc_{TAG}", email=f"{users.alice}@example.com")),
                grpc.StatusCode.ALREADY_EXISTS)
    expect_code("CreateUser bad email: INVALID_ARGUMENT, BadRequest names email",
                call(F.sb.CreateUser, user_req(f"gd_{TAG}", email="nope")),
                grpc.StatusCode.INVALID_ARGUMENT, "email")
    expect_code("CreateUser without username: INVALID_ARGUMENT names username",
                call(F.sb.CreateUser, user_req("")), grpc.StatusCode.INVALID_ARGUMENT, "username")
    expect_code("CreateUser short password: INVALID_ARGUMENT names password",
                call(F.sb.CreateUser, user_req(f"ge_{TAG}", password="x")),
                grpc.StatusCode.INVALID_ARGUMENT, "password")
    st, _, body = e2e.request("GET", "/healthz", port=F.shim.port)
    check("the HTTP front still answers beside gRPC", st == 200, f"{st} {body}")


def test_login(users):
    code, rsp, details, _ = login(users.alice)
    ok = code == grpc.StatusCode.OK
    check("LoginUser OK: session, tokens, expiries, user", ok and rsp.user.username == users.alice and
          rsp.access_token and rsp.refresh_token and rsp.session_id and
          rsp.access_token_expires_at.seconds > time.time() and
          rsp.refresh_token_expires_at.seconds > rsp.access_token_expires_at.seconds,
          f"{code} {details} {rsp}")
    users.tok = {}
    users.refresh = {}
    for n in (users.alice, users.bob, users.banker):
        _, r, _, _ = login(n)
        users.tok[n], users.refresh[n] = r.access_token, r.refresh_token
    row = psql(f"SELECT user_agent, host(client_ip) FROM pgbank.sessions WHERE id = '{rsp.session_id}'")
    check("the session records the user-agent metadata and the peer's address",
          row.startswith(AGENT) and row.endswith("|127.0.0.1"), row)
    _, r, _, _ = login(users.bob, metadata=[("x-forwarded-for", "203.0.113.7, 10.0.0.1")])
    row = psql(f"SELECT host(client_ip) FROM pgbank.sessions WHERE id = '{r.session_id}'")
    check("x-forwarded-for does not choose the client address: the peer's overrides it (as the "
          "simple bank; the throttle counts per address)", row == "127.0.0.1", row)
    expect_code("LoginUser wrong password: NOT_FOUND (28P01, as the simple bank answers it)",
                login(users.alice, "wrong-password"), grpc.StatusCode.NOT_FOUND)
    expect_code("LoginUser unknown user: NOT_FOUND", login(f"nobody_{TAG}"), grpc.StatusCode.NOT_FOUND)
    expect_code("LoginUser without password: INVALID_ARGUMENT names password",
                login(users.alice, ""), grpc.StatusCode.INVALID_ARGUMENT, "password")
    victim = f"gv_{TAG}"
    call(F.sb.CreateUser, user_req(victim))
    codes = [login(victim, "wrong-password")[0] for _ in range(8)]
    check("repeated wrong passwords are throttled: RESOURCE_EXHAUSTED",
          grpc.StatusCode.RESOURCE_EXHAUSTED in codes, f"{set(codes)}")


def get_user(name):
    return psql(f"SELECT full_name || '|' || email FROM pgbank.users WHERE username = '{name}'")


def test_update_user(users):
    a = users.alice
    before = get_user(a)
    code, rsp, details, _ = call(F.sb.UpdateUser, update_user.UpdateUserRequest(
        username=a, full_name="Alice G"), token=users.tok[a])
    check("UpdateUser with full_name only: OK, the email is left as it was (field presence)",
          code == grpc.StatusCode.OK and rsp.user.full_name == "Alice G" and
          get_user(a) == "Alice G|" + before.split("|")[1], f"{code} {details} {get_user(a)}")
    code, rsp, details, _ = call(F.sb.UpdateUser, update_user.UpdateUserRequest(
        username=a, email=f"new_{a}@example.com"), token=users.tok[a])
    check("UpdateUser with email only: the full name is left as it was",
          code == grpc.StatusCode.OK and get_user(a) == f"Alice G|new_{a}@example.com",
          f"{code} {details} {get_user(a)}")
    code, rsp, details, _ = call(F.sb.UpdateUser, update_user.UpdateUserRequest(username=a),
                                 token=users.tok[a])
    check("UpdateUser with no optional field: OK, nothing changes",
          code == grpc.StatusCode.OK and get_user(a) == f"Alice G|new_{a}@example.com",
          f"{code} {details}")
    expect_code("UpdateUser full_name set to \"\" is sent (present): INVALID_ARGUMENT names full_name",
                call(F.sb.UpdateUser, update_user.UpdateUserRequest(username=a, full_name=""),
                     token=users.tok[a]), grpc.StatusCode.INVALID_ARGUMENT, "full_name")
    code, _, details, _ = call(F.sb.UpdateUser, update_user.UpdateUserRequest(
        username=a, password="secret2"), token=users.tok[a])
    check("UpdateUser password: the new one logs in, the old one no longer",
          code == grpc.StatusCode.OK and login(a, "secret2")[0] == grpc.StatusCode.OK and
          login(a, "secret1")[0] == grpc.StatusCode.NOT_FOUND, f"{code} {details}")
    # a new password ends the user's sessions: log in again, and put it back
    tok = login(a, "secret2")[1].access_token
    call(F.sb.UpdateUser, update_user.UpdateUserRequest(username=a, password="secret1"), token=tok)
    users.tok[a] = login(a)[1].access_token
    expect_code("UpdateUser another user: PERMISSION_DENIED",
                call(F.sb.UpdateUser, update_user.UpdateUserRequest(username=users.bob, full_name="X"),
                     token=users.tok[a]), grpc.StatusCode.PERMISSION_DENIED)
    expect_ok("UpdateUser by a banker, of anyone: OK",
              call(F.sb.UpdateUser, update_user.UpdateUserRequest(username=users.bob, full_name="Bob B"),
                   token=users.tok[users.banker]), lambda r: r.user.full_name == "Bob B")
    expect_code("UpdateUser bad email: INVALID_ARGUMENT names email",
                call(F.sb.UpdateUser, update_user.UpdateUserRequest(username=a, email="nope"),
                     token=users.tok[a]), grpc.StatusCode.INVALID_ARGUMENT, "email")
    expect_code("UpdateUser without authorization: UNAUTHENTICATED",
                call(F.sb.UpdateUser, update_user.UpdateUserRequest(username=a, full_name="X")),
                grpc.StatusCode.UNAUTHENTICATED)
    expect_code("UpdateUser with a Basic authorization: UNAUTHENTICATED",
                call(F.sb.UpdateUser, update_user.UpdateUserRequest(username=a, full_name="X"),
                     metadata=[("authorization", "Basic dXNlcjpwYXNz")]), grpc.StatusCode.UNAUTHENTICATED)
    expect_code("UpdateUser with a garbage token: UNAUTHENTICATED",
                call(F.sb.UpdateUser, update_user.UpdateUserRequest(username=a, full_name="X"),
                     token="v4.local.garbage"), grpc.StatusCode.UNAUTHENTICATED)
    expect_ok("a lower-case \"bearer\" scheme is accepted",
              call(F.sb.UpdateUser, update_user.UpdateUserRequest(username=a),
                   metadata=[("authorization", f"bearer {users.tok[a]}")]))


def test_verify_email(users):
    row = psql(f"SELECT id, secret_code FROM pgbank.verify_emails WHERE username = '{users.bob}' "
               f"ORDER BY id DESC LIMIT 1")
    eid, secret = row.split("|")
    req = verify_email.VerifyEmailRequest
    expect_code("VerifyEmail wrong code: INVALID_ARGUMENT names secret_code",
                call(F.sb.VerifyEmail, req(email_id=int(eid), secret_code="w" * 32)),
                grpc.StatusCode.INVALID_ARGUMENT, "secret_code")
    expect_code("VerifyEmail without email_id: INVALID_ARGUMENT names email_id",
                call(F.sb.VerifyEmail, req(secret_code=secret)), grpc.StatusCode.INVALID_ARGUMENT, "email_id")
    expect_code("VerifyEmail without secret_code: INVALID_ARGUMENT names secret_code",
                call(F.sb.VerifyEmail, req(email_id=int(eid))), grpc.StatusCode.INVALID_ARGUMENT, "secret_code")
    expect_ok("VerifyEmail OK: is_verified",
              call(F.sb.VerifyEmail, req(email_id=int(eid), secret_code=secret)), lambda r: r.is_verified)
    expect_code("VerifyEmail a used code: INVALID_ARGUMENT",
                call(F.sb.VerifyEmail, req(email_id=int(eid), secret_code=secret)),
                grpc.StatusCode.INVALID_ARGUMENT)
    expect_code("VerifyEmail unknown id: NOT_FOUND",
                call(F.sb.VerifyEmail, req(email_id=999999999, secret_code="w" * 32)), grpc.StatusCode.NOT_FOUND)


# ----- pgbank.v1.Bank -----

def test_accounts(users):
    a, b = users.alice, users.bob
    code, acc, details, _ = call(F.bank.CreateAccount, bank.CreateAccountRequest(currency="USD"),
                                 token=users.tok[a])
    check("CreateAccount OK: the caller's, balance 0", code == grpc.StatusCode.OK and acc.owner == a and
          acc.currency == "USD" and acc.balance == 0 and acc.id > 0, f"{code} {details}")
    users.a_usd = acc.id if acc else 0
    expect_code("CreateAccount same currency again: ALREADY_EXISTS",
                call(F.bank.CreateAccount, bank.CreateAccountRequest(currency="USD"), token=users.tok[a]),
                grpc.StatusCode.ALREADY_EXISTS)
    expect_code("CreateAccount unknown currency: INVALID_ARGUMENT names currency",
                call(F.bank.CreateAccount, bank.CreateAccountRequest(currency="XYZ"), token=users.tok[a]),
                grpc.StatusCode.INVALID_ARGUMENT, "currency")
    expect_code("CreateAccount without a token: UNAUTHENTICATED",
                call(F.bank.CreateAccount, bank.CreateAccountRequest(currency="EUR")),
                grpc.StatusCode.UNAUTHENTICATED)
    users.a_eur = call(F.bank.CreateAccount, bank.CreateAccountRequest(currency="EUR"),
                       token=users.tok[a])[1].id
    users.b_usd = call(F.bank.CreateAccount, bank.CreateAccountRequest(currency="USD"),
                       token=users.tok[b])[1].id
    # money to move: a banker's deposit from the house account
    expect_ok("Deposit by a banker: OK, the account's new balance",
              call(F.bank.Deposit, bank.HouseMoveRequest(account_id=users.a_usd, amount=1000, reference="opening"),
                   token=users.tok[users.banker]), lambda r: r.account.balance == 1000)
    got = call(F.bank.GetAccount, bank.GetAccountRequest(id=users.a_usd), token=users.tok[a])
    expect_http("GetAccount OK: the account HTTP's GET /accounts/{id} answers, field for field (available too)",
                got, http("GET", f"/accounts/{users.a_usd}", users.tok[a]))
    check("... its balance and available balance", got[1] is not None and got[1].balance == 1000 and
          getattr(got[1], "available", None) == 1000, f"{got[1]}")
    expect_code("GetAccount another user's: PERMISSION_DENIED",
                call(F.bank.GetAccount, bank.GetAccountRequest(id=users.a_usd), token=users.tok[b]),
                grpc.StatusCode.PERMISSION_DENIED)
    expect_ok("GetAccount by a banker: OK",
              call(F.bank.GetAccount, bank.GetAccountRequest(id=users.a_usd), token=users.tok[users.banker]))
    expect_code("GetAccount missing: NOT_FOUND",
                call(F.bank.GetAccount, bank.GetAccountRequest(id=999999999), token=users.tok[a]),
                grpc.StatusCode.NOT_FOUND)
    expect_code("GetAccount without id: INVALID_ARGUMENT names id",
                call(F.bank.GetAccount, bank.GetAccountRequest(), token=users.tok[a]),
                grpc.StatusCode.INVALID_ARGUMENT, "id")
    got = call(F.bank.ListAccounts, bank.ListAccountsRequest(page_id=1, page_size=5), token=users.tok[a])
    expect_ok("ListAccounts OK: the caller's accounts", got,
              lambda r: [x.id for x in r.accounts] == sorted([users.a_usd, users.a_eur]))
    st, _, page = http("GET", "/accounts?page_id=1&page_size=5", users.tok[a])
    expect_http("ListAccounts: the page HTTP's GET /accounts answers", got, (st, _, {"accounts": page}))
    expect_ok("ListAccounts past the last page: none",
              call(F.bank.ListAccounts, bank.ListAccountsRequest(page_id=2, page_size=5), token=users.tok[a]),
              lambda r: len(r.accounts) == 0)
    expect_code("ListAccounts page_size 11: INVALID_ARGUMENT names page_size",
                call(F.bank.ListAccounts, bank.ListAccountsRequest(page_id=1, page_size=11), token=users.tok[a]),
                grpc.StatusCode.INVALID_ARGUMENT, "page_size")
    expect_code("ListAccounts without page_id: INVALID_ARGUMENT names page_id",
                call(F.bank.ListAccounts, bank.ListAccountsRequest(page_size=5), token=users.tok[a]),
                grpc.StatusCode.INVALID_ARGUMENT, "page_id")


def transfer(users, who, frm, to, amount, currency="USD", key=None, reference=""):
    md = [("idempotency-key", key)] if key else []
    return call(F.bank.Transfer, bank.TransferRequest(from_account_id=frm, to_account_id=to, amount=amount,
                                                      currency=currency, reference=reference),
                token=users.tok[who], metadata=md)


def test_transfers(users):
    a = users.alice
    expect_ok("Transfer OK: the TransferTxResult",
              transfer(users, a, users.a_usd, users.b_usd, 100),
              lambda r: r.transfer.amount == 100 and r.from_account.balance == 900 and
              r.to_account.id == users.b_usd and r.from_entry.amount == -100 and r.to_entry.amount == 100 and
              r.transfer.HasField("created_at"))
    expect_code("Transfer from another user's account: PERMISSION_DENIED",
                transfer(users, users.bob, users.a_usd, users.b_usd, 1), grpc.StatusCode.PERMISSION_DENIED)
    expect_code("Transfer overdraft: FAILED_PRECONDITION",
                transfer(users, a, users.a_usd, users.b_usd, 100000), grpc.StatusCode.FAILED_PRECONDITION)
    expect_code("Transfer without amount: INVALID_ARGUMENT names amount",
                transfer(users, a, users.a_usd, users.b_usd, 0), grpc.StatusCode.INVALID_ARGUMENT, "amount")
    expect_code("Transfer negative amount: INVALID_ARGUMENT names amount",
                transfer(users, a, users.a_usd, users.b_usd, -5), grpc.StatusCode.INVALID_ARGUMENT, "amount")
    expect_code("Transfer currency mismatch: INVALID_ARGUMENT names currency",
                transfer(users, a, users.a_usd, users.b_usd, 1, "EUR"), grpc.StatusCode.INVALID_ARGUMENT,
                "currency")
    expect_code("Transfer to a missing account: NOT_FOUND",
                transfer(users, a, users.a_usd, 999999999, 1), grpc.StatusCode.NOT_FOUND)
    expect_code("Transfer without a token: UNAUTHENTICATED",
                call(F.bank.Transfer, bank.TransferRequest(from_account_id=1, to_account_id=2, amount=1,
                                                           currency="USD")), grpc.StatusCode.UNAUTHENTICATED)
    key = f"gkey-{TAG}"
    c1, r1, _, _ = transfer(users, a, users.a_usd, users.b_usd, 7, key=key)
    c2, r2, _, _ = transfer(users, a, users.a_usd, users.b_usd, 7, key=key)
    check("Transfer with the idempotency-key metadata: a retry answers the first transfer",
          c1 == c2 == grpc.StatusCode.OK and r1.transfer.id == r2.transfer.id and
          r2.from_account.balance == 893, f"{c1} {c2}")
    expect_http("Transfer: the answer HTTP's POST /transfers gives the same call (a retry with its key)",
                (c1, r1, "", None), http("POST", "/transfers", users.tok[a], key=key, body={
                    "from_account_id": users.a_usd, "to_account_id": users.b_usd, "amount": 7, "currency": "USD"}))
    expect_code("Transfer idempotency-key reused with another amount: ALREADY_EXISTS",
                transfer(users, a, users.a_usd, users.b_usd, 8, key=key), grpc.StatusCode.ALREADY_EXISTS)


# ----- the ledger: deposits, transfers by id and key, statements, holds, batches -----

def house_move(users, method, who, account, amount, reference="x", key=None):
    md = [("idempotency-key", key)] if key else []
    return call(method, bank.HouseMoveRequest(account_id=account, amount=amount, reference=reference),
                token=users.tok[who], metadata=md)


def test_deposits(users):
    k, a = users.banker, users.alice
    A = users.a_usd
    key = f"gdep-{TAG}"
    got = house_move(users, F.bank.Deposit, k, A, 500, "cash", key)
    expect_ok("Deposit OK: a transfer from the house account (a negative id), with its reference; the "
              "account and its entry", got,
              lambda r: r.transfer.from_account_id < 0 and r.transfer.to_account_id == A and
              r.transfer.reference == "cash" and r.transfer.currency == "USD" and r.entry.amount == 500 and
              r.entry.balance_after == r.account.balance and r.account.id == A)
    expect_http("Deposit: the answer HTTP's POST /deposits gives the same call (a retry with its key)", got,
                http("POST", "/deposits", users.tok[k], key=key,
                     body={"account_id": A, "amount": 500, "reference": "cash"}))
    expect_code("Deposit by a depositor: PERMISSION_DENIED (42501)",
                house_move(users, F.bank.Deposit, a, A, 5), grpc.StatusCode.PERMISSION_DENIED)
    expect_code("Deposit without a reference: INVALID_ARGUMENT names reference",
                house_move(users, F.bank.Deposit, k, A, 5, ""), grpc.StatusCode.INVALID_ARGUMENT, "reference")
    expect_code("Deposit with a control character in its reference: INVALID_ARGUMENT names reference",
                house_move(users, F.bank.Deposit, k, A, 5, "a\x07b"), grpc.StatusCode.INVALID_ARGUMENT, "reference")
    expect_code("Deposit without an amount: INVALID_ARGUMENT names amount",
                house_move(users, F.bank.Deposit, k, A, 0), grpc.StatusCode.INVALID_ARGUMENT, "amount")
    expect_code("Deposit without an account: INVALID_ARGUMENT names account_id",
                house_move(users, F.bank.Deposit, k, 0, 5), grpc.StatusCode.INVALID_ARGUMENT, "account_id")
    expect_code("Deposit to a missing account: NOT_FOUND",
                house_move(users, F.bank.Deposit, k, 999999999, 5), grpc.StatusCode.NOT_FOUND)
    expect_code("Deposit past the bigint range: FAILED_PRECONDITION (PB007)",
                house_move(users, F.bank.Deposit, k, A, 2 ** 63 - 1), grpc.StatusCode.FAILED_PRECONDITION)
    expect_code("Deposit without a token: UNAUTHENTICATED",
                call(F.bank.Deposit, bank.HouseMoveRequest(account_id=A, amount=5, reference="x")),
                grpc.StatusCode.UNAUTHENTICATED)
    expect_code("Deposit with the key again, another amount: ALREADY_EXISTS",
                house_move(users, F.bank.Deposit, k, A, 501, "cash", key), grpc.StatusCode.ALREADY_EXISTS)
    key = f"gwd-{TAG}"
    got = house_move(users, F.bank.Withdraw, k, A, 100, "atm", key)
    expect_ok("Withdraw OK: a transfer to the house account", got,
              lambda r: r.transfer.to_account_id < 0 and r.transfer.from_account_id == A and
              r.entry.amount == -100 and r.account.balance == r.entry.balance_after)
    expect_http("Withdraw: the answer HTTP's POST /withdrawals gives the same call", got,
                http("POST", "/withdrawals", users.tok[k], key=key,
                     body={"account_id": A, "amount": 100, "reference": "atm"}))
    expect_code("Withdraw overdraft: FAILED_PRECONDITION",
                house_move(users, F.bank.Withdraw, k, A, 10 ** 12), grpc.StatusCode.FAILED_PRECONDITION)
    expect_code("Withdraw by a depositor: PERMISSION_DENIED",
                house_move(users, F.bank.Withdraw, a, A, 1), grpc.StatusCode.PERMISSION_DENIED)


def test_transfer_lookups(users):
    a, b, k = users.alice, users.bob, users.banker
    A, B = users.a_usd, users.b_usd
    stranger = f"gs_{TAG}"
    call(F.sb.CreateUser, user_req(stranger))
    users.tok[stranger] = login(stranger)[1].access_token
    users.stranger = stranger
    key = f"glunch-{TAG}"
    got = transfer(users, a, A, B, 25, key=key, reference="lunch")
    expect_ok("Transfer with a reference: stored and answered, with the currency", got,
              lambda r: r.transfer.reference == "lunch" and r.transfer.currency == "USD")
    tid = got[1].transfer.id if got[1] else 0
    users.lunch = tid
    for who, label in ((a, "the payer"), (b, "the receiver"), (k, "a banker")):
        expect_http(f"GetTransfer by {label}: the transfer HTTP's GET /transfers/{{id}} answers",
                    call(F.bank.GetTransfer, bank.GetTransferRequest(id=tid), token=users.tok[who]),
                    http("GET", f"/transfers/{tid}", users.tok[who]))
    expect_code("GetTransfer by a user of neither account: PERMISSION_DENIED",
                call(F.bank.GetTransfer, bank.GetTransferRequest(id=tid), token=users.tok[stranger]),
                grpc.StatusCode.PERMISSION_DENIED)
    expect_code("GetTransfer missing: NOT_FOUND",
                call(F.bank.GetTransfer, bank.GetTransferRequest(id=999999999), token=users.tok[a]),
                grpc.StatusCode.NOT_FOUND)
    expect_code("GetTransfer without id: INVALID_ARGUMENT names id",
                call(F.bank.GetTransfer, bank.GetTransferRequest(), token=users.tok[a]),
                grpc.StatusCode.INVALID_ARGUMENT, "id")
    expect_code("GetTransfer id -1: INVALID_ARGUMENT names id",
                call(F.bank.GetTransfer, bank.GetTransferRequest(id=-1), token=users.tok[a]),
                grpc.StatusCode.INVALID_ARGUMENT, "id")
    expect_code("GetTransfer without a token: UNAUTHENTICATED",
                call(F.bank.GetTransfer, bank.GetTransferRequest(id=tid)), grpc.StatusCode.UNAUTHENTICATED)
    by_key = bank.TransferByKeyRequest
    got = call(F.bank.TransferByKey, by_key(id=A, idempotency_key=key), token=users.tok[a])
    expect_ok("TransferByKey OK: the transfer the account paid with that key", got, lambda r: r.id == tid)
    expect_http("TransferByKey: what HTTP's GET /accounts/{id}/transfer_by_key answers", got,
                http("GET", f"/accounts/{A}/transfer_by_key?idempotency_key={key}", users.tok[a]))
    expect_code("TransferByKey of another user's account: PERMISSION_DENIED",
                call(F.bank.TransferByKey, by_key(id=A, idempotency_key=key), token=users.tok[b]),
                grpc.StatusCode.PERMISSION_DENIED)
    expect_code("TransferByKey unknown key: NOT_FOUND",
                call(F.bank.TransferByKey, by_key(id=A, idempotency_key="nope"), token=users.tok[a]),
                grpc.StatusCode.NOT_FOUND)
    expect_code("TransferByKey without a key: INVALID_ARGUMENT names idempotency_key",
                call(F.bank.TransferByKey, by_key(id=A), token=users.tok[a]),
                grpc.StatusCode.INVALID_ARGUMENT, "idempotency_key")


def entries(users, who, account, page_size=0, before=0):
    return call(F.bank.ListAccountEntries, bank.ListAccountEntriesRequest(
        id=account, page_size=page_size, before_entry_id=before), token=users.tok[who])


def test_statements(users):
    a, b, k = users.alice, users.bob, users.banker
    A, B = users.a_usd, users.b_usd
    got = entries(users, a, A, 2)
    p1 = got[1]
    expect_ok("ListAccountEntries OK: newest first, each with its transfer, counterparty, amount, balance "
              "after, reference and time, and the next page's cursor", got,
              lambda r: len(r.entries) == 2 and r.next_before_entry_id > 0 and
              r.entries[0].reference == "lunch" and r.entries[0].amount == -25 and
              r.entries[0].transfer_id == users.lunch and r.entries[0].counterparty_account_id == B and
              r.entries[0].HasField("created_at"))
    expect_http("ListAccountEntries: the page HTTP's GET /accounts/{id}/entries answers", got,
                http("GET", f"/accounts/{A}/entries?page_size=2", users.tok[a]))
    transfer(users, a, A, B, 1)  # a new entry arrives
    got = entries(users, a, A, 2, p1.next_before_entry_id if p1 else 0)
    expect_ok("ListAccountEntries from the cursor: not shifted by the new entry", got,
              lambda r: p1 and r.entries[0].entry_id < p1.entries[1].entry_id and
              r.entries[0].balance_after == p1.entries[1].balance_after - p1.entries[1].amount)
    expect_http("ListAccountEntries from the cursor: the page HTTP answers", got,
                http("GET", f"/accounts/{A}/entries?page_size=2&before_entry_id={p1.next_before_entry_id}",
                     users.tok[a]))
    walked, before, pages = [], 0, 0
    while pages < 100:
        _, r, _, _ = entries(users, a, A, 3, before)
        walked += [e.entry_id for e in r.entries]
        pages += 1
        if r.next_before_entry_id == 0:
            break
        before = r.next_before_entry_id
    st, _, whole = http("GET", f"/accounts/{A}/entries?page_size=100", users.tok[a])
    check("ListAccountEntries: pages of 3 from cursor to cursor give the whole statement, each entry once, "
          "and the last page's cursor is 0", walked == [e["entry_id"] for e in whole["entries"]] and
          whole["next_before_entry_id"] is None and pages > 2, f"{walked} {whole}")
    expect_ok("ListAccountEntries by a banker: OK", entries(users, k, A), lambda r: len(r.entries) > 2)
    expect_code("ListAccountEntries of another user's account: PERMISSION_DENIED", entries(users, b, A),
                grpc.StatusCode.PERMISSION_DENIED)
    expect_code("ListAccountEntries page_size 101: INVALID_ARGUMENT names page_size", entries(users, a, A, 101),
                grpc.StatusCode.INVALID_ARGUMENT, "page_size")
    expect_code("ListAccountEntries a bad cursor (-1): INVALID_ARGUMENT names before_entry_id",
                entries(users, a, A, 2, -1), grpc.StatusCode.INVALID_ARGUMENT, "before_entry_id")
    expect_code("ListAccountEntries without id: INVALID_ARGUMENT names id", entries(users, a, 0),
                grpc.StatusCode.INVALID_ARGUMENT, "id")
    expect_code("ListAccountEntries of a missing account: NOT_FOUND", entries(users, a, 999999999),
                grpc.StatusCode.NOT_FOUND)
    expect_code("ListAccountEntries without a token: UNAUTHENTICATED",
                call(F.bank.ListAccountEntries, bank.ListAccountEntriesRequest(id=A)), grpc.StatusCode.UNAUTHENTICATED)

    lt = bank.ListAccountTransfersRequest
    got = call(F.bank.ListAccountTransfers, lt(id=B, page_size=1), token=users.tok[b])
    expect_ok("ListAccountTransfers OK: newest first, with the next page's cursor", got,
              lambda r: len(r.transfers) == 1 and r.transfers[0].amount == 1 and r.next_before_transfer_id > 0)
    expect_http("ListAccountTransfers: the page HTTP's GET /accounts/{id}/transfers answers", got,
                http("GET", f"/accounts/{B}/transfers?page_size=1", users.tok[b]))
    nxt = got[1].next_before_transfer_id if got[1] else 0
    expect_http("ListAccountTransfers from the cursor: the page HTTP answers",
                call(F.bank.ListAccountTransfers, lt(id=B, before_transfer_id=nxt), token=users.tok[b]),
                http("GET", f"/accounts/{B}/transfers?before_transfer_id={nxt}", users.tok[b]))
    expect_code("ListAccountTransfers a bad cursor (-5): INVALID_ARGUMENT names before_transfer_id",
                call(F.bank.ListAccountTransfers, lt(id=B, before_transfer_id=-5), token=users.tok[b]),
                grpc.StatusCode.INVALID_ARGUMENT, "before_transfer_id")
    expect_code("ListAccountTransfers page_size -1: INVALID_ARGUMENT names page_size",
                call(F.bank.ListAccountTransfers, lt(id=B, page_size=-1), token=users.tok[b]),
                grpc.StatusCode.INVALID_ARGUMENT, "page_size")
    expect_code("ListAccountTransfers of another user's account: PERMISSION_DENIED",
                call(F.bank.ListAccountTransfers, lt(id=B), token=users.tok[a]), grpc.StatusCode.PERMISSION_DENIED)


def balance_at(users, who, account, at=None):
    return call(F.bank.GetBalanceAt, bank.GetBalanceAtRequest(id=account, at=at), token=users.tok[who])


def timestamp(text):
    t = timestamp_pb2.Timestamp()
    t.FromJsonString(text)
    return t


def test_balance_at(users):
    a, b = users.alice, users.bob
    A = users.a_usd
    got = balance_at(users, a, A, timestamp("2000-01-01T00:00:00Z"))
    expect_ok("GetBalanceAt before the account: 0", got, lambda r: r.balance == 0 and r.account_id == A)
    expect_http("GetBalanceAt: what HTTP's GET /accounts/{id}/balance answers", got,
                http("GET", f"/accounts/{A}/balance?at=2000-01-01T00:00:00Z", users.tok[a]))
    now = call(F.bank.GetAccount, bank.GetAccountRequest(id=A), token=users.tok[a])[1]
    expect_ok("GetBalanceAt in the future: the account's balance",
              balance_at(users, a, A, timestamp("2999-01-01T00:00:00Z")), lambda r: r.balance == now.balance)
    # a Go client's timestamppb.Now() has nanoseconds; PostgreSQL keeps microseconds
    at = timestamp_pb2.Timestamp(seconds=int(time.time()) + 60, nanos=123456789)
    expect_ok("GetBalanceAt at a time with nanoseconds: OK, the time to PostgreSQL's microseconds",
              balance_at(users, a, A, at), lambda r: r.balance == now.balance and r.at.nanos == 123456000)
    expect_code("GetBalanceAt without at: INVALID_ARGUMENT names at", balance_at(users, a, A),
                grpc.StatusCode.INVALID_ARGUMENT, "at")
    expect_code("GetBalanceAt at a time out of Timestamp's range: INVALID_ARGUMENT names at",
                balance_at(users, a, A, timestamp_pb2.Timestamp(seconds=10 ** 12)),
                grpc.StatusCode.INVALID_ARGUMENT, "at")
    expect_code("GetBalanceAt of another user's account: PERMISSION_DENIED",
                balance_at(users, b, A, timestamp("2000-01-01T00:00:00Z")), grpc.StatusCode.PERMISSION_DENIED)


def hold(users, who, amount, frm=None, to=None, currency="USD", timeout=0, reference=""):
    return call(F.bank.CreateHold, bank.CreateHoldRequest(
        from_account_id=frm or users.a_usd, to_account_id=to or users.b_usd, amount=amount, currency=currency,
        timeout_seconds=timeout, reference=reference), token=users.tok[who])


def post_hold(users, who, hid, amount=0):
    return call(F.bank.PostHold, bank.PostHoldRequest(id=hid, amount=amount), token=users.tok[who])


def void_hold(users, who, hid):
    return call(F.bank.VoidHold, bank.HoldRequest(id=hid), token=users.tok[who])


def get_hold(users, who, hid):
    return call(F.bank.GetHold, bank.HoldRequest(id=hid), token=users.tok[who])


def test_holds(users):
    a, b, k = users.alice, users.bob, users.banker
    A, B = users.a_usd, users.b_usd
    before = call(F.bank.GetAccount, bank.GetAccountRequest(id=A), token=users.tok[a])[1]
    got = hold(users, a, 40, reference="keys")
    expect_ok("CreateHold OK: pending, with its expiry (3600 s by default)", got,
              lambda r: r.status == "pending" and r.amount == 40 and r.reference == "keys" and
              r.expires_at.seconds - r.created_at.seconds == 3600 and not r.HasField("resolved_at") and
              r.transfer_id == 0)
    hid = got[1].id if got[1] else 0
    expect_http("CreateHold: the hold HTTP's GET /holds/{id} answers", got,
                http("GET", f"/holds/{hid}", users.tok[a]))
    got = call(F.bank.GetAccount, bank.GetAccountRequest(id=A), token=users.tok[a])
    expect_ok("a hold leaves the balance and lowers the available balance", got,
              lambda r: r.balance == before.balance and r.available == r.balance - 40)
    expect_http("... as HTTP's GET /accounts/{id} shows it", got, http("GET", f"/accounts/{A}", users.tok[a]))
    expect_http("GetHold by the receiver: the hold HTTP answers", get_hold(users, b, hid),
                http("GET", f"/holds/{hid}", users.tok[b]))
    expect_code("GetHold by a user of neither account: PERMISSION_DENIED", get_hold(users, users.stranger, hid),
                grpc.StatusCode.PERMISSION_DENIED)
    expect_code("GetHold missing: NOT_FOUND", get_hold(users, a, 999999999), grpc.StatusCode.NOT_FOUND)
    expect_code("GetHold without id: INVALID_ARGUMENT names id", get_hold(users, a, 0),
                grpc.StatusCode.INVALID_ARGUMENT, "id")
    expect_code("CreateHold overdraft: FAILED_PRECONDITION", hold(users, a, 10 ** 12),
                grpc.StatusCode.FAILED_PRECONDITION)
    expect_code("CreateHold from another user's account: PERMISSION_DENIED", hold(users, b, 1),
                grpc.StatusCode.PERMISSION_DENIED)
    expect_code("CreateHold timeout -1: INVALID_ARGUMENT names timeout_seconds", hold(users, a, 1, timeout=-1),
                grpc.StatusCode.INVALID_ARGUMENT, "timeout_seconds")
    expect_code("CreateHold currency mismatch: INVALID_ARGUMENT names currency", hold(users, a, 1, currency="EUR"),
                grpc.StatusCode.INVALID_ARGUMENT, "currency")
    expect_code("CreateHold without an amount: INVALID_ARGUMENT names amount", hold(users, a, 0),
                grpc.StatusCode.INVALID_ARGUMENT, "amount")
    expect_code("CreateHold to a house account: INVALID_ARGUMENT names to_account_id", hold(users, a, 1, to=-1),
                grpc.StatusCode.INVALID_ARGUMENT, "to_account_id")
    expect_code("CreateHold without a token: UNAUTHENTICATED",
                call(F.bank.CreateHold, bank.CreateHoldRequest(from_account_id=A, to_account_id=B, amount=1,
                                                               currency="USD")), grpc.StatusCode.UNAUTHENTICATED)

    expect_code("PostHold by the receiver: PERMISSION_DENIED", post_hold(users, b, hid),
                grpc.StatusCode.PERMISSION_DENIED)
    expect_code("PostHold more than held: FAILED_PRECONDITION (PB022)", post_hold(users, a, hid, 41),
                grpc.StatusCode.FAILED_PRECONDITION)
    got = post_hold(users, a, hid, 30)
    expect_ok("PostHold less than held: OK, the TransferTxResult; the reservation released", got,
              lambda r: r.transfer.amount == 30 and r.transfer.reference == "keys" and
              r.from_account.available == r.from_account.balance == before.balance - 30 and
              r.to_account.id == B and r.from_entry.amount == -30)
    if got[1]:
        expect_http("PostHold: its transfer is the one HTTP's GET /transfers/{id} answers", got,
                    http("GET", f"/transfers/{got[1].transfer.id}", users.tok[a]), lambda r: r.transfer)
        expect_http("PostHold: its account is the one HTTP's GET /accounts/{id} answers", got,
                    http("GET", f"/accounts/{A}", users.tok[a]), lambda r: r.from_account)
        expect_ok("GetHold after the post: posted, with its transfer and time",
                  get_hold(users, a, hid), lambda r: r.status == "posted" and r.transfer_id == got[1].transfer.id and
                  r.HasField("resolved_at"))
    expect_code("PostHold twice: FAILED_PRECONDITION (PB020)", post_hold(users, a, hid),
                grpc.StatusCode.FAILED_PRECONDITION)
    expect_code("VoidHold of a posted hold: FAILED_PRECONDITION", void_hold(users, a, hid),
                grpc.StatusCode.FAILED_PRECONDITION)
    expect_code("PostHold missing: NOT_FOUND", post_hold(users, a, 999999999), grpc.StatusCode.NOT_FOUND)

    got = hold(users, a, 5, timeout=60)
    hid = got[1].id if got[1] else 0
    got = void_hold(users, a, hid)
    expect_ok("VoidHold OK: voided, nothing moved", got,
              lambda r: r.status == "voided" and r.HasField("resolved_at") and r.transfer_id == 0)
    expect_http("VoidHold: the hold HTTP's GET /holds/{id} answers", got, http("GET", f"/holds/{hid}", users.tok[a]))
    expect_code("VoidHold twice: FAILED_PRECONDITION", void_hold(users, a, hid), grpc.StatusCode.FAILED_PRECONDITION)
    expect_code("VoidHold by the receiver: PERMISSION_DENIED", void_hold(users, b, hold(users, a, 1)[1].id),
                grpc.StatusCode.PERMISSION_DENIED)
    expect_ok("PostHold by a banker: OK", post_hold(users, k, hold(users, a, 1)[1].id))

    hid = hold(users, a, 7, timeout=1)[1].id
    time.sleep(1.2)
    code, _, details, _ = post_hold(users, a, hid)
    # the expiry job (every minute) may have run: then the hold is expired, not pending
    check("PostHold after the hold's timeout: FAILED_PRECONDITION (PB021, or PB020 once the job ran)",
          code == grpc.StatusCode.FAILED_PRECONDITION and
          (details == f"hold {hid} has expired" or details == f"hold {hid} is expired, not pending"),
          f"{code} {details}")
    psql("SELECT pgbank.expire_holds()")
    expect_ok("GetHold after the expiry job: expired", get_hold(users, a, hid), lambda r: r.status == "expired")
    code, _, details, _ = void_hold(users, a, hid)
    check("VoidHold of an expired hold: FAILED_PRECONDITION, saying so",
          code == grpc.StatusCode.FAILED_PRECONDITION and details == f"hold {hid} is expired, not pending",
          f"{code} {details}")


def batch(users, who, items):
    return call(F.bank.TransferBatch, bank.TransferBatchRequest(transfers=[
        bank.TransferRequest(**dict({"currency": "USD"}, **i)) for i in items]), token=users.tok[who])


def test_batches(users):
    a = users.alice
    A, B = users.a_usd, users.b_usd
    items = [{"from_account_id": A, "to_account_id": B, "amount": n} for n in (1, 2, 3)]
    items[1]["reference"] = "two"
    got = batch(users, a, items)
    expect_ok("TransferBatch OK: the transfers in item order", got,
              lambda r: [t.amount for t in r.transfers] == [1, 2, 3] and r.transfers[1].reference == "two")
    for i, t in enumerate(got[1].transfers if got[1] else []):
        expect_http(f"TransferBatch: transfer {i} is the one HTTP's GET /transfers/{{id}} answers",
                    (got[0], t, "", None), http("GET", f"/transfers/{t.id}", users.tok[a]))
    before = call(F.bank.GetAccount, bank.GetAccountRequest(id=A), token=users.tok[a])[1]
    code, _, details, _ = batch(users, a, items + [dict(items[0], amount=10 ** 12)])
    check("TransferBatch with an overdraft: FAILED_PRECONDITION naming the failing item",
          code == grpc.StatusCode.FAILED_PRECONDITION and "item 3" in details, f"{code} {details}")
    after = call(F.bank.GetAccount, bank.GetAccountRequest(id=A), token=users.tok[a])[1]
    check("... and it moved nothing", after.balance == before.balance, f"{before} {after}")
    expect_code("TransferBatch with an item from another user's account: PERMISSION_DENIED",
                batch(users, a, [dict(items[0], from_account_id=B, to_account_id=A)]),
                grpc.StatusCode.PERMISSION_DENIED)
    expect_code("TransferBatch with no items: INVALID_ARGUMENT names transfers", batch(users, a, []),
                grpc.StatusCode.INVALID_ARGUMENT, "transfers")
    expect_code("TransferBatch with an item without its currency: INVALID_ARGUMENT names currency",
                batch(users, a, [dict(items[0], currency="")]), grpc.StatusCode.INVALID_ARGUMENT, "currency")
    expect_code("TransferBatch with an item to a missing account: NOT_FOUND",
                batch(users, a, [dict(items[0], to_account_id=999999999)]), grpc.StatusCode.NOT_FOUND)
    expect_code("TransferBatch without a token: UNAUTHENTICATED",
                call(F.bank.TransferBatch, bank.TransferBatchRequest()), grpc.StatusCode.UNAUTHENTICATED)


def test_ledger(users):
    test_deposits(users)
    test_transfer_lookups(users)
    test_statements(users)
    test_balance_at(users)
    test_holds(users)
    test_batches(users)


def test_tokens(users):
    b = users.bob
    expect_ok("RenewAccessToken OK: a new access token and its expiry",
              call(F.bank.RenewAccessToken, bank.RenewAccessTokenRequest(refresh_token=users.refresh[b])),
              lambda r: r.access_token and r.access_token_expires_at.seconds > time.time())
    expect_code("RenewAccessToken garbage: UNAUTHENTICATED",
                call(F.bank.RenewAccessToken, bank.RenewAccessTokenRequest(refresh_token="garbage")),
                grpc.StatusCode.UNAUTHENTICATED)
    expect_code("RenewAccessToken without refresh_token: INVALID_ARGUMENT names refresh_token",
                call(F.bank.RenewAccessToken, bank.RenewAccessTokenRequest()),
                grpc.StatusCode.INVALID_ARGUMENT, "refresh_token")
    _, r, _, _ = login(b)
    expect_ok("Logout OK", call(F.bank.Logout, bank.LogoutRequest(refresh_token=r.refresh_token)))
    expect_code("RenewAccessToken after logout: UNAUTHENTICATED",
                call(F.bank.RenewAccessToken, bank.RenewAccessTokenRequest(refresh_token=r.refresh_token)),
                grpc.StatusCode.UNAUTHENTICATED)
    expect_code("the logged-out session's access token: UNAUTHENTICATED",
                call(F.bank.ListAccounts, bank.ListAccountsRequest(page_id=1, page_size=5), token=r.access_token),
                grpc.StatusCode.UNAUTHENTICATED)
    expect_code("Logout without refresh_token: INVALID_ARGUMENT names refresh_token",
                call(F.bank.Logout, bank.LogoutRequest()), grpc.StatusCode.INVALID_ARGUMENT, "refresh_token")


def test_game(game, users):
    spec = http_games.GAMES[game]
    player = f"gp_{game}_{TAG}"
    call(F.sb.CreateUser, user_req(player))
    tok = login(player)[1].access_token
    other = users.tok[users.bob]
    b = F.bank
    created = []
    for sent in spec["results"][:3]:
        code, r, details, _ = call(b.CreateGameResult, bank.CreateGameResultRequest(
            game=game, result=struct(sent)), token=tok)
        row = plain(r.result) if r else {}
        created.append(row)
        check(f"{game}: CreateGameResult OK: the row, with every field sent",
              code == grpc.StatusCode.OK and row.get("owner") == player and
              all(row[k] == v for k, v in sent.items()), f"{code} {details} {row}")
    rid = int(created[0].get("id", 0))
    st, _, http_row = e2e.request("GET", f"/v1/games/{game}/results/{rid}", token=tok, port=F.shim.port)
    expect_ok(f"{game}: GetGameResult OK: the row HTTP answers, value for value",
              call(b.GetGameResult, bank.GameResultRequest(game=game, id=rid), token=tok),
              lambda r: plain(r.result) == http_row)
    code, r, details, _ = call(b.ListGameResults, bank.ListGameResultsRequest(game=game, page_size=2), token=tok)
    st, _, http_list = e2e.request("GET", f"/v1/games/{game}/results?page_size=2", token=tok, port=F.shim.port)
    check(f"{game}: ListGameResults OK: the page HTTP answers (page_id 0 is the first page)",
          code == grpc.StatusCode.OK and plain(r) == http_list and len(r.results) == 2 and r.page_id == 1,
          f"{code} {details} {r} {http_list}")
    expect_ok(f"{game}: ListGameResults within dates",
              call(b.ListGameResults, bank.ListGameResultsRequest(
                  game=game, **{"from": spec["results"][1]["date"], "to": spec["results"][1]["date"]}), token=tok),
              lambda r: len(r.results) >= 1 and all(x["date"] == spec["results"][1]["date"] for x in r.results))
    expect_code(f"{game}: ListGameResults page_size 101: INVALID_ARGUMENT names page_size",
                call(b.ListGameResults, bank.ListGameResultsRequest(game=game, page_size=101), token=tok),
                grpc.StatusCode.INVALID_ARGUMENT, "page_size")
    expect_code(f"{game}: ListGameResults bad from: INVALID_ARGUMENT names from",
                call(b.ListGameResults, bank.ListGameResultsRequest(game=game, **{"from": "yesterday"}), token=tok),
                grpc.StatusCode.INVALID_ARGUMENT, "from")
    field, value = next(iter(spec["patch"].items()))
    expect_ok(f"{game}: UpdateGameResult OK: the field changed, the others kept",
              call(b.UpdateGameResult, bank.UpdateGameResultRequest(
                  game=game, id=rid, changes=struct(spec["patch"])), token=tok),
              lambda r: plain(r.result)[field] == value and
              all(plain(r.result)[k] == v for k, v in created[0].items()
                  if k not in (field, "updated_at", "result")))
    expect_ok(f"{game}: UpdateGameResult with no changes: the row as it is",
              call(b.UpdateGameResult, bank.UpdateGameResultRequest(game=game, id=rid), token=tok),
              lambda r: plain(r.result)[field] == value)
    for label, bad, f in spec["bad"][:4] + http_games.COMMON_BAD[:6]:
        if any(v is None for v in bad.values()):
            continue
        expect_code(f"{game}: CreateGameResult with {label}: INVALID_ARGUMENT names result.{f}",
                    call(b.CreateGameResult, bank.CreateGameResultRequest(
                        game=game, result=struct(dict(spec["results"][0], **bad))), token=tok),
                    grpc.StatusCode.INVALID_ARGUMENT, f"result.{f}")
        expect_code(f"{game}: UpdateGameResult with {label}: INVALID_ARGUMENT names changes.{f}",
                    call(b.UpdateGameResult, bank.UpdateGameResultRequest(
                        game=game, id=rid, changes=struct(bad)), token=tok),
                    grpc.StatusCode.INVALID_ARGUMENT, f"changes.{f}")
    expect_code(f"{game}: CreateGameResult with no result: INVALID_ARGUMENT names the first required field",
                call(b.CreateGameResult, bank.CreateGameResultRequest(game=game), token=tok),
                grpc.StatusCode.INVALID_ARGUMENT, f"result.{spec['required'][0]}")
    code, r, details, _ = call(b.GetGameTable, bank.GetGameTableRequest(game=game), token=tok)
    st, _, http_table = e2e.request("GET", f"/v1/games/{game}/table", token=tok, port=F.shim.port)
    rows = [plain(x) for x in r.rows] if r else []
    check(f"{game}: GetGameTable OK: the table HTTP answers, and its summary as computed from the rows",
          code == grpc.StatusCode.OK and plain(r) == http_table and len(rows) == 3 and
          plain(r.summary) == http_games.game_summary(spec, rows), f"{code} {details}")
    expect_code(f"{game}: GetGameResult of another user's result: NOT_FOUND",
                call(b.GetGameResult, bank.GameResultRequest(game=game, id=rid), token=other),
                grpc.StatusCode.NOT_FOUND)
    expect_code(f"{game}: DeleteGameResult of another user's result: NOT_FOUND",
                call(b.DeleteGameResult, bank.GameResultRequest(game=game, id=rid), token=other),
                grpc.StatusCode.NOT_FOUND)
    for name, method, req in (("Create", b.CreateGameResult, bank.CreateGameResultRequest(
            game=game, result=struct(spec["results"][0]))),
            ("Get", b.GetGameResult, bank.GameResultRequest(game=game, id=rid)),
            ("List", b.ListGameResults, bank.ListGameResultsRequest(game=game)),
            ("Update", b.UpdateGameResult, bank.UpdateGameResultRequest(game=game, id=rid)),
            ("Delete", b.DeleteGameResult, bank.GameResultRequest(game=game, id=rid)),
            ("Table", b.GetGameTable, bank.GetGameTableRequest(game=game))):
        expect_code(f"{game}: {name} without a token: UNAUTHENTICATED", call(method, req),
                    grpc.StatusCode.UNAUTHENTICATED)
    expect_ok(f"{game}: DeleteGameResult OK: the deleted row",
              call(b.DeleteGameResult, bank.GameResultRequest(game=game, id=rid), token=tok),
              lambda r: int(plain(r.result)["id"]) == rid)
    expect_code(f"{game}: GetGameResult of the deleted result: NOT_FOUND",
                call(b.GetGameResult, bank.GameResultRequest(game=game, id=rid), token=tok),
                grpc.StatusCode.NOT_FOUND)
    expect_code(f"{game}: GetGameResult without id: INVALID_ARGUMENT names id",
                call(b.GetGameResult, bank.GameResultRequest(game=game), token=tok),
                grpc.StatusCode.INVALID_ARGUMENT, "id")


def test_games(users):
    for game in http_games.GAMES:
        test_game(game, users)
    tok = users.tok[users.alice]
    for game in ("chess", ""):
        expect_code(f"unknown game {game!r}: NOT_FOUND",
                    call(F.bank.GetGameTable, bank.GetGameTableRequest(game=game), token=tok),
                    grpc.StatusCode.NOT_FOUND)


# ----- reflection and health -----

def reflect(stub_cls, mod, requests):
    stub = stub_cls(F.channel)
    return list(stub.ServerReflectionInfo(iter([mod.ServerReflectionRequest(**r) for r in requests]),
                                          timeout=10))


def served_files():
    fds = descriptor_pb2.FileDescriptorSet()
    with open(os.path.join(STUBS, "served.pb"), "rb") as f:
        fds.ParseFromString(f.read())
    return {fd.name: fd.SerializeToString() for fd in fds.file}


LEDGER_METHODS = {"Deposit", "Withdraw", "TransferBatch", "GetTransfer", "TransferByKey", "ListAccountEntries",
                  "ListAccountTransfers", "GetBalanceAt", "CreateHold", "GetHold", "PostHold", "VoidHold"}


def test_reflection(users):
    truth = served_files()
    for version, mod, stub in (("v1", refl_v1, refl_v1_grpc.ServerReflectionStub),
                               ("v1alpha", refl_va, refl_va_grpc.ServerReflectionStub)):
        out = reflect(stub, mod, [
            {"list_services": ""},
            {"file_by_filename": "rpc_update_user.proto"},
            {"file_containing_symbol": "pb.SimpleBank"},
            {"file_containing_symbol": "pgbank.v1.Bank.Transfer"},
            {"file_containing_symbol": "pb.User"},
            {"file_containing_symbol": "pgbank.v1.TransferResponse"},
            {"file_containing_symbol": "grpc.health.v1.Health"},
            {"file_by_filename": "nowhere.proto"},
            {"file_containing_symbol": "pb.Nothing"},
            {"all_extension_numbers_of_type": "pb.User"},
            {"file_containing_extension": {"containing_type": "pb.User", "extension_number": 100}},
            {"file_containing_symbol": "pgbank.v1.Bank.PostHold"},
            {"file_containing_symbol": "pgbank.v1.AccountEntry"},
        ])
        check(f"reflection {version}: one answer per request on one stream", len(out) == 13, f"{len(out)}")
        if len(out) != 13:
            continue
        names = {s.name for s in out[0].list_services_response.service}
        check(f"reflection {version}: list_services names every service served", names == SERVICES,
              f"{names}")
        files = [bytes(b) for b in out[1].file_descriptor_response.file_descriptor_proto]
        fd = descriptor_pb2.FileDescriptorProto.FromString(files[0]) if files else None
        check(f"reflection {version}: file_by_filename rpc_update_user.proto is the true file "
              f"(proto3 optional), bytes as protoc compiles it, then its imports",
              fd is not None and files[0] == truth["rpc_update_user.proto"] and
              [f.proto3_optional for f in fd.message_type[0].field] == [False, True, True, True] and
              [descriptor_pb2.FileDescriptorProto.FromString(b).name for b in files[1:]] ==
              ["user.proto", "google/protobuf/timestamp.proto"], f"{fd}")
        got = [descriptor_pb2.FileDescriptorProto.FromString(b).name
               for b in out[2].file_descriptor_response.file_descriptor_proto]
        check(f"reflection {version}: file_containing_symbol pb.SimpleBank: its file and every import",
              got and got[0] == "service_simple_bank.proto" and
              set(got) == {n for n in truth if not n.startswith(("pgbank/", "google/protobuf/struct"))},
              f"{got}")
        for i, symbol, want in ((3, "pgbank.v1.Bank.Transfer", "pgbank/v1/bank.proto"),
                                (4, "pb.User", "user.proto"),
                                (5, "pgbank.v1.TransferResponse", "pgbank/v1/bank.proto"),
                                (6, "grpc.health.v1.Health", "grpc/health/v1/health.proto")):
            fdp = out[i].file_descriptor_response.file_descriptor_proto
            first = descriptor_pb2.FileDescriptorProto.FromString(fdp[0]).name if fdp else None
            check(f"reflection {version}: file_containing_symbol {symbol}: {want}", first == want, f"{first}")
        check(f"reflection {version}: an unknown file, symbol or extension: NOT_FOUND error_response",
              all(out[i].error_response.error_code == 5 for i in (7, 8, 10)), f"{out[7:]}")
        check(f"reflection {version}: all_extension_numbers_of_type pb.User: none",
              out[9].all_extension_numbers_response.base_type_name == "pb.User" and
              list(out[9].all_extension_numbers_response.extension_number) == [], f"{out[9]}")
        files = [bytes(b) for b in out[11].file_descriptor_response.file_descriptor_proto]
        fd = descriptor_pb2.FileDescriptorProto.FromString(files[0]) if files else None
        methods = {m.name for m in fd.service[0].method} if fd else set()
        check(f"reflection {version}: file_containing_symbol pgbank.v1.Bank.PostHold: pgbank/v1/bank.proto "
              f"as protoc compiles it, with the ledger's methods and every method served",
              fd is not None and fd.name == "pgbank/v1/bank.proto" and files[0] == truth[fd.name] and
              LEDGER_METHODS <= methods and methods == set(bank.DESCRIPTOR.services_by_name["Bank"].methods_by_name),
              f"{sorted(methods)}")
        fdp = out[12].file_descriptor_response.file_descriptor_proto
        check(f"reflection {version}: file_containing_symbol pgbank.v1.AccountEntry: pgbank/v1/bank.proto",
              fdp and descriptor_pb2.FileDescriptorProto.FromString(fdp[0]).name == "pgbank/v1/bank.proto", "")
        check(f"reflection {version}: each answer echoes its request",
              out[2].original_request.file_containing_symbol == "pb.SimpleBank", f"{out[2].original_request}")
    test_reflection_client(users)


def test_reflection_client(users):
    """Like evans -r or grpcurl: the messages built from the descriptors
    reflection serves, and a call made with them alone."""
    pool = descriptor_pool.DescriptorPool()
    pending = ["service_simple_bank.proto", "pgbank/v1/bank.proto"]
    seen = {}
    while pending:
        name = pending.pop()
        out = reflect(refl_v1_grpc.ServerReflectionStub, refl_v1, [{"file_by_filename": name}])
        for b in out[0].file_descriptor_response.file_descriptor_proto:
            fd = descriptor_pb2.FileDescriptorProto.FromString(b)
            seen.setdefault(fd.name, fd)
    added = set()
    while len(added) < len(seen):
        for name, fd in seen.items():
            if name not in added and all(d in added for d in fd.dependency):
                pool.Add(fd)
                added.add(name)
    factory = message_factory.MessageFactory(pool)
    req_cls = factory.GetPrototype(pool.FindMessageTypeByName("pb.UpdateUserRequest"))
    rsp_cls = factory.GetPrototype(pool.FindMessageTypeByName("pb.UpdateUserResponse"))
    method = F.channel.unary_unary("/pb.SimpleBank/UpdateUser", request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=rsp_cls.FromString)
    name = f"gr_{TAG}"
    call(F.sb.CreateUser, user_req(name))
    tok = login(name)[1].access_token
    code, rsp, details, _ = call(method, req_cls(username=name, email=f"r_{name}@example.com"), token=tok)
    check("a client built from reflection alone calls UpdateUser (email only; the full name kept)",
          code == grpc.StatusCode.OK and rsp.user.email == f"r_{name}@example.com" and
          rsp.user.full_name == f"User {name}", f"{code} {details}")
    req_cls = factory.GetPrototype(pool.FindMessageTypeByName("pgbank.v1.GetBalanceAtRequest"))
    rsp_cls = factory.GetPrototype(pool.FindMessageTypeByName("pgbank.v1.AccountBalance"))
    method = F.channel.unary_unary("/pgbank.v1.Bank/GetBalanceAt", request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=rsp_cls.FromString)
    req = req_cls(id=users.a_usd)
    req.at.FromJsonString("2999-01-01T00:00:00Z")
    code, rsp, details, _ = call(method, req, token=users.tok[users.alice])
    _, acc, _, _ = call(F.bank.GetAccount, bank.GetAccountRequest(id=users.a_usd), token=users.tok[users.alice])
    check("a client built from reflection alone calls a ledger method (GetBalanceAt, with its Timestamp)",
          code == grpc.StatusCode.OK and acc is not None and rsp.balance == acc.balance and
          rsp.account_id == users.a_usd, f"{code} {details}")


def health(service=""):
    return call(F.health.Check, health_pb2.HealthCheckRequest(service=service))


class Watch:
    """A Health/Watch stream read on a thread: the statuses it sent, and the
    code it ended with (None while open)."""

    def __init__(self, service="", front=None, timeout=120):
        self.statuses = []
        self.end = None
        self.ended_at = None
        self.stream = (front or F).health.Watch(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for r in self.stream:
                self.statuses.append(r.status)
            self.end = grpc.StatusCode.OK
        except grpc.RpcError as e:
            self.end = e.code()
        self.ended_at = time.time()

    def wait(self, cond, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline and not cond(self):
            time.sleep(0.05)
        return cond(self)

    def wait_for(self, status, timeout):
        return self.wait(lambda w: w.statuses and w.statuses[-1] == status, timeout)

    def cancel(self):
        self.stream.cancel()
        self.thread.join(10)


def in_flight(front=None):
    return e2e.metric((front or F).shim.port, "pgbank_grpc_in_flight")


def test_health():
    serving = health_pb2.HealthCheckResponse.SERVING
    expect_ok("Health/Check \"\": SERVING", health(), lambda r: r.status == serving)
    for s in ("pb.SimpleBank", "pgbank.v1.Bank"):
        expect_ok(f"Health/Check {s}: SERVING", health(s), lambda r: r.status == serving)
    expect_code("Health/Check of an unknown service: NOT_FOUND", health("pb.Nothing"), grpc.StatusCode.NOT_FOUND)
    test_watch()


def test_watch():
    serving = health_pb2.HealthCheckResponse.SERVING
    w = Watch("")
    b = Watch("pgbank.v1.Bank")
    u = Watch("pb.Nothing")
    check("Health/Watch \"\" and a served service: SERVING at once",
          w.wait_for(serving, 5) and b.wait_for(serving, 5), f"{w.statuses} {b.statuses} {w.end}")
    check("Health/Watch of an unknown service: SERVICE_UNKNOWN, the stream left open",
          u.wait_for(health_pb2.HealthCheckResponse.SERVICE_UNKNOWN, 5), f"{u.statuses} {u.end}")
    time.sleep(2.5)                 # two probes: a status that did not change is not sent again
    check("a watcher hears only changes (one message each while nothing changed)",
          w.statuses == [serving] and b.statuses == [serving] and len(u.statuses) == 1 and
          w.end is None and u.end is None, f"{w.statuses} {b.statuses} {u.statuses}")
    bad = F.channel.unary_stream("/grpc.health.v1.Health/Watch")(b"\x0f\xff\xff", timeout=10)
    try:
        list(bad)
        code = grpc.StatusCode.OK
    except grpc.RpcError as e:
        code = e.code()
    check("Health/Watch with a malformed request: INVALID_ARGUMENT", code == grpc.StatusCode.INVALID_ARGUMENT,
          f"{code}")
    for x in (w, b, u):
        x.cancel()
    gone = False
    deadline = time.time() + 5
    while time.time() < deadline and not gone:
        gone = in_flight() == 0
        time.sleep(0.1)
    check("cancelled watchers are freed (pgbank_grpc_in_flight back to 0)", gone, f"{in_flight()}")
    time.sleep(0.2)
    lines = [line for line in F.shim.log_lines() if "/grpc.health.v1.Health/Watch" in line]
    check("each watch is logged once, when it ends (CANCELLED)",
          sum('"status_text":"CANCELLED"' in line for line in lines) == 3, f"{lines[-4:]}")


# ----- the protocol's edges -----

def raw(path):
    return F.channel.unary_unary(path)


def test_protocol():
    expect_code("an unknown method of a served service: UNIMPLEMENTED",
                call(raw("/pb.SimpleBank/DeleteUser"), b""), grpc.StatusCode.UNIMPLEMENTED)
    expect_code("a method of an unknown service: UNIMPLEMENTED",
                call(raw("/pb.Nothing/Do"), b""), grpc.StatusCode.UNIMPLEMENTED)
    expect_code("a malformed message (truncated field): INVALID_ARGUMENT",
                call(raw("/pb.SimpleBank/CreateUser"), b"\x0a\x10abc"), grpc.StatusCode.INVALID_ARGUMENT)
    expect_code("a malformed message (bad wire type): INVALID_ARGUMENT",
                call(raw("/pgbank.v1.Bank/Transfer"), b"\x0f\xff\xff\xff"), grpc.StatusCode.INVALID_ARGUMENT)
    expect_code("a string that is not UTF-8: INVALID_ARGUMENT names the field",
                call(raw("/pb.SimpleBank/CreateUser"), b"\x0a\x02\xff\xfe"),
                grpc.StatusCode.INVALID_ARGUMENT, "username")
    # protobuf-c would keep "secret1\0junk" as "secret1": the right password
    name = f"gnul_{TAG}"
    call(F.sb.CreateUser, user_req(name))
    expect_code("a string with a NUL byte: INVALID_ARGUMENT names the field (not cut at the NUL)",
                call(F.sb.LoginUser, login_user.LoginUserRequest(username=name, password="secret1\0junk")),
                grpc.StatusCode.INVALID_ARGUMENT, "password")
    # Struct { fields { key "a" value { struct_value { ... } } } }, 300 levels of two
    level = b""
    for _ in range(300):
        value = b"\x2a" + _varint(len(level)) + level
        entry = b"\x0a\x01a\x12" + _varint(len(value)) + value
        level = b"\x0a" + _varint(len(entry)) + entry
    deep = b"\x0a\x04apex\x12" + _varint(len(level)) + level
    got = call(raw("/pgbank.v1.Bank/CreateGameResult"), deep)
    expect_code("a message nested 600 deep (Structs): INVALID_ARGUMENT, no crash", got,
                grpc.StatusCode.INVALID_ARGUMENT)
    check("... refused before it is decoded: nested too deep", "nested too deep" in got[2], got[2])
    big = create_user.CreateUserRequest(username="x" * 5000).SerializeToString()
    expect_code("a message over PGBANK_BODY_LIMIT: RESOURCE_EXHAUSTED",
                call(raw("/pb.SimpleBank/CreateUser"), big), grpc.StatusCode.RESOURCE_EXHAUSTED)
    expect_ok("the server serves on after them", health())


def _varint(n):
    out = b""
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def test_deadline():
    name = f"gdl_{TAG}"
    holder = e2e.hold_username(name, 6)
    start = time.time()
    code, _, details, _ = call(F.sb.CreateUser, user_req(name), timeout=1)
    took = time.time() - start
    check("a call past its grpc-timeout: DEADLINE_EXCEEDED at the deadline",
          code == grpc.StatusCode.DEADLINE_EXCEEDED and took < 2, f"{code} {details} after {took:.1f}s")
    time.sleep(0.5)
    waiting = psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgbank-http' "
                   "AND state = 'active' AND query LIKE '%api_create_user%'")
    check("the call's statement is cancelled at the deadline (not left waiting on the lock)",
          waiting == "0", f"{waiting} statements still running")
    holder.wait(30)
    lines = [line for line in F.shim.log_lines() if '"protocol":"grpc"' in line and "DEADLINE_EXCEEDED" in line]
    check("the call is logged DEADLINE_EXCEEDED", len(lines) >= 1, "")


def test_log_and_metrics():
    time.sleep(0.2)
    lines = [line for line in F.shim.log_lines() if '"protocol":"grpc"' in line]
    import json
    parsed = [json.loads(line) for line in lines]
    keys = {"time", "level", "protocol", "method", "status_code", "status_text", "duration_ms", "message"}
    check("one JSON log line per call: method, status_code, status_text, duration_ms",
          parsed and all(keys <= set(p) for p in parsed) and
          any(p["method"] == "/pb.SimpleBank/CreateUser" and p["status_text"] == "ALREADY_EXISTS" and
              p["status_code"] == 6 and p["level"] == "warn" for p in parsed) and
          any(p["method"] == "/pb.SimpleBank/DeleteUser" and p["status_text"] == "UNIMPLEMENTED" for p in parsed),
          f"{parsed[:3]}")
    st, _, text = e2e.request("GET", "/metrics", port=F.shim.port)
    m = re.search(r'^pgbank_grpc_calls_total\{method="/pb.SimpleBank/CreateUser",code="ALREADY_EXISTS"\} (\d+)$',
                  text, re.M)
    check("/metrics counts calls by method and status", st == 200 and m is not None and int(m.group(1)) >= 2 and
          re.search(r'^pgbank_grpc_calls_total\{method="/pgbank.v1.Bank/Transfer",code="OK"\} \d+$', text, re.M)
          and re.search(r'^pgbank_grpc_calls_total\{method="unknown",code="UNIMPLEMENTED"\} \d+$', text, re.M)
          and "pgbank_grpc_call_duration_seconds_count{" in text and
          re.search(r"^pgbank_grpc_in_flight \d+$", text, re.M), text[-800:])
    never = re.findall(r'^pgbank_grpc_calls_total\{method="([^"]+)",code="(UNKNOWN|INTERNAL)"\}', text, re.M)
    check("no call of this suite was answered UNKNOWN or INTERNAL", not never, f"{never}")


def test_database_down(users):
    serving = health_pb2.HealthCheckResponse.SERVING
    not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
    w = Watch("")
    w.wait_for(serving, 5)
    e2e.pg_ctl("stop")
    try:
        start = time.time()
        heard = w.wait_for(not_serving, 10)
        check("a watcher hears NOT_SERVING within seconds of PostgreSQL stopping",
              heard, f"{w.statuses} after {time.time() - start:.1f}s")
        expect_ok("Health/Check while PostgreSQL is down: NOT_SERVING", health(),
                  lambda r: r.status == not_serving)
        expect_code("an RPC while PostgreSQL is down: UNAVAILABLE",
                    call(F.sb.CreateUser, user_req(f"gdown_{TAG}")), grpc.StatusCode.UNAVAILABLE)
    finally:
        e2e.pg_ctl("start")
    deadline = time.time() + 30
    while time.time() < deadline and health()[1] is not None and \
            health()[1].status != health_pb2.HealthCheckResponse.SERVING:
        time.sleep(0.5)
    expect_ok("Health/Check after the restart: SERVING", health(),
              lambda r: r.status == health_pb2.HealthCheckResponse.SERVING)
    check("the watcher hears SERVING again after the restart, each change once",
          w.wait_for(serving, 10) and w.statuses == [serving, not_serving, serving], f"{w.statuses}")
    w.cancel()
    expect_ok("RPCs succeed again after the restart", call(F.sb.CreateUser, user_req(f"gup_{TAG}")))


# ----- start and stop -----

def test_listen_settings():
    f = Front(PGBANK_GRPC_LISTEN="")
    try:
        socket.create_connection(("127.0.0.1", f.grpc_port), timeout=1).close()
        refused = False
    except OSError:
        refused = True
    st, _, _ = e2e.request("GET", "/readyz", port=f.shim.port)
    check("PGBANK_GRPC_LISTEN empty: no gRPC listener, HTTP serves", refused and st == 200, f"{refused} {st}")
    f.stop()
    p = subprocess.run([e2e.BIN], env=dict(os.environ, PGBANK_LISTEN="127.0.0.1:0",
                                            PGBANK_GRPC_LISTEN=f"127.0.0.1:{F.grpc_port}",
                                            PGBANK_DB="dbname=nowhere"),
                       capture_output=True, text=True, timeout=20)
    check("a gRPC address in use: exit 1, said so", p.returncode == 1 and "gRPC" in p.stderr,
          f"{p.returncode} {p.stderr[-300:]}")


class Pending:
    def __init__(self, fn):
        self.result = None
        self.thread = threading.Thread(target=lambda: setattr(self, "result", fn()))
        self.thread.start()

    def wait(self, timeout=30):
        self.thread.join(timeout)
        return self.result


def test_graceful_shutdown():
    f = Front(PGBANK_SHUTDOWN_TIMEOUT=20)
    name = f"gslow_{TAG}"
    holder = e2e.hold_username(name, 3)
    slow = Pending(lambda: call(f.sb.CreateUser, user_req(name)))
    w = Watch("", front=f)
    w.wait_for(health_pb2.HealthCheckResponse.SERVING, 5)
    e2e.wait_for_lock_waiters(1)
    signalled = time.time()
    f.shim.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    refused = []
    for port in (f.grpc_port, f.shim.port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            refused.append(False)
        except OSError:
            refused.append(True)
    check("after SIGTERM both fronts refuse new connections", refused == [True, True], f"{refused}")
    code, rsp, details, _ = slow.wait()
    holder.wait(30)
    rc = f.stop()
    check("the call in flight completes during shutdown (OK)", code == grpc.StatusCode.OK, f"{code} {details}")
    check("the shim exits 0 after SIGTERM with a call in flight", rc == 0, f"exit {rc}")
    w.thread.join(10)
    check("SIGTERM ends a watch at once: NOT_SERVING, then UNAVAILABLE",
          w.statuses == [health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING] and
          w.end == grpc.StatusCode.UNAVAILABLE and w.ended_at is not None and w.ended_at - signalled < 1.5,
          f"{w.statuses} {w.end} after {(w.ended_at or 0) - signalled:.1f}s")


def test_shutdown_deadline():
    f = Front(PGBANK_SHUTDOWN_TIMEOUT=1)
    name = f"glate_{TAG}"
    holder = e2e.hold_username(name, 6)
    slow = Pending(lambda: call(f.sb.CreateUser, user_req(name)))
    # and a reflection stream the client never closes
    release = threading.Event()

    def requests():
        yield refl_v1.ServerReflectionRequest(list_services="")
        release.wait(30)
    stream = refl_v1_grpc.ServerReflectionStub(f.channel).ServerReflectionInfo(requests())

    def drain():
        try:
            return [len(r.list_services_response.service) for r in stream]
        except grpc.RpcError as e:
            return e.code()
    open_stream = Pending(drain)
    e2e.wait_for_lock_waiters(1)
    time.sleep(0.3)                 # the stream's first answer is read
    start = time.time()
    rc = f.stop()
    took = time.time() - start
    code, _, details, _ = slow.wait()
    holder.wait(30)
    check("past PGBANK_SHUTDOWN_TIMEOUT the call's statement is cancelled: UNAVAILABLE",
          code == grpc.StatusCode.UNAVAILABLE, f"{code} {details}")
    check("the shim exits 0 soon after the shutdown deadline", rc == 0 and took < 6, f"exit {rc} after {took:.1f}s")
    ended = open_stream.wait(10)
    release.set()
    check("a reflection stream left open is ended by the shutdown (after its answer)",
          ended is not None and not open_stream.thread.is_alive(), f"{ended}")


def main():
    global F
    # failed logins of the suites before (same address) must not throttle ours
    psql("SELECT pgbank.login_throttle_clear_address('127.0.0.1')")
    F = Front()
    try:
        test_table()
        users = Users()
        test_create_user(users)
        test_login(users)
        test_update_user(users)
        test_verify_email(users)
        test_accounts(users)
        test_transfers(users)
        test_ledger(users)
        test_tokens(users)
        test_games(users)
        check("the ledger's invariants hold after the gRPC calls",
              psql("SELECT count(*) FROM pgbank.check_ledger()") == "0",
              psql("SELECT string_agg(problem, '; ') FROM pgbank.check_ledger()"))
        test_reflection(users)
        test_health()
        test_protocol()
        test_deadline()
        test_log_and_metrics()
        test_database_down(users)
        test_listen_settings()
    finally:
        rc = F.stop()
    check("the shim exits 0 on SIGTERM", rc == 0, f"exit {rc}")
    test_graceful_shutdown()
    test_shutdown_deadline()
    print(f"grpc: {len(e2e.failures)} failed")
    if e2e.failures:
        print("failed: " + "; ".join(e2e.failures))
    return 1 if e2e.failures else 0


if __name__ == "__main__":
    sys.exit(main())

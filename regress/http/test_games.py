#!/usr/bin/env python3
"""Game results over HTTP, for each game (apex, fortnite, hots;
docs/games.md): every route, field, parameter and token case; the
statuses answered compared with docs/openapi.json.
"""
import datetime
import decimal
import json
import os
import sys
import time

import helpers
from helpers import *  # noqa: F401,F403


# ----- game results -----
#
# For each game (apex, fortnite, hots; docs/games.md) one player stores four
# results, reads them back one by one, as pages and within dates, changes
# some, reads the table and its summary (checked against numbers computed
# here from what was sent), and deletes one; then every bad input, another
# user's reach, and every kind of bad token, on every route. Statuses seen on
# the game routes are compared with docs/openapi.json at the end.

MISSING = object()      # in a body change: leave the field out
FUTURE = (datetime.date.today() + datetime.timedelta(days=2)).isoformat()
GAME_STATUSES = {}      # (method, route) -> statuses answered


def game_request(method, path, **kw):
    """request() on a game route, remembering the status for the route."""
    got = request(method, path, **kw)
    rest = path.split("?")[0].split("/")[4:]     # after /v1/games/{game}/
    route = "/v1/games/{game}/" + ("results/{id}" if rest[0] == "results" and len(rest) > 1 else rest[0])
    GAME_STATUSES.setdefault((method.lower(), route), set()).add(got[0])
    return got


GAMES = {
    "apex": {
        "fields": ["date", "result", "legend", "kills", "placement", "damage", "time_seconds", "teammates"],
        "ints": ["kills", "placement", "damage", "time_seconds"],
        "placement": "placement", "breakdown": "legend", "derived": True,
        "defaults": {"teammates": []},
        "results": [
            {"date": "2024-03-01", "legend": "Wraith", "kills": 5, "placement": 1, "damage": 1200,
             "time_seconds": 1500, "teammates": ["x", "y"]},
            {"date": "2024-03-05", "legend": "Bangalore", "kills": 2, "placement": 7, "damage": 450,
             "time_seconds": 600},
            {"date": "2024-03-05", "legend": "Wraith", "kills": 8, "placement": 3, "damage": 2100,
             "time_seconds": 1400, "teammates": ["z"]},
            {"date": "2024-03-10", "legend": "Wraith", "kills": 0, "placement": 12, "damage": 101,
             "time_seconds": 301, "teammates": []},
        ],
        "patch": {"damage": 777},
        "bounds": ({"date": "2019-02-04", "legend": "L", "kills": 0, "placement": 1, "damage": 0,
                    "time_seconds": 0, "teammates": []},
                   {"date": "today", "legend": "L" * 50, "kills": 60, "placement": 60, "damage": 50000,
                    "time_seconds": 3600, "teammates": ["t" * 50] * 3}),
        "patch_result": ({"placement": 1}, "win"),
        "required": ["date", "legend", "kills", "placement", "damage", "time_seconds"],
        "bad": [
            ("a derived result", {"result": "win"}, "result"),
            ("placement 0", {"placement": 0}, "placement"),
            ("placement 61", {"placement": 61}, "placement"),
            ("damage 50001", {"damage": 50001}, "damage"),
            ("time_seconds 3601", {"time_seconds": 3601}, "time_seconds"),
            ("kills 61", {"kills": 61}, "kills"),
            ("legend a number", {"legend": 5}, "legend"),
            ("legend blank", {"legend": "  "}, "legend"),
            ("legend of 51 characters", {"legend": "x" * 51}, "legend"),
            ("legend null", {"legend": None}, "legend"),
            ("teammates a string", {"teammates": "x"}, "teammates"),
            ("4 teammates", {"teammates": ["a", "b", "c", "d"]}, "teammates"),
            ("a blank teammate", {"teammates": [""]}, "teammates"),
            ("a teammate not a string", {"teammates": [1]}, "teammates"),
            ("date before the release", {"date": "2019-02-03"}, "date"),
        ],
    },
    "fortnite": {
        "fields": ["date", "result", "kills", "placement", "mode", "teammates"],
        "ints": ["kills", "placement"],
        "placement": "placement", "breakdown": "mode", "derived": True,
        "defaults": {"teammates": []},
        "results": [
            {"date": "2024-02-01", "kills": 3, "placement": 1, "mode": "solo"},
            {"date": "2024-02-03", "kills": 7, "placement": 15, "mode": "squads",
             "teammates": ["a", "b", "c"]},
            {"date": "2024-02-03", "kills": 1, "placement": 88, "mode": "solo"},
            {"date": "2024-02-08", "kills": 12, "placement": 2, "mode": "duos", "teammates": ["d"]},
        ],
        "patch": {"kills": 9},
        "bounds": ({"date": "2017-07-21", "kills": 0, "placement": 1, "mode": "solo"},
                   {"date": "today", "kills": 99, "placement": 100, "mode": "ltm", "teammates": ["t" * 50] * 3}),
        "patch_result": ({"placement": 1}, "win"),
        "required": ["date", "kills", "placement", "mode"],
        "bad": [
            ("a derived result", {"result": "loss"}, "result"),
            ("placement 0", {"placement": 0}, "placement"),
            ("placement 101", {"placement": 101}, "placement"),
            ("kills 100", {"kills": 100}, "kills"),
            ("mode not among the modes", {"mode": "duo"}, "mode"),
            ("mode a number", {"mode": 3}, "mode"),
            ("teammates an object", {"teammates": {"a": 1}}, "teammates"),
            ("4 teammates", {"teammates": ["a", "b", "c", "d"]}, "teammates"),
            ("date before the release", {"date": "2017-07-20"}, "date"),
        ],
    },
    "hots": {
        "fields": ["date", "result", "hero", "kills", "deaths", "assists", "time_seconds", "map"],
        "ints": ["kills", "deaths", "assists", "time_seconds"],
        "placement": None, "breakdown": "hero", "derived": False,
        "defaults": {},
        "results": [
            {"date": "2024-01-10", "result": "win", "hero": "Jaina", "kills": 5, "deaths": 2,
             "assists": 10, "time_seconds": 1200, "map": "Cursed Hollow"},
            {"date": "2024-01-12", "result": "loss", "hero": "Muradin", "kills": 1, "deaths": 6,
             "assists": 14, "time_seconds": 1500, "map": "Towers of Doom"},
            {"date": "2024-01-12", "result": "win", "hero": "Jaina", "kills": 9, "deaths": 1,
             "assists": 7, "time_seconds": 1103, "map": "Braxis Holdout"},
            {"date": "2024-01-20", "result": "loss", "hero": "Abathur", "kills": 0, "deaths": 3,
             "assists": 20, "time_seconds": 1800, "map": "Cursed Hollow"},
        ],
        "patch": {"assists": 17},
        "bounds": ({"date": "2015-06-02", "result": "win", "hero": "H", "kills": 0, "deaths": 0, "assists": 0,
                    "time_seconds": 0, "map": "M"},
                   {"date": "today", "result": "loss", "hero": "H" * 50, "kills": 100, "deaths": 100,
                    "assists": 200, "time_seconds": 7200, "map": "M" * 50}),
        "patch_result": ({"result": "win"}, "win"),
        "required": ["date", "result", "hero", "kills", "deaths", "assists", "time_seconds", "map"],
        "bad": [
            ("result draw", {"result": "draw"}, "result"),
            ("result a number", {"result": 1}, "result"),
            ("deaths -1", {"deaths": -1}, "deaths"),
            ("deaths 101", {"deaths": 101}, "deaths"),
            ("assists 201", {"assists": 201}, "assists"),
            ("kills 101", {"kills": 101}, "kills"),
            ("time_seconds 7201", {"time_seconds": 7201}, "time_seconds"),
            ("hero a number", {"hero": 7}, "hero"),
            ("hero blank", {"hero": " "}, "hero"),
            ("map of 51 characters", {"map": "m" * 51}, "map"),
            ("date before the release", {"date": "2015-06-01"}, "date"),
        ],
    },
}

# bad values every game refuses the same way (each game has kills and date)
COMMON_BAD = [
    ("an unknown field", {"bogus": 1}, "bogus"),
    ("an id", {"id": 1}, "id"),
    ("an owner", {"owner": "someone"}, "owner"),
    ("a created_at", {"created_at": "2024-01-01T00:00:00Z"}, "created_at"),
    ("negative kills", {"kills": -1}, "kills"),
    ("kills a string", {"kills": "5"}, "kills"),
    ("kills a fraction", {"kills": 2.5}, "kills"),
    ("kills a boolean", {"kills": True}, "kills"),
    ("kills null", {"kills": None}, "kills"),
    ("date not YYYY-MM-DD", {"date": "2024/03/01"}, "date"),
    ("date a number", {"date": 20240301}, "date"),
    ("date February 30", {"date": "2024-02-30"}, "date"),
    ("date in the future", {"date": FUTURE}, "date"),
]

BAD_QUERIES = [
    ("page_size=0", "page_size"), ("page_size=101", "page_size"), ("page_size=abc", "page_size"),
    ("page_size=-1", "page_size"), ("page_size=2.5", "page_size"),
    ("page_id=0", "page_id"), ("page_id=x", "page_id"), ("page_id=99999999999", "page_id"),
    ("from=2024-13-01", "from"), ("from=yesterday", "from"),
    ("to=2024-02-30", "to"), ("to=20240101", "to"),
    ("from=2024-03-02&to=2024-03-01", "to"),
]

BAD_IDS = ["abc", "0", "-5", "1.5", "12345678901234567890"]


class Player:
    """A user of the game routes with an access token."""

    def __init__(self, prefix):
        self.name = f"{prefix}_{TAG}"
        st, _, body = request("POST", "/users", body=user_body(self.name))
        st2, _, body2 = login(self.name)
        check(f"games: user {prefix} created and logged in", st == 200 and st2 == 200,
              f"{st} {body} {st2} {body2}")
        ok = st2 == 200 and isinstance(body2, dict)
        self.tok = body2.get("access_token") if ok else None
        self.refresh = body2.get("refresh_token") if ok else None


class GameState:
    """What one player stored in one game: the rows as the API answered
    them (stored) and as they should be from what was sent (model)."""

    def __init__(self, game, player):
        self.game, self.spec, self.player = game, GAMES[game], player
        self.base = f"/v1/games/{game}"
        self.stored = {}
        self.model = {}

    def req(self, method, rest, body=None, **kw):
        return game_request(method, self.base + rest, body=body, token=self.player.tok, **kw)

    def expected(self, sent):
        row = dict(self.spec["defaults"])
        row.update(sent)
        if self.spec["derived"]:
            row["result"] = "win" if row["placement"] == 1 else "loss"
        return row

    def newest_first(self, rows=None):
        rows = self.model if rows is None else rows
        return sorted(rows, key=lambda i: (rows[i]["date"], i), reverse=True)

    def matches(self, row, rid=None):
        """The row has the game's columns and the values of the model."""
        rid = row.get("id") if rid is None else rid
        keys = {"id", "owner", "created_at", "updated_at"} | set(self.spec["fields"])
        return isinstance(row, dict) and set(row) == keys and row["id"] == rid and \
            row["owner"] == self.player.name and rid in self.model and \
            all(row[f] == self.model[rid][f] for f in self.spec["fields"])


def game_avg(values):
    if not values:
        return None
    avg = decimal.Decimal(sum(values)) / decimal.Decimal(len(values))
    return float(avg.quantize(decimal.Decimal("0.01"), rounding=decimal.ROUND_HALF_UP))


def game_stats(spec, rows):
    """The summary docs/games.md describes, computed here from the rows."""
    pl = spec["placement"]
    s = {"matches": len(rows),
         "wins": sum(r["result"] == "win" for r in rows),
         "losses": sum(r["result"] == "loss" for r in rows),
         "totals": {f: sum(r[f] for r in rows) for f in spec["ints"] if f != pl},
         "averages": {f: game_avg([r[f] for r in rows]) for f in spec["ints"]}}
    if pl:
        s["best_placement"] = min((r[pl] for r in rows), default=None)
    return s


def game_summary(spec, rows):
    s = game_stats(spec, rows)
    by = spec["breakdown"]
    groups = {}
    for r in rows:
        groups.setdefault(r[by], []).append(r)
    s["breakdown_by"] = by
    s["breakdown"] = [dict({by: k}, **game_stats(spec, g))
                      for k, g in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))]
    return s


def check_game_table(gs, label):
    st, _, body = gs.req("GET", "/table")
    order = gs.newest_first()
    ok = st == 200 and isinstance(body, dict) and set(body) == {"game", "name", "rows", "summary"} and \
        body["game"] == gs.game
    check(f"{gs.game}: GET table {label}: 200, every row newest first",
          ok and [r.get("id") for r in body["rows"]] == order and
          all(r == gs.stored[r["id"]] for r in body["rows"]), f"{st} {body}")
    want = game_summary(gs.spec, [gs.model[i] for i in order])
    got = body.get("summary") if ok else None
    check(f"{gs.game}: GET table {label}: summary (matches, wins, losses, best placement, totals, "
          f"averages, breakdown) as computed from the results", got == want, f"got {got} want {want}")


def test_game_empty(game, player):
    st, _, body = game_request("GET", f"/v1/games/{game}/table", token=player.tok)
    check(f"{game}: GET table with no results: no rows, matches 0, totals 0, averages null",
          st == 200 and isinstance(body, dict) and body.get("rows") == [] and
          body.get("summary") == game_summary(GAMES[game], []), f"{st} {body}")
    st, _, body = game_request("GET", f"/v1/games/{game}/results", token=player.tok)
    check(f"{game}: GET results with no results: []", st == 200 and
          body == {"results": [], "page_id": 1, "page_size": 10}, f"{st} {body}")


def test_game_create_get(gs):
    g = gs.game
    for n, sent in enumerate(gs.spec["results"], 1):
        st, _, body = gs.req("POST", "/results", sent)
        rid = body.get("id") if isinstance(body, dict) else None
        if isinstance(rid, int):
            gs.model[rid] = gs.expected(sent)
            gs.stored[rid] = body
        check(f"{g}: POST results #{n} 200 echoes every stored field (defaults, derived result)",
              st == 200 and isinstance(rid, int) and gs.matches(body) and
              body["created_at"] == body["updated_at"], f"{st} {body}")
    for n, rid in enumerate(gs.stored, 1):
        st, _, body = gs.req("GET", f"/results/{rid}")
        check(f"{g}: GET results/{{id}} #{n} 200 answers the stored row", st == 200 and body == gs.stored[rid],
              f"{st} {body} stored {gs.stored[rid]}")
    check(f"{g}: four results stored", len(gs.stored) == 4, f"{gs.stored}")


def check_game_list(gs, query, want, page_id=1, page_size=10, label=None):
    st, _, body = gs.req("GET", "/results" + (f"?{query}" if query else ""))
    ok = st == 200 and isinstance(body, dict) and set(body) == {"results", "page_id", "page_size"} and \
        body["page_id"] == page_id and body["page_size"] == page_size
    ids = [r.get("id") for r in body["results"]] if ok else None
    return check(f"{gs.game}: GET results{'?' + query if query else ''} {label or ''}".rstrip(),
                 ok and ids == want and all(r == gs.stored[r["id"]] for r in body["results"]),
                 f"{st} {body} want ids {want}")


def test_game_list(gs):
    order = gs.newest_first()
    dates = sorted({gs.model[i]["date"] for i in order})
    lo, mid, hi = dates[0], dates[1], dates[-1]
    check_game_list(gs, "", order, label="(defaults page 1 of 10): all, newest first, same date by id")
    check_game_list(gs, "page_id=1&page_size=3", order[:3], 1, 3, label="first page")
    check_game_list(gs, "page_id=2&page_size=3", order[3:], 2, 3, label="second page: the rest")
    check_game_list(gs, "page_id=3&page_size=3", [], 3, 3, label="past the end: []")
    check_game_list(gs, "page_size=&page_id=", order, label="(empty values: defaults)")

    def within(f, t):
        return [i for i in order if (f is None or gs.model[i]["date"] >= f) and
                (t is None or gs.model[i]["date"] <= t)]
    for query, f, t in ((f"from={mid}&to={mid}", mid, mid), (f"from={mid}", mid, None),
                        (f"to={mid}", None, mid), (f"from={lo}&to={hi}", lo, hi)):
        want = within(f, t)
        check_game_list(gs, query, want, label="keeps exactly the dates in range, newest first")
        if (f, t) != (lo, hi):
            check(f"{gs.game}: (the data makes from={f} to={t} leave some out)", 0 < len(want) < len(order),
                  f"{want}")
    nxt = (datetime.date.fromisoformat(hi) + datetime.timedelta(days=1)).isoformat()
    check_game_list(gs, f"from={nxt}", [], label="after the last: []")
    want = within(mid, None)
    check_game_list(gs, f"from={mid}&page_id=2&page_size=2", want[2:4], 2, 2,
                    label="filter and page together")


def test_game_update(gs):
    g = gs.game
    order = gs.newest_first()
    rid = order[2]      # the older of the two on the same date
    before = gs.stored[rid]
    st, _, body = gs.req("PATCH", f"/results/{rid}", gs.spec["patch"])
    gs.model[rid].update(gs.spec["patch"])
    check(f"{g}: PATCH {gs.spec['patch']} changes only that field",
          st == 200 and gs.matches(body, rid) and body["created_at"] == before["created_at"] and
          body["updated_at"] != before["updated_at"], f"{st} {body} before {before}")
    if st == 200:
        gs.stored[rid] = body
    st, _, body = gs.req("GET", f"/results/{rid}")
    check(f"{g}: the change is stored", st == 200 and body == gs.stored[rid], f"{st} {body}")
    change, result = gs.spec["patch_result"]
    rid2 = order[0]
    st, _, body = gs.req("PATCH", f"/results/{rid2}", change)
    gs.model[rid2].update(change)
    if gs.spec["derived"]:
        gs.model[rid2]["result"] = result
    check(f"{g}: PATCH {change}: result becomes {result}, others kept",
          st == 200 and gs.matches(body, rid2) and body["result"] == result, f"{st} {body}")
    if st == 200:
        gs.stored[rid2] = body
    st, _, body = gs.req("PATCH", f"/results/{rid2}", {})
    check(f"{g}: PATCH {{}} changes nothing, answers the row", st == 200 and body == gs.stored[rid2],
          f"{st} {body}")
    # moving a result to another date moves it in the list
    rid3 = order[-1]
    newdate = (datetime.date.fromisoformat(gs.model[order[0]]["date"]) + datetime.timedelta(days=1)).isoformat()
    st, _, body = gs.req("PATCH", f"/results/{rid3}", {"date": newdate})
    gs.model[rid3]["date"] = newdate
    if st == 200:
        gs.stored[rid3] = body
    check(f"{g}: PATCH date 200", st == 200 and gs.matches(body, rid3), f"{st} {body}")
    check_game_list(gs, "", gs.newest_first(), label="after the date change: the moved result first")


def test_game_bad_input(gs):
    g = gs.game
    order = gs.newest_first()
    rid = order[1]
    before = gs.stored[rid]
    valid = dict(gs.spec["results"][0])
    cases = COMMON_BAD + gs.spec["bad"]
    for label, change, field in cases:
        body = dict(valid, **change)
        expect_error(f"{g}: POST {label} 400 names {field}", gs.req("POST", "/results", body), 400, "22023", field)
        expect_error(f"{g}: PATCH {label} 400 names {field}", gs.req("PATCH", f"/results/{rid}", change),
                     400, "22023", field)
    for field in gs.spec["required"]:
        body = {k: v for k, v in valid.items() if k != field}
        expect_error(f"{g}: POST without {field} 400 names it", gs.req("POST", "/results", body),
                     400, "22023", field)
    dup = json.dumps(valid)[:-1] + ', "kills": 1}'
    for method, rest in (("POST", "/results"), ("PATCH", f"/results/{rid}")):
        expect_error(f"{g}: {method} kills given twice 400 names kills",
                     gs.req(method, rest, raw=dup), 400, "22023", "kills")
        expect_error(f"{g}: {method} a JSON array 400 names body", gs.req(method, rest, raw="[1]"),
                     400, "22023", "body")
        expect_error(f"{g}: {method} JSON null 400 names body", gs.req(method, rest, raw="null"),
                     400, "22023", "body")
        expect_error(f"{g}: {method} no body 400 names body", gs.req(method, rest), 400, "22023", "body")
        expect_error(f"{g}: {method} malformed JSON 400", gs.req(method, rest, raw='{"kills": '), 400, "22P02")
        expect(f"{g}: {method} a body past the limit 413",
               gs.req(method, rest, raw=json.dumps(dict(valid, filler="x" * 5000))), 413)
    st, _, body = gs.req("GET", f"/results/{rid}")
    check(f"{g}: the refused PATCHes changed nothing", st == 200 and body == before, f"{st} {body}")
    check_game_list(gs, "", order, label="the refused POSTs stored nothing")

    for query, field in BAD_QUERIES:
        expect_error(f"{g}: GET results?{query} 400 names {field}", gs.req("GET", f"/results?{query}"),
                     400, "22023", field)
    for bad in BAD_IDS:
        expect_error(f"{g}: GET results/{bad} 400 names id", gs.req("GET", f"/results/{bad}"), 400, "22023", "id")
        expect_error(f"{g}: PATCH results/{bad} 400 names id",
                     gs.req("PATCH", f"/results/{bad}", {"kills": 1}), 400, "22023", "id")
        expect_error(f"{g}: DELETE results/{bad} 400 names id", gs.req("DELETE", f"/results/{bad}"),
                     400, "22023", "id")
    missing = 999999999999
    expect_error(f"{g}: GET a missing result 404", gs.req("GET", f"/results/{missing}"), 404, "P0002", "id")
    expect_error(f"{g}: PATCH a missing result 404", gs.req("PATCH", f"/results/{missing}", {"kills": 1}),
                 404, "P0002", "id")
    expect_error(f"{g}: DELETE a missing result 404", gs.req("DELETE", f"/results/{missing}"),
                 404, "P0002", "id")
    check_game_list(gs, "", order, label="nothing changed by the refused requests")


def test_game_bounds(gs, today):
    """The smallest and the largest values of every field are accepted
    (the release date, today); the results are deleted again."""
    g = gs.game
    order = gs.newest_first()
    for label, sent in zip(("smallest", "largest"), gs.spec["bounds"]):
        sent = dict(sent, date=today if sent["date"] == "today" else sent["date"])
        st, _, body = gs.req("POST", "/results", sent)
        rid = body.get("id") if isinstance(body, dict) else None
        want = gs.expected(sent)
        check(f"{g}: POST the {label} values 200, stored as sent", st == 200 and
              all(body.get(f) == want[f] for f in gs.spec["fields"]), f"{st} {body}")
        if isinstance(rid, int):
            st, _, body = gs.req("DELETE", f"/results/{rid}")
            check(f"{g}: DELETE the {label} values' result 200", st == 200 and body.get("id") == rid,
                  f"{st} {body}")
    check_game_list(gs, "", order, label="back to the results before")


def test_game_other_users(gs, others):
    """Another player and a banker: a result of someone else is 404 on
    every route, and stays as it was."""
    g = gs.game
    rid = gs.newest_first()[0]
    before = gs.stored[rid]
    for who, tok in others:
        expect_error(f"{g}: {who} GET another user's result 404",
                     game_request("GET", f"{gs.base}/results/{rid}", token=tok), 404, "P0002", "id")
        expect_error(f"{g}: {who} PATCH another user's result 404",
                     game_request("PATCH", f"{gs.base}/results/{rid}", body={"kills": 0}, token=tok),
                     404, "P0002", "id")
        expect_error(f"{g}: {who} DELETE another user's result 404",
                     game_request("DELETE", f"{gs.base}/results/{rid}", token=tok), 404, "P0002", "id")
        st, _, body = game_request("GET", f"{gs.base}/results", token=tok)
        rows = body.get("results") if isinstance(body, dict) else None
        check(f"{g}: {who} lists none of another user's results", st == 200 and isinstance(rows, list) and
              all(r["id"] not in gs.stored for r in rows), f"{st} {body}")
        st, _, body = game_request("GET", f"{gs.base}/table", token=tok)
        rows = body.get("rows") if isinstance(body, dict) else None
        check(f"{g}: {who}'s table has none of another user's results", st == 200 and isinstance(rows, list) and
              all(r["id"] not in gs.stored for r in rows), f"{st} {body}")
    st, _, body = gs.req("GET", f"/results/{rid}")
    check(f"{g}: the result is unchanged after the others' PATCH and DELETE", st == 200 and body == before,
          f"{st} {body}")


def test_game_auth(gs, bad_tokens):
    """Every route refuses a request without a valid token (401) and
    changes nothing."""
    g = gs.game
    rid = gs.newest_first()[0]
    routes = [("POST", "/results", dict(gs.spec["results"][0])), ("GET", "/results?page_id=1&page_size=5", None),
              ("GET", f"/results/{rid}", None), ("PATCH", f"/results/{rid}", {"kills": 0}),
              ("DELETE", f"/results/{rid}", None), ("GET", "/table", None)]
    for label, tok in bad_tokens:
        for method, rest, body in routes:
            expect_error(f"{g}: {method} {rest.split('?')[0]} {label} 401",
                         game_request(method, gs.base + rest, body=body, token=tok), 401, "28000")
    expect_error(f"{g}: a Basic Authorization header 401",
                 game_request("GET", f"{gs.base}/table", headers={"Authorization": "Basic dXNlcjpwYXNz"}),
                 401, "28000")
    st, _, body = gs.req("GET", f"/results/{rid}")
    check(f"{g}: the result is unchanged after the refused PATCH and DELETE",
          st == 200 and body == gs.stored[rid], f"{st} {body}")
    check_game_list(gs, "", gs.newest_first(), label="the refused POSTs stored nothing")


def test_game_roleless(gs, tok):
    """A user without the depositor role is refused on every game route
    (403) and nothing changes."""
    g = gs.game
    rid = gs.newest_first()[0]
    for method, rest, body in [("POST", "/results", dict(gs.spec["results"][0])),
                               ("GET", "/results?page_id=1&page_size=5", None), ("GET", f"/results/{rid}", None),
                               ("PATCH", f"/results/{rid}", {"kills": 0}), ("DELETE", f"/results/{rid}", None),
                               ("GET", "/table", None)]:
        expect_error(f"{g}: {method} {rest.split('?')[0]} without a role 403",
                     game_request(method, gs.base + rest, body=body, token=tok), 403, "42501")
    st, _, body = gs.req("GET", f"/results/{rid}")
    check(f"{g}: the result is unchanged after the refused PATCH and DELETE without a role",
          st == 200 and body == gs.stored[rid], f"{st} {body}")


def test_game_delete(gs):
    g = gs.game
    rid = gs.newest_first()[1]
    st, _, body = gs.req("DELETE", f"/results/{rid}")
    check(f"{g}: DELETE 200 answers the deleted row", st == 200 and body == gs.stored[rid], f"{st} {body}")
    if st == 200:
        del gs.stored[rid], gs.model[rid]
    expect_error(f"{g}: GET the deleted result 404", gs.req("GET", f"/results/{rid}"), 404, "P0002", "id")
    expect_error(f"{g}: PATCH the deleted result 404", gs.req("PATCH", f"/results/{rid}", {"kills": 1}),
                 404, "P0002", "id")
    expect_error(f"{g}: DELETE it again 404", gs.req("DELETE", f"/results/{rid}"), 404, "P0002", "id")
    check_game_list(gs, "", gs.newest_first(), label="after the delete: the others only")
    check_game_table(gs, "after the delete")


def test_unknown_game(player):
    for game in ("chess", "APEX", "apex_", "x" * 40):
        for method, rest, body in (("POST", "/results", {"kills": 1}), ("GET", "/results", None),
                                   ("GET", "/results/1", None), ("PATCH", "/results/1", {"kills": 1}),
                                   ("DELETE", "/results/1", None), ("GET", "/table", None)):
            expect_error(f"unknown game {game[:12]}: {method} {rest} 404 names game",
                         game_request(method, f"/v1/games/{game}{rest}", body=body, token=player.tok),
                         404, "P0002", "game")
    expect_error("unknown game without a token: 401 first",
                 game_request("GET", "/v1/games/chess/table"), 401, "28000")


def test_games(bank):
    players = {g: Player(f"gamer_{g}") for g in GAMES}
    other = Player("gamer_other")
    # a token of a session that has logged out
    gone = Player("gamer_gone")
    st, _, out = request("POST", "/v1/logout", body={"refresh_token": gone.refresh})
    check("games: the revoked session's logout 200", st == 200, f"{st} {out}")
    expired = psql(f"SET pgbank.access_token_duration = '1s'; "
                   f"SELECT access_token FROM pgbank.login('{other.name}', 'secret1')").splitlines()[-1]
    time.sleep(2.1)
    today = psql("SELECT current_date")
    roleless = roleless_token(f"gamer_norole_{TAG}")
    bad_tokens = [("no token", None), ("garbage token", "v4.local.garbage"), ("not a token", "x"),
                  ("revoked session token", gone.tok), ("expired token", expired)]
    for game in GAMES:
        test_game_empty(game, players[game])
        gs = GameState(game, players[game])
        test_game_create_get(gs)
        if len(gs.stored) != 4:
            check(f"{game}: the rest of the game's cases need the four results", False, "")
            continue
        test_game_list(gs)
        test_game_update(gs)
        check_game_table(gs, "after the changes")
        test_game_bad_input(gs)
        test_game_bounds(gs, today)
        test_game_other_users(gs, [("another user", other.tok), ("a banker", bank.tok[bank.banker])])
        test_game_auth(gs, bad_tokens)
        test_game_roleless(gs, roleless)
        test_game_delete(gs)
    test_unknown_game(other)


def test_game_statuses_documented():
    """docs/openapi.json lists the statuses the game routes answered here,
    and each it lists (but 503, tested on another route) was answered."""
    with open(os.path.join(ROOT, "docs", "openapi.json")) as f:
        doc = json.load(f)
    for path, ops in doc["paths"].items():
        if not path.startswith("/v1/games/"):
            continue
        for method, op in ops.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            documented = {int(s) for s in op["responses"]}
            seen = GAME_STATUSES.get((method, path), set())
            check(f"openapi.json lists exactly the statuses {method.upper()} {path} answers (503 aside)",
                  seen <= documented and documented - {503} <= seen,
                  f"answered {sorted(seen)}, documented {sorted(documented)}")


def main():
    helpers.SHIM = front()
    try:
        bank = Bank()
        test_games(bank)
        test_game_statuses_documented()
    finally:
        stop_front()
    return finish()


if __name__ == "__main__":
    sys.exit(main())

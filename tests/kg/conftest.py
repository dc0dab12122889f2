"""KG test fixtures: paths to ../shared/kg, the real dump's pages, and a local fake MediaWiki API."""

from __future__ import annotations

import bz2
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

DUMP_NAME = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"


@pytest.fixture(scope="session")
def kg_dir(shared: Path) -> Path:
    d = shared / "kg"
    if not d.is_dir():
        pytest.skip(f"{d} is absent")
    return d


@pytest.fixture(scope="session")
def dump_path(kg_dir: Path) -> Path:
    return kg_dir / "wikipedia-wikitext" / "dump" / DUMP_NAME


@pytest.fixture(scope="session")
def dump_pages(dump_path: Path) -> tuple[dict, dict]:
    """(title -> (page id, rev id, timestamp, text), redirect title -> target) from the real dump."""
    import mwxml

    pages, redirects = {}, {}
    with bz2.open(dump_path, "rb") as f:
        for page in mwxml.Dump.from_file(f):
            rev = list(page)[-1]
            if page.redirect:
                redirects[page.title] = page.redirect
            elif page.namespace == 0:
                pages[page.title] = (page.id, rev.id, str(rev.timestamp), rev.text or "")
    return pages, redirects


def _norm(title: str) -> str:
    t = re.sub(r"\s+", " ", title.replace("_", " ")).strip()
    return t[:1].upper() + t[1:]


class FakeWiki:
    """A MediaWiki API on 127.0.0.1 serving the dump's pages (query: revisions, embeddedin,
    categorymembers; redirects; continuation). It injects errors at given request numbers
    (``errors``: n -> 'maxlag' | 'ratelimited'), records the most requests ever in flight at once, and
    records a violation when a request breaks etiquette (no maxlag=5, no contact in the User-Agent)
    or arrives before the wait it was told (Retry-After, or ``ratelimit_s`` for ratelimited)."""

    def __init__(
        self,
        pages: dict,
        redirects: dict,
        errors: dict[int, str] | None = None,
        delay_s: float = 0.02,
        ratelimit_s: float = 0.3,
        contact: str = "tests@fleming.invalid",
    ):
        self.pages, self.redirects, self.errors = pages, redirects, errors or {}
        self.delay_s, self.ratelimit_s, self.contact = delay_s, ratelimit_s, contact
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0
        self.log: list[dict] = []
        self.violations: list[str] = []
        self.blocked_until = 0.0
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/w/api.php"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeWiki:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                status, headers, body = fake.handle(self.path, dict(self.headers))
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in {**headers, "Content-Type": "application/json"}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        return Handler

    def handle(self, path: str, headers: dict) -> tuple[int, dict, dict]:
        params = {k: v[0] for k, v in parse_qs(urlparse(path).query).items()}
        now = time.monotonic()
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            n = len(self.log) + 1
            self.log.append({"n": n, "params": params, "t": now})
            if now < self.blocked_until:
                self.violations.append(
                    f"request {n} came {self.blocked_until - now:.2f}s before the wait ended"
                )
            if params.get("maxlag") != "5":
                self.violations.append(f"request {n} without maxlag=5")
            if self.contact not in headers.get("User-Agent", "") or "fleming" not in headers.get(
                "User-Agent", ""
            ):
                self.violations.append(f"request {n} User-Agent {headers.get('User-Agent')!r}")
        try:
            time.sleep(self.delay_s)  # so that overlapping requests would be seen
            return self._answer(n, params)
        finally:
            with self.lock:
                self.in_flight -= 1

    def _answer(self, n: int, params: dict) -> tuple[int, dict, dict]:
        err = self.errors.get(n)
        if err == "maxlag":
            self.blocked_until = time.monotonic() + 1.0
            return (
                200,
                {"Retry-After": "1", "X-Database-Lag": "3"},
                {"error": {"code": "maxlag", "info": "Waiting for 10.0.0.1: 3 seconds lagged", "lag": 3}},
            )
        if err == "ratelimited":
            self.blocked_until = time.monotonic() + self.ratelimit_s
            return 200, {}, {"error": {"code": "ratelimited", "info": "You've exceeded your rate limit."}}
        if params.get("list") in ("embeddedin", "categorymembers"):
            return 200, {}, self._list(params)
        if params.get("prop") == "revisions":
            return 200, {}, self._revisions(params)
        return 200, {}, {"error": {"code": "badvalue", "info": f"unsupported {params}"}}

    def _members(self, params: dict) -> list[str]:
        if params["list"] == "embeddedin":
            name = params["eititle"].split(":", 1)[1]
            pat = re.compile(r"\{\{\s*" + re.escape(name).replace(r"\ ", r"[ _]") + r"\s*[|}\n]", re.I)
        else:
            name = params["cmtitle"].split(":", 1)[1]
            pat = re.compile(r"\[\[\s*Category\s*:\s*" + re.escape(name) + r"\s*[|\]]", re.I)
        return [t for t, (_, _, _, text) in sorted(self.pages.items()) if pat.search(text)]

    def _list(self, params: dict) -> dict:
        p = "ei" if params["list"] == "embeddedin" else "cm"
        members = self._members(params)
        start, limit = int(params.get(f"{p}continue", 0)), int(params.get(f"{p}limit", 10))
        chunk = members[start : start + limit]
        out = {
            "batchcomplete": True,
            "query": {params["list"]: [{"pageid": self.pages[t][0], "ns": 0, "title": t} for t in chunk]},
        }
        if start + limit < len(members):
            out["continue"] = {f"{p}continue": str(start + limit), "continue": "-||"}
        return out

    def _revisions(self, params: dict) -> dict:
        titles = params["titles"].split("|")
        if len(titles) > 50:
            return {
                "error": {"code": "toomanyvalues", "info": "Too many values supplied for parameter titles"}
            }
        normalized, redirects, pages = [], [], []
        for t in titles:
            nt = _norm(t)
            if nt != t:
                normalized.append({"from": t, "to": nt})
            if "redirects" in params and nt in self.redirects:
                redirects.append({"from": nt, "to": self.redirects[nt]})
                nt = self.redirects[nt]
            if nt in self.pages:
                pid, rid, ts, text = self.pages[nt]
                pages.append(
                    {
                        "pageid": pid,
                        "ns": 0,
                        "title": nt,
                        "revisions": [
                            {
                                "revid": rid,
                                "timestamp": ts,
                                "slots": {"main": {"contentmodel": "wikitext", "content": text}},
                            }
                        ],
                    }
                )
            else:
                pages.append({"ns": 0, "title": nt, "missing": True})
        q = {"pages": pages}
        if normalized:
            q["normalized"] = normalized
        if redirects:
            q["redirects"] = redirects
        return {"batchcomplete": True, "query": q}

    def revision_titles(self) -> list[list[str]]:
        return [
            e["params"]["titles"].split("|")
            for e in self.log
            if e["params"].get("prop") == "revisions" and e["n"] not in self.errors
        ]

"""The online knowledge-discovery agent: a polite, resumable, breadth-first MediaWiki crawler.

- Seeds: pages embedding the medical infobox templates (``list=embeddedin``) and members of medical
  categories (``list=categorymembers``), paged with ``continue`` tokens that are saved as it goes.
- Breadth-first: titles wait in a frontier ordered by (depth, infobox links first, arrival); each
  request fetches up to 50 of them (``prop=revisions``, redirects resolved). A page that is medical
  (``dump.classify``: medical infobox or category) has its infobox parsed and its wikilinks queued at
  depth + 1 (up to ``max_depth``); other pages are cached but not expanded. ``budget`` caps the titles
  fetched.
- Politeness (Wikimedia API etiquette): a descriptive User-Agent with a contact, ``maxlag=5`` on every
  request, ONE request at a time (one synchronous client, no threads), and backoff: on a ``maxlag`` or
  ``ratelimited`` error (or HTTP 429/503) it waits Retry-After seconds when given, else exponentially.
- Resumable: the frontier, seed progress, redirects and the raw page cache live in one SQLite file,
  committed after every request, so a killed crawl continues where it stopped without refetching.

Departure from the paper: its agent also links entities and extracts relations with an LLM while it
walks; here the crawl only collects pages, and the infobox parser / ``extractor`` turn them into facts.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleming.errors import FlemingError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS frontier (title TEXT PRIMARY KEY, depth INTEGER, priority INTEGER,
    seq INTEGER, status TEXT DEFAULT 'queued');
CREATE TABLE IF NOT EXISTS pages (title TEXT PRIMARY KEY, page_id INTEGER, rev_id INTEGER, timestamp TEXT,
    text TEXT, medical TEXT, depth INTEGER);
CREATE TABLE IF NOT EXISTS redirects (source TEXT PRIMARY KEY, target TEXT);
CREATE INDEX IF NOT EXISTS frontier_order ON frontier (status, depth, priority, seq);
"""
RETRY_CODES = frozenset({"maxlag", "ratelimited", "readonly"})


class CrawlError(FlemingError):
    """The API kept failing, or answered something that is not a MediaWiki API response."""


@dataclass(frozen=True)
class CrawlConfig:
    api: str = "https://en.wikipedia.org/w/api.php"
    contact: str = ""  # required: email or URL, goes into the User-Agent
    budget: int = 500  # titles fetched at most (this run and earlier runs together)
    max_depth: int = 2
    templates: tuple[str, ...] = (
        "Template:Infobox medical condition (new)",
        "Template:Infobox medical condition",
        "Template:Infobox disease",
        "Template:Infobox drug",
        "Template:Drugbox",
    )
    categories: tuple[str, ...] = (
        "Category:Rare diseases",
        "Category:Diseases and disorders",
        "Category:Drugs",
    )
    seed_limit: int = 1000  # titles per seed list at most
    batch: int = 50  # titles per revisions request (the API's limit for clients)
    maxlag: int = 5
    max_retries: int = 8
    backoff_s: float = 2.0  # first wait when no Retry-After is given; doubles, capped at 120 s
    timeout_s: float = 60.0
    agent_name: str = "fleming-kg-agent"


@dataclass
class CrawlStats:
    requests: int = 0
    retries: dict[str, int] = field(default_factory=dict)
    waited_s: float = 0.0


class Crawler:
    """``with Crawler(state_path, cfg) as c: c.run()``; run again with the same state to resume."""

    def __init__(self, state: str | Path, cfg: CrawlConfig, sleep: Callable[[float], None] = time.sleep):
        if not cfg.contact:
            raise CrawlError(
                "CrawlConfig.contact is required: Wikimedia asks for a contact in the User-Agent"
            )
        import httpx

        from fleming import __version__

        self.cfg, self.sleep, self.stats = cfg, sleep, CrawlStats()
        self.db = sqlite3.connect(str(state))
        self.db.executescript(SCHEMA)
        ua = f"{cfg.agent_name}/{__version__} ({cfg.contact}) httpx/{httpx.__version__}"
        self.client = httpx.Client(headers={"User-Agent": ua}, timeout=cfg.timeout_s)

    def __enter__(self) -> Crawler:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()
        self.db.close()

    # ---- the API, one request at a time --------------------------------------------------------------
    def request(self, params: dict[str, Any]) -> dict[str, Any]:
        """GET the API with maxlag; waits and retries on maxlag / ratelimited / 429 / 503."""
        params = {**params, "format": "json", "formatversion": "2", "maxlag": str(self.cfg.maxlag)}
        for attempt in range(self.cfg.max_retries + 1):
            self.stats.requests += 1
            resp = self.client.get(self.cfg.api, params=params)
            code = None
            if resp.status_code in (429, 503):
                code = "http_" + str(resp.status_code)
            else:
                try:
                    data = resp.json()
                except ValueError:
                    raise CrawlError(
                        f"{self.cfg.api}: HTTP {resp.status_code}, not JSON: {resp.text[:120]!r}"
                    ) from None
                code = data.get("error", {}).get("code") if isinstance(data.get("error"), dict) else None
                if code is None:
                    return data
                if code not in RETRY_CODES:
                    raise CrawlError(f"{self.cfg.api}: API error {code}: {data['error'].get('info', '')}")
            self.stats.retries[code] = self.stats.retries.get(code, 0) + 1
            if attempt < self.cfg.max_retries:
                self._wait(resp, attempt)
        raise CrawlError(f"{self.cfg.api}: still failing after {self.cfg.max_retries} retries ({code})")

    def _wait(self, resp, attempt: int) -> None:
        retry_after = resp.headers.get("Retry-After", "")
        wait = (
            float(retry_after)
            if retry_after.strip().isdigit()
            else min(120.0, self.cfg.backoff_s * 2**attempt)
        )
        self.stats.waited_s += wait
        self.sleep(wait)

    # ---- state ----------------------------------------------------------------------------------------
    def _meta(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def _set_meta(self, key: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def enqueue(self, titles: list[str], depth: int, priority: int = 1) -> int:
        seq = self._meta("seq", 0)
        n = 0
        for t in titles:
            cur = self.db.execute(
                "INSERT OR IGNORE INTO frontier VALUES (?, ?, ?, ?, 'queued')", (t, depth, priority, seq + n)
            )
            n += cur.rowcount
        self._set_meta("seq", seq + n)
        return n

    # ---- seeding --------------------------------------------------------------------------------------
    def seed(self) -> int:
        """Fill the frontier from embeddedin / categorymembers lists; resumes from saved tokens."""
        added = 0
        lists = [("embeddedin", "ei", t) for t in self.cfg.templates]
        lists += [("categorymembers", "cm", c) for c in self.cfg.categories]
        for lst, p, title in lists:
            key = f"seed:{lst}:{title}"
            state = self._meta(key, {"continue": {}, "done": False, "n": 0})
            while not state["done"] and state["n"] < self.cfg.seed_limit:
                params = {
                    "action": "query",
                    "list": lst,
                    f"{p}title": title,
                    f"{p}namespace": "0",
                    f"{p}limit": str(min(500, self.cfg.seed_limit - state["n"])),
                    **state["continue"],
                }
                data = self.request(params)
                titles = [m["title"] for m in data.get("query", {}).get(lst, [])]
                added += self.enqueue(titles, 0, 0)
                state = {
                    "continue": data.get("continue", {}),
                    "done": "continue" not in data,
                    "n": state["n"] + len(titles),
                }
                self._set_meta(key, state)
                self.db.commit()
        return added

    # ---- fetching -------------------------------------------------------------------------------------
    def fetched(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM frontier WHERE status != 'queued'").fetchone()[0]

    def step(self) -> int:
        """Fetch one batch of queued titles; returns how many titles it settled (0: frontier empty)."""
        room = self.cfg.budget - self.fetched()
        rows = self.db.execute(
            "SELECT title, depth FROM frontier WHERE status = 'queued' ORDER BY depth, priority, seq LIMIT ?",
            (min(self.cfg.batch, room),),
        ).fetchall()
        if not rows or room <= 0:
            return 0
        depth_of = dict(rows)
        data = self.request(
            {
                "action": "query",
                "prop": "revisions",
                "rvprop": "ids|timestamp|content",
                "rvslots": "main",
                "redirects": "1",
                "titles": "|".join(depth_of),
            }
        )
        q = data.get("query", {})
        alias = {n["from"]: n["to"] for n in q.get("normalized", [])}
        for r in q.get("redirects", []):
            self.db.execute("INSERT OR REPLACE INTO redirects VALUES (?, ?)", (r["from"], r["to"]))
            alias[r["from"]] = r["to"]
        for page in q.get("pages", []):
            self._store(page, depth_of)
        settled = [(("redirect" if t in alias else "missing"), t) for t in depth_of]
        self.db.executemany("UPDATE frontier SET status = ? WHERE title = ? AND status = 'queued'", settled)
        self.db.commit()
        return len(rows)

    def _store(self, page: dict[str, Any], depth_of: dict[str, int]) -> None:
        from fleming.kg.wikipedia.dump import classify

        title = page["title"]
        depth = depth_of.get(title, min(depth_of.values()))
        if page.get("missing") or not page.get("revisions"):
            self.db.execute("UPDATE frontier SET status = 'missing' WHERE title = ?", (title,))
            return
        rev = page["revisions"][0]
        text = rev.get("slots", {}).get("main", {}).get("content", rev.get("content", ""))
        reason, _ = classify(text)
        self.db.execute(
            "INSERT OR REPLACE INTO pages VALUES (?, ?, ?, ?, ?, ?, ?)",
            (title, page.get("pageid"), rev.get("revid"), rev.get("timestamp"), text, reason, depth),
        )
        self.db.execute("INSERT OR IGNORE INTO frontier VALUES (?, ?, 0, 0, 'fetched')", (title, depth))
        self.db.execute("UPDATE frontier SET status = 'fetched' WHERE title = ?", (title,))
        if reason and depth < self.cfg.max_depth:
            infobox_links, other_links = page_links(text)
            self.enqueue(infobox_links, depth + 1, 0)
            self.enqueue(other_links, depth + 1, 1)

    def run(self) -> dict[str, Any]:
        """Seed (if not done), then fetch batches until the budget is spent or the frontier is empty."""
        self.seed()
        while self.step():
            pass
        return self.summary()

    def summary(self) -> dict[str, Any]:
        count = dict(self.db.execute("SELECT status, COUNT(*) FROM frontier GROUP BY status").fetchall())
        medical = self.db.execute("SELECT COUNT(*) FROM pages WHERE medical IS NOT NULL").fetchone()[0]
        return {
            "frontier": count,
            "pages_cached": self.db.execute("SELECT COUNT(*) FROM pages").fetchone()[0],
            "medical_pages": medical,
            "requests": self.stats.requests,
            "retries": self.stats.retries,
            "waited_s": round(self.stats.waited_s, 2),
        }

    def medical_pages(self) -> list[dict[str, Any]]:
        cur = self.db.execute(
            "SELECT title, page_id, rev_id, medical, depth, text FROM pages "
            "WHERE medical IS NOT NULL ORDER BY depth, title"
        )
        return [
            dict(zip(("title", "page_id", "rev_id", "reason", "depth", "text"), r, strict=True)) for r in cur
        ]


def page_links(text: str) -> tuple[list[str], list[str]]:
    """Article links of a page: (those in its infobox, the rest), in order, without duplicates."""
    import mwparserfromhell

    from fleming.kg.wikipedia.infobox import find_infobox, is_article, normalize_title

    code = mwparserfromhell.parse(text)
    box = find_infobox(code)

    def titles(links) -> list[str]:
        out = []
        for link in links:
            t = normalize_title(str(link.title).split("#")[0])
            if is_article(t):
                out.append(t)
        return list(dict.fromkeys(out))

    in_box = titles(mwparserfromhell.parse(str(box)).filter_wikilinks()) if box is not None else []
    rest = [t for t in titles(code.filter_wikilinks()) if t not in set(in_box)]
    return in_box, rest

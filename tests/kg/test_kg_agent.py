"""The discovery agent against a local fake MediaWiki API serving the real dump's pages."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from conftest import FakeWiki
from fleming.kg.wikipedia.agent import CrawlConfig, Crawler, CrawlError, page_links

CONTACT = "tests@fleming.invalid"
SEEDS = dict(
    templates=("Template:Infobox disease", "Template:Infobox medical condition"),
    categories=("Category:Anatomy",),
)


def _cfg(url: str, **kw) -> CrawlConfig:
    return CrawlConfig(api=url, contact=CONTACT, backoff_s=0.3, **{**SEEDS, **kw})


def test_crawl_finds_the_medical_pages_one_request_at_a_time(dump_pages, tmp_path):
    pages, redirects = dump_pages
    with FakeWiki(pages, redirects) as fake, Crawler(tmp_path / "state.db", _cfg(fake.url, budget=400)) as c:
        summary = c.run()
        medical = {p["title"] for p in c.medical_pages()}
    assert {"Autism", "Abortion", "Anatomy"} <= medical
    assert fake.max_in_flight == 1
    assert fake.violations == []
    assert summary["frontier"].get("queued", 0) > 0 or summary["pages_cached"] > 3
    # Autism's infobox links come first at depth 1; a link to a dump page is fetched and cached
    fetched_depth1 = {t for batch in fake.revision_titles()[1:] for t in batch}
    assert "Autism" in {t for batch in fake.revision_titles() for t in batch}
    assert fetched_depth1 & set(page_links(pages["Autism"][3])[1])


def test_maxlag_and_ratelimited_are_honoured(dump_pages, tmp_path):
    pages, redirects = dump_pages
    errors = {2: "maxlag", 5: "ratelimited", 6: "ratelimited"}
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        time.sleep(s)

    with (
        FakeWiki(pages, redirects, errors=errors, ratelimit_s=0.25) as fake,
        Crawler(tmp_path / "s.db", _cfg(fake.url, budget=120), sleep=sleep) as c,
    ):
        summary = c.run()
    assert fake.violations == []  # no retry came before the wait it was told
    assert summary["retries"] == {"maxlag": 1, "ratelimited": 2}
    assert slept[0] == 1.0  # Retry-After: 1 on the maxlag answer
    assert slept[1:3] == [0.3, 0.6]  # ratelimited twice in a row: exponential backoff
    assert fake.max_in_flight == 1


def test_gives_up_after_max_retries(dump_pages, tmp_path):
    pages, redirects = dump_pages
    errors = {n: "ratelimited" for n in range(1, 10)}
    with (
        FakeWiki(pages, redirects, errors=errors, ratelimit_s=0.0) as fake,
        Crawler(tmp_path / "s.db", _cfg(fake.url, max_retries=2), sleep=lambda s: None) as c,
        pytest.raises(CrawlError, match="after 2 retries"),
    ):
        c.run()
    assert len(fake.log) == 3


KILLED_RUN = """
import sys
from fleming.kg.wikipedia.agent import CrawlConfig, Crawler
cfg = CrawlConfig(api=sys.argv[1], contact="tests@fleming.invalid", budget=int(sys.argv[3]), backoff_s=0.3,
                  templates=("Template:Infobox disease", "Template:Infobox medical condition"),
                  categories=("Category:Anatomy",))
with Crawler(sys.argv[2], cfg) as c:
    c.run()
"""


@pytest.mark.slow
def test_resumes_after_being_killed(dump_pages, tmp_path):
    pages, redirects = dump_pages
    state, budget = tmp_path / "state.db", 400
    with FakeWiki(pages, redirects, delay_s=0.15) as fake:
        proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, fake.url, str(state), str(budget)])
        deadline = time.monotonic() + 60
        while len(fake.revision_titles()) < 4 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.kill()
        proc.wait()
        while fake.in_flight:  # the killed client's last request may still be served
            time.sleep(0.02)
        max_in_flight_before, fake.max_in_flight = fake.max_in_flight, 0
        before = fake.revision_titles()
        n_before = len(fake.log)
        assert len(before) >= 4, "the first run ended before it could be killed"
        with Crawler(state, _cfg(fake.url, budget=budget)) as c:
            summary = c.run()
            medical = {p["title"] for p in c.medical_pages()}
        after = [e["params"] for e in fake.log[n_before:]]
    assert not [p for p in after if "list" in p], "seed lists were requested again after the restart"
    refetched = {t for p in after if p.get("prop") == "revisions" for t in p["titles"].split("|")}
    done_before = {t for batch in before[:-1] for t in batch}
    assert not refetched & done_before  # at most the batch in flight at the kill is redone
    assert {"Autism", "Abortion", "Anatomy"} <= medical
    assert sum(summary["frontier"].values()) - summary["frontier"].get("queued", 0) <= budget
    assert max_in_flight_before == 1 and fake.max_in_flight == 1 and fake.violations == []

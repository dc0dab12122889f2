"""Offline Wikipedia dump reader: pages-articles(-multistream).xml.bz2 -> medical pages and redirects.

- A plain dump is streamed once with mwxml; the page texts go to a process pool that classifies and
  parses them. A multistream dump with its index (``offset:page_id:title`` per line, one bz2 stream per
  ~100 pages) is read in parallel: each worker seeks to its streams' offsets and decompresses only
  those, and ``titles=`` reads only the streams holding the wanted pages.
- Redirect pages are collected into ``redirects`` (title -> target), which resolve infobox link targets.
- A page is medical when it carries a medical infobox (``MEDICAL_INFOBOX``) or a medical category
  (``MEDICAL_CATEGORY``); only those are kept, with the reason and the parsed infobox.

``write_multistream`` re-packs any dump into multistream form plus index (tests use it on the real dump).
"""

from __future__ import annotations

import bz2
import html
import io
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fleming.errors import InputError

MEDICAL_INFOBOX = re.compile(
    r"\{\{\s*(?:template:)?\s*(infobox[ _](?:medical[ _]condition(?:[ _]\(new\))?|disease|drug|symptom|"
    r"medical[ _]intervention|diagnostic|anatomy|bone|muscle|nerve|artery|vein|brain|organ|"
    r"pathogen|virus)|drugbox)\s*[|}\n]",
    re.I,
)
MEDICAL_CATEGORY = re.compile(
    r"\b(diseases?|disorders?|syndromes?|medicine|medical|anatomy|anatomical|symptoms|signs and symptoms|"
    r"infectious|infections|pathology|neurology|psychiatry|psychiatric|oncology|cancers?|tumou?rs|drugs|"
    r"pharmacology|medications|therapies|surgery|obstetrics|gynecology|pediatrics|cardiology|physiology|"
    r"human reproduction|abortion|autism|epidemiology|vaccines?|antibiotics)\b",
    re.I,
)
_NOT_MEDICAL = re.compile(
    r"\b(deaths?|people|births|patients|physicians|researchers|writers|victims|"
    r"activists|organizations|companies|films|novels|songs|albums)\b",
    re.I,
)
_CATEGORY = re.compile(r"\[\[\s*category\s*:\s*([^|\]]+)", re.I)


@dataclass
class MedicalPage:
    title: str
    page_id: int
    rev_id: int | None
    reason: str  # 'infobox:<template>' or 'category:<name>'
    categories: list[str]
    infobox: object | None = None  # infobox.Infobox when the page has a condition/drug infobox
    text: str = ""  # kept only with keep_text=True (for the LLM extractor)


@dataclass
class DumpResult:
    pages: list[MedicalPage] = field(default_factory=list)
    redirects: dict[str, str] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)


def classify(text: str) -> tuple[str | None, list[str]]:
    """(reason the page is medical or None, its categories)."""
    cats = [c.strip() for c in _CATEGORY.findall(text)]
    m = MEDICAL_INFOBOX.search(text)
    if m:
        return f"infobox:{re.sub(r'[ _]+', ' ', m.group(1)).lower()}", cats
    hit = next((c for c in cats if MEDICAL_CATEGORY.search(c) and not _NOT_MEDICAL.search(c)), None)
    return (f"category:{hit}" if hit else None), cats


def _process(item: tuple[str, int, int | None, str | None, str, bool]) -> tuple[str, object]:
    """Worker: one page -> ('redirect', (title, target)) | ('medical', MedicalPage) | ('other', None)."""
    from fleming.kg.wikipedia.infobox import normalize_title, parse_infobox

    title, page_id, rev_id, redirect, text, keep_text = item
    if redirect:
        return "redirect", (normalize_title(title), normalize_title(redirect))
    reason, cats = classify(text)
    if reason is None:
        return "other", None
    box = parse_infobox(text, title=title)
    return "medical", MedicalPage(title, page_id, rev_id, reason, cats, box, text if keep_text else "")


def _page_items(dump, keep_text: bool, titles: set[str] | None) -> Iterator[tuple]:
    for page in dump:
        if page.namespace != 0 or (titles is not None and page.title not in titles):
            continue
        rev = None
        for rev in page:  # noqa: B007 - the last revision is the one wanted
            pass
        text = (rev.text or "") if rev is not None else ""
        yield page.title, page.id, rev.id if rev is not None else None, page.redirect, text, keep_text


def _collect(results: Iterable[tuple[str, object]], out: DumpResult) -> DumpResult:
    for kind, value in results:
        out.counts["pages"] += 1
        out.counts[kind] += 1
        if kind == "redirect":
            out.redirects[value[0]] = value[1]
        elif kind == "medical":
            out.pages.append(value)
    out.pages.sort(key=lambda p: p.page_id)
    return out


def _pool(processes: int):
    import multiprocessing as mp

    return mp.get_context("fork").Pool(processes)  # workers only parse text: fork is safe and fast


def read_dump(
    path: str | Path,
    processes: int = 1,
    keep_text: bool = False,
    titles: Iterable[str] | None = None,
    index: str | Path | None = None,
) -> DumpResult:
    """Medical pages and redirects of a dump; uses the multistream index when given or found beside it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, None, "dump file not found")
    index = Path(index) if index else find_index(path)
    wanted = set(titles) if titles is not None else None
    if index is not None:
        return read_multistream(path, index, processes, keep_text, wanted)
    import mwxml

    with bz2.open(path, "rb") if path.suffix == ".bz2" else open(path, "rb") as f:
        try:
            dump = mwxml.Dump.from_file(f)
        except (mwxml.errors.MalformedXML, OSError) as e:
            raise InputError(path, None, None, f"not a MediaWiki XML export: {e}") from None
        items = _page_items(dump, keep_text, wanted)
        if processes <= 1:
            return _collect(map(_process, items), DumpResult())
        with _pool(processes) as pool:
            return _collect(pool.imap(_process, items, chunksize=8), DumpResult())


def find_index(path: Path) -> Path | None:
    """'X-multistream.xml.bz2' -> 'X-multistream-index.txt(.bz2)' when it exists."""
    stem = path.name.split(".xml")[0]
    for suffix in ("-index.txt.bz2", "-index.txt"):
        cand = path.with_name(stem + suffix)
        if cand.is_file():
            return cand
    return None


def read_index(index: Path) -> list[tuple[int, int, str]]:
    """(offset, page_id, title) per line; errors name the index line."""
    rows = []
    with (
        bz2.open(index, "rt", encoding="utf-8")
        if index.suffix == ".bz2"
        else open(index, encoding="utf-8") as f
    ):
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            off, _, rest = line.rstrip("\n").partition(":")
            pid, _, title = rest.partition(":")
            if not (off.isdigit() and pid.isdigit() and title):
                raise InputError(
                    index, lineno, None, f"expected 'offset:page_id:title', got {line.strip()[:80]!r}"
                )
            rows.append((int(off), int(pid), title))
    return rows


def _read_streams(args: tuple[str, bytes, list[tuple[int, int]], bool, set[str] | None]) -> list:
    """Worker: decompress the given (start, end) byte ranges, wrap each in the dump header, parse."""
    import mwxml

    path, header, ranges, keep_text, titles = args
    out = []
    with open(path, "rb") as f:
        for start, end in ranges:
            f.seek(start)
            raw = f.read(end - start) if end > 0 else f.read()
            xml = bz2.BZ2Decompressor().decompress(raw)
            doc = header + xml + (b"" if xml.rstrip().endswith(b"</mediawiki>") else b"</mediawiki>")
            dump = mwxml.Dump.from_file(io.BytesIO(doc))
            out.extend(_process(item) for item in _page_items(dump, keep_text, titles))
    return out


def read_multistream(
    path: Path, index: Path, processes: int = 1, keep_text: bool = False, titles: set[str] | None = None
) -> DumpResult:
    rows = read_index(index)
    offsets = sorted({o for o, _, _ in rows})
    if titles is not None:
        offsets = sorted({o for o, _, t in rows if t in titles})
    if not rows:
        raise InputError(index, None, None, "empty index")
    with open(path, "rb") as f:
        header = bz2.BZ2Decompressor().decompress(f.read(rows[0][0]))
    all_offsets = sorted({o for o, _, _ in rows})
    nxt = dict(zip(all_offsets, all_offsets[1:] + [-1], strict=True))
    ranges = [(o, nxt[o]) for o in offsets]
    n = max(1, processes)
    jobs = [(str(path), header, ranges[i::n], keep_text, titles) for i in range(n) if ranges[i::n]]
    result = DumpResult()
    result.counts["streams_read"] = len(ranges)
    if n == 1:
        return _collect((r for job in jobs for r in _read_streams(job)), result)
    with _pool(n) as pool:
        return _collect((r for part in pool.imap(_read_streams, jobs) for r in part), result)


def write_multistream(
    src: str | Path, out: str | Path, index: str | Path, pages_per_stream: int = 100
) -> int:
    """Re-pack a dump as multistream (header stream, one stream per ``pages_per_stream`` pages, footer)
    with its index. Returns the number of pages."""
    with bz2.open(src, "rb") if str(src).endswith(".bz2") else open(src, "rb") as f:
        data = f.read()
    first = data.find(b"<page>")
    if first < 0:
        raise InputError(src, None, None, "no <page> element: not a MediaWiki export")
    first = data.rfind(b"\n", 0, first) + 1
    pages = re.findall(rb"[ \t]*<page>.*?</page>\s*\n", data[first:], flags=re.S)
    lines = []
    with open(out, "wb") as f:
        f.write(bz2.compress(data[:first]))
        for i in range(0, len(pages), pages_per_stream):
            offset = f.tell()
            chunk = pages[i : i + pages_per_stream]
            for p in chunk:
                pid = int(re.search(rb"<id>(\d+)</id>", p).group(1))
                title = html.unescape(re.search(rb"<title>(.*?)</title>", p, re.S).group(1).decode())
                lines.append(f"{offset}:{pid}:{title}")
            f.write(bz2.compress(b"".join(chunk)))
        f.write(bz2.compress(b"</mediawiki>\n"))
    Path(index).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(pages)


def load(b, path: str | Path, processes: int = 1, index: str | Path | None = None) -> dict:
    """Importer: the medical pages' infoboxes into the graph, link targets resolved through redirects."""
    from fleming.kg.wikipedia.pages import add_infobox

    res = read_dump(path, processes=processes, index=index)
    facts = 0
    for p in res.pages:
        if p.infobox is not None:
            facts += add_infobox(b, p.infobox, p.title, str(p.page_id), str(p.rev_id or ""), res.redirects)
    return {
        "pages": res.counts["pages"],
        "redirects": res.counts["redirect"],
        "medical": len(res.pages),
        "medical_titles": [p.title for p in res.pages],
        "facts": facts,
    }

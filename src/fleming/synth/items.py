"""Assemble ``fleming.records.MCQ`` items, with provenance, from a batch of kernel skeletons.

Per item ``metadata.provenance`` says how it was made (generator, KG directory and build hash, question
type and path, template ids, run seed, slot, attempt and item seed, language) and ``metadata.extra``
holds the grounding:

- ``observed`` / ``anchor`` / ``answer``: the stem's facts, the (masked) anchor and the answer;
- ``path``: the ordered reasoning hops (observed features -> anchor -> ... -> answer), for grounded CoT;
- ``triples``: the subgraph's edges as stored ``[src_id, relation, dst_id, {edge, source, record,
  frequency}]``;
- ``hops``, ``rarity`` (degree, percentile, decile, rare flags), ``distractors`` (id, name, letter, shared
  observed features, Jaccard, the sibling it came through, the observed feature it or that sibling
  lacks, curated negative), ``difficulty_features`` (hops, k, siblings, candidates, other consistent
  anchors, distractor Jaccard, degrees, observed frequency, observed findings named in the answer).

Python renders the words (question, patient) and validates the record fields with
``fleming.records.MCQ``; the rest of each line is written by ``jsonl.write_lines`` straight from the
KG's Arrow buffers and the kernel output (Python string building cost 60% of the time per item).
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring as _esc

import numpy as np

from fleming.kg.schema import ENTITY_TYPES, RELATION_NAMES, norm_name, norm_names, norm_text
from fleming.kg.store import KG
from fleming.records import LETTERS
from fleming.synth.jsonl import Tables, arrow_strings, const_strings, write_lines
from fleming.synth.kernel import Out
from fleming.synth.render import Mix, Pack, patient, render
from fleming.synth.sampler import TypePlan, node_column


class Lookup:
    """Per process: the KG's string columns as ``jsonl.Tables`` (zero-copy), and the names, normalized
    names and attributes the rendering needs, taken in bulk (one pyarrow ``take`` per column for what
    a batch needs and is not cached yet) and kept across batches; the caches are dropped between
    batches once they pass ``max_cached`` entries, so memory stays bounded on any KG."""

    def __init__(self, kg: KG, records: bool = True, max_cached: int = 400_000):
        self.kg, self.records, self.max_cached = kg, records, max_cached
        self._attrs, self._flags = node_column(kg, "attrs"), node_column(kg, "rare_flags")
        codes, starts = [], []                       # edges are sorted by relation: one eid range each
        for code, rel in enumerate(RELATION_NAMES):
            e = kg.csr(rel).eids
            if len(e):
                codes.append(code)
                starts.append(int(e.min()))
        order = np.argsort(starts)
        self._rel_codes, self._rel_starts = np.array(codes)[order], np.array(starts)[order]
        self._tables: Tables | None = None
        self.buf = np.zeros(1 << 20, np.uint8)       # the writer's output, grown on demand
        self.name: dict[int, str] = {}               # node -> name
        self.words: dict[int, tuple[str, str, str]] = {}  # node -> (normalized name, its first word, lower)
        self.is_phenotype: dict[int, bool] = {}
        self.attrs: dict[int, dict] = {}             # anchor -> attrs (onset, inheritance)

    def tables(self) -> Tables:
        """The writer's view of the KG (edge columns read once; call before forking workers)."""
        if self._tables is None:
            import pyarrow.parquet as pq

            cols = ["source", "record"] if self.records else ["source"]
            t = pq.read_table(self.kg.path / "edges.parquet", columns=cols)
            kg, flags = self.kg, arrow_strings(self._flags)
            source = arrow_strings(t.column("source"))
            record = arrow_strings(t.column("record")) if self.records else source
            self._tables = Tables(
                arrow_strings(kg.ids), arrow_strings(kg.names),
                flags._replace(valid=np.ones(len(flags.valid), np.bool_)),   # no flags: ""
                source, record, const_strings(list(ENTITY_TYPES)), const_strings(list(RELATION_NAMES)),
                self._rel_starts.astype(np.int64), self._rel_codes.astype(np.int64),
                kg.src, kg.dst, kg.frequency, kg.type_codes, kg.rare)
        return self._tables

    def trim(self) -> None:
        """Between batches: drop the caches that have grown past ``max_cached`` entries."""
        for group in ((self.name, self.words, self.is_phenotype), (self.attrs,)):
            if len(group[0]) > self.max_cached:
                for c in group:
                    c.clear()

    @staticmethod
    def _todo(idx: np.ndarray, cache: dict) -> list[int]:
        return [x for x in np.unique(idx[idx >= 0]).tolist() if x not in cache]

    def add_nodes(self, idx: np.ndarray) -> None:
        import pyarrow as pa

        todo = self._todo(idx, self.name)
        if not todo:
            return
        names = self.kg.names.take(pa.array(todo)).to_pylist()
        norms = norm_names(names)                    # in bulk (pyarrow), for ``mentions``
        tc = self.kg.type_codes
        for x, n, nn in zip(todo, names, norms, strict=True):
            self.name[x] = n
            self.words[x] = (nn, nn.split(" ", 1)[0], n.lower())
            self.is_phenotype[x] = ENTITY_TYPES[tc[x]] == "phenotype"

    def mentions(self, text: str, x: int, free_text: bool = False) -> bool:
        """Whether the name of x (normalized, 4+ characters) occurs as whole words in ``text`` (a node
        name, or ``free_text``, which is not cached); x's normalized name is looked up, not recomputed."""
        n, first, _ = self.words[x]
        if len(n) < 4 or first not in text.lower():
            return False
        return f" {n} " in f" {norm_text(text) if free_text else norm_name(text)} "

    def name_mentions(self, y: int, x: int) -> bool:
        """``mentions`` of x in the name of node y."""
        n, first, _ = self.words[x]
        if len(n) < 4 or first not in self.words[y][2]:
            return False
        return f" {n} " in f" {self.words[y][0]} "

    def add_anchors(self, idx: np.ndarray) -> None:
        import pyarrow as pa

        todo = self._todo(idx, self.attrs)
        if todo:
            at = self._attrs.take(pa.array(todo)).to_pylist()
            self.attrs.update((k, json.loads(a) if a else {}) for k, a in zip(todo, at, strict=True))


def _js(x) -> str:
    return json.dumps(x, ensure_ascii=False)


def _str(x: str | None) -> str:
    return "null" if x is None else _esc(x)


class ItemBuilder:
    """Turns kernel rows of one question type into MCQ JSON lines (see the module docstring)."""

    def __init__(self, kg: KG, plan: TypePlan, pack: Pack, run_info: dict, degree: np.ndarray,
                 lookup: Lookup):
        self.kg, self.plan, self.qt, self.pack, self.info = kg, plan, plan.qt, pack, run_info
        self.degree, self.lookup = degree, lookup
        qt = self.qt
        pos = np.full(kg.n_nodes, -1, dtype=np.int64)
        pos[plan.arrays.anchors] = np.arange(len(plan.arrays.anchors))
        self.anchor_pos = pos
        meta_head = (f'"language":{_js(pack.language)},"metadata":{{"subject":{_js(qt.subject)},'
                     f'"question_type":{_js(qt.name)},'
                     f'"provenance":{{"generator":"fleming.synth","kg":{_js(run_info["kg"])},'
                     f'"kg_build":{_js(run_info["kg_build"])},"question_type":{_js(qt.name)},'
                     f'"template_path":{_js(qt.path)},"language":{_js(pack.language)},'
                     f'"seed":{run_info["seed"]}')
        chain = ["|".join(h) for h in qt.chain]
        self.pieces = const_strings([              # the type's constant pieces, by jsonl.write_lines index
            f'{{"id":"synth-{run_info["seed"]}-', '","source":"synthetic","split":"train","question":',
            f'"],{meta_head},"stem_template":"', "|".join(qt.features),
            ',"masked":true}' if qt.masked else ',"masked":false}',
            *(chain + ["", "", ""])[:3], f',"hops":{qt.hops}'])

    def build_all(self, out: Out, slots: list[int], skip: np.ndarray | None = None
                  ) -> list[tuple[str | None, dict | None, str]]:
        """Per kernel row: (JSON line, record fields, '') for an accepted skeleton, (None, None, drop
        reason) for one dropped at rendering, (None, None, '') for a slot whose attempts all failed or
        that ``skip`` marks (a known duplicate)."""
        rows = np.flatnonzero((out.status == 0) if skip is None else (out.status == 0) & ~skip)
        res: list = [(None, None, "")] * len(slots)
        if not len(rows):
            return res
        lk = self.lookup
        lk.trim()
        lk.add_nodes(np.concatenate([out.anchor[rows], out.obs[rows].ravel(), out.opts[rows].ravel()]))
        lk.add_anchors(out.anchor[rows])
        v = _View(out, rows)
        kept, fields, pieces, named = [], [], [], []
        for j, i in enumerate(rows.tolist()):
            r = self._words(v, j, slots[i])
            if isinstance(r, str):
                res[i] = (None, None, r)
                continue
            kept.append(i)
            fields.append(r[0])
            pieces += r[1:4]
            named.append(r[4])
        if kept:
            lines = self._write(out, np.array(kept, np.int64), [slots[i] for i in kept], pieces, named)
            for i, line, f in zip(kept, lines, fields, strict=True):
                res[i] = (line, f, "")
        return res

    def _words(self, v, j: int, slot: int):
        """The rendered parts of one item: (record fields, question, stem-template and patient JSON
        pieces, observed findings named in the answer), or the reason it is dropped."""
        qt, lk = self.qt, self.lookup
        names = lk.name
        a, obs, opts, ans_pos, seed = v.anchor[j], v.obs[j], v.opts[j], v.ans_pos[j], v.seed[j]
        ans = opts[ans_pos]
        rng = Mix(seed ^ 0x5EED)
        a_attrs = lk.attrs[a]
        who = (patient(self.pack, a_attrs.get("onset", ()), a_attrs.get("inheritance", ()), rng,
                       [*(names[x] for x in obs), names[a]]) if qt.masked else None)
        pheno = lk.is_phenotype
        r = render(self.pack, qt.name, [names[x] for x in obs if pheno[x]],
                   [names[x] for x in obs if not pheno[x]], None if qt.masked else names[a], who, rng)
        if lk.mentions(r.question, ans, True):
            return "render: the answer is named in the stem"
        letters = LETTERS[:len(opts)]
        fields = {"id": f"synth-{self.info['seed']}-{slot}", "source": "synthetic", "split": "train",
                  "question": r.question, "options": {letters[k]: names[o] for k, o in enumerate(opts)},
                  "answer": [letters[ans_pos]]}
        who_js = ("null" if who is None else
                  f'{{"onset":{_str(who.onset)},"age":{_str(who.age)},"sex":{_str(who.sex)},'
                  f'"sex_from":{_str(who.sex_from)}}}')
        return (fields, _esc(r.question), f'{r.stem_id}","question_template":{r.question_index}', who_js,
                sum(lk.name_mentions(ans, x) for x in obs))

    def _write(self, out: Out, rows: np.ndarray, slots: list[int], pieces: list[str],
               named: list[int]) -> list[str]:
        lk, plan = self.lookup, self.plan
        enc = [s.encode() for s in pieces]
        poff = np.zeros(len(enc) + 1, np.int64)
        np.cumsum([len(b) for b in enc], out=poff[1:])
        pbuf = np.frombuffer(b"".join(enc) or b"\0", np.uint8)
        p = self.anchor_pos[out.anchor[rows]]
        ans = out.opts[rows, out.ans_pos[rows]]
        args = (lk.tables(), self.pieces, out, rows, np.array(slots, np.int64), pbuf, poff,
                np.array(named, np.int64), plan.degree[p].astype(np.int64),
                plan.percentile[p].astype(np.float64), plan.decile[p].astype(np.int64),
                self.degree[ans].astype(np.int64), self.qt.hops, self.qt.masked, lk.records)
        ends = np.zeros(len(rows), np.int64)
        while True:
            if len(lk.buf) < 4096 * len(rows) + len(pbuf):
                lk.buf = np.zeros(max(2 * len(lk.buf), 4096 * len(rows) + len(pbuf)), np.uint8)
            n = write_lines(lk.buf, ends, *args)
            if n >= 0:
                break
            lk.buf = np.zeros(2 * len(lk.buf), np.uint8)
        lines = lk.buf[:n].tobytes().decode("utf-8").split("\n")
        lines.pop()                                   # after the last newline
        return lines


class _View:
    """What the rendering needs of the accepted rows, as Python lists (one conversion per batch)."""

    def __init__(self, out: Out, rows: np.ndarray):
        nobs, nopt = out.nobs[rows].tolist(), out.nopt[rows].tolist()
        cut = lambda arr, ns: list(map(list.__getitem__, arr[rows].tolist(), map(slice, ns)))  # noqa: E731
        self.anchor, self.ans_pos = out.anchor[rows].tolist(), out.ans_pos[rows].tolist()
        self.seed = out.seed[rows].tolist()
        self.obs, self.opts = cut(out.obs, nobs), cut(out.opts, nopt)

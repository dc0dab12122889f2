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
  anchors, distractor Jaccard, degrees, observed frequency, observed findings named in the answer);
- ``negatives``: the pertinent negatives the stem states (id, name), and ``discriminators``: per
  distractor letter, the kind of open-world evidence that rules it out (``evidence.KINDS``).

An item whose answer's name restates a stem finding, even run together ('... metatarsusadductus ...'
for metatarsus adductus; the kernel keeps content words apart), or two of them ('Hypokalemic periodic
paralysis' for hypokalemia and periodic paralysis) is dropped with its reason; the stated age is raised
to what the findings need (``findings.min_age``).

Python renders the words (question, patient) and checks the record fields as ``fleming.records.MCQ``
would (options and answer in bulk, the question per item; ``MCQ.model_validate`` raises, naming the
field, for a record that fails); the rest of each line is written by ``jsonl.write_lines`` straight
from the KG's Arrow buffers and the kernel output (Python string building cost 60% of the time per
item).
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring as _esc

import numpy as np

from fleming.kg.schema import ENTITY_TYPES, RELATION_NAMES, TYPE_CODE, norm_name, norm_names, norm_text
from fleming.kg.store import KG
from fleming.records import LETTERS, MAX_OPTIONS, MCQ, MIN_OPTIONS
from fleming.synth.csr import node_column
from fleming.synth.evidence import KINDS
from fleming.synth.findings import min_age
from fleming.synth.jsonl import Tables, arrow_strings, const_strings, write_lines
from fleming.synth.kernel import Out
from fleming.synth.render import DRAWS, Drawn, Pack, mix_draws, patient, render
from fleming.synth.sampler import TypePlan

RESTATED = 80      # token_sort_ratio of two findings' names at which the stem says one thing twice


def _restated(lk: Lookup, obs) -> bool:
    """Two observed findings with nearly the same words ('Low tetrahydrocortisol plus 5-alpha-THF/
    tetrahydrocortisone ratio' beside 'Reduced urine ... tetrahydrocortisone ratio': HPO keeps both, a
    reader sees one finding twice). is_a-related pairs never get here (``masking``)."""
    from rapidfuzz.fuzz import token_sort_ratio

    n = [lk.words[x][0] for x in obs]
    return any(token_sort_ratio(n[i], n[j]) >= RESTATED for i in range(len(n)) for j in range(i))


UP = ("increased", "elevated", "high", "tall", "long", "large", "enlarged", "excessive", "hyper", "macro")
DOWN = ("decreased", "reduced", "low", "short", "flat", "flattened", "small", "diminished", "hypo", "micro",
        "platy")


def _polarity(words: str) -> int:
    """+1 for a finding named as more of something ('Increased vertebral height', 'Tall vertebral
    bodies', 'Hypertelorism'), -1 for less ('Platyspondyly', 'Flat vertebral bodies'), 0 otherwise."""
    up = down = False
    for w in words.split():
        up = up or w.startswith(UP)
        down = down or w.startswith(DOWN)
    return int(up) - int(down)


def _opposed(lk: Lookup, obs) -> bool:
    """Two observed findings under one is_a parent that point in opposite directions by their names or
    synonyms: 'Increased vertebral height' beside 'Platyspondyly' (both annotated to autosomal dominant
    brachyolmia; audit rounds 6-7 read it as a self-contradictory stem three times). Over every pair of
    one disease's HPO annotations it flags 183 pairs, most of them true contradictions (bone marrow hyper-
    and hypocellularity, lymphocytosis and lymphopenia), a few not ('Turricephaly' / 'Brachycephaly' by
    a synonym); it drops 3-4 of 2,000 items."""
    pol = [_polarity(lk.synonym_words(x)) for x in obs]
    for i in range(len(obs)):
        for j in range(i):
            if pol[i] * pol[j] < 0 and lk.parents(obs[i]) & lk.parents(obs[j]):
                return True
    return False


class Lookup:
    """Per process: the KG's string columns as ``jsonl.Tables`` (zero-copy), and the names, normalized
    names and attributes the rendering needs, taken in bulk (one pyarrow ``take`` per column for what
    a chunk needs and is not cached yet) and kept across batches; the caches are dropped between
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
        self.words: dict[int, tuple[str, str, str, str]] = {}  # node -> (normalized name, its first
        #                                                          word, lower name, ' normalized name ')
        self.is_phenotype: dict[int, bool] = {}
        self.attrs: dict[int, dict] = {}             # anchor -> attrs (onset, inheritance)
        self._id: dict[int, str] = {}                # node -> id (pertinent negatives only)
        self._synonyms = None                        # nodes.parquet 'synonyms', read on first use
        self._in_name = np.zeros(kg.n_nodes, np.bool_)     # which nodes the caches hold
        self._in_attrs = np.zeros(kg.n_nodes, np.bool_)

    def parents(self, x: int) -> set[int]:
        """x's direct is_a parents."""
        return set(self.kg.neighbors(x, "is_a").tolist())

    def synonym_words(self, x: int) -> str:
        """x's normalized name and its synonyms, lower case, as one string."""
        if self._synonyms is None:
            self._synonyms = node_column(self.kg, "synonyms")
        syn = self._synonyms[x].as_py() or []
        return " ".join([self.words[x][0], *(str(v).lower() for v in syn)])

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
        for group, have in (((self.name, self.words, self.is_phenotype), self._in_name),
                            ((self.attrs,), self._in_attrs)):
            if len(group[0]) > self.max_cached:
                for c in group:
                    c.clear()
                have[:] = False

    def prepare(self, parts: list[tuple[Out, np.ndarray]]) -> None:
        """Before rendering the accepted ``rows`` of kernel outputs (of one or more question types,
        taken together so the bulk look-ups are few): trim, then add the nodes and anchors they use."""
        self.trim()
        anchors = [out.anchor[rows] for out, rows in parts]
        self.add_nodes(np.concatenate(anchors + [a for out, rows in parts
                                                 for a in (out.obs[rows].ravel(), out.opts[rows].ravel(),
                                                           out.negs[rows].ravel())]))
        self.add_anchors(np.concatenate(anchors))

    @staticmethod
    def _todo(idx: np.ndarray, have: np.ndarray) -> list[int]:
        """The nodes of idx not cached yet, now marked as cached (the caller adds them)."""
        u = np.unique(idx[idx >= 0])
        u = u[~have[u]]
        have[u] = True
        return u.tolist()

    def add_nodes(self, idx: np.ndarray) -> None:
        import pyarrow as pa

        todo = self._todo(idx, self._in_name)
        if not todo:
            return
        names = self.kg.names.take(pa.array(todo)).to_pylist()
        norms = norm_names(names)                    # in bulk (pyarrow), for ``mentions``
        pheno = (self.kg.type_codes[todo] == TYPE_CODE["phenotype"]).tolist()
        self.name.update(zip(todo, names, strict=True))
        self.is_phenotype.update(zip(todo, pheno, strict=True))
        self.words.update((x, (nn, nn.split(" ", 1)[0], n.lower(), f" {nn} "))
                          for x, n, nn in zip(todo, names, norms, strict=True))

    def mentions(self, text: str, x: int, free_text: bool = False) -> bool:
        """Whether the name of x (normalized, 4+ characters) occurs as whole words in ``text`` (a node
        name, or ``free_text``, which is not cached); x's normalized name is looked up, not recomputed."""
        n, first, _, padded = self.words[x]
        if len(n) < 4 or first not in text.lower():
            return False
        return padded in f" {norm_text(text) if free_text else norm_name(text)} "

    def name_mentions(self, y: int, x: int) -> bool:
        """``mentions`` of x in the name of node y."""
        n, first, _, padded = self.words[x]
        wy = self.words[y]
        return len(n) >= 4 and first in wy[2] and padded in wy[3]

    def ids(self, x: int) -> str:
        """The node's stable id (cached with its name)."""
        if x not in self._id:
            self._id[x] = self.kg.ids[x].as_py()
        return self._id[x]

    def add_anchors(self, idx: np.ndarray) -> None:
        import pyarrow as pa

        todo = self._todo(idx, self._in_attrs)
        if todo:
            at = self._attrs.take(pa.array(todo)).to_pylist()
            self.attrs.update((k, json.loads(a) if a else {}) for k, a in zip(todo, at, strict=True))


def _js(x) -> str:
    return json.dumps(x, ensure_ascii=False)


def _str(x: str | None) -> str:
    return "null" if x is None else _esc(x)


_NO_PATIENT = '{"onset":null,"age":null,"sex":null,"sex_from":null}'      # no onset: no age or sex


class ItemBuilder:
    """Turns kernel rows of one question type into MCQ JSON lines (see the module docstring)."""

    def __init__(self, kg: KG, plan: TypePlan, pack: Pack, run_info: dict, degree: np.ndarray,
                 lookup: Lookup, histo: np.ndarray):
        self.kg, self.plan, self.qt, self.pack, self.info = kg, plan, plan.qt, pack, run_info
        self.degree, self.lookup = degree, lookup
        self.histo = histo                               # microscopy findings (``findings.HISTOLOGY``)
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

    @staticmethod
    def accepted(out: Out, skip: np.ndarray | None = None) -> np.ndarray:
        """The kernel rows to render: accepted skeletons, less those ``skip`` marks."""
        return np.flatnonzero((out.status == 0) if skip is None else (out.status == 0) & ~skip)

    def build_all(self, out: Out, slots: list[int], rows: np.ndarray) -> list[tuple[bytes | None, str]]:
        """Per kernel row: (JSON line, '') for one of ``rows`` (``accepted``; ``Lookup.prepare`` has been
        called for them), (None, drop reason) for one dropped at rendering, (None, '') for any other
        slot (its attempts all failed, or it is a known duplicate). A line is a valid
        ``fleming.records.MCQ`` record (else ``MCQ.model_validate`` raises, naming the field)."""
        res: list = [(None, "")] * len(slots)
        if not len(rows):
            return res
        v = _View(out, rows)
        ok = self._options_ok(out, rows).tolist()
        kept, pieces, named, words = [], [], [], self._words
        for j, (i, a, obs, opts, ans_pos, seed, draws, negs, kinds) in enumerate(zip(
                rows.tolist(), v.anchor, v.obs, v.opts, v.ans_pos, v.seed, v.draws, v.negs, v.kinds,
                strict=True)):
            r = words(a, obs, opts[ans_pos], Drawn(seed, draws), negs, kinds, ans_pos)
            if r.__class__ is str:
                res[i] = (None, r)
                continue
            q = r[0]
            if not (ok[j] and q and not q.isspace()):        # i.e. q.strip(), as MCQ checks it
                self._validate(v, j, slots[i], q)
            kept.append(i)
            pieces += (_esc(q), r[1], r[2])
            named.append(r[3])
        if kept:
            lines = self._write(out, np.array(kept, np.int64), [slots[i] for i in kept], pieces, named)
            for i, line in zip(kept, lines, strict=True):
                res[i] = (line, "")
        return res

    def _options_ok(self, out: Out, rows: np.ndarray) -> np.ndarray:
        """Per row, in bulk: what ``MCQ`` checks of the options and answer holds (2 to 21 options, each
        a string, i.e. a node whose name is not null, and the gold letter among them)."""
        nopt, ans_pos, opts = out.nopt[rows], out.ans_pos[rows], out.opts[rows]
        inside = np.arange(opts.shape[1]) < nopt[:, None]
        named = self.lookup.tables().names.valid[np.where(inside, opts, 0)] | ~inside
        return ((nopt >= MIN_OPTIONS) & (nopt <= MAX_OPTIONS) & (ans_pos >= 0) & (ans_pos < nopt)
                & named.all(axis=1))

    def _validate(self, v, j: int, slot: int, question: str) -> None:
        """``MCQ.model_validate`` of the record's fields: raises, naming the field, for an invalid one."""
        names, opts = self.lookup.name, v.opts[j]
        letters = LETTERS[:len(opts)]
        MCQ.model_validate({"id": f"synth-{self.info['seed']}-{slot}", "source": "synthetic",
                            "split": "train", "question": question,
                            "options": {letters[k]: names[o] for k, o in enumerate(opts)},
                            "answer": [LETTERS[v.ans_pos[j]]]})

    def _words(self, a: int, obs: list[int], ans: int, rng: Drawn, negs: list[int] = (),
               kinds: list[int] = (), ans_pos: int = -1):
        """The rendered parts of one item (anchor, observed nodes, answer, pertinent negatives, evidence
        kind per option): (question, stem-template and patient JSON pieces, observed findings named in
        the answer), or the reason it is dropped."""
        qt, lk = self.qt, self.lookup
        names, pheno = lk.name, lk.is_phenotype
        obs_names = [names[x] for x in obs]
        named = sum(lk.name_mentions(ans, x) for x in obs)
        squeezed = lk.words[ans][0].replace(" ", "")
        flat = (lk.words[x][0].replace(" ", "") for x in obs)
        if named or any(len(f) >= 8 and f in squeezed for f in flat):
            return "render: the answer's name restates a stem finding"
        if _restated(lk, obs):
            return "render: two stem findings restate each other"
        if _opposed(lk, obs):
            return "render: two stem findings contradict each other"
        if qt.masked:
            a_attrs = lk.attrs[a]
            age = max([min_age(lk.words[x][0]) for x in obs] or [0.0])
            who = patient(self.pack, a_attrs.get("onset", ()), a_attrs.get("inheritance", ()), rng,
                          [*obs_names, names[a]], age)
            who_js = (_NO_PATIENT if who.onset is who.age is who.sex is who.sex_from is None else
                      f'{{"onset":{_str(who.onset)},"age":{_str(who.age)},"sex":{_str(who.sex)},'
                      f'"sex_from":{_str(who.sex_from)}}}')
        else:
            who, who_js = None, "null"
        sym, tests, histo = [], [], []
        for x, n in zip(obs, obs_names, strict=True):
            (histo if self.histo[x] else sym if pheno[x] else tests).append(n)
        neg_names = [names[x] for x in negs]
        r = render(self.pack, qt.name, sym, tests, None if qt.masked else names[a], who, rng, neg_names,
                   histo)
        if lk.mentions(r.question, ans, True):
            return "render: the answer is named in the stem"
        ids = self.lookup.ids
        who_js += (',"negatives":[' + ",".join(f'{{"id":{_esc(ids(x))},"name":{_esc(n)}}}'
                                               for x, n in zip(negs, neg_names, strict=True))
                   + '],"discriminators":{' + ",".join(f'"{LETTERS[k]}":"{KINDS[kd]}"'
                                                        for k, kd in enumerate(kinds) if k != ans_pos) + "}")
        return r.question, f'{r.stem_id}","question_template":{r.question_index}', who_js, named

    def _write(self, out: Out, rows: np.ndarray, slots: list[int], pieces: list[str],
               named: list[int]) -> list[bytes]:
        lk, plan = self.lookup, self.plan
        text = "".join(pieces)
        if text.isascii():                            # one encoding; byte lengths are string lengths
            raw, lens = text.encode(), list(map(len, pieces))
        else:
            enc = [s.encode() for s in pieces]
            raw, lens = b"".join(enc), list(map(len, enc))
        poff = np.zeros(len(pieces) + 1, np.int64)
        np.cumsum(lens, out=poff[1:])
        pbuf = np.frombuffer(raw or b"\0", np.uint8)
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
        lines = lk.buf[:n].tobytes().split(b"\n")
        lines.pop()                                   # after the last newline
        return lines


class _View:
    """What the rendering needs of the accepted rows, as Python lists (one conversion per batch)."""

    def __init__(self, out: Out, rows: np.ndarray):
        nobs, nopt = out.nobs[rows].tolist(), out.nopt[rows].tolist()
        cut = lambda arr, ns: list(map(list.__getitem__, arr[rows].tolist(), map(slice, ns)))  # noqa: E731
        self.anchor, self.ans_pos = out.anchor[rows].tolist(), out.ans_pos[rows].tolist()
        seeds = out.seed[rows] ^ np.uint64(0x5EED)                     # the items' render seeds
        self.seed, self.draws = seeds.tolist(), mix_draws(seeds, DRAWS).tolist()
        self.obs, self.opts = cut(out.obs, nobs), cut(out.opts, nopt)
        self.negs, self.kinds = cut(out.negs, out.nneg[rows].tolist()), cut(out.kind, nopt)

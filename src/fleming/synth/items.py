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
"""

from __future__ import annotations

import json
import math
from json.encoder import encode_basestring as _esc

import numpy as np

from fleming.kg.schema import ENTITY_TYPES, RELATION_NAMES, norm_name, norm_names, norm_text
from fleming.kg.store import KG
from fleming.records import LETTERS
from fleming.synth.kernel import Out
from fleming.synth.render import Mix, Pack, patient, render
from fleming.synth.sampler import TypePlan, node_column


class Lookup:
    """Node, edge and anchor fragments as JSON text, taken from the KG columns in bulk (one pyarrow
    ``take`` per column for what a batch needs and is not cached yet) and kept across batches: the
    same findings, genes and drugs recur in many items. Each cache is dropped when it passes
    ``max_cached`` entries, so memory stays bounded on any KG."""

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
        self._edge_cols = None
        self.name: dict[int, str] = {}               # node -> name
        self.id_js: dict[int, str] = {}              # node -> its id as a JSON string
        self.name_js: dict[int, str] = {}            # node -> its name as a JSON string
        self.node_js: dict[int, str] = {}            # node -> {"id", "name", "type"}
        self.node_open: dict[int, str] = {}          # the same without its closing brace
        self.words: dict[int, tuple[str, str, str]] = {}  # node -> (normalized name, its first word, lower)
        self.is_phenotype: dict[int, bool] = {}
        self.triple: dict[int, str] = {}             # edge -> [src, relation, dst, {edge, source, ...}]
        self.freq: dict[int, float | None] = {}
        self.attrs: dict[int, tuple[dict, str]] = {}  # anchor -> (attrs, rare flags)

    def edge_columns(self):
        if self._edge_cols is None:
            import pyarrow.parquet as pq

            cols = ["source", "record"] if self.records else ["source"]
            t = pq.read_table(self.kg.path / "edges.parquet", columns=cols)
            self._edge_cols = {c: t.column(c).combine_chunks() for c in cols}
        return self._edge_cols

    def trim(self) -> None:
        """Between batches: drop the caches that have grown past ``max_cached`` entries."""
        for group in ((self.name, self.id_js, self.name_js, self.node_js, self.node_open, self.words,
                       self.is_phenotype),
                      (self.triple, self.freq), (self.attrs,)):
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
        sel = pa.array(todo)
        ids, names = self.kg.ids.take(sel).to_pylist(), self.kg.names.take(sel).to_pylist()
        norms = norm_names(names)                    # in bulk (pyarrow), for ``mentions``
        tc = self.kg.type_codes
        for x, i, n, nn in zip(todo, ids, names, norms, strict=True):
            t = ENTITY_TYPES[tc[x]]
            ij, nj = _esc(i), _esc(n)
            self.name[x], self.id_js[x], self.name_js[x] = n, ij, nj
            self.node_open[x] = op = f'{{"id":{ij},"name":{nj},"type":"{t}"'
            self.node_js[x] = op + "}"
            self.words[x] = (nn, nn.split(" ", 1)[0], n.lower())
            self.is_phenotype[x] = t == "phenotype"

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
        if not todo:
            return
        sel = pa.array(todo)
        at, fl = self._attrs.take(sel).to_pylist(), self._flags.take(sel).to_pylist()
        for k, a, f in zip(todo, at, fl, strict=True):
            self.attrs[k] = (json.loads(a) if a else {}, f or "")

    def add_edges(self, eids: np.ndarray) -> None:
        """Edge fragments; the nodes at both ends must be added first (``add_nodes``)."""
        import pyarrow as pa

        todo = self._todo(eids, self.triple)
        if not todo:
            return
        u = np.asarray(todo)
        cols, sel = self.edge_columns(), pa.array(u)
        src, dst = self.kg.src[u].tolist(), self.kg.dst[u].tolist()
        self.add_nodes(np.concatenate([self.kg.src[u], self.kg.dst[u]]))
        rel = self._rel_codes[np.searchsorted(self._rel_starts, u, side="right") - 1].tolist()
        source = cols["source"].take(sel).to_pylist()
        record = cols["record"].take(sel).to_pylist() if self.records else [None] * len(u)
        freq = self.kg.frequency[u].tolist()
        ij = self.id_js
        for i, e in enumerate(todo):
            f = None if math.isnan(freq[i]) else round(freq[i], 4)
            meta = f'{{"edge":{e},"source":{_str(source[i])}'
            if record[i] is not None:
                meta += f',"record":{_esc(record[i])}'
            if f is not None:
                meta += f',"frequency":{f!r}'
            self.triple[e] = f'[{ij[src[i]]},"{RELATION_NAMES[rel[i]]}",{ij[dst[i]]},{meta}}}]'
            self.freq[e] = f


def _js(x) -> str:
    return json.dumps(x, ensure_ascii=False)


def _num(x) -> str:
    return "null" if x is None else repr(x)


def _str(x: str | None) -> str:
    return "null" if x is None else _esc(x)


class ItemBuilder:
    """Turns kernel rows of one question type into MCQ JSON lines (see the module docstring).

    Items are assembled as JSON text from per-batch fragments (each node's and edge's JSON is encoded
    once per batch), then the record-level fields are validated with ``fleming.records.MCQ``; building
    and serializing nested dicts per item cost three times as much.
    """

    def __init__(self, kg: KG, plan: TypePlan, pack: Pack, run_info: dict, degree: np.ndarray,
                 lookup: Lookup):
        self.kg, self.plan, self.qt, self.pack, self.info = kg, plan, plan.qt, pack, run_info
        self.degree, self.lookup = degree, lookup
        qt = self.qt
        self.chain_names = ["|".join(h) for h in qt.chain]
        self.features = "|".join(qt.features)
        pos = np.full(kg.n_nodes, -1, dtype=np.int64)
        pos[plan.arrays.anchors] = np.arange(len(plan.arrays.anchors))
        self.anchor_pos = pos
        info = self.info
        self.hops = str(qt.hops)
        self.head = ',"source":"synthetic","split":"train"'
        self.masked = ',"masked":true}' if qt.masked else ',"masked":false}'
        self.meta_head = (f'"language":{_js(pack.language)},"metadata":{{"subject":{_js(qt.subject)},'
                          f'"question_type":{_js(qt.name)},'
                          f'"provenance":{{"generator":"fleming.synth","kg":{_js(info["kg"])},'
                          f'"kg_build":{_js(info["kg_build"])},"question_type":{_js(qt.name)},'
                          f'"template_path":{_js(qt.path)},"language":{_js(pack.language)},'
                          f'"seed":{info["seed"]}')

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
        lk.add_nodes(np.concatenate([out.anchor[rows], out.obs[rows].ravel(), out.path[rows].ravel(),
                                     out.opts[rows].ravel(), out.via[rows].ravel()]))
        lk.add_edges(np.concatenate([out.obs_eid[rows].ravel(), out.path_eid[rows].ravel()]))
        lk.add_anchors(out.anchor[rows])
        v = _View(out, rows)
        p = self.anchor_pos[out.anchor[rows]]                 # per-item numbers: one conversion per batch
        pct = [round(x, 2) for x in self.plan.percentile[p].tolist()]
        v.rarity = list(zip(self.plan.degree[p].tolist(), pct, self.plan.decile[p].tolist(),
                            self.kg.rare[out.anchor[rows]].tolist(), strict=True))
        v.ans_degree = self.degree[out.opts[rows, out.ans_pos[rows]]].tolist()
        for j, i in enumerate(rows.tolist()):
            res[i] = self._one(v, j, slots[i])
        return res

    def _one(self, v, j: int, slot: int) -> tuple[str | None, dict | None, str]:
        qt, lk = self.qt, self.lookup
        names, node, id_js = lk.name, lk.node_js, lk.id_js
        a, obs, opts, ans_pos, seed = v.anchor[j], v.obs[j], v.opts[j], v.ans_pos[j], v.seed[j]
        ans = opts[ans_pos]
        rng = Mix(seed ^ 0x5EED)
        a_attrs, flags = lk.attrs[a]
        obs_names = [names[x] for x in obs]
        who = (patient(self.pack, a_attrs.get("onset", ()), a_attrs.get("inheritance", ()), rng,
                       [*obs_names, names[a]]) if qt.masked else None)
        pheno = lk.is_phenotype
        r = render(self.pack, qt.name, [names[x] for x in obs if pheno[x]],
                   [names[x] for x in obs if not pheno[x]], None if qt.masked else names[a], who, rng)
        if lk.mentions(r.question, ans, True):
            return None, None, "render: the answer is named in the stem"
        letters = LETTERS[:len(opts)]
        fields = {"id": f"synth-{self.info['seed']}-{slot}", "source": "synthetic", "split": "train",
                  "question": r.question,
                  "options": {letters[k]: names[o] for k, o in enumerate(opts)}, "answer": [letters[ans_pos]]}
        degree, percentile, decile, rare = v.rarity[j]
        name_js = lk.name_js
        opts_js = ",".join(f'"{letters[k]}":{name_js[o]}' for k, o in enumerate(opts))
        line = "".join((
            '{"id":"', fields["id"], '"', self.head, ',"question":', _esc(r.question),
            ',"options":{', opts_js,
            '},"answer":["', letters[ans_pos], '"],', self.meta_head,
            f',"stem_template":"{r.stem_id}","question_template":{r.question_index},"slot":{slot},'
            f'"attempt":{v.attempts[j] - 1},"item_seed":{seed}}},"extra":{{',
            '"anchor":', lk.node_open[a], self.masked, ',"answer":', node[ans],
            ',"observed":[', ",".join(node[x] for x in obs), '],"patient":',
            "null" if who is None else
            f'{{"onset":{_str(who.onset)},"age":{_str(who.age)},"sex":{_str(who.sex)},'
            f'"sex_from":{_str(who.sex_from)}}}',
            ',"path":', self._path(v.path[j], obs, a, id_js), ',"hops":', self.hops,
            ',"triples":[', ",".join(lk.triple[e] for e in v.obs_eid[j] + v.path_eid[j]), "]",
            f',"rarity":{{"degree":{degree},"percentile":{percentile},"decile":{decile},'
            f'"rare":{"true" if rare else "false"},"rare_flags":{_esc(flags)}}}',
            ',"distractors":[', self._distractors(v, j, obs, opts, ans_pos, letters), "]",
            ',"difficulty_features":', self._features(v, j, obs, ans, degree), "}}}"))
        return line, fields, ""

    def _path(self, path: list[int], obs: list[int], a: int, id_js) -> str:
        seen = ",".join(id_js[x] for x in obs)
        hops = [f'{{"from":[{seen}],"relation":"{self.features}","to":{id_js[a]}}}'] if self.qt.masked else []
        hops += [f'{{"from":{id_js[path[h]]},"relation":"{self.chain_names[h]}","to":{id_js[path[h + 1]]}}}'
                 for h in range(len(path) - 1)]
        return "[" + ",".join(hops) + "]"

    def _distractors(self, v, j, obs, opts, ans_pos, letters) -> str:
        node, id_js = self.lookup.node_open, self.lookup.id_js
        lack, shared, jac, via, neg = v.lack[j], v.shared[j], v.jac[j], v.via[j], v.neg[j]
        return ",".join(
            f'{node[o]},"letter":"{letters[k]}","shared":{shared[k]},'
            f'"jaccard":{"null" if jac[k] != jac[k] else jac[k]},"via":{id_js[via[k]]},'
            f'"lacks":{id_js[obs[lack[k]]] if lack[k] >= 0 else "null"},'
            f'"curated_negative":{"true" if neg[k] else "false"}}}'
            for k, o in enumerate(opts) if k != ans_pos)

    def _features(self, v, j, obs, ans, degree) -> str:
        lk, a_pos = self.lookup, v.ans_pos[j]
        jacs = [x for k, x in enumerate(v.jac[j]) if x == x and k != a_pos]        # NaN: curated
        shared = [x for k, x in enumerate(v.shared[j]) if x >= 0 and k != a_pos]
        freqs = [f for f in map(lk.freq.__getitem__, v.obs_eid[j]) if f is not None]
        return (f'{{"hops":{self.hops},"k_observed":{len(obs)},"n_siblings":{v.nsib[j]},'
                f'"n_candidates":{v.ncand[j]},"n_consistent_anchors":{v.nall[j]},'
                f'"mean_jaccard":{_num(round(sum(jacs) / len(jacs), 4) if jacs else None)},'
                f'"max_jaccard":{_num(max(jacs) if jacs else None)},'
                f'"min_shared":{_num(min(shared) if shared else None)},'
                f'"anchor_degree":{degree},"answer_degree":{v.ans_degree[j]},'
                f'"observed_mean_frequency":{_num(round(sum(freqs) / len(freqs), 4) if freqs else None)},'
                f'"observed_named_in_answer":{sum(lk.name_mentions(ans, x) for x in obs)}}}')


class _View:
    """The accepted rows of a kernel batch as Python lists (one conversion per batch, not per item)."""

    def __init__(self, out: Out, rows: np.ndarray):
        nobs, nopt = out.nobs[rows].tolist(), out.nopt[rows].tolist()
        npath = (out.path[rows] >= 0).sum(axis=1).tolist()
        cut = lambda arr, ns: list(map(list.__getitem__, arr[rows].tolist(), map(slice, ns)))  # noqa: E731
        self.anchor, self.ans_pos = out.anchor[rows].tolist(), out.ans_pos[rows].tolist()
        self.seed, self.attempts = out.seed[rows].tolist(), out.attempts[rows].tolist()
        self.obs, self.obs_eid = cut(out.obs, nobs), cut(out.obs_eid, nobs)
        self.path = cut(out.path, npath)
        self.path_eid = cut(out.path_eid, [n - 1 for n in npath])
        self.opts, self.via, self.lack = cut(out.opts, nopt), cut(out.via, nopt), cut(out.lack, nopt)
        self.shared, self.neg = cut(out.shared, nopt), cut(out.neg, nopt)
        self.jac = cut(np.round(out.jac.astype(np.float64), 4), nopt)      # NaN: not a distractor
        self.nsib, self.ncand = out.nsib[rows].tolist(), out.ncand[rows].tolist()
        self.nall = out.nall[rows].tolist()

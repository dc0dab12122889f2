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

from fleming.kg.schema import ENTITY_TYPES, RELATION_NAMES, norm_name
from fleming.kg.store import KG
from fleming.records import LETTERS
from fleming.synth.kernel import Out
from fleming.synth.render import Mix, Pack, patient, render
from fleming.synth.sampler import TypePlan, node_column


class Lookup:
    """Bulk look-ups of node and edge columns for one batch (pyarrow ``take``, one call per column)."""

    def __init__(self, kg: KG, records: bool = True):
        self.kg, self.records = kg, records
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

    def edge_columns(self):
        if self._edge_cols is None:
            import pyarrow.parquet as pq

            cols = ["source", "record"] if self.records else ["source"]
            t = pq.read_table(self.kg.path / "edges.parquet", columns=cols)
            self._edge_cols = {c: t.column(c).combine_chunks() for c in cols}
        return self._edge_cols

    def nodes(self, idx: np.ndarray) -> tuple[dict[int, str], dict[int, str]]:
        import pyarrow as pa

        u = np.unique(idx[idx >= 0])
        ids, names = self.kg.ids.take(pa.array(u)).to_pylist(), self.kg.names.take(pa.array(u)).to_pylist()
        keys = u.tolist()
        return dict(zip(keys, ids, strict=True)), dict(zip(keys, names, strict=True))

    def anchor_attrs(self, idx: np.ndarray) -> dict[int, tuple[dict, str]]:
        import pyarrow as pa

        u = np.unique(idx)
        at = self._attrs.take(pa.array(u)).to_pylist()
        fl = self._flags.take(pa.array(u)).to_pylist()
        return {k: (json.loads(a) if a else {}, f or "") for k, a, f in zip(u.tolist(), at, fl, strict=True)}

    def edges(self, eids: np.ndarray) -> dict[int, dict]:
        import pyarrow as pa

        u = np.unique(eids[eids >= 0])
        cols = self.edge_columns()
        src, dst = self.kg.src[u], self.kg.dst[u]
        rel = self._rel_codes[np.searchsorted(self._rel_starts, u, side="right") - 1]
        source = cols["source"].take(pa.array(u)).to_pylist()
        record = cols["record"].take(pa.array(u)).to_pylist() if self.records else [None] * len(u)
        freq = self.kg.frequency[u]
        out = {}
        for i, e in enumerate(u.tolist()):
            f = float(freq[i])
            out[e] = {"edge": e, "src": int(src[i]), "dst": int(dst[i]), "relation": RELATION_NAMES[rel[i]],
                      "source": source[i], "record": record[i],
                      "frequency": None if math.isnan(f) else round(f, 4)}
        return out


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
        self.head = ',"source":"synthetic","split":"train"'
        self.masked = ',"masked":true}' if qt.masked else ',"masked":false}'
        self.meta_head = (f'"language":{_js(pack.language)},"metadata":{{"subject":{_js(qt.subject)},'
                          f'"question_type":{_js(qt.name)},'
                          f'"provenance":{{"generator":"fleming.synth","kg":{_js(info["kg"])},'
                          f'"kg_build":{_js(info["kg_build"])},"question_type":{_js(qt.name)},'
                          f'"template_path":{_js(qt.path)},"language":{_js(pack.language)},'
                          f'"seed":{info["seed"]}')

    def build_all(self, out: Out, slots: list[int]) -> list[tuple[str | None, dict | None, str]]:
        """Per kernel row: (JSON line, record fields, '') for an accepted skeleton, (None, None, drop
        reason) for one dropped at rendering, (None, None, '') for a slot whose attempts all failed."""
        rows = np.flatnonzero(out.status == 0)
        res: list = [(None, None, "")] * len(slots)
        if not len(rows):
            return res
        kg, lk = self.kg, self.lookup
        nodes = np.concatenate([out.anchor[rows], out.obs[rows].ravel(), out.path[rows].ravel(),
                                out.opts[rows].ravel(), out.via[rows].ravel()])
        ids, names = lk.nodes(nodes)
        f = _Fragments(ids, names, {x: ENTITY_TYPES[kg.type_codes[x]] for x in ids},
                       lk.edges(np.concatenate([out.obs_eid[rows].ravel(), out.path_eid[rows].ravel()])))
        attrs = lk.anchor_attrs(out.anchor[rows])
        v = _View(out, rows)
        for j, i in enumerate(rows.tolist()):
            res[i] = self._one(v, j, slots[i], f, attrs)
        return res

    def _one(self, v, j: int, slot: int, f: _Fragments, attrs) -> tuple[str | None, dict | None, str]:
        qt, names, types = self.qt, f.names, f.types
        a, obs, opts, ans_pos, seed = v.anchor[j], v.obs[j], v.opts[j], v.ans_pos[j], v.seed[j]
        ans = opts[ans_pos]
        rng = Mix(seed ^ 0x5EED)
        a_attrs, flags = attrs[a]
        who = (patient(self.pack, a_attrs.get("onset", ()), a_attrs.get("inheritance", ()), rng,
                       [names[x] for x in obs] + [names[a]]) if qt.masked else None)
        r = render(self.pack, qt.name, [names[x] for x in obs if types[x] == "phenotype"],
                   [names[x] for x in obs if types[x] != "phenotype"], None if qt.masked else names[a],
                   who, rng)
        if _mentions(r.question, names[ans]):
            return None, None, "render: the answer is named in the stem"
        letters = LETTERS[:len(opts)]
        fields = {"id": f"synth-{self.info['seed']}-{slot}", "question": r.question,
                  "options": {letters[k]: names[o] for k, o in enumerate(opts)}, "answer": [letters[ans_pos]]}
        p = self.anchor_pos[a]
        opts_js = ",".join(f'"{letters[k]}":{f.name_js(o)}' for k, o in enumerate(opts))
        line = "".join((
            '{"id":"', fields["id"], '"', self.head, ',"question":', _esc(r.question),
            ',"options":{', opts_js,
            '},"answer":["', letters[ans_pos], '"],', self.meta_head,
            f',"stem_template":"{r.stem_id}","question_template":{r.question_index},"slot":{slot},'
            f'"attempt":{v.attempts[j] - 1},"item_seed":{seed}}},"extra":{{',
            '"anchor":', f.node[a][:-1], self.masked, ',"answer":', f.node[ans],
            ',"observed":[', ",".join(f.node[x] for x in obs), '],"patient":',
            "null" if who is None else
            f'{{"onset":{_str(who.onset)},"age":{_str(who.age)},"sex":{_str(who.sex)},'
            f'"sex_from":{_str(who.sex_from)}}}',
            ',"path":', self._path(v.path[j], obs, a, f.id_js), ',"hops":', str(qt.hops),
            ',"triples":[', ",".join(f.triple[e] for e in v.obs_eid[j] + v.path_eid[j]), "]",
            f',"rarity":{{"degree":{self.plan.degree[p]},'
            f'"percentile":{round(float(self.plan.percentile[p]), 2)},'
            f'"decile":{self.plan.decile[p]},"rare":{"true" if self.kg.rare[a] else "false"},'
            f'"rare_flags":{_esc(flags)}}}',
            ',"distractors":[', self._distractors(v, j, obs, opts, ans_pos, letters, f), "]",
            ',"difficulty_features":', self._features(v, j, obs, ans, p, f), "}}}"))
        return line, fields, ""

    def _path(self, path: list[int], obs: list[int], a: int, id_js) -> str:
        seen = ",".join(id_js[x] for x in obs)
        hops = [f'{{"from":[{seen}],"relation":"{self.features}","to":{id_js[a]}}}'] if self.qt.masked else []
        hops += [f'{{"from":{id_js[path[h]]},"relation":"{self.chain_names[h]}","to":{id_js[path[h + 1]]}}}'
                 for h in range(len(path) - 1)]
        return "[" + ",".join(hops) + "]"

    @staticmethod
    def _distractors(v, j, obs, opts, ans_pos, letters, f) -> str:
        out = []
        for k, o in enumerate(opts):
            if k == ans_pos:
                continue
            lack = v.lack[j][k]
            out.append(f'{f.node[o][:-1]},"letter":"{letters[k]}","shared":{v.shared[j][k]},'
                       f'"jaccard":{_num(v.jac[j][k])},"via":{f.id_js[v.via[j][k]]},'
                       f'"lacks":{f.id_js[obs[lack]] if lack >= 0 else "null"},'
                       f'"curated_negative":{"true" if v.neg[j][k] else "false"}}}')
        return ",".join(out)

    def _features(self, v, j, obs, ans, p, f) -> str:
        jacs = [x for k, x in enumerate(v.jac[j]) if x is not None and k != v.ans_pos[j]]
        shared = [x for k, x in enumerate(v.shared[j]) if x >= 0 and k != v.ans_pos[j]]
        freqs = [f.freq[e] for e in v.obs_eid[j] if f.freq[e] is not None]
        return (f'{{"hops":{self.qt.hops},"k_observed":{len(obs)},"n_siblings":{v.nsib[j]},'
                f'"n_candidates":{v.ncand[j]},"n_consistent_anchors":{v.nall[j]},'
                f'"mean_jaccard":{_num(round(sum(jacs) / len(jacs), 4) if jacs else None)},'
                f'"max_jaccard":{_num(max(jacs) if jacs else None)},'
                f'"min_shared":{_num(min(shared) if shared else None)},'
                f'"anchor_degree":{int(self.plan.degree[p])},"answer_degree":{int(self.degree[ans])},'
                f'"observed_mean_frequency":{_num(round(sum(freqs) / len(freqs), 4) if freqs else None)},'
                f'"observed_named_in_answer":{sum(_mentions(f.names[ans], f.names[x]) for x in obs)}}}')


class _Fragments:
    """One batch's nodes and edges as JSON fragments, each encoded once (node objects on first use)."""

    def __init__(self, ids: dict[int, str], names: dict[int, str], types: dict[int, str],
                 edges: dict[int, dict]):
        self.ids, self.names, self.types = ids, names, types
        self.id_js = {x: _esc(i) for x, i in ids.items()}
        self.node = _NodeJSON(self)
        self._names_js: dict[int, str] = {}
        self.triple, self.freq = {}, {}
        for e, r in edges.items():
            meta = f'{{"edge":{e},"source":{_str(r["source"])}'
            if r["record"] is not None:
                meta += f',"record":{_esc(r["record"])}'
            if r["frequency"] is not None:
                meta += f',"frequency":{r["frequency"]!r}'
            self.triple[e] = f'[{self.id_js[r["src"]]},"{r["relation"]}",{self.id_js[r["dst"]]},{meta}}}]'
            self.freq[e] = r["frequency"]


    def name_js(self, x: int) -> str:
        s = self._names_js.get(x)
        if s is None:
            s = self._names_js[x] = _esc(self.names[x])
        return s


class _NodeJSON(dict):
    def __init__(self, f: _Fragments):
        super().__init__()
        self.f = f

    def __missing__(self, x: int) -> str:
        f = self.f
        s = self[x] = f'{{"id":{f.id_js[x]},"name":{_esc(f.names[x])},"type":"{f.types[x]}"}}'
        return s


class _View:
    """The accepted rows of a kernel batch as Python lists (one conversion per batch, not per item)."""

    def __init__(self, out: Out, rows: np.ndarray):
        nobs, nopt = out.nobs[rows].tolist(), out.nopt[rows].tolist()
        npath = (out.path[rows] >= 0).sum(axis=1).tolist()
        cut = lambda arr, ns: [r[:n] for r, n in zip(arr[rows].tolist(), ns, strict=True)]  # noqa: E731
        self.anchor, self.ans_pos = out.anchor[rows].tolist(), out.ans_pos[rows].tolist()
        self.seed, self.attempts = out.seed[rows].tolist(), out.attempts[rows].tolist()
        self.obs, self.obs_eid = cut(out.obs, nobs), cut(out.obs_eid, nobs)
        self.path = cut(out.path, npath)
        self.path_eid = cut(out.path_eid, [n - 1 for n in npath])
        self.opts, self.via, self.lack = cut(out.opts, nopt), cut(out.via, nopt), cut(out.lack, nopt)
        self.shared, self.neg = cut(out.shared, nopt), cut(out.neg, nopt)
        jac = np.round(out.jac[rows].astype(np.float64), 4)
        self.jac = [[None if x != x else x for x in r[:n]] for r, n in zip(jac.tolist(), nopt, strict=True)]
        self.nsib, self.ncand = out.nsib[rows].tolist(), out.ncand[rows].tolist()
        self.nall = out.nall[rows].tolist()


def _mentions(text: str, name: str) -> bool:
    """Whether ``name`` (normalized, 4+ characters) occurs as whole words in ``text``."""
    n = norm_name(name)
    if len(n) < 4 or n.split(" ", 1)[0] not in text.lower():      # cheap test first
        return False
    return f" {n} " in f" {norm_name(text)} "

"""Infobox parser on the real fixtures and edge cases; the dump reader on the real 206-page dump."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleming.cli import build_app
from fleming.kg.wikipedia.dump import classify, read_dump, read_index, write_multistream
from fleming.kg.wikipedia.infobox import parse_infobox


@pytest.fixture(scope="module")
def snippets(kg_dir: Path) -> Path:
    return kg_dir / "wikipedia-wikitext" / "infobox-snippets"


def _facts(box, field):
    return [(f.relation, f.direction, f.target) for f in box.facts if f.field == field]


def test_autism_new_infobox_differential(snippets):
    box = parse_infobox((snippets / "autism_infobox_medical_condition_new.wiki").read_text())
    assert box.template == "infobox medical condition (new)" and box.name == "Autism"
    assert [t for _, _, t in _facts(box, "differential")] == [
        "Reactive attachment disorder",
        "Intellectual disability",
        "Schizophrenia",
    ]
    assert {r for r, _, _ in _facts(box, "differential")} == {"differential_of"}
    med = {f.target: f.target_type for f in box.facts if f.field == "medication"}
    assert med["Atypical antipsychotics"] == "drug_class"  # link target, not display text
    assert ("treats", "in", "Behavioral therapy") in _facts(box, "treatment")
    assert box.attrs["onset"] == "By age two or three"


def test_rh_disease_fields_split_at_br(snippets):
    box = parse_infobox((snippets / "rh_disease_infobox_medical_condition.wiki").read_text())
    assert box.fields["symptoms"] == ["Baby: Low red blood cells, jaundice", "Mother: None"]
    sym = [f for f in box.facts if f.field == "symptoms"]
    assert [(f.target, f.qualifier) for f in sym] == [("Low red blood cells", "Baby"), ("Jaundice", "Baby")]
    assert [t for _, _, t in _facts(box, "complications")] == [
        "Stillbirth",
        "Hydrops fetalis",
        "Intellectual disability",
        "Hearing loss",
        "Vision loss",
    ]
    assert all("<ref" not in s and "NHS2023" not in s for segs in box.fields.values() for s in segs)
    assert box.synonyms == ["Rh-hemolytic disease the newborn", "Rh (D) disease"]


def test_one_line_drug_infobox_gives_its_class(snippets):
    box = parse_infobox((snippets / "pirtobrutinib_infobox_drug_inline.wiki").read_text())
    assert box.kind == "drug"
    assert _facts(box, "class") == [("in_class", "out", "Protein kinase inhibitor")]
    assert {"DrugBank:DB17472", "ATC:L01EL05"} <= set(box.xrefs)
    assert box.attrs["routes_of_administration"] == "By mouth"


def test_nested_templates_refs_positional_and_aliases():
    text = (
        "{{Drugbox | 1 = [[Not a field]] | [[Positional]] | class = {{ubl|[[Beta blocker]]|[[Nitrate]]"
        "<ref>{{cite web|url=http://x|title=[[Wrong]]}}</ref>}}<!-- [[Commented]] --> }}"
    )
    box = parse_infobox(text, title="Drug X")
    assert box.template == "drugbox"
    assert [f.target for f in box.facts] == ["Beta blocker", "Nitrate"]
    old = parse_infobox("{{Infobox disease | Name = Y | OMIM = 123 | ICD10 = {{ICD10|F|84|0|f|80}} }}")
    assert old.xrefs == ["OMIM:123", "ICD10:F84.0"]
    assert parse_infobox("{{Infobox person | name = Z }}") is None


def test_cli_infobox_json(snippets):
    res = CliRunner().invoke(
        build_app(), ["kg", "infobox", str(snippets / "autism_infobox_medical_condition_new.wiki"), "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    diff = [f["target"] for f in out["facts"] if f["relation"] == "differential_of"]
    assert diff == ["Reactive attachment disorder", "Intellectual disability", "Schizophrenia"]
    text = CliRunner().invoke(
        build_app(), ["kg", "infobox", str(snippets / "pirtobrutinib_infobox_drug_inline.wiki")]
    )
    assert "Pirtobrutinib -in_class-> Protein kinase inhibitor" in text.output


def test_dump_reader_extracts_the_medical_pages(dump_path):
    res = read_dump(dump_path)
    assert res.counts["pages"] == 205 and res.counts["redirect"] == 99  # + 1 page outside namespace 0
    assert [p.title for p in res.pages] == ["Autism", "Anatomy", "Abortion"]  # page id order
    reasons = {p.title: p.reason for p in res.pages}
    assert reasons["Autism"] == "infobox:infobox disease" and reasons["Anatomy"] == "category:Anatomy"
    autism = res.pages[0].infobox
    assert {"OMIM:209850", "MESH:D001321"} <= set(autism.xrefs)
    assert res.redirects["AccessibleComputing"] == "Computer accessibility"


def test_biographies_with_medical_death_categories_are_not_medical():
    reason, cats = classify("[[Category:Deaths from lung cancer]]\n[[Category:Soviet film directors]]")
    assert reason is None and cats == ["Deaths from lung cancer", "Soviet film directors"]


def test_multistream_seek_and_processes(dump_path, tmp_path):
    ms, idx = tmp_path / "x-multistream.xml.bz2", tmp_path / "x-multistream-index.txt"
    assert write_multistream(dump_path, ms, idx, pages_per_stream=20) == 206
    rows = read_index(idx)
    assert len({o for o, _, _ in rows}) == 11
    full = read_dump(ms, processes=2)  # index found beside the dump
    assert full.counts["streams_read"] == 11
    assert [p.title for p in full.pages] == ["Autism", "Anatomy", "Abortion"]
    assert full.redirects == read_dump(dump_path).redirects
    one = read_dump(ms, index=idx, titles=["Abortion"])
    assert one.counts["streams_read"] == 1 and one.counts["pages"] == 1
    assert [p.title for p in one.pages] == ["Abortion"]


def test_drug_name_and_inn_name_the_drug():
    box = parse_infobox("{{Infobox drug | drug_name = Paracetamol | INN = Paracetamol "
                        "| class = [[Analgesic]] }}", title="Acetaminophen (page)")
    assert box.name == "Paracetamol" and box.synonyms == ["Acetaminophen (page)"]
    inn = parse_infobox("{{Drugbox | INN = Acetaminophen | class = [[Analgesic]] }}", title="Paracetamol")
    assert inn.name == "Acetaminophen" and inn.synonyms == ["Paracetamol"]
    both = parse_infobox("{{Infobox drug | drug_name = Tylenol | INN = Paracetamol }}", title="Paracetamol")
    assert both.name == "Tylenol" and both.synonyms == ["Paracetamol"]
    assert parse_infobox("{{Infobox drug | class = [[Analgesic]] }}", title="Aspirin").name == "Aspirin"


def test_routes_of_administration_are_link_targets():
    box = parse_infobox("{{Infobox drug | drug_name = X | routes_of_administration = "
                        "[[Oral administration|By mouth]], [[Intravenous therapy|IV]]<br>topical }}",
                        redirects={"By mouth": "Oral"})  # a redirect of the shown text is not followed
    assert box.attrs["routes_of_administration"] == "Oral administration, Intravenous therapy, topical"
    redirected = parse_infobox("{{Infobox drug | routes_of_administration = [[By mouth]] }}",
                               redirects={"By mouth": "Oral administration"})
    assert redirected.attrs["routes_of_administration"] == "Oral administration"

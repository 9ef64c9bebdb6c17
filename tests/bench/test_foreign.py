"""The foreign corpus's question bank is sound: every evidence string is in its module's text and
HTML forms, every answer inside its evidence; the PDF conversion keeps the evidence readable."""

from __future__ import annotations

from edge.bench.foreign import CORPUS, load_questions, make_pdfs, norm, verify
from edge.rag.loaders import load


def test_question_bank_is_verified_against_the_corpus():
    qs = load_questions()
    assert verify(qs) == []
    assert sum(q["kind"] == "fact" for q in qs) >= 60 and sum(q["kind"] == "unanswerable" for q in qs) >= 10
    for q in qs:
        assert q["question"].endswith("?")


def test_unanswerable_questions_name_nothing_in_the_corpus():
    text = " ".join(p.read_text(encoding="utf-8") for p in (CORPUS / "text").glob("*.txt")).lower()
    for word in ("tomllib", "http.server", "shelve", "smtplib", "postgresql", "urlopen", "threadpoolexecutor"):
        assert word not in text, word


def test_pdf_form_keeps_the_evidence(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    mods = ["json", "zlib"]
    for m in mods:
        (src / f"{m}.txt").write_text((CORPUS / "text" / f"{m}.txt").read_text(encoding="utf-8"), encoding="utf-8")
    make_pdfs(src, tmp_path / "pdf")
    for m in mods:
        f = tmp_path / "pdf" / f"{m}.pdf"
        doc = load(f, f.read_bytes())
        assert doc.title == m and len(doc.sections) > 1
        text = norm("\n".join(b.text for s in doc.sections for b in s.blocks))
        for q in load_questions():
            if q.get("module") == m:
                assert norm(q["evidence"]) in text, q["id"]


def test_embedder_comparison_says_when_the_chunkers_differ():
    from edge.bench.foreign import compare_markdown

    def run(emb, chunker=None):
        res = {"n": 70, "evidence_in_top4": 0.8, "evidence_in_top8": 0.9, "doc_recall_at_5": 1.0}
        r = {"default_k": 4, "embedder": emb, "dim": 384, "indexes": {"text": {"bytes_per_chunk": 1600.0, "embed_tokens_per_s": 6000.0}},
             "results": {"shipped defaults (rank.py)": {"text": {"all": res}}, "vector only": {"text": {"all": res}}},
             "latency_ms": {"text": {"p50": 10.0}}}
        if chunker is not None:
            r["chunker"] = chunker
        return r

    same = compare_markdown({"minilm": run("a", 2), "nomic": run("b", 2)})
    assert "chunker version 2" in same and "different chunkers" not in same
    # a run from before versions were recorded was made by the first chunker
    mixed = compare_markdown({"minilm": run("a", 2), "nomic": run("b")})
    assert "chunker version 1" in mixed and "different chunkers" in mixed

"""The answer check on crafted right and wrong answers (no model needed)."""

from edge.grounding import check_answer, extract_spans

PASSAGES = [
    "Have the torque wrench set to 9.0 N·m and the insulated 13 mm socket ready.\nTwo modules with the same address cause E-315.",
    "The installer PIN is 17316. Reset it with `svc pin --reset` or the --factory option.\nReplace fuse CV-FUS-0200 (30 A).",
    "The log level defaults to \"warning\"; the cache holds 1,500 entries and expires after 15 minutes.",
]


def check(answer, question="", passages=PASSAGES):
    return check_answer(answer, passages, question=question)


def test_right_answers_with_the_cited_passage_are_grounded():
    for answer in (
        "Torque the bolts to 9.0 N·m [1].",
        "9 N·m [1]",  # the same quantity written without the decimal
        "Use the --factory option [2].",
        "Replace fuse CV-FUS-0200, rated 30 A [2].",
        "The cache holds 1500 entries [3].",  # thousands separator dropped
        'It defaults to "warning" [3].',
        "Two modules with the same address [1].",
    ):
        c = check(answer)
        assert c.grounded is True, (answer, c)
        assert not c.unsupported


def test_wrong_values_are_flagged_and_named():
    cases = {
        "Torque the bolts to 12 N·m [1].": "12 N·m",
        "The installer PIN is 7316 [2].": "7316",  # a digit run inside another number is not support
        "Use the --factory-reset option [2].": "--factory-reset",
        "Use --fact [2].": "--fact",
        "Replace fuse CV-FUS-0250 [2].": "CV-FUS-0250",
        "It expires after 30 minutes [3].": "30 minutes",
        'It defaults to "error" [3].': "error",
    }
    for answer, span in cases.items():
        c = check(answer)
        assert c.grounded is False, (answer, c)
        assert span in c.unsupported, (answer, c.unsupported)


def test_a_value_from_a_passage_it_does_not_cite_is_unsupported():
    c = check("The PIN is 17316 [1].")
    assert c.grounded is False and c.unsupported == ["17316"] and c.cited == [1]


def test_an_uncited_answer_is_not_grounded_even_when_a_passage_holds_it():
    c = check("Set the wrench to 9.0 N·m.")
    assert c.grounded is False and c.cited == [] and "cites no passage" in c.reason and c.unsupported == []
    c = check("Set the wrench to 11 N·m.")
    assert c.grounded is False and c.unsupported == ["11 N·m"]


def test_citing_a_passage_that_was_not_given_is_not_grounded():
    c = check("9.0 N·m [7]")
    assert c.grounded is False and "[7]" in c.unsupported


def test_declining_asserts_nothing_so_there_is_no_verdict():
    c = check("The documents don't say.")
    assert c.grounded is None and c.abstained


def test_spans_taken_from_the_question_are_not_claims():
    c = check("CV-TRM-0120 is the CAN terminator plug [1].", question="What is CV-TRM-0120?",
              passages=["Use the separate CV-TRM-0120 plug: the CAN terminator plug."])
    assert c.grounded is True and "CV-TRM-0120" not in c.checked


def test_without_checkable_spans_content_words_decide():
    assert check("Wear insulating gloves [1].", passages=["Wear Class 0 insulating gloves and a face shield."]).grounded is True
    assert check("Wear insulating gloves.", passages=["Wear Class 0 insulating gloves and a face shield."]).grounded is False
    c = check("Wear leather welding aprons [1].", passages=["Wear Class 0 insulating gloves and a face shield."])
    assert c.grounded is False and "welding" in c.unsupported


def test_no_passages_means_no_verdict():
    assert check_answer("Paris.", []).grounded is None


def test_span_extraction_kinds():
    kinds = {(s.text, s.kind) for s in extract_spans('Run `edge index add` with --k 5 on CV-FUS-0200, v2.3.1, 9.0 N·m [1]')}
    assert ("edge index add", "quoted") in kinds
    assert ("--k", "option") in kinds
    assert ("CV-FUS-0200", "ident") in kinds and ("v2.3.1", "ident") in kinds
    assert ("9.0 N·m", "number") in kinds and ("5", "number") in kinds
    assert not any(t == "1" for t, _ in kinds)  # the citation marker is not a number

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


def test_a_bare_citation_is_not_an_answer():
    c = check("[1]")
    assert c.grounded is False and "citation" in c.reason
    assert check("[2].").grounded is False


def test_an_answer_made_of_the_questions_words_gets_no_verdict():
    c = check("Yes, the torque wrench [1].", question="Is a torque wrench needed?")
    assert c.grounded is None


# --- where a value stands: the tests that need the question ----------------------------------------

MANUAL = [
    "Torque the M10 busbar studs to 18 N·m.\nTorque the M6 cover screws to 4 N·m.\nThe fan starts at 35 °C and stops at 30 °C.",
    "| Connection | Thread | Torque |\n| Battery terminals | M8 | 9.0 N·m |\n| Shunt bolts | M10 | 18 N·m |",
    "wrap(text, width=70, **kwargs)\n    TextWrapper(width=70, tabsize=8, max_lines=None)",
    "Valid levels range from 1 to 9.\nThe window size is 15 by default.",
    "A short circuit on the output shuts it down within 20 ms (E-207).",
]


def ask(answer, question):
    return check_answer(answer, MANUAL, question=question)


def test_the_right_value_on_the_questions_line_is_grounded():
    for answer, question in (
        ("18 N·m [1]", "What torque do the busbar studs need?"),
        ("9.0 N·m [2]", "What torque do the battery terminals take?"),  # a table row is read with its column heads
        ("35 °C [1]", "At what temperature does the fan start?"),
        ("70 [3]", "What is the default width of a TextWrapper?"),
        ("width=70 [3]", "What is the default width of a TextWrapper?"),
        ("15 [4]", "What is the default window size?"),
        ("20 ms [5]", "Within what time does the output shut down after a short circuit?"),
        ("Torque the studs to 18 N·m [1].", "How tight must the busbar studs be?"),
    ):
        c = ask(answer, question)
        assert c.grounded is True, (answer, question, c)
        assert not c.unsupported


def test_a_value_from_a_line_about_something_else_is_flagged():
    # in the cited passage, but the passages give another torque where they speak of the busbar studs
    c = ask("4 N·m [1]", "What torque do the busbar studs need?")
    assert c.grounded is False and c.unsupported == ["4 N·m"]
    assert "is in the cited passage, but where they speak of" in c.reason and "'busbar'" in c.reason and "18 N·m" in c.reason
    c = ask("18 N·m [2]", "What torque do the battery terminals take?")  # the shunt bolts' row
    assert c.grounded is False and c.unsupported == ["18 N·m"] and "9.0 N·m" in c.reason
    # on a line that shares no key word of the question at all
    c = ask("9 [4]", "What is the default window size?")
    assert c.grounded is False and c.unsupported == ["9"]
    assert c.reason.startswith("'9' is in the cited passage, but not where it speaks of") and "'window'" in c.reason


def test_a_value_of_another_key_is_flagged():
    c = ask("8 [3]", "What is the default width of a TextWrapper?")
    assert c.grounded is False and c.unsupported == ["8"]
    assert "width=70" in c.reason and "tabsize" in c.reason
    c = ask("None [3]", "What is the default width of a TextWrapper?")  # an answer without checkable spans
    assert c.grounded is False and "width=70" in c.reason and "max_lines" in c.reason


def test_a_quantity_of_another_kind_than_the_one_asked_is_flagged():
    c = ask("4 N·m [1]", "At what temperature does the fan start?")
    assert c.grounded is False and c.unsupported == ["4 N·m"]
    assert c.reason == "'4 N·m' is a torque value, but the question asks for a temperature"
    c = ask("E-207 [5]", "Within what time does the output shut down after a short circuit?")
    assert c.grounded is False and "asks for a time, but the answer gives no quantity" in c.reason
    # a quantity word outside what the question asks for does not count: "power" here is not asked for
    assert ask("35 °C [1]", "At what temperature does the fan start when the power is on?").grounded is True


def test_without_the_question_only_the_literal_test_applies():
    assert check_answer("4 N·m [1]", MANUAL).grounded is True
    assert check_answer("8 [3]", MANUAL).grounded is True
    assert check_answer("5 N·m [1]", MANUAL).grounded is False


def test_the_literal_verdicts_come_first():
    # a value the cited passage does not hold is named as such, whatever its line
    c = ask("12 N·m [1]", "What torque do the busbar studs need?")
    assert c.grounded is False and c.unsupported == ["12 N·m"] and "not in the cited passages" in c.reason
    c = ask("18 N·m", "What torque do the busbar studs need?")
    assert c.grounded is False and "cites no passage" in c.reason


def test_question_words_are_compared_lightly_stemmed_and_by_identifier_parts():
    from edge.grounding import _asked_kinds, _key_words, _stem

    assert _stem("voltages") == _stem("voltage") and _stem("rated") == _stem("rate")
    assert _stem("installed") == _stem("install") and _stem("spacing") == _stem("space") and _stem("classes") == _stem("class")
    words = set(_key_words("What is the default maxsize of functools.lru_cache?", question=True))
    assert {_stem(w) for w in ("maxsize", "lru", "cache")} <= words and not words & {"what", "default"}
    assert set(_key_words("TextWrapper(width=70)")) >= {_stem(w) for w in ("text", "wrapper", "width")}
    assert _asked_kinds("When attaching the conductor, what clamp torque applies?") == {"torque"}
    assert _asked_kinds("What battery state of charge restores power to loads?") == {"ratio"}  # a share, not a power
    assert _asked_kinds("What charge level is recommended for a module in storage?") == {"ratio"}
    assert _asked_kinds("How long must I wait?") == {"time", "length"}
    assert _asked_kinds("What is the changeover time of the switch?") == {"time"}


TABLE = [
    "| Tilt | Anchor spacing |\n|---|---|\n| 25° | 1,480 mm |\n| 30° | 1,420 mm |\n| 35° | 1,330 mm |",
    "The SV-480 draws about 4 W in hibernate mode.\nThe heater runs between 2 °C and 8 °C of cell temperature.",
]


def test_a_number_the_question_gives_picks_the_line():
    q = "What anchor spacing corresponds to a 35-degree tilt?"
    assert check_answer("1,330 mm [1]", TABLE, question=q).grounded is True
    c = check_answer("1,420 mm [1]", TABLE, question=q)
    assert c.grounded is False and c.unsupported == ["1,420 mm"] and "not on a line about 35" in c.reason
    # a number inside a name (SV-480) is not a quantity the question gives
    assert check_answer("about 4 W [2]", TABLE, question="What power does the SV-480 draw in hibernate mode?").grounded is True


def test_a_question_for_two_values_is_not_answered_by_one():
    q = "Between which cell temperatures does the heater run?"
    assert check_answer("2 °C and 8 °C [2]", TABLE, question=q).grounded is True
    c = check_answer("8 °C [2]", TABLE, question=q)
    assert c.grounded is False and "asks for two values" in c.reason
    c = check_answer("1,330 mm [1]", TABLE, question="Which tilt is steepest, and how long is the anchor spacing there?")
    assert c.grounded is False and "asks for two values" in c.reason
    # "range" far from the what/which it follows names a thing, not the value asked for
    assert check_answer("1,330 mm [1]", TABLE, question="What anchor spacing does a 35-degree tilt give across the tilt range?").grounded is True
    # a comma alone does not make a second question
    assert check_answer("1,330 mm [1]", TABLE, question="At a 35-degree tilt, how long is the anchor spacing?").grounded is True


def test_a_list_on_one_line_is_read_clause_by_clause():
    line = ["The anchor spacing depends on the tilt: 1,480 mm for 15°, 1,420 mm for 25°, 1,330 mm for 35° and 1,210 mm for 45°."]
    q = "What anchor spacing corresponds to a 35-degree tilt?"
    assert check_answer("1,330 mm [1]", line, question=q).grounded is True
    c = check_answer("1,420 mm [1]", line, question=q)
    assert c.grounded is False and c.unsupported == ["1,420 mm"] and "in another part of it" in c.reason


def test_the_column_the_question_names_holds_the_value():
    table = ["| Setting | Normal | Winter Mode |\n|---|---|---|\n| Load shedding SoC | 10 % | 20 % |\n| Absorption time | 30 min | 60 min |"]
    q = "Under Winter Mode, which state of charge triggers load shedding?"
    assert check_answer("20 % [1]", table, question=q).grounded is True
    c = check_answer("10 % [1]", table, question=q)
    assert c.grounded is False and c.reason == "'10 %' is in the row, but under 'Normal', not 'Winter Mode'"
    # a question that names no column (or both) leaves the row test as it was
    assert check_answer("30 min [1]", table, question="What absorption time applies?").grounded is True


SPEC = [
    "| Item | Value |\n|---|---|\n| Panel mass | 21.3 kg |\n| Clamps per row | 32 |\n| Pad tilt tolerance | 2° |",
    "Breaker CV-BRK-0100: 80 V DC, 100 A.\nFault E-315 clears after 3 seconds. Fault E-401 means an open fuse.",
    "insort_right(a, x, lo=0, hi=None)\n    Insert item x in list a.\n"
    "task_done()\n    Raises a ValueError if called more times than there were items placed in the queue.",
]


def test_a_count_of_things_is_not_the_quantity_asked_for():
    q = "What is the mass of a single panel in the array?"
    assert check_answer("21.3 kg [1]", SPEC, question=q).grounded is True
    c = check_answer("32 clamps [1]", SPEC, question=q)
    assert c.grounded is False and c.unsupported == ["32"] and "counts clamps" in c.reason
    # a multiple of a quantity is not a count
    assert check_answer("2.5 times their height [1]", ["Keep 2.5 times their height away from trees."],
                        question="What minimum distance from tall trees is required?").grounded is True


def test_angles_are_a_kind_of_quantity():
    c = check_answer("80 V [2]", SPEC, question="What tilt tolerance applies to the pad?")
    assert c.grounded is False and c.reason == "'80 V' is a voltage value, but the question asks for an angle"
    assert check_answer("2° [1]", SPEC, question="What tilt tolerance applies to the pad?").grounded is True


def test_two_quantities_named_together_need_both():
    q = "How is the breaker CV-BRK-0100 rated in voltage and current?"
    assert check_answer("80 V DC, 100 A [2]", SPEC, question=q).grounded is True
    c = check_answer("100 A [2]", SPEC, question=q)
    assert c.grounded is False and "gives no voltage" in c.reason
    # "values of lo and hi": two values, which name=value pairs give as well as bare numbers
    q = "What are the default values of lo and hi in bisect.insort_right?"
    assert check_answer("lo=0, hi=None [3]", SPEC, question=q).grounded is True
    assert check_answer("0 [3]", SPEC, question=q).grounded is False


def test_a_code_the_passages_never_mention_is_not_answered_by_another_codes_line():
    c = check_answer("after 3 seconds [2]", SPEC, question="When does fault E-327 clear?")
    assert c.grounded is False and "no passage mentions E-327" in c.reason and "E-315" in c.reason
    assert check_answer("after 3 seconds [2]", SPEC, question="When does fault E-315 clear?").grounded is True
    # a name no passage holds, with nothing of its kind in them, is left to the other tests
    assert check_answer("after 3 seconds [2]", SPEC, question="When does fault E-315 on the MU-7 clear?").grounded is True


def test_an_exception_asked_for_is_answered_by_an_exception():
    q = "Which exception does Queue.task_done raise when called too often?"
    assert check_answer("ValueError [3]", SPEC, question=q).grounded is True
    assert check_answer("It raises ValueError. [3]", SPEC, question=q).grounded is True  # the full stop is not the name's
    c = check_answer("items [3]", SPEC, question=q)
    assert c.grounded is False and "names none" in c.reason


def test_a_version_is_one_value_and_its_head_is_not_in_it():
    p = ["Firmware levels: MU 2.4.1, inverter 1.6.0."]
    q = "What firmware level does this manual list for the monitoring unit?"
    assert extract_spans("2.4.1 [1]")[0].text == "2.4.1"
    assert check_answer("2.4.1 [1]", p, question=q).grounded is True
    c = check_answer("2.4 [1]", p, question=q)  # 2.4 is not in 2.4.1
    assert c.grounded is False and c.unsupported == ["2.4"]
    # "current" before a noun means "present", not an electric current
    assert check_answer("1.6.0 [1]", p, question="What is the current firmware release of the inverter?").grounded is True


def test_words_that_name_several_kinds_and_units_the_question_names():
    from edge.grounding import _asked_kinds

    assert _asked_kinds("Which string cable size is needed?") == {"area", "length", "data", "volume"}
    assert "time" in _asked_kinds("What is the storage depth of the log in days?")
    p = ["| Distance | Cable | Current |\n|---|---|---|\n| 38 m | 10 mm² | 10.62 A |"]
    q = "If the panels are 38 m from the combiner box, which string cable size is needed?"
    assert check_answer("10 mm² [1]", p, question=q).grounded is True
    c = check_answer("10.62 A [1]", p, question=q)
    assert c.grounded is False and "is a current value" in c.reason

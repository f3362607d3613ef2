"""The fact-checker on prose with planted errors, against the hand-built series of finance_kit:
wrong numbers and direction words are rewritten, claims tied to no fact remove their sentence,
and the final text re-checks clean."""

from __future__ import annotations

import pytest
from finance_kit import DATES, JUMP, known_book

from genforge.recipes.finance.factcheck import count_unverified, fact_check


@pytest.fixture(scope="module")
def book():
    return known_book()


def facts(book, key, ticker="ACME"):
    return book.of(ticker).facts[key]


def test_true_claims_are_verified_and_kept(book):
    r3 = facts(book, "return.3M").value
    text = (f"Over the past three months, ACME shares rose {r3:.1f}%. "
            f"ACME last closed at $200.00, above its 200-day moving average. "
            f"The 50-day moving average formed a golden cross on {DATES[JUMP]:%Y-%m-%d}. "
            "ACME trades at a P/E of 40.0 and a debt-to-equity ratio of 0.50.")  # fmt: skip
    rep = fact_check(text, book, "ACME")
    assert rep.text == text
    assert rep.removed == 0 and rep.rewritten == 0
    assert {c.verdict for c in rep.checks} == {"verified"} and len(rep.checks) == 8
    assert rep.unverified == 0


def test_tolerance_follows_the_shown_rounding(book):
    r = facts(book, "return.3M").value  # 104.83...
    ok = fact_check(f"Over the past three months, ACME rose {round(r)}%.", book)
    assert ok.rewritten == 0  # "105%" is right to the unit
    off = fact_check(f"Over the past three months, ACME rose {r + 0.06:.2f}%.", book)
    assert off.rewritten == 1 and f"{r:.1f}%" in off.text


def test_planted_wrong_numbers_are_rewritten(book):
    text = ("Over the past three months, ACME shares rose 12.3%. ACME's annualised volatility "
            "was 99.0%. The maximum drawdown of ACME was 40.0%, from a peak on 2024-03-01 to a "
            "trough on 2024-06-30. ACME last closed at $150.25. ACME has made 3 crossovers.")  # fmt: skip
    rep = fact_check(text, book, "ACME")
    f = book.of("ACME").facts
    for claim, want in [("12.3%", f["return.3M"].display()), ("99.0%", f["volatility"].display()),
                        ("40.0%", f"{abs(f['drawdown'].value):.1f}%"),
                        ("2024-03-01", f["drawdown_peak"].value),
                        ("2024-06-30", f["drawdown_trough"].value), ("$150.25", "$200.00"),
                        ("3 crossovers", "1 crossover")]:  # fmt: skip
        check = next(c for c in rep.checks if c.claim == claim)
        assert (check.verdict, check.action, check.replacement) == ("wrong", "rewritten", want)
        assert claim not in rep.text and want in rep.text
    assert rep.removed == 0 and rep.unverified == 0


def test_planted_wrong_direction_words_are_rewritten(book):
    r3 = facts(book, "return.3M").display()
    beta = facts(book, "return.3M", "BETA")
    text = (f"Over the past three months, ACME shares fell {r3}. "
            f"ACME last closed below its 200-day moving average. "
            f"The regression trend of ACME is a downtrend. "
            f"The 50-day moving average of ACME formed a death cross on {DATES[JUMP]:%Y-%m-%d}. "
            f"Over the past three months BETA gained {abs(beta.value):.1f}%.")  # fmt: skip
    rep = fact_check(text, book, "ACME")
    assert [(c.claim, c.replacement) for c in rep.checks if c.action == "rewritten"] == [
        ("fell", "rose"), ("below", "above"), ("downtrend", "uptrend"),
        ("death cross", "golden cross"), ("gained", "lost"),
    ]  # fmt: skip
    assert "is an uptrend" in rep.text  # the article follows the rewritten word
    assert "ACME shares rose" in rep.text and "BETA lost" in rep.text
    assert count_unverified(rep.text, book, "ACME") == 0


def test_unidentifiable_claims_remove_their_sentence(book):
    keep = "ACME last closed at $200.00."
    planted = [
        "ACME rose 7.5% over 7 weeks.",  # no such window
        "ACME rose 7.5%.",  # a return, but over which window?
        "ACME did not fall over the past year.",  # negated direction
        "Over the past year, ZZZZ shares rose 4.0%.",  # a company without facts here
        "On valuation, ACME trades at a P/E of 37.8%.",  # a percent where a ratio belongs
        "ACME trades at 3.1 times sales.",  # a ratio the facts do not hold
        "ACME reported results in Q3.",  # a stray digit
        "ACME's volatility was higher.",  # a direction with no signed fact behind it
    ]
    rep = fact_check(" ".join([keep, *planted]), book, "ACME")
    assert rep.text == keep
    assert rep.removed == len(planted) and rep.unverified == 0
    removed = {c.sentence for c in rep.checks if c.action == "removed"}
    assert removed == set(range(2, 2 + len(planted)))


def test_month_name_dates_and_signed_numbers(book):
    text = ("The maximum drawdown of ACME ran from a peak on March 1, 2024 to a trough on "
            "June 3, 2024. Over the past year, ACME returned -3.0%.")  # fmt: skip
    rep = fact_check(text, book, "ACME")
    peak, trough = facts(book, "drawdown_peak").value, facts(book, "drawdown_trough").value
    assert peak == "2024-01-01" and "peak on January 1, 2024" in rep.text
    t = DATES[JUMP - 1]
    assert trough == f"{t:%Y-%m-%d}" and f"trough on {t:%B} {t.day}, {t.year}" in rep.text
    want = facts(book, "return.1Y").value
    assert f"+{want:.1f}%" in rep.text and rep.unverified == 0


def test_above_below_in_a_crossover_sentence_follow_the_event(book):
    day = f"{DATES[JUMP]:%Y-%m-%d}"
    text = (f"The 50-day moving average of ACME crossed below the 200-day average on {day}, "
            "a death cross.")  # fmt: skip
    rep = fact_check(text, book, "ACME")
    assert rep.text == (f"The 50-day moving average of ACME crossed above the 200-day average on "
                        f"{day}, a golden cross.")  # fmt: skip
    # a wrong date moves to the last cross of the stated kind; the words follow that event
    rep = fact_check("ACME's 50-day average crossed below its 200-day on 2024-02-01, a golden cross.",
                     book, "ACME")  # fmt: skip
    assert rep.text == f"ACME's 50-day average crossed above its 200-day on {day}, a golden cross."
    assert rep.unverified == 0

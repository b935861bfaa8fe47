"""Which voice of a diarized mono call is the agent (coach.mono.pick_agent), on the real rulebook.

Customers greet and thank too, and Whisper garbles the agent's own opening on 8 kHz
lines, so a one-step lead in script steps is weaker evidence than who opened the
call; an outbound call's "Алло?" opens nothing.
"""

from __future__ import annotations

import pytest

from coach.contract import AGENT, CUSTOMER, Utterance, Word
from coach.mono import opener, pick_agent


def line(voice: int, start: float, text: str) -> tuple[int, Utterance]:
    """(voice, utterance) with evenly spaced word times, 0.35 s a word."""
    words = [Word(w, start + 0.35 * k, start + 0.35 * (k + 1)) for k, w in enumerate(text.split())]
    return voice, Utterance(AGENT, start, words[-1].end, text, words)


@pytest.fixture()
def roles(coach):
    def pick(voiced: list[tuple[int, Utterance]]):
        end = voiced[-1][1].end + 2.0
        return pick_agent(voiced, lambda: coach.new_session((AGENT, CUSTOMER), "ru"), end)
    return pick


# A help-desk call opened by the agent with a bare department answer (no greeting, no name
# question caught), the customer greeting, naming her department and saying goodbye: as the
# agent, the customer performs one script step more (greeting), both close.
HELPDESK = [
    line(0, 0.5, "Техподдержка, слушаю."),
    line(1, 2.5, "Здравствуйте, это отдел кадров, у нас пропала общая папка с отчётами."),
    line(0, 8.0, "Папку восстановит администратор вашей компании, я передам ему заявку."),
    line(1, 13.0, "Хорошо, спасибо, до свидания."),
    line(0, 15.0, "Спасибо за обращение, до свидания."),
]


def test_the_voice_that_opened_the_call_stays_the_agent_one_script_step_behind(roles):
    found = roles(HELPDESK)
    assert found.evidence[1] - found.evidence[0] == 1  # the customer "performs" one step more
    assert found.agent == 0
    assert found.confidence == 0.5  # order and words disagree: said, not hidden


def test_two_steps_more_outweigh_the_opening(roles):
    """The other voice greets with the company and its name, asks the customer's name and
    closes; the first voice only asked a question: that voice is the customer who spoke first."""
    voiced = [
        line(1, 0.3, "Алло?"),
        line(0, 1.5, "Подскажите, вы ещё работаете?"),
        line(1, 4.0, "Добрый день, компания Телеком, меня зовут Ольга. Как я могу к вам обращаться?"),
        line(0, 9.0, "Меня зовут Иван, у меня не работает интернет."),
        line(1, 13.0, "Иван, проверю линию. Спасибо за обращение, всего доброго!"),
    ]
    found = roles(voiced)
    assert found.evidence[1] - found.evidence[0] >= 2
    assert found.agent == 1 and found.confidence > 0.5


def test_an_introduction_whose_greeting_word_was_lost_keeps_the_opener(roles):
    """The agent names the company and herself but no greeting word came through (Whisper's
    "Glock up ... customer care, this is Daniel speaking" on an 8 kHz copy); the customer greets
    with her name and says goodbye, two whole steps more. The introduction weighs half a step:
    the opener stays the agent, and the split says it is unsure."""
    voiced = [
        line(0, 0.3, "Компания Вектор, меня зовут Ольга, слушаю вас."),
        line(1, 3.5, "Здравствуйте, меня зовут Ирина, у меня сломался чайник, который я у вас купила."),
        line(0, 9.5, "Назовите номер заказа, пожалуйста."),
        line(1, 12.0, "Сто двадцать семь."),
        line(0, 14.0, "Чайник заменим, курьер привезёт новый в четверг."),
        line(1, 18.0, "Хорошо, спасибо, до свидания."),
    ]
    found = roles(voiced)
    assert found.evidence[1] - found.evidence[0] == 2  # whole steps: the customer's greeting and goodbye
    assert found.agent == 0
    assert found.confidence == 0.5


def test_a_bare_answer_does_not_open_the_call():
    """Outbound: the customer picks up ("Алло? Да, слушаю") and the agent's first words open it."""
    outbound = [
        line(1, 0.3, "Алло?"),
        line(1, 1.2, "Да, слушаю."),
        line(0, 2.5, "Добрый день, банк Восток, меня зовут Ольга."),
    ]
    assert opener(outbound) == 0
    assert opener([line(1, 0.3, "Здравствуйте!"), line(0, 1.0, "Добрый день, магазин Уют.")]) == 0
    assert opener([line(1, 0.3, "Алло, это магазин?"), line(0, 1.0, "Да.")]) == 1
    assert opener([line(1, 0.3, "Алло?")]) == 1  # nobody opened it: the first voice heard
    assert opener([]) == 0


def test_a_doubted_split_withholds_the_phrases_the_other_voice_said(coach, roles):
    """Judged one voice, scored as the agent alone: the customer's "Не кричите на меня" and
    "Я не виновата" would be the agent's. Where the two-way split still leans one way (role
    confidence 0.5), coach.call_scoring withholds the phrase findings said in the other voice's
    stretches; the agent's own phrase and the call-level findings stay."""
    from coach.call_scoring import (
        DOUBT_SPLIT_ROLE_CONFIDENCE,
        KEEP_SPLIT_ROLE_CONFIDENCE,
        WITHHELD_CATEGORIES,
    )

    voiced = [
        line(0, 0.5, "Служба доставки, слушаю."),
        line(1, 2.5, "Здравствуйте, я не виновата, что меня не было дома, не кричите на меня."),
        line(0, 8.0, "Я вас понимаю, курьер позвонит за час. Понятия не имею, почему он не позвонил."),
        line(1, 14.0, "Хорошо, спасибо, до свидания."),
        line(0, 16.0, "Спасибо за обращение, до свидания."),
    ]
    found = roles(voiced)
    assert found.agent == 0 and DOUBT_SPLIT_ROLE_CONFIDENCE <= found.confidence < KEEP_SPLIT_ROLE_CONFIDENCE
    session = coach.new_session((AGENT,), "ru")  # one voice: every word is the agent's
    for _, utt in voiced:
        session.add_utterance(utt)
    session.finish(20.0)
    said = {(e.category, e.start) for e in session.events if e.category == "forbidden_phrase"}
    assert any(start >= 14.0 or 2.5 <= start < 8.0 for _, start in said)  # the customer's, blamed
    other = [(u.start, u.end) for v, u in voiced if v != found.agent]
    agent = [(u.start, u.end) for v, u in voiced if v == found.agent]
    gone = session.withdraw_spoken_in(WITHHELD_CATEGORIES, other, agent)
    assert gone and all(2.5 <= e.start < 8.0 for e in gone)
    left = [e for e in session.events if e.category == "forbidden_phrase"]
    assert left and all(8.0 <= e.start < 14.0 for e in left)  # "Понятия не имею": the agent's
    assert not [e for e in gone if e.call_level]


def test_filler_episodes_end_where_a_doubted_split_heard_the_other_voice(coach):
    """Scored as the agent alone, the customer's lines come as the agent's, and with no turn
    between them the agent's filler episodes ran together (held-out set 14's filler call, judged
    one voice: 4 episodes for 12). With the doubted split's other-voice stretches in the state
    (coach.call_scoring sets them), each of the agent's answers is its own episode."""
    voiced = [line(0, 0.5, "Ну, короче, служба доставки, слушаю вас.")]
    for _ in range(5):  # back to back, 0.3 s apart: only the change of voice ends an episode
        voiced.append(line(1, voiced[-1][1].end + 0.3, "А где мой заказ, я жду с утра?"))
        voiced.append(line(0, voiced[-1][1].end + 0.3, "Ну, это, короче, типа курьер едет, как бы скоро."))

    def episodes(elsewhere: list[tuple[float, float]]) -> int:
        session = coach.new_session((AGENT,), "ru")  # one voice: every line is the agent's
        session.state.elsewhere = elsewhere
        for _, utt in voiced:
            session.add_utterance(utt)
        session.finish(60.0)
        return len([e for e in session.events if e.category == "filler_words"])

    other = [(u.start, u.end) for v, u in voiced if v == 1]
    assert episodes([]) < 6 == episodes(other)


def _alone_then_withheld(coach, roles, voiced):
    """The call scored as the agent alone, then what the doubted split takes back
    (coach.call_scoring); returns (call-level categories before, after, notes)."""
    from coach.call_scoring import KEEP_SPLIT_ROLE_CONFIDENCE, DoubtedSplit, _withhold_doubted

    found = roles(voiced)
    assert found.agent == 0 and 0.5 <= found.confidence < KEEP_SPLIT_ROLE_CONFIDENCE  # a doubted split
    session = coach.new_session((AGENT,), "ru")  # one voice: every word is the agent's
    for _, utt in voiced:
        session.add_utterance(utt)
    session.finish(voiced[-1][1].end + 2.0)
    before = {e.category for e in session.events if e.call_level}
    notes: list[str] = []
    _withhold_doubted(session, DoubtedSplit([(u.start, u.end) for v, u in voiced if v != 0],
                                            [(u.start, u.end) for v, u in voiced if v == 0],
                                            found.call_findings[0]), notes)
    return before, {e.category for e in session.events if e.call_level}, notes


def _boat_trip(customer_opens: str, agent_answers: str) -> list[tuple[int, Utterance]]:
    """A booking call whose customer opens with `customer_opens` (40 s: calls under 30 s are
    never judged on the name). The agent's last line closes nothing, so the two voices' script
    steps tie and only the order says who the agent is: a doubted split (role confidence 0.5)."""
    return [
        line(0, 0.5, "Добрый день, компания Речные прогулки, меня зовут Олег. Чем могу помочь?"),
        line(1, 8.0, customer_opens),
        line(0, 18.0, agent_answers),
        line(1, 26.0, "Двое взрослых и внук."),
        line(0, 32.0, "Отлично, бронь оформлена, ждём вас в субботу."),
        line(1, 40.0, "Спасибо, до свидания."),
    ]


def test_a_name_the_customer_volunteered_is_not_called_never_asked_on_a_doubted_split(coach, roles):
    """Read as the agent alone, the customer's "Это Надежда вам звонит" is the agent's own line,
    and the call "never asked the name" (held-out set 14's boat-trip mono copy). The doubted
    split hears the customer give it: the two readings disagree, and the finding goes, with a
    note."""
    before, after, notes = _alone_then_withheld(coach, roles, _boat_trip(
        "Здравствуйте, Олег. Это Надежда вам звонит, хочу забронировать прогулку.",
        "Надежда, с удовольствием помогу. Сколько вас будет человек?"))
    assert "name_not_asked" in before and "name_not_asked" not in after
    assert any("name_not_asked" in note for note in notes)


def test_a_name_never_asked_in_either_reading_stays(coach, roles):
    before, after, notes = _alone_then_withheld(coach, roles, _boat_trip(
        "Здравствуйте, хочу забронировать прогулку на субботу.",
        "С удовольствием помогу. Сколько вас будет человек?"))
    assert "name_not_asked" in before and "name_not_asked" in after and not notes

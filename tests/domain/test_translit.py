"""Tests for the Kontsevich Hangul → Cyrillic transliteration.

The expected values were worked out by hand from the Kontsevich tables
documented in ``haven/domain/translit.py``, not copied from the program output.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from haven.content import words
from haven.domain.translit import EXCEPTIONS, to_cyrillic

# (hangul, russian, ukrainian), all with capitalize=True.
PAIRS: list[tuple[str, str, str]] = [
    # Known pairs.
    ("조선", "Чосон", "Чосон"),
    ("김일성", "Ким Ирсон", "Кім Ірсон"),
    ("부산", "Пусан", "Пусан"),
    ("한국", "Хангук", "Хангук"),
    ("평양", "Пхёнъян", "Пхьон’ян"),
    ("손 들어", "Сон тыро", "Сон тиро"),
    ("서울", "Сеул", "Сеул"),
    # Phrases a soldier would say or hear.
    ("무기를 버리시오", "Мугирыль порисио", "Мугіриль порісіо"),
    ("엎드리시오", "Оптырисио", "Оптирісіо"),
    ("다쳤습니까", "Тачхёссымникка", "Тачхьоссимнікка"),
    ("물", "Муль", "Муль"),
    ("의사", "Ыйса", "Ийса"),
    ("괜찮습니다", "Квэнчханссымнида", "Квенчханссимніда"),
    ("따라오시오", "Ттараосио", "Ттараосіо"),
    ("몇 명입니까", "Мёт мёнъимникка", "Мьот мьон’імнікка"),
    ("조선인민군", "Чосонинмингун", "Чосонінмінгун"),
    ("로씨야", "Россия", "Россія"),
    ("감사합니다", "Камсахамнида", "Камсахамніда"),
    ("안녕하세요", "Аннёнхасеё", "Анньонхасейо"),
    ("항복하겠습니다", "Ханбокхагессымнида", "Ханбокхагессимніда"),
    ("살려 주세요", "Саллё чусеё", "Салльо чусейо"),
    ("대한민국", "Тэханмингук", "Теханмінгук"),
    ("아니요", "Аниё", "Анійо"),
    ("네", "Не", "Не"),
    ("예", "Йе", "Є"),
    ("좋아요", "Чоаё", "Чоайо"),
    ("병원", "Пёнвон", "Пьонвон"),
    # Junction-table cases.
    ("학교", "Хаккё", "Хаккьо"),  # ㄱ+ㄱ
    ("국민", "Кунмин", "Кунмін"),  # ㄱ+ㅁ → нм
    ("신라", "Силла", "Сілла"),  # ㄴ+ㄹ → лл
    ("종로", "Чонно", "Чонно"),  # ㅇ+ㄹ → нн
    ("십만", "Симман", "Сімман"),  # ㅂ+ㅁ → мм
    ("영변", "Ёнбён", "Йонбьон"),  # ㅇ+ㅂ → нб, ё/йо/ьо
    ("일어나", "Ирона", "Ірона"),  # ㄹ between vowels → р
    ("손들어", "Сондыро", "Сондиро"),  # ㄴ+ㄷ → нд inside one word
    ("같이", "Качхи", "Качхі"),  # palatalisation ㅌ+이
    ("앉아", "Анджа", "Анджа"),  # double final before a vowel
    ("많이", "Мани", "Мані"),  # silent ㅎ in ㄶ
]


@pytest.mark.parametrize(("hangul", "russian", "ukrainian"), PAIRS)
def test_known_pairs_ru(hangul: str, russian: str, ukrainian: str) -> None:
    assert to_cyrillic(hangul, capitalize=True) == russian


@pytest.mark.parametrize(("hangul", "russian", "ukrainian"), PAIRS)
def test_known_pairs_uk(hangul: str, russian: str, ukrainian: str) -> None:
    assert to_cyrillic(hangul, "uk", capitalize=True) == ukrainian


def test_default_is_lower_case_russian() -> None:
    assert to_cyrillic("조선") == "чосон"
    assert to_cyrillic("평양", target="ru") == "пхёнъян"


def test_capitalize_only_first_word_of_text() -> None:
    assert to_cyrillic("손 들어", capitalize=True) == "Сон тыро"
    assert to_cyrillic("손 들어") == "сон тыро"
    assert to_cyrillic("«조선» 한국", capitalize=True) == "«Чосон» хангук"


def test_exceptions_keep_their_own_capitals() -> None:
    assert to_cyrillic("김일성") == "Ким Ирсон"
    assert to_cyrillic("서울") == "Сеул"
    assert to_cyrillic("김정은", "uk") == "Кім Чен Ин"
    assert set(EXCEPTIONS) == {"서울", "김일성", "김정일", "김정은"}


def test_pyongyang_is_never_pkhenyan() -> None:
    assert to_cyrillic("평양", capitalize=True) != "Пхеньян"


def test_mixed_text_passes_non_hangul_through() -> None:
    assert to_cyrillic("Hello, 조선! 123 한국.") == "Hello, чосон! 123 хангук."
    assert to_cyrillic("рус ы и е ё ъ 평양", "uk") == "рус ы и е ё ъ пхьон’ян"


def test_unknown_target_rejected() -> None:
    with pytest.raises(ValueError, match="unsupported target"):
        to_cyrillic("조선", "de")  # type: ignore[arg-type]


def _is_syllable(char: str) -> bool:
    return "\uac00" <= char <= "\ud7a3"


non_hangul_text = st.text().filter(lambda t: not any(_is_syllable(c) for c in t))
hangul_word = st.text(
    alphabet=st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3), min_size=1
)
targets = st.sampled_from(["ru", "uk"])


@given(text=st.text(), target=targets, capitalize=st.booleans())
def test_arbitrary_text_never_raises(text: str, target: str, capitalize: bool) -> None:
    result = to_cyrillic(text, target, capitalize=capitalize)  # type: ignore[arg-type]
    assert isinstance(result, str)


@given(text=non_hangul_text, target=targets, capitalize=st.booleans())
def test_non_hangul_text_is_unchanged(text: str, target: str, capitalize: bool) -> None:
    assert to_cyrillic(text, target, capitalize=capitalize) == text  # type: ignore[arg-type]


@given(
    words=st.lists(hangul_word, max_size=5),
    separators=st.lists(non_hangul_text.filter(bool), min_size=6, max_size=6),
    target=targets,
)
def test_non_hangul_segments_pass_through_in_place(
    words: list[str], separators: list[str], target: str
) -> None:
    text = separators[0]
    expected = separators[0]
    for word, separator in zip(words, separators[1:], strict=False):
        text += word + separator
        expected += to_cyrillic(word, target) + separator  # type: ignore[arg-type]
    assert to_cyrillic(text, target) == expected  # type: ignore[arg-type]


_CYRILLIC_OUTPUT = re.compile(r"[\u0400-\u04ff ’]*")


@given(
    text=st.text(
        alphabet=st.one_of(st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3), st.just(" "))
    ),
    target=targets,
    capitalize=st.booleans(),
)
def test_hangul_only_input_gives_only_cyrillic(text: str, target: str, capitalize: bool) -> None:
    result = to_cyrillic(text, target, capitalize=capitalize)  # type: ignore[arg-type]
    assert _CYRILLIC_OUTPUT.fullmatch(result), result
    assert result.count(" ") >= text.count(" ")
    if text.strip():
        assert result.strip()


# Every code-phrase word as said, in Russian Cyrillic, checked by hand against the Kontsevich
# tables and the sound changes of ``SPOKEN``: this is what the unit at the front reads aloud.
CODE_WORDS_RU: dict[str, str] = {
    "소나무": "сонаму",
    "제비": "чеби",
    "사과": "сагва",
    "바다": "пада",
    "구름": "курым",
    "호수": "хосу",
    "나비": "наби",
    "진달래": "чиндаллэ",
    "하늘": "ханыль",
    "무지개": "муджигэ",
    "바위": "пави",
    "강물": "канмуль",
    "들판": "тыльпхан",
    "언덕": "ондок",
    "샘물": "сэммуль",
    "이슬": "исыль",
    "안개": "ангэ",
    "달빛": "тальппит",
    "은하수": "ынхасу",
    "단풍": "танпхун",
    "민들레": "миндылле",
    "국화": "кукхва",
    "살구": "сальгу",
    "복숭아": "поксунъа",
    "포도": "пходо",
    "수박": "субак",
    "참외": "чхамве",
    "감자": "камджа",
    "강냉이": "каннэнъи",
    "오이": "ои",
    "고추": "кочху",
    "도토리": "тотхори",
    "딸기": "ттальги",
    "앵두": "энду",
    "참새": "чхамсэ",
    "까치": "ккачхи",
    "비둘기": "пидульги",
    "두루미": "туруми",
    "꾀꼬리": "кквеккори",
    "종달새": "чондальссэ",
    "토끼": "тхокки",
    "다람쥐": "тарамджви",
    "사슴": "сасым",
    "노루": "нору",
    "고양이": "коянъи",
    "강아지": "канъаджи",
    "병아리": "пёнъари",
    "잉어": "инъо",
    "고래": "корэ",
    "개구리": "кэгури",
    "잠자리": "чамджари",
    "꿀벌": "ккульболь",
    "반디불": "пандиппуль",
    "달팽이": "тальпхэнъи",
    "메뚜기": "меттуги",
    "기러기": "кироги",
    "갈매기": "кальмэги",
    "주전자": "чуджонджа",
    "숟가락": "суткарак",
    "밥상": "папсан",
    "바구니": "пагуни",
    "거울": "коуль",
    "베개": "пегэ",
    "이불": "ибуль",
    "방석": "пансок",
    "창문": "чханмун",
    "대문": "тэмун",
    "지붕": "чибун",
    "우물": "умуль",
    "시계": "сиге",
    "연필": "ёнпхиль",
    "공책": "кончхэк",
    "책상": "чхэксан",
    "걸상": "кольссан",
    "모자": "моджа",
    "장갑": "чангап",
    "신발": "синбаль",
    "양말": "янмаль",
    "수건": "сугон",
    "비누": "пину",
    "호미": "хоми",
    "물동이": "мульттонъи",
    "국수": "куксу",
    "김치": "кимчхи",
    "두부": "тубу",
    "찰떡": "чхальтток",
    "사탕": "сатхан",
    "보리": "пори",
    "누룽지": "нурунджи",
    "그네": "кыне",
    "썰매": "ссольмэ",
    "자전거": "чаджонго",
    "기차": "кичха",
    "나루배": "наруппэ",
    "등대": "тынттэ",
    "풍선": "пхунсон",
    "버섯": "посот",
    "가야금": "каягым",
    "손풍금": "сонпхунгым",
    "마을": "маыль",
    "오솔길": "осольккиль",
    "과수원": "квасувон",
    "꽃밭": "ккотпат",
    "봄비": "помппи",
    "함박눈": "хамбаннун",
    "밤송이": "памссонъи",
    "우산": "усан",
    "눈사람": "нунссарам",
    "조약돌": "чояктоль",
    "솔방울": "сольппанъуль",
    "채송화": "чхэсонхва",
    "뻐꾸기": "ппоккуги",
    "부채": "пучхэ",
    "들쭉": "тыльччук",
    "랭면": "рэнмён",
    "련꽃": "рёнккот",
    "초롱": "чхорон",
    "코끼리": "кхоккири",
    "원숭이": "вонсунъи",
    "염소": "ёмсо",
    "황소": "хвансо",
    "쟁반": "чэнбан",
    "고구마": "когума",
    "콩나물": "кхоннамуль",
    "씨앗": "ссиат",
    "꽃잎": "кконнип",
    "떡국": "ттоккук",
    "만두": "манду",
}


def test_every_code_phrase_word_is_listed_here() -> None:
    assert set(words("ko")) == set(CODE_WORDS_RU)


@pytest.mark.parametrize(("word", "russian"), sorted(CODE_WORDS_RU.items()))
def test_code_phrase_word(word: str, russian: str) -> None:
    assert to_cyrillic(word) == russian


@pytest.mark.parametrize(
    ("hangul", "russian", "ukrainian"),
    [
        # ㄴ-insertion at a compound's seam.
        ("꽃잎", "кконнип", "кконніп"),  # [꼰닙], not the table's ккочхип
        ("꽃잎을", "кконнипхыль", "кконніпхиль"),  # a particle after a listed word
        ("솔잎", "соллип", "солліп"),  # the inserted ㄴ is said ㄹ after ㄹ
        ("한여름", "ханнёрым", "ханньорим"),
        ("색연필", "сэннёнпхиль", "сенньонпхіль"),
        # Tensing at a compound's seam, unmarked in North Korean spelling.
        ("봄비", "помппи", "помппі"),
        ("나루배", "наруппэ", "наруппе"),
        ("반디불", "пандиппуль", "пандіппуль"),
        ("눈사람", "нунссарам", "нунссарам"),
        # The separator is the Ukrainian apostrophe.
        ("강냉이", "каннэнъи", "каннен’і"),
    ],
)
def test_sound_changes(hangul: str, russian: str, ukrainian: str) -> None:
    assert to_cyrillic(hangul) == russian
    assert to_cyrillic(hangul, "uk") == ukrainian


def test_sound_change_needs_the_whole_listed_word() -> None:
    assert to_cyrillic("꽃") == "ккот"
    assert to_cyrillic("잎") == "ип"
    assert to_cyrillic("꽃 잎") == "ккот ип"  # two words: no seam inside one

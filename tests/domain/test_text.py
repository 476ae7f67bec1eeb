import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from motcua.domain.text import clean, fold, nfc, slug

_TONES = ["", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"]  # huyền, sắc, hỏi, ngã, nặng
_VOWELS = [nfc(base + tone) for base in "aăâeêioôơuưy" for tone in _TONES]
_LOWER = [*_VOWELS, *"bcdđghklmnpqrstvxfjwz"]
VIETNAMESE_LETTERS = sorted({*_LOWER, *(letter.upper() for letter in _LOWER)})
vietnamese_text = st.text(alphabet=[*VIETNAMESE_LETTERS, " ", "\t", "\n", "0", "9", "-"], max_size=40)


def test_a_procedure_name_matches_its_unaccented_spelling() -> None:
    assert fold("Đăng ký khai sinh") == fold("dang ky khai sinh") == "dang ky khai sinh"


def test_fold_handles_capitals_extra_spaces_and_decomposed_input() -> None:
    decomposed = unicodedata.normalize("NFD", "Phường Sài Gòn")
    assert fold("  ĐẶC KHU   CÔN ĐẢO ") == "dac khu con dao"
    assert fold(decomposed) == "phuong sai gon"
    assert fold("Thạnh An") == fold("Thanh An")  # folding is lossy on purpose: search, not identity


def test_nfc_composes_decomposed_marks() -> None:
    decomposed = unicodedata.normalize("NFD", "Hồ Chí Minh")
    assert decomposed != "Hồ Chí Minh"
    assert nfc(decomposed) == "Hồ Chí Minh"


def test_clean_normalises_double_spaces_in_source_names() -> None:
    assert clean("Phường  Rạch Dừa ") == "Phường Rạch Dừa"
    assert clean(unicodedata.normalize("NFD", "Phường  An Nhơn")) == "Phường An Nhơn"


def test_slug_makes_stable_ascii_ids() -> None:
    assert slug("Phường Sài Gòn") == "phuong-sai-gon"
    assert slug("Sở Nông nghiệp và Môi trường") == "so-nong-nghiep-va-moi-truong"
    assert slug("Bà Rịa - Vũng Tàu") == "ba-ria-vung-tau"


@given(st.text(max_size=60))
def test_fold_is_idempotent(text: str) -> None:
    assert fold(fold(text)) == fold(text)


@given(vietnamese_text)
def test_fold_of_vietnamese_text_is_plain_ascii(text: str) -> None:
    folded = fold(text)
    assert folded.isascii()
    assert "  " not in folded
    assert folded == folded.strip()


@given(vietnamese_text)
def test_fold_ignores_case(text: str) -> None:
    assert fold(text.upper()) == fold(text) == fold(text.lower())


@given(vietnamese_text)
def test_fold_ignores_unicode_normal_form(text: str) -> None:
    assert fold(unicodedata.normalize("NFD", text)) == fold(text)

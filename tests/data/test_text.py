"""Text corpora: reading, cleaning, de-duplication, PII scrubbing, splits, tokenizers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genforge.core.errors import GenforgeError
from genforge.data.text import (
    TextDataConfig,
    TextDataset,
    clean_text,
    find_duplicates,
    iban_ok,
    load_corpus,
    luhn_ok,
    scrub_pii,
)
from genforge.data.text_tokenizers import make_tokenizer, pretrained_tokenizer
from textkit import make_docs, make_folder

# ---------------------------------------------------------------- PII


PLANTED = {
    "email": "jane.roe+news@mail.example.org",
    "phone": "+44 20 7946 0958",
    "card": "4111 1111 1111 1111",  # Luhn-valid test Visa
    "iban": "DE89 3704 0044 0532 0130 00",  # mod-97 valid
    "ip": "192.168.10.27",
}
ORDINARY = [
    "order 1234567890123",  # 13 digits, fails Luhn
    "card 4111 1111 1111 1112",  # fails Luhn
    "iban DE89 3704 0044 0532 0130 01",  # fails mod-97
    "the year 2024",
    "costs $1,234.56",
    "Python 3.11.2",
    "on 2024-01-15",
    "room 12, floor 3",
    "pi is 3.14159265358979",
    "ext 555-0100",
    "ratio 16:9:4",
    "slice a[::2]",
]


def test_checksums():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("GB82 WEST 1234 5698 7654 32") and not iban_ok("GB82 WEST 1234 5698 7654 33")


def test_scrubber_catches_planted_items():
    text = (
        "Contact: "
        + "; ".join(f"{k} {v}" for k, v in PLANTED.items())
        + ". IPv6 2001:db8::8a2e:370:7334"
    )
    scrubbed, found = scrub_pii(text)
    kinds = sorted(k for k, _ in found)
    assert kinds == ["card", "email", "iban", "ip", "ip", "phone"]
    for value in PLANTED.values():
        assert value not in scrubbed
    for tag in ("<EMAIL>", "<PHONE>", "<CARD>", "<IBAN>", "<IP>"):
        assert tag in scrubbed


@pytest.mark.parametrize("text", ORDINARY)
def test_scrubber_leaves_ordinary_numbers_alone(text):
    scrubbed, found = scrub_pii(text)
    assert found == [] and scrubbed == text


def test_pii_counts_in_report_and_originals_kept_out(tmp_path):
    f = tmp_path / "t.jsonl"
    rows = [{"text": f"write to {PLANTED['email']} please"}, {"text": "card " + PLANTED["card"]}]
    f.write_text("\n".join(json.dumps(r) for r in rows))
    c = load_corpus(TextDataConfig(source=str(f)))
    assert c.report.pii_counts["email"] == 1 and c.report.pii_counts["card"] == 1
    dumped = json.dumps(c.report.to_dict())
    assert PLANTED["email"] not in dumped and PLANTED["email"] not in " ".join(c.docs)
    c2 = load_corpus(TextDataConfig(source=str(f), pii_originals="report"))
    assert PLANTED["email"] in json.dumps(c2.report.to_dict())
    c3 = load_corpus(TextDataConfig(source=str(f), pii="keep"))
    assert PLANTED["email"] in c3.docs[0] and c3.report.pii_counts["email"] == 1


# ---------------------------------------------------------------- cleaning, duplicates


def test_clean_text_normalises_and_strips_controls():
    text, removed = clean_text("Cafe\u0301\r\nline\x07 two  \n\n\n\nend\u00a0x\u200b")
    assert text == "Café\nline two\n\nend x"
    assert removed == 2  # BEL and the zero-width space


def test_near_duplicates_found_exact_kept_apart():
    docs = make_docs(3, words=80)
    near = docs[0].replace("Document 0.", "Document zero.", 1)
    dropped = find_duplicates([docs[0], docs[1], near, docs[0].upper(), docs[2]])
    assert dropped == {2: (0, "near"), 3: (0, "exact")}
    assert find_duplicates([docs[0], near], mode="exact") == {}


# ---------------------------------------------------------------- sources


def test_folder_reports_binary_and_other_files(tmp_path):
    root = make_folder(tmp_path / "c", n=5)
    (root / "bin.txt").write_bytes(b"\x00\x01\x02binary")
    (root / "latin1.md").write_bytes("caf\xe9".encode("latin-1"))
    (root / "pic.png").write_bytes(b"\x89PNG")
    c = load_corpus(TextDataConfig(source=str(root)))
    assert c.report.num_documents == 5
    reasons = dict(c.report.skipped)
    assert reasons["bin.txt"].startswith("binary") and reasons["latin1.md"].startswith("binary")
    assert "not a" in reasons["pic.png"]


def test_wrong_field_and_column_list_the_available_ones(tmp_path):
    f = tmp_path / "t.jsonl"
    f.write_text('{"body": "hello", "id": 1}\n')
    with pytest.raises(GenforgeError, match="fields found: body, id"):
        load_corpus(TextDataConfig(source=str(f), field="text"))
    c = tmp_path / "t.csv"
    c.write_text("title,body\nA,hello there\n")
    with pytest.raises(GenforgeError, match="columns: title, body"):
        load_corpus(TextDataConfig(source=str(c)))
    assert load_corpus(TextDataConfig(source=str(c), column="body")).docs == ["hello there"]


def test_empty_corpus_is_one_line_error(tmp_path):
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "a.txt").write_text("  \n\t\n")
    with pytest.raises(GenforgeError, match="corpus is empty") as e:
        load_corpus(TextDataConfig(source=str(tmp_path / "e")))
    assert "\n" not in str(e.value)


def test_pydoc_is_embedded():
    c = load_corpus(TextDataConfig(source="pydoc", dedup="exact"))
    assert c.report.num_documents > 50 and c.report.num_chars > 300_000


# ---------------------------------------------------------------- tokenizers, dataset


def test_char_and_bpe_round_trip():
    docs = [*make_docs(10), "Ünïcödé — “quotes” 😀"]
    for spec in ("char", "bpe"):
        tok = make_tokenizer(spec, docs, vocab_size=300)
        for d in docs:
            assert tok.decode(tok.encode(d)) == d
    char = make_tokenizer("char", ["ab"])
    assert char.decode(char.encode("abz")) == "ab"  # unknown characters decode to nothing


def test_char_encode_batch_matches_the_tokenizers_backend():
    docs = [*make_docs(5), "Ünïcödé — 😀 tab\tend"]
    tok = make_tokenizer("char", docs[:-1])  # the last document has unknown characters
    texts = [*docs, "", "z😀\x00"]
    fast = tok.encode_batch(texts)
    assert all(isinstance(f, np.ndarray) for f in fast)  # the table lookup, not the backend
    assert all(list(f) == tok.encode(t) for f, t in zip(fast, texts, strict=True))
    assert list(fast[-1]).count(tok.unk_id) == 3
    # a text spelling the end-of-text token goes through the backend, which reads it as one token
    assert tok.encode_batch(["a<|endoftext|>"]) == [tok.encode("a<|endoftext|>")]
    assert tok.encode("a<|endoftext|>")[-1] == tok.eos_id


def test_pretrained_tokenizer_folder(tmp_path):
    tok = make_tokenizer("bpe", make_docs(10), vocab_size=300)
    tok.save_hf(tmp_path / "tok")
    again = pretrained_tokenizer(tmp_path / "tok")
    assert again.encode("the model learns") == tok.encode("the model learns")
    with pytest.raises(GenforgeError, match="neither char nor bpe"):
        pretrained_tokenizer(tmp_path / "missing")


def test_split_by_document_is_seeded_and_disjoint(tmp_path):
    c = load_corpus(TextDataConfig(source=str(make_folder(tmp_path / "c", n=20))))
    ds = TextDataset.build(c, make_tokenizer("char", c.docs), block_size=16)
    tr, va = ds.split(0.2, seed=3)
    _tr2, va2 = ds.split(0.2, seed=3)
    assert va.docs == va2.docs and len(va.docs) == 4 and len(tr.docs) == 16
    assert not set(tr.docs) & set(va.docs)
    w = tr.images
    assert w.shape[1] == 17 and w.dtype.is_floating_point is False
    assert len(tr) == w.shape[0]


def test_single_document_split_holds_out_the_tail(tmp_path):
    f = tmp_path / "book.txt"
    f.write_text("\n".join(make_docs(10)))
    c = load_corpus(TextDataConfig(source=str(f)))
    ds = TextDataset.build(c, make_tokenizer("char", c.docs), block_size=16)
    tr, va = ds.split(0.1)
    assert tr.docs[0] + va.docs[0] == c.docs[0] and 0 < len(va.docs[0]) < len(c.docs[0]) / 4


def test_inspect_tells_text_from_images(tmp_path):
    from genforge.data.text import looks_like_text

    make_folder(tmp_path / "t", n=2)
    (tmp_path / "i").mkdir()
    (tmp_path / "i" / "a.png").write_bytes(b"")
    (tmp_path / "i" / "README.txt").write_text("about the images")
    assert looks_like_text(str(tmp_path / "t")) and looks_like_text("pydoc")
    assert not looks_like_text(str(tmp_path / "i")) and not looks_like_text("digits")

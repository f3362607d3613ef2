"""Sentence pairs: readers, one-line errors, filters, the pair report and the split by source."""

from __future__ import annotations

import inspect
import json
import shutil

import pytest

from genforge.core.errors import GenforgeError
from genforge.data.text_pairs import (
    PairDataConfig,
    load_pairs,
    pydoc_topic_pairs,
    script_share,
    split_by_source,
    stdlib_docstring_pairs,
)


def _load(source, **kw):
    return load_pairs(PairDataConfig(source=str(source), dedup="exact", **kw))


def test_tsv_jsonl_and_aligned_files_read_the_same_pairs(tmp_path):
    pairs = [("good morning", "guten Morgen"), ("thank you", "danke"), ("the house", "das Haus")]
    (tmp_path / "p.tsv").write_text("source\ttarget\n" + "".join(f"{s}\t{t}\n" for s, t in pairs))
    (tmp_path / "p.jsonl").write_text(
        "".join(json.dumps({"source": s, "target": t}) + "\n" for s, t in pairs)
    )
    (tmp_path / "a.txt").write_text("".join(s + "\n" for s, _ in pairs))
    (tmp_path / "b.txt").write_text("".join(t + "\n" for _, t in pairs))
    got = [
        sorted(c.train + c.val)
        for c in (
            _load(tmp_path / "p.tsv"),
            _load(tmp_path / "p.jsonl"),
            _load(f"{tmp_path / 'a.txt'},{tmp_path / 'b.txt'}"),
        )
    ]
    assert got[0] == got[1] == got[2] == sorted(pairs)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"p.tsv": "hello\tHallo\nonly one column\n"}, "needs two columns"),
        ({"p.jsonl": '{"source": "a"}\n'}, "needs 'source' and 'target'"),
        ({"p.tsv": "hello\tHallo\nbye\t\n"}, "empty target"),
        ({"a.txt": "one\ntwo\n", "b.txt": "eins\n"}, "must be aligned"),
    ],
)
def test_bad_pair_files_give_one_line_errors(tmp_path, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    names = [str(tmp_path / n) for n in files]
    with pytest.raises(GenforgeError) as e:
        _load(",".join(names))
    assert message in str(e.value) and "\n" not in str(e.value)


def test_pair_report_counts_each_drop(tmp_path):
    rows = [
        ("hello", "Hallo"),
        ("hello", "Hallo"),  # exact duplicate pair
        ("a short line", "x" * 200),  # length ratio
        ("peace", "мир"),  # target not in the Latin script declared for German
        ("mail me at ann@example.com", "schreib an ann@example.com"),
    ]
    (tmp_path / "p.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in rows))
    c = _load(tmp_path / "p.tsv", source_lang="en", target_lang="de", val_fraction=0)
    assert c.report.read == 5 and c.report.kept == 2
    assert dict(c.report.dropped) == {"exact-duplicate": 1, "length-ratio": 1, "language": 1}
    assert c.report.pii["email"] == 2
    assert ("mail me at <EMAIL>", "schreib an <EMAIL>") in c.train
    assert any("length-ratio" in line for line in c.report.lines())


def test_split_never_shares_a_source():
    pairs = [(f"s{i % 30}", f"t{i}") for i in range(200)]  # each source has several targets
    train, val = split_by_source(pairs, 0.2, seed=3)
    assert val and train and len(train) + len(val) == 200
    assert not {s for s, _ in train} & {s for s, _ in val}


def test_script_share_tells_scripts_apart():
    assert script_share("Frankreich", "de") == 1.0
    assert script_share("Франция", "de") == 0.0
    assert script_share("Франция", "ru") == 1.0
    assert script_share("anything", "xx") == 1.0  # unknown language: no opinion


def test_embedded_corpora_are_real_parallel_text():
    c = load_pairs(PairDataConfig(source="country-names:en-de"))
    pairs = dict(c.train + c.val)
    assert pairs["France"] == "Frankreich" and len(pairs) > 1000
    s = load_pairs(PairDataConfig(source="pydoc-summaries"))
    assert len(s.train) > 1000 and all(len(d) > len(t) for d, t in s.train)
    assert not [t for _, t in s.train + s.val if "::=" in t]  # grammar rules are not summaries
    # a docstring's summary line with the rest of it, as the standard library wrote them
    head, rest = inspect.cleandoc(shutil.copytree.__doc__).split("\n\n", 1)
    assert (" ".join(rest.split()), head) in stdlib_docstring_pairs()
    assert len(pydoc_topic_pairs()) > 60
    with pytest.raises(GenforgeError, match="unknown locale"):
        load_pairs(PairDataConfig(source="country-names:en-zz9"))

"""finance-report end to end at tiny sizes: the SYNTHETIC demo (n-gram writer, CTGAN stress
run) and the CLI on CSV files with a tiny local causal LM built here (no downloads)."""

from __future__ import annotations

import pytest

from genforge.recipes.finance import FinanceConfig, recheck_report, report_prose, run
from genforge.recipes.finance.data import demo_market, write_market_csvs

TINY_CTGAN = {"latent_dim": 8, "generator_dim": (16,), "critic_dim": (16,), "pac": 2,
              "batch_size": 40}  # fmt: skip
TINY = dict(demo_days=230, demo_tickers=2, corpus_sentences=300, drafts=2, stress_steps=2,
            stress_samples=200, ctgan=TINY_CTGAN)  # fmt: skip


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    cfg = FinanceConfig(demo=True, out=str(tmp / "r.html"), runs_dir=str(tmp / "runs"),
                        pdf=True, **TINY)  # fmt: skip
    said: list[str] = []
    return run(cfg, say=said.append), said, cfg


def test_demo_end_to_end(demo):
    from genforge.core.run import Run

    res, said, _ = demo
    assert [s[:5] for s in said if s.startswith("[")] == [f"[{i}/6]" for i in range(1, 7)]
    expect = [i for i, s in enumerate(said) if "expected duration on this machine" in s]
    assert len(expect) == 1  # said once the data is read, before the work starts
    assert said[0].startswith("[1/6]") and expect[0] < said.index("[2/6] computing facts and plots")
    assert "stress CTGAN training (" in said[expect[0]] and "sampling 200 days ~" in said[expect[0]]
    html_path, pdf = res.paths
    page = html_path.read_text()
    assert pdf.read_bytes().startswith(b"%PDF")
    # labelled synthetic: title, every prose paragraph, every plot's title is tagged in code
    assert "<title>[SYNTHETIC DATA] Market report" in page
    paras = [p for p in page.split('<p class="prose">')[1:]]
    assert len(paras) == 2 and all(p.startswith("[SYNTHETIC DATA]") for p in paras)
    # the prose was drafted, checked, and re-checks clean from the written page
    assert res.check.checks and res.unverified == 0 == recheck_report(html_path, res.book)
    assert len(report_prose(html_path)) == 2
    assert "-gram language model" in page and "Fact-check log" in page
    # both trained models are normal Runs
    for r in res.runs.values():
        assert Run(r.path).read_meta() is not None
    assert res.runs["stress"].read_config()["model"] == "ctgan"
    assert res.runs["commentary"].read_config()["model"] == "ngram"
    assert res.verdict.level in ("ok", "warn") and "0" in res.verdict.reasons[2]


def test_an_existing_text_run_writes_and_reruns_get_fresh_run_names(demo, tmp_path):
    from genforge.recipes.finance.prose import choose_writer, draft_ticker, free_run_name

    res, _, cfg = demo
    ngram = res.runs["commentary"]
    again = FinanceConfig(text_run=str(ngram.path), runs_dir=cfg.runs_dir)
    writer, used = choose_writer(again, tmp_path, "x", say=lambda m: None)
    assert used.path == ngram.path and "genforge text run" in writer.description
    drafts = draft_ticker(writer, res.book, "SYNA", seed=1, drafts=1)
    assert drafts and all(d.text.startswith(d.prompt) for d in drafts)
    assert free_run_name(ngram.name, again.runs_dir) == f"{ngram.name}-2"


def _tiny_causal_lm(path):
    from transformers import GPT2Config, GPT2LMHeadModel

    from genforge.data.text_tokenizers import make_tokenizer
    from genforge.recipes.finance.prose import commentary_corpus

    tok = make_tokenizer("bpe", commentary_corpus(200), vocab_size=300)
    cfg = GPT2Config(vocab_size=tok.vocab_size, n_positions=512, n_embd=16, n_layer=1, n_head=2,
                     eos_token_id=tok.eos_id, bos_token_id=tok.eos_id)  # fmt: skip
    GPT2LMHeadModel(cfg).save_pretrained(path)
    tok.save_hf(path)
    return path


def genforge(*args):
    from typer.testing import CliRunner

    from genforge.cli.main import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_on_csv_files_with_a_local_lm(tmp_path):
    m = demo_market(1, days=230, tickers=("SYNA", "SYNB"))
    prices, fund = write_market_csvs(m, tmp_path / "in")
    lm = _tiny_causal_lm(tmp_path / "lm")
    out = tmp_path / "acme.html"
    res = genforge("recipe", "finance-report", "--prices", prices, "--fundamentals", fund,
                 "--company", "SYNA", "--out", out, "--lm", lm, "--drafts", "1",
                 "--stress-steps", "2", "--stress-samples", "100", "--runs-dir", tmp_path / "runs")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "[6/6] writing the report" in res.output and (
        "PASS" in res.output or "CAUTION" in res.output
    )
    page = out.read_text()
    assert f"local pretrained causal LM at {lm}" in page and "SYNTHETIC DATA]" not in page
    # real-looking data is not labelled synthetic, but the stress scenarios always are
    assert "Stress scenarios (SYNTHETIC)" in page


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--demo", "--prices", "x.csv"], "--demo uses the embedded synthetic market"),
        ([], "give --prices prices.csv"),
        (["--prices", "missing.csv"], "no such prices file: missing.csv"),
        (["--demo", "--out", "r.pdf"], "--out must end in .html"),
        (["--prices", "bad.csv"], "bad.csv: missing column close; found date, ticker, price_x"),
    ],
)
def test_cli_errors_are_one_line(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.csv").write_text("date,ticker,price_x\n2024-01-01,A,1\n")
    res = genforge("recipe", "finance-report", *args)
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit)
    last = res.output.strip().splitlines()[-1]  # progress lines may come before it
    assert last.startswith("error: ") and message in last and "Traceback" not in res.output

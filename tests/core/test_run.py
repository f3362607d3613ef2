import pytest

from genforge.core.errors import GenforgeError
from genforge.core.run import Run, check_run_name, list_runs, new_run_path, resolve_run


def make_run(root, name):
    run = Run(root / name)
    run.path.mkdir(parents=True)
    run.write_config({"model": "dcgan"})
    return run


def test_resolve_by_name_and_path(tmp_path):
    run = make_run(tmp_path, "cats")
    assert resolve_run("cats", tmp_path).path == run.path
    assert resolve_run(str(run.path)).path == run.path
    assert [r.name for r in list_runs(tmp_path)] == ["cats"]


def test_missing_run_lists_known_runs(tmp_path):
    make_run(tmp_path, "cats")
    with pytest.raises(GenforgeError, match=r"no run 'dogs'.*cats"):
        resolve_run("dogs", tmp_path)


def test_new_run_names(tmp_path):
    make_run(tmp_path, "digits-dcgan")
    assert new_run_path(None, "digits-dcgan", tmp_path).name == "digits-dcgan-2"
    with pytest.raises(GenforgeError, match="already exists"):
        new_run_path("digits-dcgan", "x", tmp_path)
    with pytest.raises(GenforgeError, match="invalid run name"):
        check_run_name("../evil")


def test_metrics_skip_a_line_cut_by_a_crash(tmp_path):
    run = make_run(tmp_path, "r")
    run.metrics_path.write_text('{"step": 1, "loss": 0.5}\n{"step": 2, "lo')
    assert run.metrics() == [{"step": 1, "loss": 0.5}]

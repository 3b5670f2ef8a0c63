"""The bad-input matrix: data files, the command line, parameters, sweeps, checkpoints, model folders, signals and
concurrent writers. Each case checks that the error names the input and the fix, the exit code where there is one,
and that nothing was lost, changed or (for bad input) written."""

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from conftest import BIN, make_notebook

from ppt_book.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, tensors_sha256
from ppt_book.cli import main
from ppt_book.data import load_text_classification
from ppt_book.files import file_lock
from ppt_book.records import create_run_dir, make_run_id, read_metrics, runs_table, update_metrics
from ppt_book.runs import id_params


def ppt_book(*args, cwd, **kw):
    return subprocess.run([str(BIN / "ppt-book"), *args], cwd=cwd, capture_output=True, text=True, timeout=300, **kw)


def snapshot(folder: Path) -> dict:
    "Every file under `folder` with its bytes: 'nothing was written or changed' is equality of two snapshots."
    return (
        {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
        if folder.exists()
        else {}
    )


# ---------------------------------------------------------------- data files: read as written, clear errors

SPECIAL = ["NA", "None", "null", "n/a", "nan"]


def write_table(path: Path, df: pd.DataFrame) -> Path:
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    elif path.suffix == ".tsv":
        df.to_csv(path, index=False, sep="\t")
    elif path.suffix == ".jsonl":
        df.to_json(path, orient="records", lines=True)
    elif path.suffix == ".json":
        df.to_json(path, orient="records")
    else:
        df.to_parquet(path)
    return path


def all_texts(dsd):
    return [t for s in ("train", "validation", "test") for t in dsd[s]["text"]]


def special_texts():
    return pd.DataFrame({"text": SPECIAL * 6 + [f"review {i}" for i in range(30)], "label": ["pos", "neg"] * 30})


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".json", ".parquet"])
def test_texts_that_look_missing_are_kept(tmp_path, suffix):
    path = write_table(tmp_path / f"data{suffix}", special_texts())
    texts = all_texts(load_text_classification(path, clean=False))
    assert len(texts) == 60 and set(SPECIAL) <= set(texts)


@pytest.mark.parametrize(
    "labels, names",
    [(["01", "1"], ["01", "1"]), (["3.50", "10", "2"], ["2", "3.50", "10"]), (["NA", "ok"], ["NA", "ok"])],
)
def test_labels_keep_their_written_form(tmp_path, labels, names):
    df = pd.DataFrame({"text": [f"review {i}" for i in range(60)], "label": (labels * 60)[:60]})
    for suffix in (".csv", ".jsonl"):
        dsd = load_text_classification(write_table(tmp_path / f"l{suffix}", df), clean=False)
        assert dsd["train"].features["label"].names == names, suffix


def test_parquet_bytes_are_decoded(tmp_path):
    df = special_texts().assign(text=lambda d: d["text"].str.encode("utf-8"))
    texts = all_texts(load_text_classification(write_table(tmp_path / "b.parquet", df), clean=False))
    assert "NA" in texts and not any(t.startswith("b'") for t in texts)


def test_parquet_bytes_in_another_encoding_name_the_fix(tmp_path):
    df = special_texts().assign(text=lambda d: d["text"].map(lambda t: f"{t} café".encode("latin-1")))
    path = write_table(tmp_path / "latin.parquet", df)
    with pytest.raises(
        ValueError, match=r"latin.parquet: column 'text' holds bytes that are not valid utf-8 .* encoding='latin-1'"
    ):
        load_text_classification(path)
    assert "café" in all_texts(load_text_classification(path, encoding="latin-1"))[-1]


def data_error(tmp_path, name, df, match, **kw):
    path = write_table(tmp_path / name, df)
    before = snapshot(tmp_path)
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        load_text_classification(path, **kw)
    assert snapshot(tmp_path) == before  # nothing written or changed


def texts(n):
    return [f"review number {i}" for i in range(n)]


@pytest.mark.parametrize(
    "name, df, kw, match",
    [
        (
            "rare.csv",
            pd.DataFrame({"text": texts(30), "label": ["a"] * 27 + ["b", "b", "c"]}),
            {},
            r"rare.csv: classes \{'c': 1, 'b': 2\} have too few rows .* drop those rows or merge those classes, or "
            r"add a split column",
        ),
        (
            "noval.csv",
            pd.DataFrame({"text": texts(30), "label": ["a", "b"] * 15, "split": ["train"] * 25 + ["test"] * 5}),
            {},
            r"noval.csv: split column 'split' has no validation rows: mark some rows 'validation'",
        ),
        (
            "badsplit.csv",
            pd.DataFrame({"text": texts(30), "label": ["a", "b"] * 15, "split": ["train", "holdout", "test"] * 10}),
            {},
            r"badsplit.csv: split column 'split' has values \['holdout'\]; use train, validation",
        ),
        (
            "enc.csv",
            pd.DataFrame({"text": texts(30), "label": ["a", "b"] * 15}),
            {"encoding": "utf-9"},
            r"unknown encoding 'utf-9' for .*enc.csv: pass a Python codec name",
        ),
        (
            "blankgroup.csv",
            pd.DataFrame(
                {"text": texts(30), "label": ["a", "b"] * 15, "g": [""] + ["m1", "m2", "m3"] * 9 + ["m1", "m2"]}
            ),
            {"group_column": "g"},
            r"blankgroup.csv: group column 'g' is blank in 1 row\(s\), first at row 0: give every row a group",
        ),
        (
            "nolabel.csv",
            pd.DataFrame({"text": texts(30), "label": ["a", ""] + ["a", "b"] * 14}),
            {},
            r"nolabel.csv: label column 'label' has 1 missing value\(s\), first at row 1: fill them or drop those rows",
        ),
        (
            "onecls.csv",
            pd.DataFrame({"text": texts(30), "label": ["a"] * 30}),
            {},
            r"onecls.csv: label column 'label' has one class only",
        ),
        (
            "nocol.csv",
            pd.DataFrame({"review": texts(30), "label": ["a", "b"] * 15}),
            {},
            r"nocol.csv has no column 'text' \(text_column\); its columns are \['review', 'label'\]: pass text_column=",
        ),
        (
            "mixed.json",
            pd.DataFrame({"text": texts(30), "label": [1, "1"] * 15}),
            {},
            r"mixed.json: label column 'label' holds values that print alike",
        ),
    ],
)
def test_bad_data_files_name_file_and_fix(tmp_path, name, df, kw, match):
    data_error(tmp_path, name, df, match, **kw)


def test_non_utf8_csv_names_the_encoding_to_pass(tmp_path):
    path = tmp_path / "latin.csv"
    pd.DataFrame({"text": [f"café {i}" for i in range(30)], "label": ["a", "b"] * 15}).to_csv(
        path, index=False, encoding="latin-1"
    )
    with pytest.raises(ValueError, match=r"latin.csv is not valid utf-8: byte 0xe9 .* encoding='latin-1'"):
        load_text_classification(path)


# ---------------------------------------------------------------- the command line and parameters

RANGE_PARAMS = (
    "steps: int = 3  # steps; at least 1\nshare: float = 0.5  # a share; above 0, below 1\n"
    'data_path: "Optional[str]" = None  # a file the chapter reads\n'
    "sizes: list = [1, 2]  # sizes to try; each at least 1"
)
RANGE_CELLS = [
    "import os\nfrom ppt_book.records import record\nrecord('steps', steps)\nrecord('data_path', data_path)\n"
    "record('exists', bool(data_path) and os.path.exists(data_path))"
]


@pytest.fixture
def project(tiny_project):
    make_notebook(tiny_project / "nbs" / "15_ranged.ipynb", RANGE_CELLS, RANGE_PARAMS, title="Ranged")
    return tiny_project


def cli(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["run", "ranged", "-p", "steps", "0"],
            "parameter 'steps': value 0 is out of its range (at least 1, declared in 15_ranged.ipynb): pass a value "
            "in range",
        ),
        (["run", "ranged", "-p", "share", "1"], "parameter 'share': value 1 is out of its range (above 0, below 1"),
        (["run", "ranged", "-p", "steps", "three"], "parameter 'steps': value 'three' is not a number"),
        (
            ["run", "ranged", "-p", "stepz", "3"],
            "unknown parameter(s) ['stepz'] for 15_ranged (stepz: did you mean 'steps'?); valid parameters: "
            "['data_path', 'share', 'sizes', 'steps']",
        ),
        (["run", "ranged", "-p", "steps", "2.5"], "parameter 'steps': value '2.5' is not a whole number"),
        (["run", "ranged", "-p", "share", ".inf"], "parameter 'share': value '.inf' is not a finite number"),
        (["run", "ranged", "-p", "sizes", "[2, -1]"], "parameter 'sizes': value -1 is out of its range (at least 1"),
        (["run", "ranged", "-p", "data_path", "nothere.txt"], "nothere.txt does not exist (looked for"),
        (["run", "../../etc/passwd"], "is not a notebook (.ipynb): name a chapter"),
        (["run", "nothere"], "No chapter 'nothere'"),
    ],
)
def test_bad_run_arguments_exit_2_before_any_kernel(project, monkeypatch, capsys, args, message):
    monkeypatch.chdir(project)
    code, out, err = cli(capsys, *args, "--no-progress")
    assert code == 2 and message in err, err
    assert "root:" not in err + out and not (project / "runs").exists()


def test_a_file_that_is_not_a_notebook_is_never_echoed(project, monkeypatch, capsys):
    secret = project / "nbs" / "notes.ipynb"
    secret.write_text("password: hunter2 — this is not JSON")
    monkeypatch.chdir(project)
    code, out, err = cli(capsys, "run", str(secret))
    assert code == 2 and "notes.ipynb is not a readable notebook" in err and "hunter2" not in out + err


@pytest.mark.parametrize(
    "content, message",
    [
        ("steps: [1, 2\n", "is not valid YAML (line 2, column 1)"),
        ("- just\n- a list\n", "must hold a mapping of name: value"),
    ],
)
def test_bad_params_files_exit_2(project, monkeypatch, capsys, content, message):
    (project / "p.yaml").write_text(content)
    monkeypatch.chdir(project)
    code, _, err = cli(capsys, "run", "ranged", "-f", "p.yaml")
    assert code == 2 and "p.yaml" in err and message in err and not (project / "runs").exists()


def test_missing_params_file_exits_2(project, monkeypatch, capsys):
    monkeypatch.chdir(project)
    code, _, err = cli(capsys, "run", "ranged", "-f", "nope.yaml")
    assert code == 2 and "Parameter file nope.yaml does not exist" in err


@pytest.mark.parametrize("command", [["run", "ranged"], ["results"], ["sweep", "sweep.yaml"]])
def test_runs_dir_that_is_a_file_exits_2_and_is_left_alone(project, monkeypatch, capsys, command):
    (project / "sweep.yaml").write_text(yaml.safe_dump({"chapter": "ranged", "grid": {"steps": [1]}}))
    (project / "taken").write_text("my notes")
    monkeypatch.chdir(project)
    code, _, err = cli(capsys, *command, "--runs-dir", "taken")
    assert code == 2 and "taken is a file" in err and (project / "taken").read_text() == "my notes"


def test_results_csv_onto_a_folder_exits_2_before_reading_runs(project, monkeypatch, capsys):
    monkeypatch.chdir(project)
    code, _, err = cli(capsys, "results", "--csv", str(project))
    assert code == 2 and "is a folder: name a file in it" in err


def test_params_cut_short_by_its_reader_ends_quietly(project):
    out = subprocess.run(
        f"{BIN}/ppt-book params ranged | head -1", shell=True, cwd=project, capture_output=True, text=True
    )
    assert out.stdout.startswith("steps") and out.stderr == ""


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere: a read-only folder stops other users only")
def test_a_runs_dir_that_cannot_be_written_exits_2_before_any_kernel(project, monkeypatch, capsys):
    (project / "ro").mkdir(mode=0o555)
    monkeypatch.chdir(project)
    code, _, err = cli(capsys, "run", "ranged", "--runs-dir", "ro/runs", "--no-progress")
    assert code == 2 and "cannot be written" in err


def test_params_shows_declared_ranges(project, monkeypatch, capsys):
    monkeypatch.chdir(project)
    code, out, _ = cli(capsys, "params", "ranged")
    assert code == 0 and "steps: int = 3  # steps; at least 1" in out


def test_relative_path_on_command_line_is_relative_to_where_it_runs(project):
    (project / "sub").mkdir()
    (project / "sub" / "input.txt").write_text("x")
    out = ppt_book("run", "ranged", "-p", "data_path", "input.txt", "--no-progress", cwd=project / "sub")
    assert out.returncode == 0, out.stderr
    (run_dir,) = (project / "runs" / "15_ranged").iterdir()  # inside the project, not sub/runs
    m = read_metrics(run_dir)["metrics"]
    assert m["data_path"] == str(project / "sub" / "input.txt") and m["exists"] is True


def test_running_inside_nbs_writes_to_the_projects_runs(project):
    out = ppt_book("run", "ranged", "--no-progress", cwd=project / "nbs")
    assert out.returncode == 0, out.stderr
    assert (project / "runs" / "15_ranged").is_dir() and not (project / "nbs" / "runs").exists()


def test_run_id_hash_sees_paths_relative_to_project_root(project):
    nbs = project / "nbs"
    from_yaml = id_params({"teacher_dir": "../runs/x/teacher", "steps": 1}, nbs)
    from_cli = id_params({"teacher_dir": str(project / "runs" / "x" / "teacher"), "steps": 1}, nbs)
    assert from_yaml == from_cli == {"teacher_dir": "runs/x/teacher", "steps": 1}
    assert make_run_id(from_yaml)[-6:] == make_run_id(from_cli)[-6:]


DATA_PARAMS = (
    'dataset: str = "data.csv"  # a labelled file\n'
    'encoding: "Optional[str]" = None  # its encoding\n'
    'group_column: "Optional[str]" = None  # rows sharing it stay in one split'
)
DATA_CELLS = [
    "from ppt_book.data import load_text_classification\nfrom ppt_book.records import record\n"
    "dsd = load_text_classification(dataset, encoding=encoding, group_column=group_column)\nrecord('train_rows', "
    "len(dsd['train']))"
]


@pytest.mark.parametrize(
    "args, message",
    [
        (["-p", "encoding", "utf-9"], "BadInput: unknown encoding 'utf-9' for data.csv: pass a Python codec name"),
        (
            ["-p", "group_column", "g"],
            "BadInput: data.csv: group column 'g' is blank in 1 row(s), first at row 0: give every row a group",
        ),
    ],
)
def test_bad_data_found_inside_a_chapter_exits_2(project, args, message):
    make_notebook(project / "nbs" / "16_data.ipynb", DATA_CELLS, DATA_PARAMS, title="Data")
    df = pd.DataFrame({"text": texts(30), "label": ["a", "b"] * 15, "g": [""] + ["m1", "m2", "m3"] * 9 + ["m1", "m2"]})
    df.to_csv(project / "nbs" / "data.csv", index=False)
    out = ppt_book("run", "data", *args, "--no-progress", cwd=project)
    assert out.returncode == 2 and message in out.stderr, out.stderr
    (run_dir,) = (project / "runs" / "16_data").iterdir()  # the failed run keeps the error
    assert message in read_metrics(run_dir)["error"]


# ---------------------------------------------------------------- sweeps


def test_second_sweep_on_same_runs_dir_exits_2_naming_holder(project, monkeypatch, capsys):
    (project / "sweep.yaml").write_text(yaml.safe_dump({"chapter": "ranged", "grid": {"steps": [1]}}))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom ppt_book.files import file_lock\n"
            f"with file_lock({str(project / 'runs' / '.sweep.lock')!r}):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.chdir(project)
        code, _, err = cli(capsys, "sweep", "sweep.yaml", "--no-progress")
        assert code == 2 and f"another sweep is writing to {project / 'runs'} (pid {holder.pid} on host" in err
        assert not (project / "runs" / "15_ranged").exists()
    finally:
        holder.kill()
        holder.wait()


def test_sweep_rerun_replaces_a_stale_run(project, monkeypatch, capsys):
    (project / "sweep.yaml").write_text(yaml.safe_dump({"chapter": "ranged", "grid": {"steps": [2]}}))
    resolved = {"steps": 2, "share": 0.5, "data_path": None, "sizes": [1, 2]}
    dead = create_run_dir("15_ranged", resolved, runs_dir=project / "runs", run_id="20260101-000000-dead00")
    update_metrics(dead, pid=2**22 + 1)  # no such process: the runner was SIGKILLed
    assert runs_table(project / "runs")["status"].tolist() == ["stale"]
    monkeypatch.chdir(project)
    code, _, _ = cli(capsys, "sweep", "sweep.yaml", "--no-progress")
    table = runs_table(project / "runs")
    assert code == 0 and table["status"].tolist() == ["ok"] and not dead.exists()  # one row per parameter set
    assert list(read_metrics(table["path"][0])["replaced"]) == [dead.name]


def test_sweep_file_with_yaml_error_exits_2(project, monkeypatch, capsys):
    (project / "s.yaml").write_text("chapter: ranged\ngrid: {steps: [1, 2}\n")
    monkeypatch.chdir(project)
    code, _, err = cli(capsys, "sweep", "s.yaml")
    assert code == 2 and "Sweep file s.yaml is not valid YAML" in err and not (project / "runs").exists()


# ---------------------------------------------------------------- checkpoints


@pytest.fixture
def ckpt(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.randn(3, 4)).sum().backward()
    opt.step()
    return save_checkpoint(tmp_path / "c.safetensors", model, opt, step=7), model


def test_flipped_byte_is_a_checkpoint_error(ckpt, tmp_path):
    path, model = ckpt
    data = bytearray(path.read_bytes())
    data[8 + int.from_bytes(data[:8], "little") + 3] ^= 0x10
    (tmp_path / "flip.safetensors").write_bytes(bytes(data))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(
        CheckpointError, match=r"flip.safetensors fails its checksum: .* resume from an earlier checkpoint"
    ):
        load_checkpoint(tmp_path / "flip.safetensors", model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the model was not touched


def crafted(tmp_path, src, name, **changes):
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(src), framework="pt") as f:
        meta, tensors = json.loads(f.metadata()["ppt_book"]), {k: f.get_tensor(k) for k in f.keys()}
    meta = {**meta, **changes, "sha256": tensors_sha256(tensors)}
    save_file(tensors, str(tmp_path / name), metadata={"ppt_book": json.dumps(meta)})
    return tmp_path / name


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"step": None}, "step None is not an integer"),
        ({"step": "7"}, "step '7' is not an integer"),
        (
            {"optimizer": {"state": {"__tensor__": "optimizer/ghost"}}},
            r"tensors \['optimizer/ghost'\] are named but absent",
        ),
    ],
)
def test_crafted_metadata_is_a_checkpoint_error(ckpt, tmp_path, changes, match):
    path = crafted(tmp_path, ckpt[0], "crafted.safetensors", **changes)
    with pytest.raises(CheckpointError, match="crafted.safetensors has inconsistent metadata .*" + match):
        load_checkpoint(path)


def test_truncated_and_foreign_checkpoints(ckpt, tmp_path):
    (tmp_path / "half.safetensors").write_bytes(ckpt[0].read_bytes()[:100])
    with pytest.raises(
        CheckpointError,
        match="half.safetensors is not a readable safetensors file .* resume from an earlier checkpoint",
    ):
        load_checkpoint(tmp_path / "half.safetensors")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(CheckpointError, match="plain.safetensors is a safetensors file but not a ppt_book checkpoint"):
        load_checkpoint(tmp_path / "plain.safetensors")


def test_killed_save_leaves_temporaries_that_the_next_save_removes(ckpt, tmp_path):
    path, model = ckpt
    stale_tmp, fresh_tmp = tmp_path / f".{path.name}.dead01.tmp", tmp_path / f".{path.name}.live02.tmp"
    for p in (stale_tmp, fresh_tmp):
        p.write_bytes(b"\0" * 1024)
    os.utime(stale_tmp, (time.time() - 4000, time.time() - 4000))
    save_checkpoint(path, model, step=8)
    assert not stale_tmp.exists() and fresh_tmp.exists() and load_checkpoint(path)["step"] == 8


# ---------------------------------------------------------------- model folders


@pytest.fixture(scope="module")
def saved_classifier(tmp_path_factory):
    from transformers import BertConfig, BertForSequenceClassification

    from ppt_book.model_io import save_classifier
    from ppt_book.students import word_tokenizer

    tok = word_tokenizer(["a fine film", "a dull film"])
    torch.manual_seed(0)
    model = BertForSequenceClassification(
        BertConfig(
            vocab_size=len(tok),
            hidden_size=8,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=16,
            num_labels=2,
        )
    )
    return save_classifier(model, tok, tmp_path_factory.mktemp("models") / "good", ["neg", "pos"])


class Payload:
    "Unpickling this writes a marker file: proof that a pickle was (or was not) loaded."

    marker = None

    def __reduce__(self):
        return (shutil.copyfile, ("/dev/null", self.marker))


def hostile_folder(good, where, kind):
    folder = where / kind
    shutil.copytree(good, folder)
    marker = where / "RAN"
    if kind in ("auto_map", "tokenizer_auto_map"):
        name = "config.json" if kind == "auto_map" else "tokenizer_config.json"
        cfg = json.loads((folder / name).read_text())
        cfg["auto_map"] = {"AutoModelForSequenceClassification": "evil.Model", "AutoTokenizer": ["evil.Tok", None]}
        if kind == "auto_map":
            cfg["model_type"] = "evil"
        (folder / name).write_text(json.dumps(cfg))
        (folder / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    else:
        for f in folder.glob("*.safetensors"):
            f.unlink()
        Payload.marker = str(marker)
        (folder / "pytorch_model.bin").write_bytes(pickle.dumps(Payload()))
    return folder, marker


@pytest.mark.parametrize(
    "kind, error, match",
    [
        (
            "auto_map",
            ValueError,
            r"auto_map/config.json asks to import code shipped in the folder \(auto_map\): ppt_book never runs code",
        ),
        (
            "tokenizer_auto_map",
            ValueError,
            r"tokenizer_auto_map/tokenizer_config.json asks to import code shipped in the folder",
        ),
        (
            "pickle_only",
            FileNotFoundError,
            r"pickle_only has no .safetensors weights; pickled weights \(pytorch_model.bin\) are never loaded",
        ),
    ],
)
def test_model_folders_never_run_their_code(saved_classifier, tmp_path, kind, error, match):
    from ppt_book.inference import predict
    from ppt_book.model_io import load_classifier

    folder, marker = hostile_folder(saved_classifier, tmp_path, kind)
    for load in (load_classifier, lambda d: predict(["a fine film"], d)):
        with pytest.raises(error, match=match):
            load(folder)
    assert not marker.exists()


def test_a_folder_without_a_model_is_named(tmp_path):
    from ppt_book.model_io import load_classifier

    with pytest.raises(FileNotFoundError, match=r"empty holds no config.json: it is not a saved model folder"):
        load_classifier((tmp_path / "empty").mkdir() or tmp_path / "empty")


# ---------------------------------------------------------------- signals

SLEEP_CELLS = [
    "import os, time\nfrom ppt_book.records import record\nrecord('kernel_pid', os.getpid())\ntime.sleep(120)"
]


def start_sleeping_run(project):
    make_notebook(project / "nbs" / "17_sleep.ipynb", SLEEP_CELLS, "n = 1  # unused", title="Sleep")
    proc = subprocess.Popen(
        [str(BIN / "ppt-book"), "run", "sleep", "--no-progress"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        runs = list((project / "runs" / "17_sleep").glob("*/metrics.json"))
        if runs and "kernel_pid" in json.loads(runs[0].read_text())["metrics"]:
            return proc, runs[0].parent
        time.sleep(0.5)
    proc.kill()
    raise AssertionError("the sleeping run never started its kernel")


def gone(pid, wait=20):
    deadline = time.time() + wait
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_end_a_run_in_a_clear_state(project, sig):
    proc, run_dir = start_sleeping_run(project)
    kernel = read_metrics(run_dir)["metrics"]["kernel_pid"]
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    m = read_metrics(run_dir)
    assert proc.returncode == 128 + sig, err
    assert m["status"] == "failed" and m["error"] == f"stopped by {sig.name} before it finished" and m["duration_s"] > 0
    assert f"stopped by {sig.name}: {run_dir}" in err and gone(kernel)  # the kernel was shut down with the run


def test_sigkilled_runner_reads_as_stale_never_running(project, capsys, monkeypatch):
    proc, run_dir = start_sleeping_run(project)
    kernel = read_metrics(run_dir)["metrics"]["kernel_pid"]
    proc.kill()
    proc.wait()
    try:
        assert read_metrics(run_dir)["status"] == "running"  # nothing could write the end...
        monkeypatch.chdir(project)
        code, out, _ = cli(capsys, "results")
        assert code == 0 and "stale" in out  # ...but the runner's pid is gone, so it reads as stale
        code, _, _ = cli(capsys, "run", "ranged", "--no-progress")  # the next run clears the dead runner's socket files
        from jupyter_core.paths import jupyter_runtime_dir

        assert code == 0 and not list(Path(jupyter_runtime_dir()).glob(f"ppt-kernel-{proc.pid}-*"))
    finally:
        if not gone(kernel, wait=5):
            os.kill(kernel, signal.SIGKILL)


# ---------------------------------------------------------------- concurrent writers


def test_two_processes_recording_into_one_run_keep_every_metric(tmp_path):
    run_dir = create_run_dir("00_core", {}, runs_dir=tmp_path, run_id="shared")
    code = "import sys\nfrom ppt_book.records import record\nfor i in range(150): record(f'p{sys.argv[1]}_{i}', i)"
    env = {**os.environ, "PPT_RUN_DIR": str(run_dir)}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(k)], env=env) for k in range(2)]
    assert all(p.wait(timeout=300) == 0 for p in procs)
    assert len(read_metrics(run_dir)["metrics"]) == 300


def test_runs_started_in_the_same_second_get_distinct_ids(tmp_path):
    code = (
        "import sys\nfrom ppt_book.records import create_run_dir\n"
        f"print(create_run_dir('00_core', {{'seed': 0}}, runs_dir={str(tmp_path)!r}).name)"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(3)]
    ids = [p.communicate(timeout=300)[0].strip() for p in procs]
    assert len(set(ids)) == 3 and all(read_metrics(tmp_path / "00_core" / i)["run_id"] == i for i in ids)


def test_heartbeat_over_two_minutes_old_reads_as_stale_on_any_host(tmp_path):
    import datetime as dt

    run_dir = create_run_dir("00_core", {}, runs_dir=tmp_path, run_id="remote")
    old = (dt.datetime.now().astimezone() - dt.timedelta(minutes=3)).isoformat(timespec="seconds")
    update_metrics(run_dir, host="another-host", pid=1, heartbeat=old)
    assert runs_table(tmp_path)["status"].tolist() == ["stale"]
    update_metrics(run_dir, heartbeat=dt.datetime.now().astimezone().isoformat(timespec="seconds"))
    assert runs_table(tmp_path)["status"].tolist() == ["running"]


def test_sweep_lock_is_released_when_its_holder_dies(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nfrom ppt_book.files import file_lock\n"
            f"with file_lock({str(tmp_path / '.sweep.lock')!r}):\n    print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    with file_lock(tmp_path / ".sweep.lock", blocking=False):
        pass  # no stale lock to clear by hand

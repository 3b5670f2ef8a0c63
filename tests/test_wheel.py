"""The library installs on its own: a wheel into a fresh venv with only the runtime requirements."""
import subprocess
import sys


def run(*args, **kw):
    out = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=900, **kw)
    assert out.returncode == 0, f"{args}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


def test_wheel_installs_into_fresh_venv(tmp_path, root):
    dist, env = tmp_path/"dist", tmp_path/"env"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", dist, root)
    (wheel,) = dist.glob("ppt_book-*.whl")
    run(sys.executable, "-m", "venv", env)
    # torch named on the same line so pip takes the local CPU wheel; constraints pin the rest as tested
    run(env/"bin"/"python", "-m", "pip", "install", "-q", "--disable-pip-version-check", "-c", root/"constraints.txt",
        "torch==2.13.0", wheel)
    out = run(env/"bin"/"python", "-c",
              "import importlib.util as u, ppt_book.core, ppt_book.experiments, ppt_book.lm, ppt_book.scaling, ppt_book.interpret, ppt_book;"
              "print(ppt_book.__version__, [m for m in ['nbdev', 'jupyterlab', 'pytest'] if u.find_spec(m)])",
              cwd=tmp_path)
    version, missing_dev = out.stdout.strip().split(" ", 1)
    assert version and missing_dev == "[]"  # no dev tools came with the runtime requirements
    help_text = run(env/"bin"/"ppt-book", "--help", cwd=tmp_path).stdout
    assert "run" in help_text and "book" in help_text

"""The sandbox around the Lean process, without Lean: the OS sandbox's command line and fallbacks, what it
really blocks where bubblewrap works, and the embedded build's Node layer (needs only the installed node)."""
from __future__ import annotations

import json
import logging
import os
import resource
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from prover.lean import backend as backend_mod
from prover.lean import sandbox
from prover.lean.backend import Backend, BackendError
from prover.lean.sandbox import SandboxPlan, plan_sandbox

ROOTS = [Path("/opt/lean-toolchain"), Path("/srv/mathlib/.lake/build/lib")]


def _pairs(argv: list[str], flag: str) -> list[tuple[str, str]]:
    return [(argv[i + 1], argv[i + 2]) for i, a in enumerate(argv) if a == flag]


def test_bwrap_command_binds_only_read_roots_read_only(monkeypatch):
    monkeypatch.setattr(os.path, "exists", lambda p: True)
    argv = SandboxPlan("bwrap", "/usr/bin/bwrap", prlimit="/usr/bin/prlimit", vmem_mb=4096).wrap(
        ["/opt/lean-toolchain/bin/lean", "-DmaxErrors=100", "/srv/src/LeanServer-1.lean"], ROOTS)
    hard_nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]  # prlimit may not raise a hard limit
    nofile = 65536 if hard_nofile == resource.RLIM_INFINITY else min(65536, hard_nofile)
    assert argv[:6] == ["/usr/bin/prlimit", "--core=0", f"--fsize={1024 << 20}", f"--nofile={nofile}",
                        f"--as={4096 << 20}", "--"]
    cmd = argv[argv.index("/usr/bin/bwrap"):]
    assert cmd[-4:] == ["--", "/opt/lean-toolchain/bin/lean", "-DmaxErrors=100", "/srv/src/LeanServer-1.lean"]
    for flag in ("--unshare-all", "--die-with-parent", "--new-session"):
        assert flag in cmd
    assert "--share-net" not in cmd and ("--cap-drop", "ALL") in zip(cmd, cmd[1:])
    assert not any(a in ("--bind", "--bind-try", "--dev-bind") for a in cmd), "no writable host mount"
    ro = {dst for _, dst in _pairs(cmd, "--ro-bind")}
    assert {"/opt/lean-toolchain", "/srv/mathlib/.lake/build/lib"} <= ro
    assert not ro & {"/", "/home", "/tmp", "/root", "/etc", str(Path.home())}
    assert ("--tmpfs", "/tmp") in zip(cmd, cmd[1:]) and cmd[cmd.index("--chdir") + 1] == "/tmp"


def test_unshare_and_none_commands():
    argv = SandboxPlan("unshare", "/usr/bin/unshare").wrap(["lean", "f.lean"], ROOTS)
    assert argv[0] == "/usr/bin/unshare" and {"--net", "--pid", "--user", "--kill-child"} <= set(argv)
    assert argv[-3:] == ["--", "lean", "f.lean"]
    assert SandboxPlan("none").wrap(["lean", "f.lean"], ROOTS) == ["lean", "f.lean"]


def test_fallbacks_warn_and_require_refuses(monkeypatch, caplog):
    monkeypatch.setattr(sandbox, "probe_bwrap", lambda: None)
    monkeypatch.setattr(sandbox, "probe_unshare", lambda: "/usr/bin/unshare")
    monkeypatch.setattr(sandbox, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="prover.lean"):
        plan = plan_sandbox("native", "auto")
    assert plan.kind == "unshare" and "file-system sandbox" in caplog.text
    monkeypatch.setattr(sandbox, "probe_unshare", lambda: None)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="prover.lean"):
        assert plan_sandbox("native", "auto").kind == "none"
    assert "without an OS sandbox" in caplog.text
    assert plan_sandbox("embedded", "auto").kind == "none"  # its own Node-level sandbox remains
    with pytest.raises(BackendError, match="bubblewrap"):
        plan_sandbox("native", "require")
    assert plan_sandbox("native", "off").kind == "none"
    with pytest.raises(ValueError, match="PROVER_LEAN_OS_SANDBOX"):
        plan_sandbox("native", "maybe")


def test_native_backend_command_without_a_native_lean(monkeypatch, tmp_path):
    """No native Lean here: fake `lean` on PATH and its prefix, and check the argv and environment."""
    prefix = tmp_path / "toolchain"
    (prefix / "bin").mkdir(parents=True)
    monkeypatch.delenv("PROVER_LAKE_DIR", raising=False)
    monkeypatch.setattr(backend_mod.shutil, "which", lambda name: f"/fake/bin/{name}")
    monkeypatch.setattr(backend_mod, "_lean_prefix", lambda lean, env=None: prefix)
    monkeypatch.setenv("PROVER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MY_API_TOKEN", "s3cret")
    b = backend_mod.native_backend()
    b = Backend(b.name, b.argv, b.env, b.workdir, b.source_dir, b.read_roots,
                sandbox=SandboxPlan("bwrap", "/usr/bin/bwrap"))
    b.source_dir.mkdir(parents=True)
    cmd = b.command(b.source_dir / "LeanServer-x.lean")
    assert cmd[-3:] == [str(prefix / "bin" / "lean"), "-DmaxErrors=100", str(b.source_dir / "LeanServer-x.lean")]
    ro = {dst for _, dst in _pairs(cmd, "--ro-bind")}
    assert {str(prefix.resolve()), str(b.source_dir.resolve())} <= ro
    assert str(b.workdir.resolve()) not in ro, "the logs are not Lean's to read"
    assert "MY_API_TOKEN" not in b.process_env()


bwrap_works = sandbox.probe_bwrap() is not None


@pytest.mark.skipif(not bwrap_works, reason="bubblewrap cannot create namespaces on this machine")
def test_bwrap_really_blocks_host_files_and_network(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("hunter2")
    root = tmp_path / "root"
    root.mkdir()
    (root / "ok.txt").write_text("visible")
    marker = Path("/tmp") / f"sbx-{uuid.uuid4().hex}"
    script = (f"cat {root}/ok.txt; echo; cat {secret} 2>/dev/null; echo x > {marker}; echo y > {root}/w 2>/dev/null; "
              "ls /home 2>/dev/null | wc -l; cat /proc/net/dev | grep -c :")
    plan = plan_sandbox("native", "require")  # with the rlimits, as Lean gets them
    out = subprocess.run(plan.wrap(["sh", "-c", script], [root]), capture_output=True, text=True, timeout=60)
    lines = out.stdout.split()
    assert lines[0] == "visible" and "hunter2" not in out.stdout
    assert not marker.exists() and not (root / "w").exists()
    assert lines[-2] == "0", "no /home inside"
    assert lines[-1] == "1", f"only the loopback interface: {out.stdout}"


@pytest.mark.skipif(not bwrap_works, reason="bubblewrap cannot create namespaces on this machine")
def test_killing_the_sandbox_group_leaves_no_process():
    tag = uuid.uuid4().hex[:12]
    plan = SandboxPlan("bwrap", sandbox.probe_bwrap())
    proc = subprocess.Popen(plan.wrap(["sh", "-c", f"sleep 300 # {tag}"], []), start_new_session=True)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGKILL)  # what LeanServer._kill does
    proc.wait(timeout=10)
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", tag], capture_output=True, text=True).stdout.split()
    assert not left, f"sandboxed processes outlived the kill: {left}"


def _embedded():
    try:
        return backend_mod.embedded_backend()
    except BackendError as e:
        pytest.skip(f"embedded Lean not installed: {e}")


def test_embedded_node_layer_refuses_host_access(tmp_path):
    """The preload every thread of the embedded Lean runs: reads only under its roots, writes only to fds 1/2,
    no processes or network modules. Checked on Node itself, so it holds whatever Lean code calls."""
    b = _embedded()
    secret = tmp_path / "secret.txt"
    secret.write_text("hunter2")
    marker = tmp_path / "marker"
    lean_dir = Path(b.argv[b.argv.index("-r") + 1]).parent
    js = f"""
    const fs = require('fs');
    const tries = {{
      readSecret: () => fs.readFileSync({str(secret)!r}, 'utf8'),
      writeMarker: () => fs.writeFileSync({str(marker)!r}, 'x'),
      openForWrite: () => fs.openSync({str(marker)!r}, 'w'),
      writePreload: () => fs.writeFileSync({str(lean_dir / 'preload.js')!r}, ''),
      openLeanJsRW: () => fs.openSync({str(lean_dir / 'lean.js')!r}, 'r+'),
      unlinkLeanJs: () => fs.unlinkSync({str(lean_dir / 'lean.js')!r}),
      symlinkOut: () => fs.symlinkSync('/etc/passwd', {str(tmp_path / 'l')!r}),
      listHome: () => fs.readdirSync('/home'),
      promises: () => fs.promises.readFile('/etc/passwd'),
      childProcess: () => require('child_process').execSync('id'),
      net: () => require('net'),
      writeFd3: () => fs.writeSync(3, 'x'),
    }};
    const allowed = [];
    for (const [k, f] of Object.entries(tries)) {{ try {{ f(); allowed.push(k); }} catch (e) {{}} }}
    fs.readFileSync({str(lean_dir / 'lib' / 'Init.olean')!r});  // the library stays readable
    const w = new (require('worker_threads').Worker)(
      "try {{ require('fs').writeFileSync({str(marker)!r}, 'w'); console.log('worker-wrote') }} catch (e) {{}}",
      {{ eval: true }});
    w.on('exit', () => console.log('allowed:' + JSON.stringify(allowed)));
    """
    out = subprocess.run([b.argv[0], "-r", str(lean_dir / "preload.js"), "-e", js], capture_output=True,
                         text=True, timeout=60, env=b.process_env())
    assert out.returncode == 0, out.stderr
    assert "allowed:[]" in out.stdout, out.stdout
    assert "worker-wrote" not in out.stdout and "hunter2" not in out.stdout + out.stderr
    assert not marker.exists() and not (tmp_path / "l").exists()


def test_embedded_lean_js_is_patched_shut():
    b = _embedded()
    js = Path(b.argv[b.argv.index("-r") + 2]).read_text()
    assert 'FS.mount(NODEFS,{root:"/home"}' not in js and 'FS.mount(NODEFS,{root:"/tmp"}' not in js
    assert 'abort("sandbox: eval is disabled")' in js and 'abort("sandbox: system() is disabled")' in js
    assert "sandbox: dlopen is disabled" in js
    assert b.env["LEAN_WASM_READ_ROOTS"].split(":") == [str(Path(b.argv[b.argv.index("-r") + 1]).parent.resolve()),
                                                        str(b.source_dir.resolve())]


@pytest.mark.skipif(not bwrap_works, reason="bubblewrap cannot create namespaces on this machine")
def test_memory_cap_sees_the_process_inside_the_sandbox():
    """The client restarts a server above `max_rss_mb`; under bwrap the process it started is not Lean."""
    from prover.lean.server import rss_mb

    code = "x = bytearray(300 << 20); import sys, time; print('up', flush=True); time.sleep(30)"
    proc = subprocess.Popen(plan_sandbox("embedded", "require").wrap(["python3", "-c", code], []),
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "up"
        assert rss_mb(proc.pid) > 250
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def test_embedded_node_layer_follows_links_out_of_its_roots(tmp_path):
    """The preload remembers real paths (one lstat per new path instead of a realpath walk per call); a link
    inside a read root that leads out stays refused however often it is asked, directly or as a directory."""
    b = _embedded()
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (root / "sub" / "ok.txt").write_text("fine")
    (outside / "secret.txt").write_text("hunter2")
    (root / "link.txt").symlink_to(outside / "secret.txt")
    (root / "dirlink").symlink_to(outside)
    (root / "inlink.txt").symlink_to(root / "sub" / "ok.txt")  # a link that stays inside is fine
    lean_dir = Path(b.argv[b.argv.index("-r") + 1]).parent
    js = f"""
    const fs = require('fs');
    const out = [];
    for (let i = 0; i < 3; i++) {{
      for (const p of ['sub/ok.txt', 'inlink.txt', 'link.txt', 'dirlink/secret.txt', 'sub/../link.txt',
                       'sub/missing.txt']) {{
        try {{ out.push(p + '=' + fs.readFileSync({str(root)!r} + '/' + p, 'utf8')); }}
        catch (e) {{ out.push(p + ':' + e.code); }}
      }}
      try {{ fs.statSync({str(root / 'dirlink')!r}); out.push('stat-dirlink=ok'); }}
      catch (e) {{ out.push('stat-dirlink:' + e.code); }}
    }}
    console.log(JSON.stringify(out));
    """
    env = {**b.process_env(), "LEAN_WASM_READ_ROOTS": str(root)}
    out = subprocess.run([b.argv[0], "-r", str(lean_dir / "preload.js"), "-e", js], capture_output=True,
                         text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    want = ["sub/ok.txt=fine", "inlink.txt=fine", "link.txt:EACCES", "dirlink/secret.txt:EACCES",
            "sub/../link.txt:EACCES", "sub/missing.txt:ENOENT", "stat-dirlink:EACCES"]
    assert got == want * 3
    assert "hunter2" not in out.stdout + out.stderr

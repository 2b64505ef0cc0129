"""The run manifest: everything needed to say later what a run was (code, Lean, model, data, budget, machine).

`build_manifest(...)` is called once at the start of a run and `write_manifest(run_dir, m)` stores it as
`run_dir/manifest.json`. Nothing is cached: every field is computed when the manifest is built.

Model hash (`model.hash_method` says the same): sha256 over every file of the model directory, in sorted
relative-path order; a file of at most 8 MiB (config.json, tokenizer files) is hashed in full, a larger one
(the weights) by its relative path, its size and its first and last MiB. That takes milliseconds for a
model of many GB and still changes when a weight file is replaced, grown, truncated or re-quantised. A model
given as a single file (a .gguf) is treated the same way; a path that does not exist locally (a hub id)
gets `sha256: None`.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1

_MIB = 1 << 20
FULL_HASH_MAX_BYTES = 8 * _MIB  # files up to this size are hashed in full
SAMPLE_BYTES = _MIB  # larger files: size + first and last SAMPLE_BYTES
MODEL_HASH_METHOD = (
    "sha256 over files in sorted relative-path order: files <= 8 MiB in full (path + content); "
    "larger files as path + size + first 1 MiB + last 1 MiB"
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def sha256_file(path: str | os.PathLike, chunk_size: int = _MIB) -> str:
    """Hex sha256 of a file's whole content."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk_size)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def _update_with_file(h: "hashlib._Hash", path: Path, rel: str) -> None:
    size = path.stat().st_size
    h.update(rel.encode() + b"\0")
    h.update(str(size).encode() + b"\0")
    with open(path, "rb") as f:
        if size <= FULL_HASH_MAX_BYTES:
            while True:
                block = f.read(_MIB)
                if not block:
                    break
                h.update(block)
        else:
            h.update(f.read(SAMPLE_BYTES))
            f.seek(size - SAMPLE_BYTES)
            h.update(f.read(SAMPLE_BYTES))
    h.update(b"\0")


def model_fingerprint(model_path: str | os.PathLike | None) -> dict | None:
    """`{path, exists, sha256, hash_method, files, bytes}` for a model directory or file (see module doc)."""
    if model_path is None:
        return None
    p = Path(model_path).expanduser()
    info: dict[str, Any] = {"path": str(model_path), "exists": p.exists(), "sha256": None,
                            "hash_method": MODEL_HASH_METHOD, "files": 0, "bytes": 0}
    if not p.exists():
        info["note"] = "not a local path (hub id?): not hashed"
        return info
    info["path"] = str(p.resolve())
    h = hashlib.sha256()
    if p.is_file():
        files = [(p.name, p)]
    else:
        files = []
        for root, dirs, names in os.walk(p):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # .git, .cache of hub downloads
            for n in names:
                if n.startswith("."):
                    continue
                fp = Path(root) / n
                files.append((fp.relative_to(p).as_posix(), fp))
        files.sort()
        info["has_config"] = (p / "config.json").is_file()
    for rel, fp in files:
        _update_with_file(h, fp, rel)
        info["files"] += 1
        info["bytes"] += fp.stat().st_size
    info["sha256"] = h.hexdigest()
    return info


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout


def git_info(repo_dir: str | os.PathLike | None = None) -> dict | None:
    """`{commit, dirty, branch}` of the checkout holding `repo_dir` (default: this code's checkout).

    `dirty` is True when tracked files differ from HEAD (staged or not); `untracked` counts files git does
    not ignore but does not track. None when `repo_dir` is not inside a git checkout (or git is missing).
    """
    cwd = Path(repo_dir) if repo_dir is not None else REPO_ROOT
    commit = _git(["rev-parse", "HEAD"], cwd)
    if commit is None:
        return None
    status = _git(["status", "--porcelain"], cwd) or ""
    lines = [ln for ln in status.splitlines() if ln.strip()]
    branch = _git(["rev-parse", "--abbrev-ref", "HEAD"], cwd)
    return {
        "commit": commit.strip(),
        "dirty": any(not ln.startswith("??") for ln in lines),
        "untracked": sum(ln.startswith("??") for ln in lines),
        "branch": branch.strip() if branch else None,
    }


def _ram_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _pkg_version(name: str) -> str | None:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover
        return None
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def machine_info() -> dict:
    """Host, OS, Python, CPUs, RAM and GPUs (via torch.cuda when torch is installed)."""
    try:
        cpus_usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus_usable = os.cpu_count()
    info: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "cpu_count": os.cpu_count(),
        "cpu_count_usable": cpus_usable,
        "ram_gb": _ram_gb(),
        "gpus": [],
        "cuda": None,
        "torch": _pkg_version("torch"),
        "transformers": _pkg_version("transformers"),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["cuda"] = torch.version.cuda
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception as e:  # torch missing or a broken CUDA set-up: the manifest must still be written
        info["gpu_error"] = f"{type(e).__name__}: {e}"
    return info


def data_info(bench_path: str | os.PathLike) -> dict:
    p = Path(bench_path)
    info: dict[str, Any] = {"path": str(p.resolve()) if p.exists() else str(p), "sha256": None, "rows": None}
    if p.is_file():
        info["sha256"] = sha256_file(p)
        with open(p, "rb") as f:
            info["rows"] = sum(1 for line in f if line.strip())
    return info


def prelude_info(paths: list[str | os.PathLike]) -> list[dict]:
    """`[{path, sha256}]` of the prelude files a run loads (the text is what matters: it is hashed)."""
    return [{"path": str(Path(p)), "sha256": sha256_file(p) if Path(p).is_file() else None} for p in paths]


# Generator options that name files or folders (a LoRA adapter; the memory's pairs, "traced" = data/traced/):
# a run records their content's hash, and a resumed run compares that, not the path (a moved adapter is the same
# run, a retrained one is not).
FILE_OPTIONS = ("adapter", "memory")


def option_files_info(gen_options: dict | None) -> dict[str, list[str | None]]:
    """`{option: [sha256 of each path it names, ...]}` for the FILE_OPTIONS set in `gen_options` (None: absent)."""
    out: dict[str, list[str | None]] = {}
    for key in FILE_OPTIONS:
        spec = (gen_options or {}).get(key)
        if not spec:
            continue
        from ..generate.memory import memory_path  # "traced" names data/traced/, as the memory reads it

        out[key] = [(model_fingerprint(memory_path(part)) or {}).get("sha256") for part in str(spec).split(",")
                    if part.strip()]
    return out


def build_manifest(*, bench_path: str | os.PathLike, budget: dict, generator: str, model_path: str | None,
                   argv: list[str], lean_version: str | None, extra: dict | None = None,
                   config: dict | None = None, preludes: list[str | os.PathLike] | None = None) -> dict:
    """The manifest of a run that is starting now (see the module doc for the model hash). `config` is the
    command's whole config (prover.config.config_dict), `preludes` the prelude files it loads."""
    m: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git": git_info(),
        "lean_version": lean_version,
        "model": model_fingerprint(model_path),
        "data": data_info(bench_path),
        "budget": dict(budget),
        "generator": generator,
        "machine": machine_info(),
        "argv": list(argv),
    }
    if config is not None:
        m["config"] = redact(config)
        m["option_files"] = option_files_info(config.get("gen_options"))
    if preludes is not None:
        m["preludes"] = prelude_info(list(preludes))
    if extra:
        m["extra"] = dict(extra)
    return m


SECRET_OPTIONS = ("api_key",)  # generator options never written down
# generator options that change how requests travel, not what a request asks for: a resumed run may change them
TRANSPORT_OPTIONS = ("api_key", "timeout", "max_retries", "parallel_requests", "prompts_per_request", "batch_size")


def redact(config: dict) -> dict:
    """`config` with secret generator options replaced by "<redacted>" (they are in RESUME_MAY_CHANGE)."""
    opts = config.get("gen_options")
    if not isinstance(opts, dict) or not any(k in opts for k in SECRET_OPTIONS):
        return config
    return {**config, "gen_options": {k: "<redacted>" if k in SECRET_OPTIONS else v for k, v in opts.items()}}


def run_identity(manifest: dict) -> dict | None:
    """What `--resume` compares: the command's config, plus the content of what it names by path (the
    benchmark's, each prelude's, the model's and the FILE_OPTIONS' sha256), so a moved file is the same run and
    an edited one is not. None for a manifest written before configs were recorded."""
    if "config" not in manifest:
        return None
    ident = dict(manifest["config"])
    ident["data_sha256"] = (manifest.get("data") or {}).get("sha256")
    if "preludes" in manifest:
        ident["prelude_sha256"] = [p.get("sha256") for p in manifest["preludes"]]
    if "model" in manifest:  # absent when not known yet (preflight hashes no model)
        ident["model_sha256"] = (manifest.get("model") or {}).get("sha256")
    if manifest.get("option_files"):
        ident["option_files_sha256"] = manifest["option_files"]
    return ident


def resume_differences(old: dict, new: dict, may_change: tuple[str, ...]) -> list[str]:
    """Each setting in which the run `new` would continue `old` differently (`field: old -> new`), leaving
    out the keys in `may_change` (and their sub-keys). Both are manifests; `new` may lack `model`. Old
    manifests (no `config`) are compared on their data, generator, budget and model as they recorded them."""
    from ..config import config_diff

    a, b = run_identity(old), run_identity(new)
    if a is None or b is None:
        a = {"data_sha256": (old.get("data") or {}).get("sha256"), "generator": old.get("generator"),
             "budget": old.get("budget"), "model_sha256": (old.get("model") or {}).get("sha256")}
        b = {"data_sha256": (new.get("data") or {}).get("sha256"), "generator": new.get("generator"),
             "budget": new.get("budget"), "model_sha256": (new.get("model") or {}).get("sha256")}
    if "model" not in new:
        a.pop("model_sha256", None)
        b.pop("model_sha256", None)
    return [f"{k}: {va!r} -> {vb!r}" for k, va, vb in config_diff(a, b, ignore=may_change)]


def write_manifest(run_dir: str | os.PathLike, manifest: dict) -> Path:
    """Write `run_dir/manifest.json` (atomically: a half-written manifest never replaces a good one)."""
    from ..io import atomic_write_json

    return atomic_write_json(Path(run_dir) / MANIFEST_NAME, manifest)


def read_manifest(run_dir: str | os.PathLike) -> dict | None:
    path = Path(run_dir) / MANIFEST_NAME
    if not path.is_file():
        return None
    return json.loads(path.read_text())

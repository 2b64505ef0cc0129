"""Launch `prover.train.trainer` on N processes of this machine with accelerate + DeepSpeed ZeRO-3.

    python -m prover.train.launch --nproc 2 [--launcher accelerate|torchrun] -- --model M --data D --out O [...]

Everything after `--` goes to the trainer. The launcher writes an accelerate config (`accelerate_config.yaml`
in the trainer's `--out`, or a temporary folder) whose `deepspeed_config_file` is `prover/train/ds_zero3.json`
(or `--ds-config`), then runs

    python -m accelerate.commands.launch --config_file CFG --num_processes N -m prover.train.trainer ARGS

(or `python -m torch.distributed.run --nproc_per_node N -m prover.train.trainer ARGS`). With no GPU it sets
the CPU environment: `DS_ACCELERATOR=cpu`, `OMP_NUM_THREADS=1` per process (torch threads of several ranks on
few cores wait for each other), `ACCELERATE_USE_CPU` unset; the trainer itself passes the gloo backend and keeps
DeepSpeed from compiling its shared-memory comm op. On GPUs the same command uses NCCL and bf16.

Several nodes (a shared filesystem for `--out`, the same code, venv and data on every node):

1. accelerate's own rendezvous, one command per node (node 0's address is the rendezvous):

       # on node k (k = 0 .. M-1), N GPUs per node
       python -m prover.train.launch --nproc N --num-machines M --machine-rank k \\
           --main-process-ip NODE0_IP --main-process-port 29500 -- --model M --data D --out /shared/run

   which runs `accelerate launch --num_machines M --machine_rank k --main_process_ip NODE0_IP
   --main_process_port 29500 --num_processes N*M ...` (accelerate counts processes over all machines) with
   `deepspeed_multinode_launcher: standard` (torchrun on each node). Under SLURM: one task per node and
   `--machine-rank $SLURM_NODEID --main-process-ip $(scontrol show hostnames $SLURM_JOB_NODELIST | head -1)`.

2. DeepSpeed's pdsh launcher from node 0 alone, with a hostfile (passwordless ssh to every node):

       # hostfile: one line per node
       node0 slots=8
       node1 slots=8

       python -m prover.train.launch --nproc 8 --num-machines 2 --hostfile hostfile \\
           --main-process-ip node0 -- --model M --data D --out /shared/run

   which writes `deepspeed_hostfile` and `deepspeed_multinode_launcher: pdsh` into the accelerate config;
   accelerate then runs `deepspeed --hostfile hostfile ...`, which starts the ranks on every node over ssh
   (the environment is forwarded through `.deepspeed_env`).

Torchrun works the same way: `torchrun --nnodes M --node_rank k --master_addr NODE0_IP --master_port 29500
--nproc_per_node N -m prover.train.trainer ...` on each node.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

from prover.train.trainer import DS_CONFIG

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def has_gpu() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        return False


def accelerate_config(num_processes: int, ds_config: str | Path = DS_CONFIG, num_machines: int = 1,
                      machine_rank: int = 0, main_process_ip: str | None = None,
                      main_process_port: int | None = None, hostfile: str | Path | None = None) -> dict:
    """An accelerate config for DeepSpeed ZeRO-3 driven by `ds_config` (num_processes counts all machines)."""
    ds = {"deepspeed_config_file": str(Path(ds_config).resolve()), "zero3_init_flag": True}
    if num_machines > 1:
        ds["deepspeed_multinode_launcher"] = "pdsh" if hostfile else "standard"
        if hostfile:
            ds["deepspeed_hostfile"] = str(Path(hostfile).resolve())
    cfg = {
        "compute_environment": "LOCAL_MACHINE",
        "distributed_type": "DEEPSPEED",
        "deepspeed_config": ds,
        "machine_rank": machine_rank,
        "num_machines": num_machines,
        "num_processes": num_processes,
        "rdzv_backend": "static",
        "same_network": True,
        "use_cpu": False,
        "main_training_function": "main",
        "debug": False,
    }
    if main_process_ip:
        cfg["main_process_ip"] = main_process_ip
    if main_process_port:
        cfg["main_process_port"] = int(main_process_port)
    return cfg


def write_accelerate_config(path: str | Path, **kw) -> Path:
    """Write `accelerate_config(**kw)` as YAML (accelerate reads .yaml and .json; the subset here is plain)."""
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for k, v in accelerate_config(**kw).items():
        if isinstance(v, dict):
            lines.append(f"{k}:")
            lines += [f"  {kk}: {json.dumps(vv)}" for kk, vv in v.items()]
        else:
            lines.append(f"{k}: {json.dumps(v)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def launch_env(base: dict | None = None, cpu: bool | None = None) -> dict:
    """The environment for the ranks: the repository on PYTHONPATH; on CPU, DeepSpeed's CPU accelerator and one
    OpenMP thread per process (both only where the caller did not choose otherwise)."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.setdefault("PYTHONUNBUFFERED", "1")
    cpu = (not has_gpu()) if cpu is None else cpu
    if cpu:
        env.setdefault("DS_ACCELERATOR", "cpu")
        env.setdefault("OMP_NUM_THREADS", "1")
        env.setdefault("MKL_NUM_THREADS", env["OMP_NUM_THREADS"])
        env.pop("ACCELERATE_USE_CPU", None)  # would route accelerate to its MPI/IPEX CPU launcher
    else:
        env.setdefault("OMP_NUM_THREADS", "4")
    return env


def _out_dir(trainer_args: Sequence[str]) -> Path | None:
    args = list(trainer_args)
    for i, a in enumerate(args):
        if a == "--out" and i + 1 < len(args):
            return Path(args[i + 1])
        if a.startswith("--out="):
            return Path(a.split("=", 1)[1])
    return None


def build_command(trainer_args: Sequence[str], nproc: int, launcher: str = "accelerate",
                  config_file: str | Path | None = None, num_machines: int = 1, machine_rank: int = 0,
                  main_process_ip: str | None = None, main_process_port: int | None = None) -> list[str]:
    """The command line that starts `nproc` trainer processes on this machine (times num_machines in total)."""
    if launcher == "accelerate":
        if config_file is None:
            raise ValueError("the accelerate launcher needs a config file (write_accelerate_config)")
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config_file),
               "--num_processes", str(nproc * num_machines), "--num_machines", str(num_machines),
               "--machine_rank", str(machine_rank)]
        if main_process_ip:
            cmd += ["--main_process_ip", main_process_ip]
        if main_process_port:
            cmd += ["--main_process_port", str(main_process_port)]
        return cmd + ["-m", "prover.train.trainer", *trainer_args]
    if launcher == "torchrun":
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
               "--nnodes", str(num_machines), "--node_rank", str(machine_rank),
               "--master_addr", main_process_ip or "127.0.0.1", "--master_port", str(main_process_port or free_port())]
        return cmd + ["-m", "prover.train.trainer", *trainer_args]
    raise ValueError(f"unknown launcher {launcher!r} (accelerate, torchrun)")


def launch(trainer_args: Sequence[str], nproc: int = 1, launcher: str = "accelerate",
           ds_config: str | Path = DS_CONFIG, num_machines: int = 1, machine_rank: int = 0,
           main_process_ip: str | None = None, main_process_port: int | None = None,
           hostfile: str | Path | None = None, env: dict | None = None, timeout: float | None = None,
           check: bool = True, capture: bool = False) -> subprocess.CompletedProcess:
    """Run the trainer on `nproc` processes here (per machine); returns the finished process."""
    if num_machines == 1:
        main_process_ip = main_process_ip or "127.0.0.1"
        main_process_port = main_process_port or free_port()
    out = _out_dir(trainer_args)
    tmp = None
    config_file = None
    if launcher == "accelerate":
        if out is None:
            tmp = tempfile.TemporaryDirectory(prefix="prover-accel-")
            where = Path(tmp.name)
        else:
            where = out
        config_file = write_accelerate_config(
            where / (f"accelerate_config.rank{machine_rank}.yaml" if num_machines > 1 else "accelerate_config.yaml"),
            num_processes=nproc * num_machines, ds_config=ds_config, num_machines=num_machines,
            machine_rank=machine_rank, main_process_ip=main_process_ip, main_process_port=main_process_port,
            hostfile=hostfile)
    cmd = build_command(trainer_args, nproc, launcher, config_file, num_machines, machine_rank, main_process_ip,
                        main_process_port)
    if launcher == "torchrun" and "--ds-config" not in trainer_args and Path(ds_config) != DS_CONFIG:
        cmd += ["--ds-config", str(ds_config)]
    try:
        return subprocess.run(cmd, env=launch_env(env), cwd=str(ROOT), timeout=timeout, check=check,
                              capture_output=capture, text=True)
    finally:
        if tmp is not None:
            tmp.cleanup()


@dataclass
class LaunchConfig:
    """The launcher's settings (its flags and `--config FILE` keys, prover/config.py); the trainer's own
    settings follow `--` (prover.train.trainer.TrainConfig)."""

    nproc: int | None = field(default=None, metadata={"help": "processes per machine (default: GPUs, or 1 on CPU)"})
    launcher: Literal["accelerate", "torchrun"] = field(default="accelerate", metadata={"help": "how ranks start"})
    ds_config: str = field(default=str(DS_CONFIG), metadata={"help": "DeepSpeed ZeRO-3 config"})
    num_machines: int = field(default=1, metadata={"help": "machines taking part"})
    machine_rank: int = field(default=0, metadata={"help": "this machine's rank (0: the rendezvous)"})
    main_process_ip: str | None = field(default=None, metadata={"help": "node 0's address (several machines)"})
    main_process_port: int | None = field(default=None, metadata={"help": "node 0's port (default: a free one)"})
    hostfile: str | None = field(default=None, metadata={"help": "DeepSpeed hostfile (pdsh launch from node 0)"})


def main(argv: Sequence[str] | None = None) -> int:
    from ..config import ConfigError, ConfigParser

    argv = list(sys.argv[1:] if argv is None else argv)
    trainer_args: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, trainer_args = argv[:i], argv[i + 1:]
    ap = ConfigParser(LaunchConfig, prog="python -m prover.train.launch",
                      description="Run prover.train.trainer on N processes with DeepSpeed ZeRO-3; "
                                  "trainer arguments follow `--`.")
    try:
        (a,) = ap.parse_config(argv)
        if not trainer_args:
            raise ConfigError("pass the trainer's arguments after `--` (at least --model, --data, --out)")
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    nproc = a.nproc
    if nproc is None:
        import torch

        nproc = max(1, torch.cuda.device_count()) if torch.cuda.is_available() else 1
    r = launch(trainer_args, nproc=nproc, launcher=a.launcher, ds_config=a.ds_config, num_machines=a.num_machines,
               machine_rank=a.machine_rank, main_process_ip=a.main_process_ip,
               main_process_port=a.main_process_port, hostfile=a.hostfile, check=False)
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())

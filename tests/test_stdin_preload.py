"""The stdin preload of the embedded backend, tested with Node alone (no Lean): requests arrive over a pipe
line by line, intact, even when a multibyte character straddles Emscripten's 256-byte read chunks."""
from __future__ import annotations

import subprocess

import pytest

from prover.lean.backend import cache_root

HOME = cache_root() / "lean-wasm"
NODE, PRELOAD = HOME / "node" / "bin" / "node", HOME / "lean" / "preload.js"

# What lean.js does: read fd 0 in 256-byte chunks and decode each chunk on its own. Echo each complete line.
READER = r"""
const fs = require('fs');
let pending = '', zeros = 0;
for (;;) {
  const buf = Buffer.alloc(256);
  const n = fs.readSync(process.stdin.fd, buf, 0, 256);
  if (n === 0) { if (++zeros === 2) break; continue; }  // one 0 ends a TTY read; two mean end of input
  zeros = 0;
  pending += buf.slice(0, n).toString('utf-8');
  let i;
  while ((i = pending.indexOf('\n')) >= 0) {
    fs.writeSync(1, 'GOT ' + pending.slice(0, i) + '\n');
    pending = pending.slice(i + 1);
  }
}
"""


@pytest.mark.skipif(not PRELOAD.exists(), reason="embedded Lean not installed (make setup)")
def test_pipe_lines_arrive_whole_across_chunk_boundaries():
    lines = ["x" * 254 + "≤₃→" + "y" * 40, "∀ b : Nat, 0 < b → a ≤ b" * 20, "{\"id\": 1}"]
    proc = subprocess.Popen([str(NODE), "-r", str(PRELOAD), "-e", READER], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, encoding="utf-8")
    got = []
    for line in lines:  # one at a time, waiting for each answer: the reader must not block on a full line
        proc.stdin.write(line + "\n")
        proc.stdin.flush()
        got.append(proc.stdout.readline().rstrip("\n"))
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0
    assert got == ["GOT " + line for line in lines]

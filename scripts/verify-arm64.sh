#!/usr/bin/env bash
# Prove scripts/install-pi.sh on an x86_64 Debian machine with no Raspberry Pi: a Debian bookworm
# arm64 root (debootstrap), run through qemu user-mode emulation with a Pi 4's CPU (-cpu cortex-a72)
# under proot, which needs no binfmt_misc and runs child processes emulated too.
#   scripts/verify-arm64.sh           run it; reuses a finished root and build (then ~13 min here)
#   scripts/verify-arm64.sh --clean   start from nothing
# Compiling llama.cpp under emulation would take hours, so its libraries are cross-compiled with
# Debian's aarch64 toolchain from llama-cpp-python's own source, with install-pi.sh's Pi 4 flags,
# and install-pi.sh installs the Python package around them (EDGE_LLAMA_LIBS). Everything else
# (apt, the venv, the arm64 wheels, models, the fine-tuned build, the index, the smoke test) runs
# inside the emulated root, as on a Pi. The summary goes to build/reports/arm64/summary.md, the
# whole log to $EDGE_ARM64_WORK/verify.log (default /var/tmp/edge-arm64).
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${EDGE_ARM64_WORK:-/var/tmp/edge-arm64}"
RFS="$WORK/rootfs"
MIRROR="${EDGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
QEMU_CPU="cortex-a72"
OUT="$SRC/build/reports/arm64"

clean=0
for arg in "$@"; do
  case "$arg" in
    --clean) clean=1 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "verify-arm64.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done
if [ "$(uname -s)" != Linux ] || [ "$(uname -m)" != x86_64 ]; then
  echo "verify-arm64.sh: runs on an x86_64 Linux host (this is $(uname -s) $(uname -m)); on a Pi, run scripts/install-pi.sh" >&2
  exit 2
fi
if [ "$(id -u)" != 0 ]; then
  echo "verify-arm64.sh: debootstrap needs root: run it with sudo" >&2
  exit 2
fi

[ "$clean" = 1 ] && rm -rf "$WORK"
mkdir -p "$WORK" "$OUT"
LOG="$WORK/verify.log"
: >"$LOG"
exec > >(tee -a "$LOG") 2>&1
T0=$(date +%s)
declare -a SUMMARY
say() { echo "==> [$(( $(date +%s) - T0 ))s] $*"; }
note() { SUMMARY+=("$*"); }
# A run that stops half-way still leaves its summary: the steps done and the end of the log.
fail_summary() {
  local rc=$?
  trap - ERR
  {
    echo "# arm64 verification (emulated Raspberry Pi 4): FAILED"
    echo
    echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') by \`scripts/verify-arm64.sh\`; it stopped after $(( $(date +%s) - T0 )) s with exit status $rc."
    echo
    echo "## Steps done"
    echo
    for n in "${SUMMARY[@]}"; do echo "- $n"; done
    echo
    if [ -f "$WORK/install-1.log" ] && [ "$WORK/install-1.log" -nt "$WORK/cpuinfo-pi4" ]; then
      echo "## install-pi.sh's steps in the root"
      echo
      grep '^==>' "$WORK/install-1.log" | sed 's/^/    /'
      echo
    fi
    echo "## The end of the log"
    echo
    echo '```'
    tr '\r' '\n' <"$LOG" | grep -v '^$' | tail -n 30
    echo '```'
  } >"$OUT/summary.md"
  echo "verify-arm64.sh: failed; summary in $OUT/summary.md" >&2
  exit "$rc"
}
set -E
trap fail_summary ERR

# The versions and flags come from install-pi.sh itself, so the two cannot drift apart.
LCP_VERSION="$(sed -n 's/^LLAMA_CPP_PYTHON_VERSION="\([^"]*\)".*/\1/p' "$SRC/scripts/install-pi.sh")"
PI4_ARCH="$(sed -n 's/^ *pi4) arm_arch="\([^"]*\)".*/\1/p' "$SRC/scripts/install-pi.sh")"
PI_FLAGS="-DGGML_NATIVE=OFF -DGGML_CPU_ARM_ARCH=$PI4_ARCH"
[ -n "$LCP_VERSION" ] && [ -n "$PI4_ARCH" ] || { echo "verify-arm64.sh: cannot read the version or the Pi 4 flags from install-pi.sh" >&2; exit 1; }

# -- 1. host tools ---------------------------------------------------------------------------------
need=(debootstrap qemu-user-static proot gcc-aarch64-linux-gnu g++-aarch64-linux-gnu cmake make python3)
missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing host packages: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
note "host: $(uname -sm), $(nproc) cores; $(qemu-aarch64-static --version | head -1); proot $(proot --version 2>&1 | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1); $(aarch64-linux-gnu-gcc --version | head -1)"

# A Pi 4's /proc/cpuinfo and board name, bound over the host's inside the root: qemu-user passes
# the host's /proc through, and install-pi.sh reads the board from there.
cat >"$WORK/cpuinfo-pi4" <<'EOF'
processor	: 0
BogoMIPS	: 108.00
Features	: fp asimd evtstrm crc32 cpuid
CPU implementer	: 0x41
CPU architecture: 8
CPU variant	: 0x0
CPU part	: 0xd08
CPU revision	: 3

processor	: 1
BogoMIPS	: 108.00
Features	: fp asimd evtstrm crc32 cpuid
CPU implementer	: 0x41
CPU architecture: 8
CPU variant	: 0x0
CPU part	: 0xd08
CPU revision	: 3

Revision	: c03114
Model		: Raspberry Pi 4 Model B Rev 1.4
EOF
printf 'Raspberry Pi 4 Model B Rev 1.4\0' >"$WORK/model-pi4"
note "inside the root, a Pi 4's /proc/cpuinfo (Cortex-A72, no asimddp) and /proc/device-tree/model are bound over the host's; RAM is the host's"

# proot 5.1 (Debian's) does not know the faccessat2 system call, which qemu uses for the guest's
# `test -x` and the like, so those would look at the host's files. A seccomp filter makes
# faccessat2 fail with ENOSYS for proot and its children; glibc then falls back to faccessat,
# which proot translates.
cat >"$WORK/nofaccessat2.py" <<'EOF'
import ctypes, os, struct, sys
LD_W_ABS, JEQ_K, RET_K = 0x20, 0x15, 0x06
ins = lambda code, jt, jf, k: struct.pack("HBBI", code, jt, jf, k)
prog = b"".join([
    ins(LD_W_ABS, 0, 0, 4), ins(JEQ_K, 0, 3, 0xC000003E),  # arch x86_64, else allow
    ins(LD_W_ABS, 0, 0, 0), ins(JEQ_K, 0, 1, 439),         # faccessat2
    ins(RET_K, 0, 0, 0x00050000 | 38),                      # SECCOMP_RET_ERRNO | ENOSYS
    ins(RET_K, 0, 0, 0x7FFF0000),                           # SECCOMP_RET_ALLOW
])
buf = ctypes.create_string_buffer(prog, len(prog))
class Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
fp = Fprog(len(prog) // 8, ctypes.addressof(buf))
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(38, 1, 0, 0, 0) != 0 or libc.prctl(22, 2, ctypes.byref(fp), 0, 0) != 0:  # NO_NEW_PRIVS, SET_SECCOMP
    sys.exit(f"seccomp: {os.strerror(ctypes.get_errno())}")
os.execvp(sys.argv[1], sys.argv[1:])
EOF

# Where the host reaches HTTPS through a proxy with its own certificate authority, the guest
# needs the host's CA bundle too (pip reads PIP_CERT; Python's ssl reads SSL_CERT_FILE).
HOST_CA=/etc/ssl/certs/ca-certificates.crt
CA_ARGS=() CA_ENV=()
if [ -f "$HOST_CA" ]; then
  CA_ARGS=(-b "$HOST_CA:/etc/host-ca.crt")
  CA_ENV=(PIP_CERT=/etc/host-ca.crt SSL_CERT_FILE=/etc/host-ca.crt)
  note "the host's CA bundle is given to the guest (PIP_CERT, SSL_CERT_FILE): this machine's HTTPS goes through a proxy with its own CA"
fi

guest() {
  # Run a command in the arm64 root: emulated, as root (proot -0), with the Pi 4's /proc/cpuinfo.
  # In a mount namespace of its own: proot passes mount(2) and umount(2) through, and debootstrap's
  # second stage unmounts /proc when it ends, which as real root took the host's /proc with it
  # (every shell on the machine then failed). Here its mounts and unmounts stay in the namespace.
  unshare --mount --propagation private \
  python3 "$WORK/nofaccessat2.py" proot -0 -r "$RFS" -q "qemu-aarch64-static -cpu $QEMU_CPU" \
    -b /dev -b /proc -b /sys -b /etc/resolv.conf -b "$WORK/cpuinfo-pi4:/proc/cpuinfo" \
    -b "$WORK/model-pi4:/proc/device-tree/model" "${CA_ARGS[@]}" -w /root \
    /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONFAULTHANDLER=1 "${CA_ENV[@]}" "$@"
}

# -- 2. the arm64 root -------------------------------------------------------------------------------
if [ ! -f "$RFS/.edge-root-done" ]; then
  t=$(date +%s)
  if [ ! -f "$RFS/.edge-stage1-done" ]; then
    rm -rf "$RFS"
    say "debootstrap bookworm arm64, first stage (downloads)"
    debootstrap --arch=arm64 --foreign --variant=minbase --include=ca-certificates,python3 bookworm "$RFS" "$MIRROR"
    touch "$RFS/.edge-stage1-done"
  fi
  # debootstrap --foreign leaves /proc a link to the host's; proot needs a directory to bind onto
  if [ -L "$RFS/proc" ]; then rm "$RFS/proc" && mkdir "$RFS/proc"; fi
  say "debootstrap second stage, emulated"
  guest /debootstrap/debootstrap --second-stage
  # apt drops to the _apt user to download; under proot's fake root that fails, so it stays root
  echo 'APT::Sandbox::User "root";' >"$RFS/etc/apt/apt.conf.d/99proot"
  echo "deb $MIRROR bookworm main" >"$RFS/etc/apt/sources.list"
  touch "$RFS/.edge-root-done"
  note "arm64 root: debootstrap bookworm (minbase + python3), $(( $(date +%s) - t )) s"
else
  say "reusing the arm64 root in $RFS"
  note "arm64 root: reused from an earlier run ($RFS)"
fi
guest /bin/uname -m | grep -qx aarch64 || { echo "verify-arm64.sh: the root does not run as aarch64" >&2; exit 1; }

# -- 3. llama.cpp's libraries, cross-compiled with the Pi 4 flags ------------------------------------
LIBS="$WORK/llama-libs"
stamp="$LIBS/.stamp"
want="llama-cpp-python==$LCP_VERSION $PI_FLAGS"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  say "llama.cpp libraries already cross-compiled ($want)"
  note "llama.cpp: cross-compiled libraries reused ($want)"
else
  say "fetching llama-cpp-python $LCP_VERSION's source from PyPI"
  t=$(date +%s)
  rm -rf "$WORK/lcp-src" "$WORK/lcp-build" "$LIBS"
  mkdir -p "$WORK/lcp-src"
  python3 - "$LCP_VERSION" "$WORK/lcp-src" <<'EOF'
import hashlib, re, sys, tarfile, urllib.request
version, dest = sys.argv[1], sys.argv[2]
html = urllib.request.urlopen("https://pypi.org/simple/llama-cpp-python/", timeout=60).read().decode()
name = f"llama_cpp_python-{version}.tar.gz"
m = re.search(r'href="([^"#]*/' + re.escape(name) + r')#sha256=([0-9a-f]{64})"', html)
if not m:
    sys.exit(f"no {name} on PyPI")
data = urllib.request.urlopen(m.group(1), timeout=600).read()
if hashlib.sha256(data).hexdigest() != m.group(2):
    sys.exit(f"{name}: sha256 mismatch")
path = f"{dest}/{name}"
open(path, "wb").write(data)
with tarfile.open(path) as t:
    t.extractall(dest, filter="data")
print(f"{name}: {len(data)} bytes, sha256 {m.group(2)}")
EOF
  say "cross-compiling llama.cpp for arm64: $PI_FLAGS"
  cmake -S "$WORK/lcp-src/llama_cpp_python-$LCP_VERSION" -B "$WORK/lcp-build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64 \
    -DCMAKE_C_COMPILER=aarch64-linux-gnu-gcc -DCMAKE_CXX_COMPILER=aarch64-linux-gnu-g++ \
    -DSKBUILD_PLATLIB_DIR="$WORK/lcp-install" -DLLAVA_BUILD=OFF $PI_FLAGS >/dev/null
  cmake --build "$WORK/lcp-build" -j "$(nproc)" >"$WORK/lcp-build.log" 2>&1 || { tail -30 "$WORK/lcp-build.log"; exit 1; }
  cmake --install "$WORK/lcp-build" >/dev/null
  mkdir -p "$LIBS"
  cp -a "$WORK/lcp-install/llama_cpp/lib/"lib*.so* "$LIBS/"
  file "$LIBS"/libllama.so* | head -1
  echo "$want" >"$stamp"
  note "llama.cpp: llama-cpp-python $LCP_VERSION's vendored llama.cpp cross-compiled for aarch64 with \`$PI_FLAGS\` in $(( $(date +%s) - t )) s"
fi
note "llama.cpp libraries: $(cd "$LIBS" && ls lib*.so | tr '\n' ' ')"

# -- 4. the clone, as a user would have it, inside the root --------------------------------------------
say "copying the clone (tracked files) into the root"
if [ "$clean" = 1 ] || [ "${EDGE_ARM64_FRESH:-0}" = 1 ]; then rm -rf "$RFS/root/edge" "$RFS/root/.local/share/edge"; fi
if [ -d "$RFS/root/edge/.venv" ]; then
  note "install: the root's .venv and data directory are carried over from an earlier run (--clean or EDGE_ARM64_FRESH=1 starts afresh)"
fi
mkdir -p "$RFS/root/edge" "$RFS/opt"
git -C "$SRC" ls-files -z | (cd "$SRC" && tar --null -T - -cf -) | tar -xf - -C "$RFS/root/edge"
rm -rf "$RFS/opt/llama-libs"
cp -a "$LIBS" "$RFS/opt/llama-libs"
note "clone: commit $(git -C "$SRC" rev-parse --short HEAD)$(git -C "$SRC" diff --quiet HEAD || echo ' (with uncommitted changes)')"

# -- 5. install-pi.sh, twice (the second run must do nothing new) -----------------------------------------
# --no-sample: the sample manual is 43k tokens, and embedding runs at 15 to 20 tokens/s under
# this emulation (a Pi runs it natively), so install-pi.sh skips it here and step 6 indexes the
# two chapters the smoke test asks about.
run_install() {
  guest /bin/bash -c "cd /root/edge && EDGE_LLAMA_LIBS=/opt/llama-libs scripts/install-pi.sh --no-sample" 2>&1 | tee "$WORK/install-$1.log"
  return "${PIPESTATUS[0]}"
}
say "scripts/install-pi.sh, first run (emulated)"
t=$(date +%s)
run_install 1
note "install-pi.sh first run: exit 0 in $(( $(date +%s) - t )) s (board detected: $(grep -o 'board: .*' "$WORK/install-1.log" | head -1))"
say "scripts/install-pi.sh, second run: idempotent"
t=$(date +%s)
run_install 2
note "install-pi.sh second run: exit 0 in $(( $(date +%s) - t )) s; $(grep -c 'llama.cpp already built for this board' "$WORK/install-2.log") × 'llama.cpp already built', $(grep -c 'already built from the shipped adapter' "$WORK/install-2.log") × 'models already built'"

# -- 6. the smoke test ------------------------------------------------------------------------------------
say "smoke test inside the root"
E=/root/edge/.venv/bin/edge
# Two chapters that give the torque. (With 12-wiring-dc.md as the second, the model answers from the
# busbar row of its torque table instead, "M10 busbar studs to 18 N·m", on x86 exactly as here.)
DOCS="build/knowledge/11-installation-batteries.md build/knowledge/31-maintenance-schedule.md"
rm -f "$RFS/root/.local/share/edge/index.db"*  # the index holds these two chapters and nothing else
t=$(date +%s)
guest /bin/bash -c "cd /root/edge && $E index add $DOCS --json" >"$WORK/index.json"
note "$(cd "$SRC" && python3 - "$WORK/index.json" "$(( $(date +%s) - t ))" $DOCS <<'EOF'
import json, os, sys
r, secs, docs = json.load(open(sys.argv[1])), int(sys.argv[2]), sys.argv[3:]
rate = r["embedded_tokens"] / max(secs, 1)
per_byte = r["embedded_tokens"] / sum(os.path.getsize(d) for d in docs)
sample = sum(os.path.getsize(os.path.join("build/knowledge", f)) for f in os.listdir("build/knowledge"))
print(f"install-pi.sh ran with --no-sample; instead `edge index add {' '.join(docs)}` indexed {r['chunks']} chunks "
      f"({r['embedded_tokens']} tokens) in {secs} s, {rate:.0f} tokens/s under emulation: the whole sample manual "
      f"would take about {sample * per_byte / rate / 60:.0f} min at that rate (estimated from its size)")
EOF
)"
# The device chooser measures every installed size once (a retrieval-sized prompt, 3 runs each) and
# caches it. Under emulation every size is far over the 3 s budget, so it must fall back to the
# smallest: what this proves is that it runs and picks, not how fast a Pi is.
say "edge models choose under emulation (not a speed claim)"
t=$(date +%s)
guest $E models choose --remeasure --json >"$WORK/choose.json"
note "edge models choose --remeasure under emulation: $(( $(date +%s) - t )) s (a larger size is not measured once a smaller one is over the budget)"
guest $E doctor --json >"$WORK/doctor.json"
guest $E index search "battery terminal bolt torque" --json >"$WORK/search.json"
guest $E ask "What torque do the battery terminal bolts need?" --rag --json --max-tokens 48 >"$WORK/ask.json"
guest /root/edge/.venv/bin/python -c "import llama_cpp; print(llama_cpp.llama_print_system_info().decode())" >"$WORK/sysinfo.txt"

# Documents as people have them, read on arm64 by the binary wheels install-pi.sh installed
# (pypdfium2, python-docx, lxml): a PDF, a Word file and a web page, made inside the root by
# fpdf2 and python-docx (fpdf2 goes to a folder of its own, not into the user's venv).
say "PDF, Word and HTML files indexed inside the root"
guest /root/edge/.venv/bin/python -m pip install -q --target /root/fpdf2 fpdf2 >"$WORK/fpdf2.log" 2>&1 || { tail -5 "$WORK/fpdf2.log"; exit 1; }
rm -rf "$RFS/root/formats" && mkdir -p "$RFS/root/formats"
guest /usr/bin/env PYTHONPATH=/root/fpdf2 /root/edge/.venv/bin/python - <<'EOF'
import docx
from fpdf import FPDF
pdf = FPDF()
pdf.set_title("Greenhouse Controller")
for lines in (["Greenhouse controller, wiring", "The fan relay uses terminal block X4."],
              ["Greenhouse controller, limits", "The vent motor stalls above 38 newton metres of load."]):
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    for ln in lines:
        pdf.cell(0, 6, ln, new_x="LMARGIN", new_y="NEXT")
pdf.output("/root/formats/controller.pdf")
d = docx.Document()
d.add_heading("Irrigation schedule", level=1)
d.add_paragraph("Drip lines run for 12 minutes at dawn.")
t = d.add_table(rows=2, cols=2)
for i, row in enumerate([("Zone", "Valve"), ("Seedlings", "V7")]):
    for j, cell in enumerate(row):
        t.cell(i, j).text = cell
d.save("/root/formats/irrigation.docx")
open("/root/formats/heater.html", "w").write(
    "<html><head><title>Heater notes</title><script>var x = 1;</script></head><body><nav>menu</nav>"
    "<h1>Heater notes</h1><p>The frost heater switches on below 4 degrees.</p></body></html>")
EOF
rm -f "$RFS/root/formats.db"*  # a fresh index each run: the check counts files added
guest $E index add /root/formats --index /root/formats.db --json >"$WORK/formats-add.json"
guest $E index search "vent motor stall load" --index /root/formats.db --json >"$WORK/formats-search.json"

python3 - "$WORK" "$OUT/summary.md" "$QEMU_CPU" "$PI_FLAGS" "$(( $(date +%s) - T0 ))" "${SUMMARY[@]}" <<'EOF'
import json, sys, time
work, out, cpu, flags, secs, *notes = sys.argv[1:]
doctor = json.load(open(f"{work}/doctor.json"))
search = json.load(open(f"{work}/search.json"))
ask = json.load(open(f"{work}/ask.json"))
sysinfo = open(f"{work}/sysinfo.txt").read().strip()
hits = search["results"] if isinstance(search, dict) else search
fmt_add = json.load(open(f"{work}/formats-add.json"))
fmt_search = json.load(open(f"{work}/formats-search.json"))
fmt_hits = fmt_search["results"] if isinstance(fmt_search, dict) else fmt_search
choice = json.load(open(f"{work}/choose.json"))
cands = choice["candidates"]
checks = {
    "doctor: every check ok": doctor["ok"],
    "doctor: machine is aarch64": doctor["cpu"]["machine"] == "aarch64",
    "doctor: board read as a Raspberry Pi 4": "Raspberry Pi 4" in (doctor["cpu"].get("board") or ""),
    "llama.cpp built for ARM (NEON on)": "NEON = 1" in sysinfo,
    "llama.cpp without dot-product code (Pi 4)": "DOTPROD = 1" not in sysinfo,
    "index search finds the battery page": bool(hits) and "battery" in json.dumps(hits[0]).lower(),
    "ask --rag answers 9.0 N·m with a source": ("9.0" in ask["answer"] or "9 N" in ask["answer"]) and bool(ask["sources"]),
    "PDF, Word and HTML files indexed (arm64 wheels)": fmt_add.get("added") == 3 and not fmt_add.get("failed"),
    "search cites the PDF's page 2": bool(fmt_hits) and fmt_hits[0]["path"].endswith("controller.pdf") and fmt_hits[0].get("page") == 2,
    # the chooser measures sizes smallest first and stops at the first one over the budget
    "models choose measured now, smallest first": len({c["tier"] for c in cands}) >= 2 and choice["measured_now"]
        and bool(cands[0]["measurement"]) and all(c["measurement"] or "smaller size was already over the budget" in (c["note"] or "")
                                                  for c in cands if c["fits"]),
    "models choose picked the smallest (every size over budget under emulation)": bool(cands) and choice["model"] == cands[0]["model"],
    "ask uses the chosen model": ask["model"] == choice["model"],
}
t = ask["timings"]
L = ["# arm64 verification (emulated Raspberry Pi 4)", "",
     f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `scripts/verify-arm64.sh`, {int(secs) // 60} min in all. "
     f"qemu user mode, `-cpu {cpu}`, under proot; llama.cpp flags `{flags}`.", "",
     "| check | result |", "|---|---|"]
L += [f"| {k} | {'PASS' if v else 'FAIL'} |" for k, v in checks.items()]
L += ["", "## Steps", ""] + [f"- {n}" for n in notes]
L += ["", "## Smoke test", "",
      f"- `edge index search \"battery terminal bolt torque\"`: top hit `{hits[0]['path']}` ({hits[0].get('heading', '')})" if hits else "- search: no hits",
      f"- `edge ask --rag \"What torque do the battery terminal bolts need?\"` with `{ask['model']}` ({ask['mode']}): "
      f"\"{ask['answer'].strip()}\"",
      f"- its timings under emulation (not a Pi's speed): prompt {t['prompt_tokens']} tokens, time to first token {t['ttft_ms']:.0f} ms, "
      f"decode {t['decode_tok_s']:.1f} tokens/s",
      f"- doctor: {doctor['cpu']['model']} / board `{doctor['cpu'].get('board')}`, SQLite via {doctor['sqlite']['driver']} {doctor['sqlite']['version']}, "
      f"sqlite-vec {doctor['sqlite']['sqlite_vec']}, default model {doctor.get('default_model')}, defaults {doctor.get('device_defaults')}",
      f"- llama.cpp system info: `{sysinfo}`",
      f"- `edge models choose` under emulation (not a Pi's speed): picked `{choice['model']}` ({choice['reason']}); " +
      "; ".join(f"{c['tier']} `{c['model']}`: " + (f"time to first token {c['measurement']['ttft_ms'] / 1000:.0f} s for {c['measurement']['prompt_tokens']} "
                f"prompt tokens, decode {c['measurement']['decode_tok_s']:.1f} tokens/s" if c["measurement"] else (c["note"] or "not measured"))
                for c in cands),
      f"- formats: `edge index add` on a PDF, a .docx and an .html made inside the root: {fmt_add.get('added')} added, "
      f"{fmt_add.get('chunks')} chunks; search \"vent motor stall load\" → " +
      (f"`{fmt_hits[0]['path']}` page {fmt_hits[0].get('page')}, lines {fmt_hits[0].get('lines')}" if fmt_hits else "no hits"), ""]
L += ["Verdict: **" + ("PASS" if all(checks.values()) else "FAIL") + "**", ""]
open(out, "w").write("\n".join(L))
print("\n".join(L))
sys.exit(0 if all(checks.values()) else 1)
EOF
say "summary written to $OUT/summary.md"

#!/usr/bin/env bash
# Install edge on a Raspberry Pi 4 or 5 running Raspberry Pi OS 64-bit (Debian bookworm, aarch64):
# apt packages, a virtual environment in .venv/, llama.cpp compiled for this board, the pinned
# models, the fine-tuned model, the sample index, and a smoke test. Idempotent: a second run
# rebuilds nothing whose inputs did not change.
#   scripts/install-pi.sh              install (asks sudo for apt when not root)
#   scripts/install-pi.sh --no-apt     skip apt (packages already there)
#   scripts/install-pi.sh --no-sample  do not index the sample manual (index your own documents
#                                      later with `edge index add DIR`)
#   scripts/install-pi.sh --service    also run `edge serve` (the OpenAI-compatible API) as a systemd
#                                      user service, edge-serve.service, on 127.0.0.1:8080; its flags
#                                      and key go in ~/.config/edge/serve.env (EDGE_SERVE_ARGS=...,
#                                      EDGE_API_KEY=...)
#   scripts/install-pi.sh --print-service  print that unit file and exit (installs nothing)
#   scripts/install-pi.sh --help
# Environment: EDGE_PI_BOARD=pi4|pi5 overrides the board detection; EDGE_LLAMA_LIBS=DIR installs
# llama.cpp libraries built elsewhere with the same flags (scripts/verify-arm64.sh uses it).
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMA_CPP_PYTHON_VERSION="0.3.36"   # the version verify-arm64.sh and CI were run with
apt=1 sample=1 service=0 print_service=0
for arg in "$@"; do
  case "$arg" in
    --no-apt) apt=0 ;;
    --no-sample) sample=0 ;;
    --service) service=1 ;;
    --print-service) print_service=1 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-pi.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

# The systemd user unit for `edge serve`. EDGE_SERVE_ARGS ($VAR: split into words; unset: none) and
# EDGE_API_KEY come from serve.env, so changing them needs no edit of the unit.
service_unit() {
  cat <<UNIT
[Unit]
Description=edge serve: the local OpenAI-compatible API of edge
Documentation=file://$(pwd)/README.md
After=network.target

[Service]
Type=simple
WorkingDirectory=$(pwd)
EnvironmentFile=-%h/.config/edge/serve.env
ExecStart=$(pwd)/.venv/bin/edge serve \$EDGE_SERVE_ARGS
Restart=on-failure
RestartSec=5

[Install]
WantedBy=default.target
UNIT
}
if [ "$print_service" = 1 ]; then
  service_unit
  exit 0
fi

os="$(uname -s)"; arch="$(uname -m)"
if [ "$os" != "Linux" ] || [ "$arch" != "aarch64" ]; then
  echo "install-pi.sh: this installs edge on a 64-bit Raspberry Pi (aarch64 Linux), and this machine is $os $arch; elsewhere use scripts/setup.sh" >&2
  exit 2
fi

say() { echo "==> $*"; }

# -- the board, and the llama.cpp build flags for it ---------------------------------------------
board="${EDGE_PI_BOARD:-}"
if [ -z "$board" ]; then
  # Pi 5 (Cortex-A76) has the dot-product instructions; Pi 4 (Cortex-A72) has not.
  if grep -qw asimddp /proc/cpuinfo; then board=pi5; else board=pi4; fi
fi
case "$board" in
  # GGML_NATIVE=ON fails with bookworm's GCC 12 on a Pi 5, so the architecture is spelled out.
  pi5) arm_arch="armv8.2-a+dotprod+fp16" ;;
  pi4) arm_arch="armv8-a" ;;
  *) echo "install-pi.sh: EDGE_PI_BOARD must be pi4 or pi5, not '$board'" >&2; exit 2 ;;
esac
CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_CPU_ARM_ARCH=$arm_arch"
mem_kb="$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
cores="$(nproc)"
# A compiler process takes up to ~1 GB on llama.cpp's larger files: fewer jobs on small boards.
if [ "$mem_kb" -lt 2500000 ]; then jobs=1; elif [ "$mem_kb" -lt 5000000 ]; then jobs=2; else jobs="$cores"; fi
model_desc="$(tr -d '\0' </proc/device-tree/model 2>/dev/null || echo unknown board)"
say "board: $model_desc ($board), $((mem_kb / 1024)) MB RAM, $cores cores; llama.cpp flags: $CMAKE_ARGS; $jobs build job(s)"

# -- apt -----------------------------------------------------------------------------------------
need=(python3-venv python3-dev build-essential cmake git)
if [ "$apt" = 1 ]; then
  missing=()
  for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    say "installing apt packages: ${missing[*]}"
    sudo_="" ; [ "$(id -u)" = 0 ] || sudo_="sudo"
    $sudo_ apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    say "apt packages present: ${need[*]}"
  fi
fi

# -- the virtual environment (bookworm's system pip is closed by PEP 668) --------------------------
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  python3 -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check)
"${PIP[@]}" install --quiet --upgrade pip

say "binary wheels: numpy onnxruntime onnx tokenizers sqlite-vec sqlean.py pypdfium2 lxml python-docx watchfiles"
"${PIP[@]}" install --quiet --only-binary=:all: numpy "onnxruntime!=1.21.*" "onnx>=1.15" tokenizers "sqlite-vec>=0.1.7" sqlean.py \
  pypdfium2 lxml python-docx watchfiles

# -- llama.cpp for this board ----------------------------------------------------------------------
stamp=.venv/.edge-llama-build
want="llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION $CMAKE_ARGS${EDGE_LLAMA_LIBS:+ prebuilt}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && .venv/bin/python -c "import llama_cpp" 2>/dev/null; then
  say "llama.cpp already built for this board ($want)"
else
  rm -f "$stamp"
  if [ -n "${EDGE_LLAMA_LIBS:-}" ]; then
    say "installing llama-cpp-python $LLAMA_CPP_PYTHON_VERSION around the libraries in $EDGE_LLAMA_LIBS"
    CMAKE_ARGS="-DLLAMA_BUILD=OFF -DLLAVA_BUILD=OFF" "${PIP[@]}" install --no-cache-dir --force-reinstall --no-deps "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
    libdir="$(.venv/bin/python -c 'import importlib.util, os; print(os.path.join(os.path.dirname(importlib.util.find_spec("llama_cpp").origin), "lib"))')"
    mkdir -p "$libdir"
    cp -a "$EDGE_LLAMA_LIBS"/lib*.so* "$libdir"/
  else
    say "compiling llama.cpp for the $board (about 10 to 30 minutes on a Pi)"
    CMAKE_ARGS="$CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="$jobs" \
      "${PIP[@]}" install --no-cache-dir --force-reinstall --no-deps "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
  fi
  # --no-deps above rebuilt only llama-cpp-python itself; now its (pure Python) dependencies
  "${PIP[@]}" install --quiet "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
  .venv/bin/python -c "import llama_cpp" || { echo "install-pi.sh: llama-cpp-python does not import" >&2; exit 1; }
  echo "$want" >"$stamp"
fi

say "installing edge"
"${PIP[@]}" install --quiet --prefer-binary -e .

# -- models, the fine-tuned build, the sample index -------------------------------------------------
EDGE=.venv/bin/edge
say "pulling the pinned models"
$EDGE models pull
say "building the fine-tuned model from the shipped adapter"
$EDGE models build
rag=()
if [ "$sample" = 1 ]; then
  say "indexing the sample manual (files already indexed and unchanged are skipped)"
  $EDGE index add --sample --quiet
  rag=(--rag)
fi

say "checking"
$EDGE doctor
say "smoke test"
$EDGE ask "${rag[@]}" "What torque do the battery terminal bolts need?" --max-tokens 48 --verbose

if [ "$service" = 1 ]; then
  unit_dir="${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user"
  env_file="$HOME/.config/edge/serve.env"
  say "systemd user service: $unit_dir/edge-serve.service"
  mkdir -p "$unit_dir" "$(dirname "$env_file")"
  service_unit >"$unit_dir/edge-serve.service"
  if [ ! -f "$env_file" ]; then
    ( umask 077
      printf '%s\n' "# Read by edge-serve.service. Flags for \`edge serve\` (see \`edge serve --help\`), e.g." \
        "# EDGE_SERVE_ARGS=--host 0.0.0.0 --port 8080 --rag" \
        "# Any address but 127.0.0.1 also needs a key:" \
        "# EDGE_API_KEY=change-me" >"$env_file" )
  fi
  if systemctl --user daemon-reload && systemctl --user enable --now edge-serve.service; then
    say "edge serve is running: http://127.0.0.1:8080/v1 (systemctl --user status edge-serve; journalctl --user -u edge-serve)"
    echo "To keep it running when you are logged out: sudo loginctl enable-linger ${USER:-$(id -un)}"
  else
    echo "install-pi.sh: could not enable the service through systemctl --user (no user session?); the unit is in $unit_dir" >&2
    exit 1
  fi
fi

echo
echo "edge is installed. Start the chat with:  $(pwd)/.venv/bin/edge chat"
echo "Over SSH, COLORTERM=truecolor gives full colour; on the Linux console (TERM=linux) edge uses its 16 colours."

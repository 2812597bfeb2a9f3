#!/bin/sh
# An emulated aarch64 board (a Raspberry Pi 5) for the device tests, from the package
# registries only (issue 23):
#   - qemu-user-static (Debian), which runs aarch64 Linux programs on this machine;
#   - Debian's arm64 python3.11 and the libraries it needs, unpacked (dpkg-deb -x) into
#     a sysroot: $DIR/sysroot, after 'dpkg --add-architecture arm64' + 'apt-get download';
#   - the aarch64 wheels of numpy, ai-edge-litert and onnxruntime (PyPI), installed into
#     $DIR/site with pip --target;
#   - $DIR/sysroot/proc/cpuinfo and $DIR/sysroot/sys/firmware/devicetree/base/model of a
#     Raspberry Pi 5 (qemu's -L serves a path from the sysroot when it exists there; plain
#     qemu-user shows the guest the host's x86 /proc/cpuinfo, and onnxruntime's cpuinfo
#     library then crashes at import);
#   - $DIR/bin/python: runs the sysroot's python3.11 under qemu-aarch64-static -cpu
#     cortex-a76 with $DIR/site first on its path.
# Idempotent: each step is skipped when its result is there; $DIR/.installed marks the
# whole. Needs root and apt-get for the first two steps when qemu is missing.
#
#   sh tools/armboard.sh [DIR]      (default .venv/armboard)
set -eu

DIR=${1:-.venv/armboard}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
SYSROOT=$DIR/sysroot
SITE=$DIR/site
PY=3.11
HOST_PYTHON=${HOST_PYTHON:-python3}
PACKAGES="libc6 libgcc-s1 libstdc++6 zlib1g libbz2-1.0 liblzma5 libffi8 libexpat1 \
libssl3 libsqlite3-0 libuuid1 libcrypt1 libncursesw6 libtinfo6 libreadline8 libdb5.3 \
libpython$PY-minimal libpython$PY-stdlib python$PY-minimal"
WHEELS="numpy>=1.26 ai-edge-litert>=2.3,<3 onnxruntime>=1.20,<2"

apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "armboard: needs root and apt-get to install $*" >&2; exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1 || {
    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q "$@" >/dev/null; }
}

# 1. qemu
if ! command -v qemu-aarch64-static >/dev/null; then
  echo "armboard: installing qemu-user-static"
  apt_install qemu-user-static
fi

# 2. the arm64 Python, unpacked into the sysroot
if [ ! -x "$SYSROOT/usr/bin/python$PY" ]; then
  echo "armboard: unpacking Debian's arm64 python$PY into $SYSROOT"
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    [ "$(id -u)" = 0 ] || { echo "armboard: needs root for dpkg --add-architecture arm64" >&2; exit 1; }
    dpkg --add-architecture arm64
    apt-get update -q >/dev/null
  fi
  DEBS=$(mktemp -d)
  # apt-get download writes into the current folder
  ( cd "$DEBS" && { apt-get download -q $(for p in $PACKAGES; do echo "$p:arm64"; done) \
      >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get download -q \
      $(for p in $PACKAGES; do echo "$p:arm64"; done) >/dev/null; }; } ) \
    || { rm -rf "$DEBS"; echo "armboard: apt-get download failed" >&2; exit 1; }
  rm -rf "$SYSROOT.part" && mkdir -p "$SYSROOT.part"
  for deb in "$DEBS"/*.deb; do dpkg-deb -x "$deb" "$SYSROOT.part"; done
  rm -rf "$DEBS"
  rm -rf "$SYSROOT" && mv "$SYSROOT.part" "$SYSROOT"
fi

# 3. a Raspberry Pi 5's /proc/cpuinfo and devicetree model (served by qemu's -L)
mkdir -p "$SYSROOT/proc" "$SYSROOT/sys/firmware/devicetree/base"
: > "$SYSROOT/proc/cpuinfo.part"
for n in 0 1 2 3; do
  cat >> "$SYSROOT/proc/cpuinfo.part" <<EOF
processor	: $n
BogoMIPS	: 108.00
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer	: 0x41
CPU architecture: 8
CPU variant	: 0x4
CPU part	: 0xd0b
CPU revision	: 1

EOF
done
cat >> "$SYSROOT/proc/cpuinfo.part" <<EOF
Revision	: d04170
Serial		: 0000000000000000
Model		: Raspberry Pi 5 Model B Rev 1.0
EOF
mv "$SYSROOT/proc/cpuinfo.part" "$SYSROOT/proc/cpuinfo"
# the kernel's devicetree strings end in a NUL
printf 'Raspberry Pi 5 Model B Rev 1.0\000' > "$SYSROOT/sys/firmware/devicetree/base/model"

# 4. the wheels
if [ ! -e "$SITE/.installed" ]; then
  echo "armboard: installing the aarch64 wheels ($WHEELS) into $SITE"
  rm -rf "$SITE"
  # shellcheck disable=SC2086
  "$HOST_PYTHON" -m pip install -q --disable-pip-version-check --target "$SITE" \
    --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 \
    --platform manylinux_2_27_aarch64 --platform manylinux_2_17_aarch64 \
    --only-binary=:all: --python-version $PY --implementation cp \
    numpy\>=1.26 "ai-edge-litert>=2.3,<3" "onnxruntime>=1.20,<2"
  touch "$SITE/.installed"
fi

# 5. the interpreter
mkdir -p "$DIR/bin"
cat > "$DIR/bin/python.part" <<EOF
#!/bin/sh
# An aarch64 Python 3.11 (Debian's) under qemu user-mode emulation, as a Cortex-A76 board
# sees it. Made by tools/armboard.sh.
PYTHONPATH="$SITE\${PYTHONPATH:+:\$PYTHONPATH}" exec qemu-aarch64-static -cpu cortex-a76 \\
  -L "$SYSROOT" "$SYSROOT/usr/bin/python$PY" "\$@"
EOF
chmod +x "$DIR/bin/python.part"
mv "$DIR/bin/python.part" "$DIR/bin/python"
ln -sf python "$DIR/bin/python3"

# 6. it runs: numpy and both runtimes import, on aarch64
"$DIR/bin/python" -c "
import platform, numpy, onnxruntime, ai_edge_litert.interpreter
assert platform.machine() == 'aarch64', platform.machine()
" || { echo "armboard: the emulated Python cannot import its runtimes" >&2; exit 1; }
touch "$DIR/.installed"
echo "armboard: $DIR/bin/python (aarch64, Python $PY, numpy, ai-edge-litert, onnxruntime)"

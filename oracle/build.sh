#!/bin/bash
# Build the real side of nommu-lab's fidelity suite: a RISC-V no-MMU Linux
# 6.12 kernel, the freestanding scenario runner and the board's disk images.
#
#   bash oracle/build.sh          (as root on Debian 12; installs what it needs)
#   python -m nommu_lab.fidelity record     (then boots QEMU once per group)
#
# Outputs go to oracle/build/out/ (Image, runner, rom.img, disk.img).  The
# kernel is cached as oracle/cache/Image-<hash>, where the hash covers the
# kernel source package version and oracle/kernel.config; it is rebuilt only
# when either changes.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
BUILD="$HERE/build"
OUT="$BUILD/out"
CACHE="$HERE/cache"
JOBS="$(nproc)"
CROSS=riscv64-linux-gnu-
mkdir -p "$OUT" "$CACHE"
# one build at a time in this tree (two at once break each other's objects)
exec 9>"$BUILD/.lock"
flock 9

log() { printf '[oracle/build] %s\n' "$*" >&2; }
now() { date +%s; }
T0=$(now)

# ---------------------------------------------------------------- packages
# installs what is missing, waiting for another apt/dpkg run's lock
SYSTEM_PACKAGES="qemu-system-misc gcc-riscv64-linux-gnu linux-source-6.12 bc flex bison
      libssl-dev libelf-dev cpio xz-utils e2fsprogs genromfs device-tree-compiler
      make gcc python3" bash "$REPO/scripts/ensure-system-packages"

# ------------------------------------------------------------------ kernel
SRC_TAR=$(ls /usr/src/linux-source-6.12.tar.* | head -n1)
SRC_VER=$(dpkg-query -W -f='${Version}' linux-source-6.12)
HASH=$( { echo "$SRC_VER"; echo nommu_virt_defconfig; cat "$HERE/kernel.config"; } \
        | sha256sum | cut -c1-16)
IMAGE="$CACHE/Image-$HASH"
if [ -s "$IMAGE" ]; then
    log "kernel: cached $IMAGE"
else
    KSRC="$BUILD/linux-source-6.12"
    if [ ! -f "$KSRC/Makefile" ]; then
        log "kernel: unpacking $SRC_TAR"
        tar -C "$BUILD" -xf "$SRC_TAR"
    fi
    log "kernel: configuring (nommu_virt_defconfig + oracle/kernel.config)"
    make -s -C "$KSRC" ARCH=riscv CROSS_COMPILE=$CROSS nommu_virt_defconfig
    (cd "$KSRC" && scripts/kconfig/merge_config.sh -m .config "$HERE/kernel.config" >/dev/null)
    make -s -C "$KSRC" ARCH=riscv CROSS_COMPILE=$CROSS olddefconfig
    grep -q '^# CONFIG_MMU is not set' "$KSRC/.config" || { log "CONFIG_MMU is set"; exit 1; }
    for opt in CONFIG_BINFMT_ELF_FDPIC CONFIG_ROMFS_ON_MTD CONFIG_MTD_ROM CONFIG_MTD_PHYSMAP_OF CONFIG_BLK_DEV_RAM \
               CONFIG_EXT2_FS CONFIG_SYSVIPC CONFIG_MMAP_ALLOW_UNINITIALIZED; do
        grep -q "^$opt=y" "$KSRC/.config" || { log "missing $opt=y after olddefconfig"; exit 1; }
    done
    T1=$(now)
    log "kernel: building Image with $JOBS jobs"
    make -s -C "$KSRC" -j"$JOBS" ARCH=riscv CROSS_COMPILE=$CROSS Image >"$BUILD/kernel-build.log" 2>&1 \
        || { tail -n 30 "$BUILD/kernel-build.log"; exit 1; }
    cp "$KSRC/arch/riscv/boot/Image" "$IMAGE.tmp" && mv "$IMAGE.tmp" "$IMAGE"
    cp "$KSRC/.config" "$CACHE/config-$HASH"
    log "kernel: built in $(( $(now) - T1 )) s"
fi
ln -sf "../../cache/Image-$HASH" "$OUT/Image"

# ------------------------------------------------------------------ runner
log "runner: compiling oracle/runner.c"
${CROSS}gcc -Os -Wall -Wextra -Werror -static-pie -nostdlib -fPIE -ffreestanding \
    -fno-stack-protector -fno-jump-tables -mno-relax -fno-asynchronous-unwind-tables \
    -Wl,--no-dynamic-linker -Wl,-z,norelro -Wl,--build-id=none \
    -o "$OUT/runner" "$HERE/runner.c"
if ${CROSS}readelf -l "$OUT/runner" | grep -q INTERP; then
    log "runner has a PT_INTERP segment"; exit 1
fi

# ------------------------------------------------------------------ images
TREE="$BUILD/tree"
rm -rf "$TREE"
python3 "$REPO/nommu_lab/board_files.py" --write "$TREE"
mkdir -p "$TREE/rom/bin"
cp "$OUT/runner" "$TREE/rom/bin/hello"
chmod 0755 "$TREE/rom/bin/hello"
genromfs -f "$OUT/rom.img.tmp" -d "$TREE/rom" -V nommu-lab
mv "$OUT/rom.img.tmp" "$OUT/rom.img"
# The rom lives in QEMU virt's first NOR flash bank (32 MiB at 0x20000000),
# like the model's board.  QEMU 7.2 jumps into the flash when a pflash drive is
# given, so no drive is attached: record.py writes rom.img into the bank with
# `-device loader` instead.  QEMU describes the two banks as "cfi-flash"; the
# device tree is rewritten to describe bank 0 alone as "mtd-rom" (physmap +
# map_rom: an MTD of type ROM with point(), i.e. XIP-capable, as on the model).
qemu-system-riscv64 -M virt,dumpdtb="$OUT/virt-qemu.dtb" -bios none -m 128M -smp 1 -nographic \
    >/dev/null 2>&1
dtc -q -I dtb -O dts -o "$OUT/virt-qemu.dts" "$OUT/virt-qemu.dtb"
python3 - "$OUT/virt-qemu.dts" "$OUT/virt.dts" <<'PY'
import re
import sys
src = open(sys.argv[1]).read()
node = re.compile(r"flash@20000000 \{.*?\};", re.S)
assert len(node.findall(src)) == 1, "expected one flash node"
rom = ('flash@20000000 {\n\t\tbank-width = <0x04>;\n'
       '\t\treg = <0x00 0x20000000 0x00 0x2000000>;\n\t\tcompatible = "mtd-rom";\n\t};')
open(sys.argv[2], "w").write(node.sub(rom, src))
PY
dtc -q -I dts -O dtb -o "$OUT/virt.dtb" "$OUT/virt.dts"
rm -f "$OUT/disk.img"
mke2fs -q -F -t ext2 -b 1024 -d "$TREE/disk" "$OUT/disk.img" 2048
log "images: rom.img $(stat -c %s "$OUT/rom.img") bytes, disk.img $(stat -c %s "$OUT/disk.img") bytes"
log "done in $(( $(now) - T0 )) s; next: python -m nommu_lab.fidelity record"

#!/bin/bash
# Runs a netem test program inside a QEMU VM that boots Debian's kernel, which
# ships sch_netem as a module (the development kernels here lack it).
#
# Usage: run-vm.sh TEST_PROGRAM [CACHE_DIR]
#
# The kernel package is downloaded once with apt-get and extracted under
# CACHE_DIR (default: $LAB_BUILD_DIR/netem-vm). Each run builds a busybox
# initramfs with the modules, iproute2's ip and tc, the tc distribution tables
# and TEST_PROGRAM, each with the shared libraries that ldd lists. The VM has
# no network card, so all traffic stays inside it. The init script prints
# "NETEM-TEST: PASS", "NETEM-TEST: FAIL ..." or "NETEM-TEST: SKIP ..." and
# powers off.
#
# Exits 0 on PASS, 1 on FAIL or when no result line came, and 77 with
# "SKIP: reason" when qemu, busybox, cpio or the kernel package is missing.
set -euo pipefail

# Upper bound on one boot in seconds, which only stops a hung VM. A full run
# of test-netem took about 40 s under TCG on a 2-core VM.
readonly VM_WAIT_MAX_SECONDS=${LAB_NETEM_VM_WAIT_MAX_SECONDS:-500}
# Modules the test loads. add_module puts their dependencies before them.
readonly MODULES=(sch_netem sch_tbf veth)
# Busybox applets the init script and the test use. ip and tc are left out on
# purpose: busybox's versions would shadow iproute2's.
readonly APPLETS=(sh mount umount mkdir cat echo insmod poweroff ping sleep grep sed awk
                  head tail sort ls rm uname dmesg true false printf tr wc cut)

skip () {
  echo "SKIP: $*"
  exit 77
}

fail () {
  echo "run-vm: $*" >&2
  exit 1
}

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 TEST_PROGRAM [CACHE_DIR]" >&2
  exit 2
fi

qemu=$(command -v qemu-system-x86_64) ||
  skip "qemu-system-x86_64 not found; install qemu-system-x86"
for tool in cpio ldd realpath; do
  command -v "$tool" >/dev/null || skip "'$tool' not found; install it to build the initramfs"
done

[ -x "$1" ] || fail "test program '$1' is missing or not executable; build it first"
test_program=$(realpath "$1")
cache_dir=${2:-${LAB_BUILD_DIR:-.}/netem-vm}
busybox=""
for candidate in /bin/busybox /usr/bin/busybox; do
  if [ -x "$candidate" ] && ! ldd "$candidate" >/dev/null 2>&1; then
    busybox=$candidate
    break
  fi
done
[ -n "$busybox" ] || skip "no statically linked busybox found; install busybox-static"
for tool in /usr/sbin/ip /usr/sbin/tc; do
  [ -x "$tool" ] || skip "'$tool' not found; install iproute2"
done

work_dir=$(mktemp -d "${TMPDIR:-/tmp}/lab-netem-vm.XXXXXX")
qemu_pid=""
cleanup () {
  if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
    kill -KILL "$qemu_pid" 2>/dev/null || true
    wait "$qemu_pid" 2>/dev/null || true
  fi
  rm -rf "$work_dir"
}
trap cleanup EXIT

# Kernel: the current package behind the linux-image-amd64 metapackage.
mkdir -p "$cache_dir"
cache_dir=$(realpath "$cache_dir")
kernel_root=$cache_dir/kernel
if ! compgen -G "$kernel_root/boot/vmlinuz-*" >/dev/null; then
  command -v apt-get >/dev/null || skip "apt-get not found; cannot download Debian's kernel"
  package=$(apt-cache depends linux-image-amd64 2>/dev/null |
            sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n 1)
  [ -n "$package" ] || skip "apt-cache lists no kernel package behind linux-image-amd64"
  download_dir=$work_dir/download
  mkdir -p "$download_dir"
  # When _apt cannot write into the temporary directory, apt downloads as
  # root and prints a warning, which is harmless here.
  if ! (cd "$download_dir" && apt-get download "$package") >"$work_dir/apt.log" 2>&1; then
    cat "$work_dir/apt.log" >&2
    skip "downloading '$package' with apt-get failed"
  fi
  extract_dir=$(mktemp -d "$cache_dir/kernel.XXXXXX")
  dpkg-deb -x "$download_dir"/"$package"_*.deb "$extract_dir"
  # Another run may have filled the cache meanwhile; either copy is complete.
  if ! mv -T "$extract_dir" "$kernel_root" 2>/dev/null; then
    rm -rf "$extract_dir"
  fi
  rm -rf "$download_dir"
fi
vmlinuz=$(compgen -G "$kernel_root/boot/vmlinuz-*" | head -n 1)
kernel_release=${vmlinuz##*/vmlinuz-}
module_dir=$kernel_root/lib/modules/$kernel_release

# Root file system with the merged-/usr layout, so ldd paths copy as they are.
root=$work_dir/root
mkdir -p "$root"/{usr/bin,usr/sbin,usr/lib,usr/lib64,proc,sys,dev,run,tmp,etc,lib/modules,netem}
ln -s usr/bin "$root/bin"
ln -s usr/sbin "$root/sbin"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"

cp "$busybox" "$root/usr/bin/busybox"
for applet in "${APPLETS[@]}"; do
  ln -s busybox "$root/usr/bin/$applet"
done

copy_with_libraries () {
  local program=$1 target=$2 library
  mkdir -p "$(dirname "$root$target")"
  cp -L "$program" "$root$target"
  # ldd prints "libx.so => /path (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)".
  for library in $(ldd "$program" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }
                                         $1 ~ /^\// { print $1 }'); do
    [ -e "$root$library" ] && continue
    mkdir -p "$(dirname "$root$library")"
    cp -L "$library" "$root$library"
  done
}

copy_with_libraries /usr/sbin/ip /usr/sbin/ip
copy_with_libraries /usr/sbin/tc /usr/sbin/tc
copy_with_libraries "$test_program" /netem/test-netem
mkdir -p "$root/usr/lib/x86_64-linux-gnu/tc"
cp /usr/lib/x86_64-linux-gnu/tc/*.dist "$root/usr/lib/x86_64-linux-gnu/tc/"

# Modules and what they depend on, read from each module's modinfo section
# because the package ships no modules.dep.
find_module () {
  local name=$1 path
  path=$(find "$module_dir/kernel" -name "$name.ko" -o -name "${name//_/-}.ko" | head -n 1)
  [ -n "$path" ] || fail "module '$name' not found under '$module_dir'"
  echo "$path"
}
module_depends () {
  tr '\0' '\n' <"$1" | sed -n 's/^depends=//p' | head -n 1 | tr ',' ' '
}
load_order=()
add_module () {
  local name=$1 path dependency loaded
  for loaded in "${load_order[@]}"; do
    [ "$loaded" = "$name" ] && return 0
  done
  path=$(find_module "$name")
  for dependency in $(module_depends "$path"); do
    add_module "$dependency"
  done
  cp "$path" "$root/lib/modules/$name.ko"
  load_order+=("$name")
}
for module in "${MODULES[@]}"; do
  add_module "$module"
done

cat >"$root/init" <<EOF
#!/bin/sh
export PATH=/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
/usr/sbin/ip link set lo up

result="PASS"
for module in ${load_order[*]}; do
  insmod /lib/modules/\$module.ko || result="FAIL (insmod \$module failed)"
done

if [ "\$result" = "PASS" ]; then
  echo "run-vm: kernel \$(uname -r), running the test program"
  LAB_NETEM_VM=1 LAB_TEST_PREFIX=labvm LAB_RUNTIME_DIR=/run/lab-test \\
    G_DEBUG=gc-friendly /netem/test-netem
  status=\$?
  case \$status in
    0) result="PASS" ;;
    77) result="SKIP (the test program skipped)" ;;
    *) result="FAIL (exit status \$status)" ;;
  esac
fi
echo "NETEM-TEST: \$result"
poweroff -f
EOF
chmod 755 "$root/init"

(cd "$root" && find . | cpio -o -H newc --quiet) >"$work_dir/initramfs.cpio"

log=$work_dir/console.log
echo "run-vm: booting $vmlinuz with ${#load_order[@]} modules"
"$qemu" -accel tcg -m 512 -nographic -no-reboot -nic none \
  -kernel "$vmlinuz" -initrd "$work_dir/initramfs.cpio" \
  -append "console=ttyS0 rdinit=/init panic=-1 quiet loglevel=3" \
  </dev/null >"$log" 2>&1 &
qemu_pid=$!

waited=0
while kill -0 "$qemu_pid" 2>/dev/null; do
  if [ "$waited" -ge "$VM_WAIT_MAX_SECONDS" ]; then
    echo "run-vm: the VM still runs after $VM_WAIT_MAX_SECONDS s; killing QEMU (PID $qemu_pid)" >&2
    kill -KILL "$qemu_pid" 2>/dev/null || true
    break
  fi
  sleep 1
  waited=$((waited + 1))
done
wait "$qemu_pid" 2>/dev/null || true
qemu_pid=""

tr -d '\r' <"$log"
result=$(tr -d '\r' <"$log" | sed -n 's/^NETEM-TEST: //p' | tail -n 1)
case $result in
  PASS) exit 0 ;;
  SKIP*) echo "SKIP: the test program skipped inside the VM; see its output above"; exit 77 ;;
  "") fail "the VM printed no NETEM-TEST line; see the console output above" ;;
  *) fail "the test failed inside the VM: $result" ;;
esac

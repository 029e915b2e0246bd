# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
# Host side of the Xen VM harness, sourced by run-xen-suite.sh (bash).
#
# Fetches Debian bookworm's Xen 4.17, its 6.1 kernel and busybox with
# `apt-get download` (nothing is installed on the host except the tools the
# harness runs: qemu-system-x86, kmod, cpio, fio, e2fsprogs), builds a dom0
# initramfs once per package set, and per run only a small overlay cpio
# with the freshly built binaries and the dom0 test scripts. Boots Xen under
# QEMU TCG (the machine's KVM cannot run Xen) with a hard timeout, streams
# the serial log to a file and returns the dom0 test's exit status, which
# dom0 writes to QEMU's isa-debug-exit port. See docs/xen-vm.md.
#
# Cache (downloaded .debs, base initramfs, hypervisor and kernel):
# $TD_XEN_CACHE, else $XDG_CACHE_HOME/tapdisk-xen-vm, else
# /var/cache/tapdisk-xen-vm when writable, else ~/.cache/tapdisk-xen-vm.

XV_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ -n "${TD_XEN_CACHE:-}" ]; then
	XV_CACHE=$TD_XEN_CACHE
elif [ -n "${XDG_CACHE_HOME:-}" ]; then
	XV_CACHE=$XDG_CACHE_HOME/tapdisk-xen-vm
elif mkdir -p /var/cache/tapdisk-xen-vm 2>/dev/null &&
	[ -w /var/cache/tapdisk-xen-vm ]; then
	XV_CACHE=/var/cache/tapdisk-xen-vm
else
	XV_CACHE=${HOME:-/tmp}/.cache/tapdisk-xen-vm
fi

# Debian packages unpacked into the dom0 image. The kernel is resolved
# from the linux-image-amd64 metapackage. Only what dom0 runs: the
# hypervisor, xenstored/xl/xen-init-dom0 and their libraries, busybox.
XV_PKGS=(xen-hypervisor-4.17-amd64 xen-utils-4.17 xenstore-utils
	libxenmisc4.17 libxencall1 libxenevtchn1 libxenforeignmemory1
	libxengnttab1 libxenstore4 libxentoollog1 libxendevicemodel1
	libxentoolcore1 libxenhypfs1 libyajl2 busybox-static)
# QEMU's Xen build, for the qdisk peer (optional: dropped with a reason if
# it cannot be fetched or its libraries are missing on the host).
XV_PKGS_OPT=(qemu-system-xen)
# Host tools: run by the harness, or copied into dom0 with their libraries
# (host and dom0 are both bookworm, so glibc matches).
# libspice-server1 and libusb-1.0-0: libraries of qemu-system-xen that
# qemu-system-x86 does not pull in.
XV_HOST_PKGS=(qemu-system-x86 kmod cpio fio e2fsprogs util-linux
	libspice-server1 libusb-1.0-0)
# Kernel modules dom0 needs (their dependencies come along).
XV_MODULES=(xenfs xen-evtchn xen-gntdev xen-gntalloc xen-privcmd
	xen-blkback xen-blkfront brd null_blk loop nbd ext4 crc32c_generic)

XV_LIBDIR=usr/lib/x86_64-linux-gnu
XV_XENLIBDIR=usr/lib/xen-4.17/lib/x86_64-linux-gnu
XV_QEMU=qemu-system-x86_64
XV_XEN_ARGS="console=com1 com1=115200,8n1 dom0_mem=2048M,max:2048M"
XV_XEN_ARGS+=" dom0_max_vcpus=2 loglvl=all guest_loglvl=all noreboot"
XV_DOM0_ARGS="console=hvc0 earlyprintk=xen rdinit=/init loglevel=6"

xv_log() { printf 'xen-vm: %s\n' "$*" >&2; }

# Installs the host tools that are missing. Returns non-zero with a reason
# on stderr if QEMU cannot be had (the suite then reports nothing ran).
xv_host_tools() {
	local missing=() p
	for p in "${XV_HOST_PKGS[@]}"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
			grep -q 'install ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -ne 0 ]; then
		xv_log "installing host tools: ${missing[*]}"
		if ! command -v apt-get >/dev/null; then
			xv_log "no apt-get to install ${missing[*]}"
		elif ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends "${missing[@]}" \
			>"$XV_CACHE/apt-install.log" 2>&1; then
			apt-get update -q >>"$XV_CACHE/apt-install.log" 2>&1 || :
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
				--no-install-recommends "${missing[@]}" \
				>>"$XV_CACHE/apt-install.log" 2>&1 ||
				xv_log "apt-get install failed: $(tail -n 1 \
					"$XV_CACHE/apt-install.log")"
		fi
	fi
	for p in $XV_QEMU cpio depmod modprobe fio mke2fs; do
		PATH=$PATH:/sbin:/usr/sbin command -v "$p" >/dev/null || {
			xv_log "$p is not available"
			return 1
		}
	done
	PATH=$PATH:/sbin:/usr/sbin
}

# Prints the candidate version of package $1 ("" if apt does not know it).
xv_candidate() {
	apt-cache policy "$1" 2>/dev/null |
		awk '$1 == "Candidate:" && $2 != "(none)" { print $2 }'
}

# Prints the cached .deb of package $1 at version $2, if there is one.
xv_deb_path() {
	local f
	for f in "$XV_CACHE/debs/${1}_${2//:/%3a}_"*.deb; do
		[ -s "$f" ] && { echo "$f"; return 0; }
	done
	return 1
}

# The versioned kernel package linux-image-amd64 depends on.
xv_kernel_pkg() {
	apt-cache depends --no-recommends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }'
}

# Downloads the .debs not yet cached (at the candidate version) and prints
# the .deb paths of @packages, one a line. An optional package that cannot
# be had is left out with a message.
xv_fetch() {
	local opt=$1 p v want=() need=() kpkg updated=0
	shift
	mkdir -p "$XV_CACHE/debs"
	for p in "$@"; do
		if [ "$p" = linux-image-amd64 ]; then
			kpkg=$(xv_kernel_pkg)
			if [ -z "$kpkg" ]; then
				apt-get update -q >/dev/null 2>&1
				updated=1
				kpkg=$(xv_kernel_pkg)
			fi
			[ -n "$kpkg" ] || {
				xv_log "cannot resolve linux-image-amd64"
				return 1
			}
			p=$kpkg
		fi
		v=$(xv_candidate "$p")
		if [ -z "$v" ] && [ $updated -eq 0 ]; then
			apt-get update -q >/dev/null 2>&1; updated=1
			v=$(xv_candidate "$p")
		fi
		if [ -z "$v" ]; then
			[ "$opt" = opt ] && { xv_log "no package $p: left out"
				continue; }
			xv_log "apt knows no package $p"
			return 1
		fi
		want+=("$p=$v")
		xv_deb_path "$p" "$v" >/dev/null || need+=("$p=$v")
	done
	if [ ${#need[@]} -ne 0 ]; then
		xv_log "downloading ${need[*]}"
		if ! (cd "$XV_CACHE/debs" && apt-get download -q \
			-o APT::Sandbox::User=root "${need[@]}" \
			>"$XV_CACHE/download.log" 2>&1); then
			xv_log "apt-get download failed: $(tail -n 2 \
				"$XV_CACHE/download.log")"
			[ "$opt" = opt ] || return 1
		fi
	fi
	for p in "${want[@]}"; do
		if xv_deb_path "${p%%=*}" "${p#*=}"; then
			# Older versions of the same package are dead weight.
			for v in "$XV_CACHE/debs/${p%%=*}_"*.deb; do
				[ "$v" = "$(xv_deb_path "${p%%=*}" "${p#*=}")" ] ||
					rm -f "$v"
			done
		elif [ "$opt" != opt ]; then
			xv_log "download of $p produced no .deb"
			return 1
		fi
	done
}

# Copies ELF file $2 to $1$3 (default: same path) with every shared
# library ldd resolves, into $1/usr/lib/x86_64-linux-gnu. Libraries of the
# unpacked packages in $XV_UNPACK win over the host's. Returns 1 and
# names the missing libraries if any is not found.
xv_copy_elf() {
	local root=$1 src=$2 dst=${3:-$2} lib name missing=()
	install -D -m 0755 "$src" "$root$dst"
	while read -r name lib; do
		case "$name" in
		*:) continue ;;
		esac
		if [ "$lib" = "not found" ]; then
			missing+=("$name")
			continue
		fi
		[ -n "$lib" ] || continue
		[ -e "$root/usr/lib/x86_64-linux-gnu/${lib##*/}" ] && continue
		install -D -m 0755 "$(readlink -f "$lib")" \
			"$root/usr/lib/x86_64-linux-gnu/${lib##*/}"
	done < <(LD_LIBRARY_PATH=${XV_UNPACK:+$XV_UNPACK/$XV_LIBDIR:$XV_UNPACK/$XV_XENLIBDIR} \
		ldd "$src" 2>/dev/null | awk '
		$2 == "=>" && $3 == "not" { print $1, "not found"; next }
		$2 == "=>" { print $1, $3; next }
		$1 ~ /^\// { print "interp", $1 }')
	if [ ${#missing[@]} -ne 0 ]; then
		xv_log "$src: missing libraries: ${missing[*]}"
		return 1
	fi
}

# Key of the base image: the .debs, this file, the host tools copied in.
xv_base_key() {
	{
		printf '%s\n' "$@" | sed 's,.*/,,' | LC_ALL=C sort
		cat "$XV_SRC/xen-vm.sh"
		dpkg-query -W fio e2fsprogs util-linux libc6 qemu-system-x86 \
			2>/dev/null
	} | sha256sum | cut -c1-16
}

# Copies kernel modules @XV_MODULES with their dependencies from the
# unpacked kernel in $2 (version $3) into initramfs root $1; runs depmod.
xv_add_modules() {
	local root=$1 src=$2 kver=$3 ko rel
	depmod -b "$src" "$kver" || return 1
	mkdir -p "$root/usr/lib/modules/$kver"
	while read -r ko; do
		rel=${ko#"$src"/lib/modules/"$kver"/}
		install -D -m 0644 "$ko" "$root/usr/lib/modules/$kver/$rel"
	done < <(for m in "${XV_MODULES[@]}"; do
		modprobe -d "$src" -S "$kver" --show-depends "$m" ||
			xv_log "module $m not found" >&2
	done | awk '$1 == "insmod" { print $2 }' | sort -u)
	cp "$src/lib/modules/$kver"/modules.{order,builtin,builtin.modinfo} \
		"$root/usr/lib/modules/$kver/" 2>/dev/null
	depmod -b "$root" "$kver"
}

# Builds (or finds in the cache) the base initramfs, Xen's ELF image and
# the dom0 kernel. Sets XV_BASE, XV_XEN_ELF, XV_VMLINUZ and XV_HAVE_QDISK.
# shellcheck disable=SC2034 # XV_HAVE_QDISK is for the caller
xv_prepare_base() {
	local debs=() optdebs=() key dir root kver d f t0=$SECONDS
	mkdir -p "$XV_CACHE"
	xv_fetch req "${XV_PKGS[@]}" linux-image-amd64 >"$XV_CACHE/debs.list" ||
		return 1
	mapfile -t debs <"$XV_CACHE/debs.list"
	xv_fetch opt "${XV_PKGS_OPT[@]}" >"$XV_CACHE/debs-opt.list"
	mapfile -t optdebs <"$XV_CACHE/debs-opt.list"
	key=$(xv_base_key "${debs[@]}" "${optdebs[@]}")
	dir=$XV_CACHE/base-$key
	XV_BASE=$dir/base.cpio XV_XEN_ELF=$dir/xen.elf XV_VMLINUZ=$dir/vmlinuz
	XV_HAVE_QDISK=0
	[ -e "$dir/qdisk" ] && XV_HAVE_QDISK=1
	if [ -s "$XV_BASE" ] && [ -s "$XV_XEN_ELF" ] &&
		[ -s "$XV_VMLINUZ" ]; then
		xv_log "base image cached: $dir"
		return 0
	fi
	xv_log "building base image $dir"
	rm -rf "$dir" "$XV_CACHE"/base-*
	mkdir -p "$dir"
	XV_UNPACK=$dir/unpack root=$dir/root
	for d in "${debs[@]}" "${optdebs[@]}"; do
		dpkg-deb -x "$d" "$XV_UNPACK" || return 1
	done
	gunzip -c "$XV_UNPACK"/boot/xen-4.17-amd64.gz >"$XV_XEN_ELF.tmp" ||
		return 1
	kver=$(cd "$XV_UNPACK/lib/modules" && ls | head -n 1)
	cp "$XV_UNPACK/boot/vmlinuz-$kver" "$XV_VMLINUZ.tmp" || return 1

	# Merged /usr, as on the host: /lib, /bin and /sbin are real in the
	# image only for busybox; libraries all live in one directory.
	mkdir -p "$root"/{bin,sbin,dev,proc,sys,run,tmp,mnt,etc,root,lib64} \
		"$root"/usr/{bin,sbin,local/bin,lib/x86_64-linux-gnu} \
		"$root"/var/{lib/xen,log/xen,lib/xenstored}
	ln -s usr/lib "$root/lib"
	ln -s ../run "$root/var/run"
	ln -s ../usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 \
		"$root/lib64/ld-linux-x86-64.so.2"
	mknod -m 600 "$root/dev/console" c 5 1
	mknod -m 666 "$root/dev/null" c 1 3

	install -m 0755 "$XV_UNPACK/bin/busybox" "$root/bin/busybox"
	# The same kernel boots the PV domU of the tapdisk-domu test.
	install -D -m 0644 "$XV_VMLINUZ.tmp" "$root/boot/vmlinuz"
	for f in xenstored xen-init-dom0 xl xenconsoled; do
		xv_copy_elf "$root" "$XV_UNPACK/usr/lib/xen-4.17/bin/$f" \
			"/usr/lib/xen-4.17/bin/$f" || return 1
	done
	for f in xenstore-read xenstore-write xenstore-ls xenstore-rm \
		xenstore-list xenstore-exists xenstore-chmod xenstore-watch; do
		xv_copy_elf "$root" "$XV_UNPACK/usr/bin/$f" "/usr/bin/$f" ||
			return 1
	done
	for f in "$XV_UNPACK"/usr/lib/x86_64-linux-gnu/lib{xen,yajl}*.so.*; do
		[ -e "$root/usr/lib/x86_64-linux-gnu/${f##*/}" ] ||
			cp -a "$f" "$root/usr/lib/x86_64-linux-gnu/"
	done
	for f in fio mke2fs e2fsck fstrim blkdiscard; do
		xv_copy_elf "$root" "$(command -v "$f")" "/usr/sbin/$f" ||
			return 1
	done
	ln -s mke2fs "$root/usr/sbin/mkfs.ext4"
	ln -s e2fsck "$root/usr/sbin/fsck.ext4"
	[ -f /etc/mke2fs.conf ] && cp /etc/mke2fs.conf "$root/etc/"
	if [ -x "$XV_UNPACK/usr/libexec/xen-qemu-system-i386" ] &&
		xv_copy_elf "$root" "$XV_UNPACK/usr/libexec/xen-qemu-system-i386" \
			/usr/libexec/xen-qemu-system-i386
	then
		touch "$dir/qdisk"
		XV_HAVE_QDISK=1
	else
		xv_log "qemu-system-xen unavailable: no qdisk peer"
	fi
	xv_add_modules "$root" "$XV_UNPACK" "$kver" || return 1
	# busybox applets for whatever the host tools above do not provide.
	while read -r f; do
		[ -e "$root/$f" ] || [ -L "$root/$f" ] ||
			ln -s /bin/busybox "$root/$f"
	done < <("$root/bin/busybox" --list-full)
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
	printf 'root:x:0:\n' >"$root/etc/group"
	mkdir -p "$root/etc/xen" && : >"$root/etc/xen/xl.conf"
	(cd "$root" && find . | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --quiet) >"$XV_BASE.tmp" || return 1
	mv "$XV_XEN_ELF.tmp" "$XV_XEN_ELF"
	mv "$XV_VMLINUZ.tmp" "$XV_VMLINUZ"
	mv "$XV_BASE.tmp" "$XV_BASE"
	rm -rf "$XV_UNPACK" "$root"
	xv_log "base image built in $((SECONDS - t0)) s:" \
		"$(du -h "$XV_BASE" | cut -f1) cpio, kernel $kver"
}

# Builds the per-run overlay (our binaries from build dir $1 and their
# libraries, any host programs named in XV_EXTRA_ELF (e.g. perf), /init
# and the dom0 test scripts) and concatenates it onto the base into $2.
# Returns 1 naming what is missing.
xv_build_initrd() {
	local bdir=$1 out=$2 ovl f
	ovl=$(mktemp -d "${TMPDIR:-/tmp}/xen-ovl.XXXXXX")
	for f in tapdisk/tapdisk control/tap-ctl tests/blkfront/td-blkfront \
		control/vhd-util; do
		if [ ! -x "$bdir/$f" ]; then
			xv_log "$bdir/$f is not built"
			rm -rf "$ovl"
			return 1
		fi
		xv_copy_elf "$ovl" "$bdir/$f" "/usr/local/bin/${f##*/}" || {
			rm -rf "$ovl"; return 1; }
	done
	for f in ${XV_EXTRA_ELF:-}; do
		xv_copy_elf "$ovl" "$f" "/usr/local/bin/${f##*/}" || return 1
	done
	install -D -m 0755 "$XV_SRC/dom0/init" "$ovl/init"
	mkdir -p "$ovl/xentests"
	cp "$XV_SRC"/dom0/*.sh "$ovl/xentests/"
	(cd "$ovl" && find . | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --quiet) >"$out.ovl" || {
		rm -rf "$ovl"; return 1; }
	rm -rf "$ovl"
	cat "$XV_BASE" "$out.ovl" >"$out"
	rm -f "$out.ovl"
}

# Boots the VM with initrd $1, dom0 test group $2, timeout $3 seconds,
# serial log to $4. Test result lines ("XENTEST: ...") are echoed as they
# arrive. Returns the dom0 test's exit status, 124 on timeout, 125 if the
# VM ended without reporting one.
xv_boot() {
	local initrd=$1 group=$2 secs=$3 log=$4 st dom0
	dom0="$XV_VMLINUZ $XV_DOM0_ARGS xentest=$group ${XV_EXTRA_ARGS:-}"
	timeout -k 5 "$secs" "$XV_QEMU" -accel tcg,thread=multi,tb-size=512 \
		-cpu qemu64 -m 3072 -smp 2 -nographic -no-reboot -nodefaults \
		-serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-kernel "$XV_XEN_ELF" -append "$XV_XEN_ARGS" \
		-initrd "$dom0,$initrd" \
		</dev/null 2>&1 | tee "$log" | tr -d '\r' |
		grep --line-buffered -E '^(  \| )?(XENTEST|XENBENCH)'
	st=${PIPESTATUS[0]}
	case $st in
	124|137) return 124 ;;
	*) [ $((st & 1)) -eq 1 ] && return $((st >> 1)) ;;
	esac
	return 125
}

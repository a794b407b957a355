#!/bin/sh
# Installs NVIDIA's runtime compiler (libnvrtc) from Debian's non-free
# component, unless one is already on this machine. refserver's CUDA
# kernels are compiled by it in `make test` (refserver/cuda), which needs
# no GPU. The non-free component is added next to the machine's own Debian
# sources, from the same mirror and suites.
set -eu
if ldconfig -p 2>/dev/null | grep -q 'libnvrtc\.so'; then
	exit 0
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
list=/etc/apt/sources.list.d/llmbench-non-free.sources
if [ ! -e "$list" ]; then
	if [ -e /etc/apt/sources.list.d/debian.sources ]; then
		# deb822: the first stanza (the main archive), with non-free only.
		awk 'BEGIN{RS=""; ORS="\n\n"} NR==1' /etc/apt/sources.list.d/debian.sources |
			sed 's/^Components:.*/Components: non-free/' | $sudo tee "$list" >/dev/null
	elif [ -e /etc/apt/sources.list ]; then
		list=/etc/apt/sources.list.d/llmbench-non-free.list
		sed -n 's/^deb \([^ ]*\) \([^ ]*\) main.*/deb \1 \2 non-free/p' /etc/apt/sources.list | head -1 | $sudo tee "$list" >/dev/null
	else
		echo "install-nvrtc: no Debian sources found to add the non-free component to" >&2
		exit 1
	fi
fi
$sudo apt-get update -qq
pkg=$(apt-cache search --names-only '^libnvrtc[0-9.]*$' | awk '{print $1}' | sort -V | tail -1)
if [ -z "$pkg" ]; then
	echo "install-nvrtc: Debian's non-free component has no libnvrtc package here" >&2
	exit 1
fi
echo "installing $pkg (NVIDIA's runtime compiler, for the CUDA kernel compile test)"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg"

#!/bin/sh
# Make the local base images for machines that cannot pull from Docker Hub, from Debian's
# own packages:
#
#   jobrec-base:bookworm   Debian 12 (debootstrap, minbase) with Python 3.11 and venv;
#                          the app image is built on it with BASE_IMAGE=jobrec-base:bookworm
#   jobrec-postgres:15     jobrec-base:bookworm with Debian's PostgreSQL 15
#                          (docker/postgres/Dockerfile); compose uses it with
#                          DB_IMAGE=jobrec-postgres:15
#
#   docker/make-base.sh            make whichever of the two is missing
#   docker/make-base.sh --force    make both again
#
# Needs root (debootstrap) and a running Docker daemon. Environment:
#   DEBIAN_MIRROR            default: the Debian mirror in this machine's apt sources,
#                            else http://deb.debian.org/debian
#   DEBIAN_SECURITY_MIRROR   default: the security mirror in the apt sources, else
#                            $DEBIAN_MIRROR-security
#   BUILD_NETWORK            network of `docker build` (default: default; host where the
#                            bridge network cannot reach the mirror)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
base=jobrec-base:bookworm
postgres=jobrec-postgres:15
force=0
[ "${1:-}" = "--force" ] && force=1

say() { printf '==> %s\n' "$*"; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# The first "URIs:" (deb822) or "deb URL" (one-line) entry whose address ends as given.
apt_mirror() {
    suffix=$1
    {
        cat /etc/apt/sources.list 2>/dev/null || true
        cat /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null || true
    } | sed -n -e 's/^URIs:[[:space:]]*//p' -e 's/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]*\)\{0,1\}//p' \
      | tr ' ' '\n' | grep -E "^https?://.*$suffix/?\$" | head -n 1 | sed 's:/*$::'
}

make_base() {
    mirror=${DEBIAN_MIRROR:-$(apt_mirror /debian)}
    mirror=${mirror:-http://deb.debian.org/debian}
    security=${DEBIAN_SECURITY_MIRROR:-$(apt_mirror /debian-security)}
    security=${security:-$mirror-security}
    command -v debootstrap >/dev/null || {
        say "installing debootstrap"
        apt-get install -y -q debootstrap >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null && apt-get install -y -q debootstrap >/dev/null; }
    }
    root=$(mktemp -d "${TMPDIR:-/var/tmp}/jobrec-rootfs.XXXXXX")
    trap 'rm -rf "$root" "$root.log"' EXIT
    trap 'exit 130' INT TERM
    chmod 755 "$root"  # the image's / (and apt's _apt user needs to get through it)
    say "debootstrap bookworm from $mirror into $root"
    debootstrap --variant=minbase \
        --include=ca-certificates,python3.11,python3.11-venv,python3-venv \
        bookworm "$root" "$mirror" >"$root.log" 2>&1 \
        || { tail -n 30 "$root.log"; exit 1; }
    say "security and point-release updates"
    cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
EOF
    # as Debian's official images: no recommends, no package caches left in layers
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
        >"$root/etc/apt/apt.conf.d/90jobrec-no-recommends"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    chroot "$root" sh -c 'export DEBIAN_FRONTEND=noninteractive
        apt-get update -q && apt-get upgrade -y -q && apt-get clean' >"$root.log" 2>&1 \
        || { tail -n 30 "$root.log"; exit 1; }
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/*.log
    : >"$root/etc/resolv.conf"
    say "docker import -> $base"
    tar --numeric-owner --xattrs -C "$root" \
        --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . \
        | docker import \
            --change 'ENV LANG=C.UTF-8' \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'CMD ["/bin/bash"]' \
            --message "debootstrap bookworm minbase + python3.11 from $mirror" \
            - "$base" >/dev/null
    rm -rf "$root" "$root.log"
    trap - EXIT INT TERM
}

if [ "$force" = 1 ] || ! have_image "$base"; then
    make_base
else
    say "$base exists (docker/make-base.sh --force makes it again)"
fi

if [ "$force" = 1 ] || ! have_image "$postgres"; then
    say "docker build -> $postgres"
    docker build --quiet --network "${BUILD_NETWORK:-default}" \
        --build-arg "BASE_IMAGE=$base" -t "$postgres" "$here/postgres" >/dev/null
else
    say "$postgres exists"
fi

#!/usr/bin/env bash
# System packages the tests need: a real Samba AD domain controller for the Active Directory
# provider. Installs only what is missing; needs root (CI runs as root) or sudo.
set -euo pipefail
packages=(samba samba-ad-provision samba-dsdb-modules samba-vfs-modules)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The distribution's own samba service is not what the tests use: they start their own DC.
$sudo systemctl disable --now samba-ad-dc smbd nmbd winbind >/dev/null 2>&1 || true

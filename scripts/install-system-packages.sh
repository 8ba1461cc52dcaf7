#!/usr/bin/env bash
# Installs the Debian packages the test lab and benchmarks need: real IMAP (Dovecot), SMTP (Postfix),
# authoritative DNS (NSD, Knot), caching resolvers (Unbound), the peer tools we benchmark against
# (isync/mbsync, offlineimap3, imapsync's Perl modules) and tmux/rsvg-convert for screenshots.
# Debian starts these daemons on install and they would then hold ports 53/143/993/25, so a temporary
# policy-rc.d keeps them stopped; the tests run their own instances from their own config.
set -euo pipefail

packages=(python3-venv dovecot-imapd dovecot-core postfix nsd knot knot-dnsutils unbound isync offlineimap3 tmux librsvg2-bin openssl chromium fonts-wqy-zenhei
  # imapsync (bench/copy.py's peer, a Perl script in ../shared/anchors/imapsync) runs on these:
  libmail-imapclient-perl libio-socket-ssl-perl libio-socket-inet6-perl libio-tee-perl
  libfile-copy-recursive-perl libfile-tail-perl libunicode-string-perl libreadonly-perl
  libsys-meminfo-perl libregexp-common-perl libencode-imaputf7-perl libterm-readkey-perl
  libdigest-hmac-perl liburi-perl libdata-uniqid-perl libproc-processtable-perl)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    exec sudo "$0" "$@"
  fi
  echo "install-system-packages: need root (or sudo) to install: ${missing[*]}" >&2
  exit 2
fi

created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT

export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-system-packages: installed ${missing[*]}"

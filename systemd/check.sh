#!/usr/bin/env bash
# Checks the files in systemd/ the way systemd itself reads them, without
# touching this machine: everything is installed into a scratch root.
#
#   systemd/check.sh [path/to/mottak-agent]     (default: target/debug/mottak-agent)
#
# 1. the unit holds what the issue asks of it (Type=notify, watchdog, restart,
#    dedicated user, state/logs/runtime folders, no ReadWritePaths of its own);
# 2. `systemd-analyze verify` of the unit installed at /usr/lib/systemd/system
#    in the scratch root, with the real agent binary at /usr/bin/mottak-agent
#    (verify checks that ExecStart exists) and the example drop-in beside it;
#    any warning fails, since verify itself exits 0 on unknown keys;
# 3. `systemd-analyze security --offline=true`: overall exposure at most
#    MAX_EXPOSURE (2.0), by --threshold and by the printed figure;
# 4. sysusers.d and tmpfiles.d applied to the scratch root: user mottak,
#    group mottak-ops with mottak in it, /etc/mottak* owned root:mottak 0750;
# 5. the example drop-in matches the example config: a ReadWritePaths= for
#    every drop_folder, a LoadCredential= for every "credential:NAME".
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_EXPOSURE=2.0
UNIT=systemd/mottak-agent.service
DROPIN=systemd/drop-in.example.conf
CONFIG=systemd/agent.example.toml
AGENT=${1:-target/debug/mottak-agent}

fail() { echo "systemd/check.sh: FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

command -v systemd-analyze >/dev/null || fail "systemd-analyze is missing (apt-get install systemd)"
[ -x "$AGENT" ] || fail "$AGENT is not built (cargo build -p mottak-agent)"
echo "$(systemd-analyze --version | head -1)"

# --- 1. what the unit must say -------------------------------------------
want() {
    grep -Eq "^$1\$" "$UNIT" || fail "$UNIT has no line matching '$1'"
}
want 'Type=notify'
want 'NotifyAccess=main'
want 'WatchdogSec=[0-9]+s?'
want 'Restart=on-failure'
want 'User=mottak'
want 'Group=mottak'
want 'StateDirectory=mottak'
want 'LogsDirectory=mottak'
want 'RuntimeDirectory=mottak'
want 'ExecStart=/usr/bin/mottak-agent run --config /etc/mottak/agent.toml'
want 'ProtectSystem=strict'
want 'NoNewPrivileges=true'
want 'CapabilityBoundingSet='
if grep -Eq '^(ReadWritePaths|LoadCredential)=' "$UNIT"; then
    fail "$UNIT names site paths (ReadWritePaths=/LoadCredential=); they belong in a drop-in ($DROPIN)"
fi
ok "the unit has Type=notify, WatchdogSec, Restart=on-failure, User=mottak, State/Logs/RuntimeDirectory"

# --- the scratch root ------------------------------------------------------
root=$(mktemp -d -t mottak-systemd-check.XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/bin" "$root/usr/lib/systemd" "$root/usr/lib/sysusers.d" \
    "$root/usr/lib/tmpfiles.d" "$root/etc/systemd/system/mottak-agent.service.d"
# verify resolves the unit's dependencies (network-online.target, ...) in
# the root, so it needs the distribution's own units there.
for d in /usr/lib/systemd/system /lib/systemd/system; do
    if [ -d "$d" ]; then cp -a "$d" "$root/usr/lib/systemd/"; break; fi
done
[ -d "$root/usr/lib/systemd/system" ] || fail "no /usr/lib/systemd/system on this machine to verify against"
install -m 0755 "$AGENT" "$root/usr/bin/mottak-agent"
install -m 0644 "$UNIT" "$root/usr/lib/systemd/system/mottak-agent.service"
install -m 0644 "$DROPIN" "$root/etc/systemd/system/mottak-agent.service.d/site.conf"
install -m 0644 systemd/mottak.sysusers.conf "$root/usr/lib/sysusers.d/mottak.conf"
install -m 0644 systemd/mottak.tmpfiles.conf "$root/usr/lib/tmpfiles.d/mottak.conf"

# --- 2. verify ---------------------------------------------------------------
out=$(systemd-analyze verify --man=no --root="$root" /usr/lib/systemd/system/mottak-agent.service 2>&1) \
    || fail "systemd-analyze verify:
$out"
[ -z "$out" ] || fail "systemd-analyze verify printed warnings:
$out"
ok "systemd-analyze verify (unit + example drop-in, ExecStart=/usr/bin/mottak-agent present in the root)"

# verify must catch what it is here for: a missing binary and a misspelt key.
mv "$root/usr/bin/mottak-agent" "$root/usr/bin/mottak-agent.off"
if systemd-analyze verify --man=no --root="$root" /usr/lib/systemd/system/mottak-agent.service >/dev/null 2>&1; then
    fail "verify passed without /usr/bin/mottak-agent: the check above proves nothing"
fi
mv "$root/usr/bin/mottak-agent.off" "$root/usr/bin/mottak-agent"
printf '[Service]\nWatchdogSecc=1s\n' >"$root/etc/systemd/system/mottak-agent.service.d/zz-typo.conf"
typo=$(systemd-analyze verify --man=no --root="$root" /usr/lib/systemd/system/mottak-agent.service 2>&1 || true)
[ -n "$typo" ] || fail "verify said nothing about a misspelt key: the warning check proves nothing"
rm "$root/etc/systemd/system/mottak-agent.service.d/zz-typo.conf"
ok "verify fails without the binary and warns on a misspelt key (the checks can fail)"

# --- 3. security exposure ------------------------------------------------------
# --threshold counts tenths (exposure 2.0 = 20); versions before 250 lack
# --offline and --threshold, so the printed figure is checked as well.
threshold=$(awk -v m="$MAX_EXPOSURE" 'BEGIN { printf "%d", m * 10 + 0.5 }')
report=$(systemd-analyze security --offline=true --threshold="$threshold" "$UNIT" 2>&1) \
    || fail "systemd-analyze security: exposure above $MAX_EXPOSURE (or the command failed):
$(printf '%s\n' "$report" | grep -E '^✗|Overall' || printf '%s\n' "$report")"
exposure=$(printf '%s\n' "$report" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
[ -n "$exposure" ] || fail "no overall exposure in the security report:
$report"
awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e <= m) }' \
    || fail "overall exposure $exposure is above $MAX_EXPOSURE"
ok "systemd-analyze security --offline=true: overall exposure $exposure (at most $MAX_EXPOSURE)"

# --- 4. sysusers.d and tmpfiles.d ---------------------------------------------
systemd-sysusers --root="$root" >/dev/null 2>&1 || fail "systemd-sysusers --root failed on mottak.sysusers.conf"
grep -q '^mottak:x:[0-9]*:[0-9]*:Mottak agent:/var/lib/mottak:' "$root/etc/passwd" \
    || fail "sysusers did not create user mottak: $(cat "$root/etc/passwd")"
grep -Eq '^mottak-ops:x:[0-9]+:(.*,)?mottak(,.*)?$' "$root/etc/group" \
    || fail "sysusers did not create group mottak-ops with mottak in it: $(cat "$root/etc/group")"
gid=$(awk -F: '$1 == "mottak" { print $3 }' "$root/etc/group")
[ -n "$gid" ] || fail "no group mottak"
systemd-tmpfiles --root="$root" --create >/dev/null 2>&1 || fail "systemd-tmpfiles --root --create failed on mottak.tmpfiles.conf"
for d in etc/mottak etc/mottak/keys etc/mottak/secrets; do
    got=$(stat -c '%a %u %g' "$root/$d" 2>/dev/null) || fail "tmpfiles did not create /$d"
    [ "$got" = "750 0 $gid" ] || fail "/$d is '$got' (mode uid gid), want '750 0 $gid'"
done
ok "sysusers: user mottak, group mottak-ops ∋ mottak; tmpfiles: /etc/mottak{,/keys,/secrets} 0750 root:mottak"

# --- 5. the example drop-in matches the example config -----------------------
folders=$(sed -n 's/^[[:space:]]*drop_folder[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$CONFIG")
[ -n "$folders" ] || fail "no drop_folder in $CONFIG"
for f in $folders; do
    grep -qx "ReadWritePaths=$f" "$DROPIN" || fail "$CONFIG has drop_folder $f but $DROPIN has no 'ReadWritePaths=$f'"
done
creds=$(grep -v '^[[:space:]]*#' "$CONFIG" | grep -o '"credential:[^"]*"' | sed 's/"credential:\(.*\)"/\1/' | sort -u || true)
for c in $creds; do
    grep -q "^LoadCredential=$c:/" "$DROPIN" || fail "$CONFIG uses credential:$c but $DROPIN has no 'LoadCredential=$c:/path'"
done
ok "the example drop-in has ReadWritePaths= for $(echo "$folders" | wc -w) drop folders and LoadCredential= for $(echo "$creds" | wc -w) credentials of the example config"

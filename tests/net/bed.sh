#!/usr/bin/env bash
# The network test bed: a host, a "wan" and one home per listener, each home behind its own NAT
# router whose link is delayed, jittered and made lossy by whatssound-netbed (NFQUEUE: this
# kernel has no netem), and optionally rate-limited by tbf.
#
#   tests/net/bed.sh check                          # can a bed be made here? (else one line why, exit 2)
#   tests/net/bed.sh up NAME a:wifi b:internet@10mbit ...   # LISTENER:PROFILE[@RATE]
#   tests/net/bed.sh exec NAME ROLE COMMAND...      # ROLE: host, wan, or a listener's name
#   tests/net/bed.sh cut NAME LISTENER              # an outage: the home's uplink drops everything
#   tests/net/bed.sh mend NAME LISTENER             # ...until mended
#   tests/net/bed.sh down NAME                      # everything NAME made, gone (idempotent)
#
#          NAME-host 10.77.0.2 ── 10.77.0.1 NAME-wan 10.77.I.1 ── 10.77.I.2 NAME-rX (NAT) 192.168.I.1 ── 192.168.I.2 NAME-X
#
# Listener X (the I-th) sits at 192.168.I.2 behind router NAME-rX, which masquerades it as
# 10.77.I.2 and, like a home router, lets nothing in that it did not see go out. The router
# queues what it forwards: outbound to queue 1, inbound to queue 2, both read by one impairer.
# PROFILE is lan, wifi, internet, bad or pairs (delay=20,jitter=5,loss=0.01,up=30,down=10);
# see crates/netbed/src/profile.rs. The impairer is WHATSSOUND_NETBED, else the debug build.
#
# `down` kills every process still in NAME's namespaces before deleting them, so a test that
# dies mid-way leaves nothing behind once its bed is taken down.
set -euo pipefail

die() { printf 'netbed: %s\n' "$*" >&2; exit 1; }
bin="${WHATSSOUND_NETBED:-${CARGO_TARGET_DIR:-$HOME/.cache/whatssound/target}/debug/whatssound-netbed}"
state_of() { printf '%s/whatssound-netbed-%s' "${TMPDIR:-/tmp}" "$1"; }

check() {
    [ "$(id -u)" -eq 0 ] || { echo "the network test bed needs root (network namespaces, NAT, NFQUEUE); skipped"; return 2; }
    local c
    for c in ip nft iptables tc; do
        command -v "$c" >/dev/null 2>&1 || { echo "the network test bed needs '$c' (scripts/setup installs iproute2, nftables and iptables); skipped"; return 2; }
    done
    [ -e /proc/net/netfilter/nfnetlink_queue ] || { echo "this kernel has no NFQUEUE (nfnetlink_queue), which the bed's impairer needs; skipped"; return 2; }
    [ -x "$bin" ] || { echo "no impairer at $bin: cargo build -p whatssound-netbed (or set WHATSSOUND_NETBED); skipped"; return 2; }
    local probe="wsbcheck$$"
    ip netns add "$probe" 2>/dev/null || { echo "cannot create a network namespace here (ip netns add failed); skipped"; return 2; }
    ip netns del "$probe"
}

down() {
    local name="$1" ns pid
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${name}-" || true); do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null || true; done
    done
    sleep 0.1
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${name}-" || true); do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$(state_of "$name")"
}

# veth between two namespaces: link NS_A IF_A ADDR_A NS_B IF_B ADDR_B
link() {
    ip link add "$2" netns "$1" type veth peer name "$5" netns "$4"
    ip -n "$1" addr add "$3" dev "$2"
    ip -n "$4" addr add "$6" dev "$5"
    ip -n "$1" link set "$2" up
    ip -n "$4" link set "$5" up
}

ns() { ip netns add "$1"; ip -n "$1" link set lo up; }

up() {
    local name="$1"; shift
    [ $# -gt 0 ] || die "up $name: name at least one listener, as LISTENER:PROFILE (e.g. a:wifi)"
    [[ "$name" =~ ^[a-z0-9]{1,12}$ ]] || die "bed name '$name': 1–12 lowercase letters or digits"
    ip netns list | awk '{print $1}' | grep -qE "^${name}-" && die "a bed named $name is already up: bed.sh down $name"
    local state; state="$(state_of "$name")"
    mkdir -p "$state"
    # Any failure from here on (a command, or die) takes down what was made so far.
    trap 'down "$name"' EXIT
    ns "$name-wan"; ns "$name-host"
    ip netns exec "$name-wan" sysctl -qw net.ipv4.ip_forward=1
    link "$name-host" eth0 10.77.0.2/24 "$name-wan" host 10.77.0.1/24
    ip -n "$name-host" route add default via 10.77.0.1
    local i=0 spec who profile rate r l
    for spec in "$@"; do
        i=$((i + 1))
        who="${spec%%:*}"; profile="${spec#*:}"; rate=""
        [[ "$profile" == *@* ]] && { rate="${profile#*@}"; profile="${profile%@*}"; }
        [[ "$who" =~ ^[a-z0-9]{1,8}$ ]] && [ "$who" != host ] && [ "$who" != wan ] || die "listener '$who': 1–8 lowercase letters or digits, not host or wan"
        [ -n "$profile" ] && [ "$spec" != "$who" ] || die "listener '$who' needs a profile: $who:wifi"
        r="$name-r$who"; l="$name-$who"
        ns "$r"; ns "$l"
        link "$name-wan" "home$i" "10.77.$i.1/24" "$r" wan "10.77.$i.2/24"
        link "$r" lan "192.168.$i.1/24" "$l" eth0 "192.168.$i.2/24"
        ip -n "$r" route add default via "10.77.$i.1"
        ip -n "$l" route add default via "192.168.$i.1"
        ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1
        ip netns exec "$r" nft -f - <<NFT
table ip home {
    chain forward {
        type filter hook forward priority -10; policy accept;
        iifname "wan" ct state new drop
    }
    chain post {
        type nat hook postrouting priority 100;
        oifname "wan" masquerade
    }
}
NFT
        # The impairer first, so no packet is queued before something reads the queue.
        ip netns exec "$r" "$bin" impair --profile "$profile" --up-queue 1 --down-queue 2 --seed "$i" \
            >"$state/impair-$who.out" 2>"$state/impair-$who.log" &
        local waited=0
        until grep -q '"ready"' "$state/impair-$who.out" 2>/dev/null; do
            kill -0 $! 2>/dev/null || die "the impairer for $who stopped: $(tail -1 "$state/impair-$who.log")"
            waited=$((waited + 1)); [ "$waited" -lt 100 ] || die "the impairer for $who did not start in 5 s"
            sleep 0.05
        done
        # NFQUEUE through iptables: this kernel has the xt target but not nft's own queue expression.
        ip netns exec "$r" iptables -A FORWARD -o wan -j NFQUEUE --queue-num 1
        ip netns exec "$r" iptables -A FORWARD -i wan -j NFQUEUE --queue-num 2
        if [ -n "$rate" ]; then
            ip netns exec "$r" tc qdisc add dev wan root tbf rate "$rate" burst 32kb latency 400ms
            ip netns exec "$r" tc qdisc add dev lan root tbf rate "$rate" burst 32kb latency 400ms
        fi
        echo "$who 192.168.$i.2 $r 10.77.$i.2 $profile${rate:+@$rate}" >>"$state/listeners"
    done
    trap - EXIT
}

cmd="${1:-}"; shift || true
case "$cmd" in
    check) check ;;
    up) [ $# -ge 1 ] || die "usage: bed.sh up NAME LISTENER:PROFILE..."; check >/dev/null || die "$(check || true)"; up "$@" ;;
    down) [ $# -eq 1 ] || die "usage: bed.sh down NAME"; down "$1" ;;
    exec)
        [ $# -ge 3 ] || die "usage: bed.sh exec NAME ROLE COMMAND..."
        name="$1"; role="$2"; shift 2
        exec ip netns exec "$name-$role" "$@" ;;
    # Ahead of the impairer's rules, so nothing is queued (or let through) while cut.
    cut) [ $# -eq 2 ] || die "usage: bed.sh cut NAME LISTENER"; ip netns exec "$1-r$2" iptables -I FORWARD 1 -j DROP ;;
    mend) [ $# -eq 2 ] || die "usage: bed.sh mend NAME LISTENER"; ip netns exec "$1-r$2" iptables -D FORWARD -j DROP ;;
    *) die "usage: bed.sh check | up NAME LISTENER:PROFILE[@RATE]... | exec NAME ROLE COMMAND... | cut|mend NAME LISTENER | down NAME" ;;
esac

#!/usr/bin/env bash
# The network test bed: a host, a "wan" and homes of listeners, each home behind its own NAT
# router whose link is delayed, jittered and made lossy by whatssound-netbed (NFQUEUE: this
# kernel has no netem), and optionally rate-limited by tbf.
#
#   tests/net/bed.sh check                          # can a bed be made here? (else one line why, exit 2)
#   tests/net/bed.sh up NAME a:wifi b:internet@10mbit ...   # LISTENER:PROFILE[@RATE], a home each
#   tests/net/bed.sh up NAME a+b:internet c:wifi    # a and b share one home (one LAN, one NAT)
#   tests/net/bed.sh up NAME a+b:internet/wifi      # ...whose LAN is Wi-Fi: each listener's own
#                                                   #    traffic to the others delayed as that profile
#   tests/net/bed.sh up NAME host:lan%symmetric a:internet%cone   # the host at home too, and
#                                                   #    NAT kinds: %restricted (the default), %cone, %symmetric
#   tests/net/bed.sh exec NAME ROLE COMMAND...      # ROLE: host, wan, or a listener's name
#   tests/net/bed.sh cut NAME LISTENER              # an outage: the home's uplink drops everything
#   tests/net/bed.sh mend NAME LISTENER             # ...until mended
#   tests/net/bed.sh down NAME                      # everything NAME made, gone (idempotent)
#
#          NAME-host 10.77.0.2 ── 10.77.0.1 NAME-wan 10.77.I.1 ── 10.77.I.2 NAME-rX (NAT) 192.168.I.1 ┬─ 192.168.I.2 NAME-X
#                                                                                          (bridge) └─ 192.168.I.3 NAME-Y
#
# With a `host:PROFILE` home the host sits at home too, as home 0: at 192.168.0.2 behind NAME-rhost,
# whose outside address is 10.77.0.2 (the host's own address without one). Only the wan is
# reachable from everywhere: a rendezvous (a relay server) runs there, at 10.77.0.1.
#
# The I-th home's listeners X, Y… sit at 192.168.I.2, .3… on one bridge (a switch: traffic between
# them is not impaired, unless a LAN profile follows the uplink's: HOME:UPLINK/LAN) behind router NAME-rX (named after its first listener), which masquerades
# them as 10.77.I.2 and, like a home router, lets nothing in that it did not see go out. The router
# queues what it forwards: outbound to queue 1, inbound to queue 2, both read by one impairer.
# PROFILE is lan, wifi, internet, bad or pairs (delay=20,jitter=5,loss=0.01,up=30,down=10);
# see crates/netbed/src/profile.rs. `none` runs no impairer (NAT and @RATE only). The impairer is WHATSSOUND_NETBED, else the debug build.
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

# The NAT rules of a home router. Like a real one, it answers nothing unasked on its outside (an
# answer would keep the connection-tracking entry of a peer's early hole-punching packet, and the
# router would then map the host's own packet to that peer to another port). KIND restricted (a home router: the outside port kept, nothing in
# that did not go out to that very address and port), cone (full cone: the same mapping, and any
# UDP from outside is let in to the home's first machine, INSIDE) or symmetric (a new outside port
# for every destination, as carrier-grade NATs and some firewalls do: hole punching cannot guess it).
nat_rules() {
    local kind="$1" inside="$2"
    case "$kind" in
        restricted) cat <<NFT
table ip home {
    chain input { type filter hook input priority 0; policy accept; iifname "wan" ct state new drop; }
    chain forward { type filter hook forward priority -10; policy accept; iifname "wan" ct state new drop; }
    chain post { type nat hook postrouting priority 100; oifname "wan" masquerade; }
}
NFT
        ;;
        cone) cat <<NFT
table ip home {
    chain pre { type nat hook prerouting priority -100; iifname "wan" meta l4proto udp dnat to $inside; }
    chain input { type filter hook input priority 0; policy accept; iifname "wan" ct state new drop; }
    chain forward {
        type filter hook forward priority -10; policy accept;
        iifname "wan" ct status dnat accept
        iifname "wan" ct state new drop
    }
    chain post { type nat hook postrouting priority 100; oifname "wan" masquerade; }
}
NFT
        ;;
        symmetric) cat <<NFT
table ip home {
    chain input { type filter hook input priority 0; policy accept; iifname "wan" ct state new drop; }
    chain forward { type filter hook forward priority -10; policy accept; iifname "wan" ct state new drop; }
    chain post { type nat hook postrouting priority 100; oifname "wan" masquerade fully-random; }
}
NFT
        ;;
        *) die "NAT kind '$kind': restricted, cone or symmetric" ;;
    esac
}

# One home, the I-th: home I SPEC. Its router NAME-rX, its machines on a bridge behind it.
home() {
    local name="$1" i="$2" spec="$3" state; state="$(state_of "$1")"
    local who profile rate="" lan_profile="" nat=restricted r l
    [[ "$spec" == *%* ]] && { nat="${spec##*%}"; spec="${spec%\%*}"; }
    who="${spec%%:*}"; profile="${spec#*:}"
    [[ "$profile" == */* ]] && { lan_profile="${profile#*/}"; profile="${profile%%/*}"; }
    [[ "$profile" == *@* ]] && { rate="${profile#*@}"; profile="${profile%@*}"; }
    [ -n "$profile" ] && [ "$spec" != "$who" ] || die "listener '$who' needs a profile: $who:wifi"
    local members=() m j
    IFS=+ read -r -a members <<<"$who"
    [ ${#members[@]} -ge 1 ] && [ ${#members[@]} -le 8 ] || die "home '$who': 1–8 listeners joined by +"
    for m in "${members[@]}"; do
        [[ "$m" =~ ^[a-z0-9]{1,8}$ ]] && [ "$m" != wan ] || die "listener '$m': 1–8 lowercase letters or digits, not wan"
        [ "$m" != host ] || [ "$i" -eq 0 ] || die "the host's home holds the host alone: host:PROFILE"
        ip netns list | awk '{print $1}' | grep -qx "$name-$m" && die "listener '$m' is named twice"
    done
    r="$name-r${members[0]}"
    ns "$r"
    link "$name-wan" "home$i" "10.77.$i.1/24" "$r" wan "10.77.$i.2/24"
    ip -n "$r" link add lan type bridge
    ip -n "$r" addr add "192.168.$i.1/24" dev lan
    ip -n "$r" link set lan up
    j=1
    for m in "${members[@]}"; do
        j=$((j + 1)); l="$name-$m"
        ns "$l"
        ip link add "p$j" netns "$r" type veth peer name eth0 netns "$l"
        ip -n "$r" link set "p$j" master lan
        ip -n "$r" link set "p$j" up
        ip -n "$l" addr add "192.168.$i.$j/24" dev eth0
        ip -n "$l" link set eth0 up
        ip -n "$l" route add default via "192.168.$i.1"
        echo "$m 192.168.$i.$j $r 10.77.$i.2 $profile${rate:+@$rate} $nat" >>"$state/listeners"
    done
    who="${members[0]}"
    ip -n "$r" route add default via "10.77.$i.1"
    ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1
    nat_rules "$nat" "192.168.$i.2" | ip netns exec "$r" nft -f -
    # `none`: the link as the veth gives it (NAT and any rate, no impairer): for rooms too large
    # for one impairer process per home on a small machine.
    if [ "$profile" != none ]; then
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
    fi
    if [ -n "$lan_profile" ]; then
        # Bridged frames through iptables (br_netfilter), each listener's own to its queue.
        ip netns exec "$r" sysctl -qw net.bridge.bridge-nf-call-iptables=1 \
            || die "a LAN profile needs br_netfilter (net.bridge.bridge-nf-call-iptables) in this kernel"
        j=1
        for m in "${members[@]}"; do
            j=$((j + 1))
            ip netns exec "$r" "$bin" impair --profile "$lan_profile" --up-queue $((10 + j)) --down-queue $((40 + j)) --seed $((100 * i + j)) \
                >"$state/impair-lan-$m.out" 2>"$state/impair-lan-$m.log" &
            waited=0
            until grep -q '"ready"' "$state/impair-lan-$m.out" 2>/dev/null; do
                kill -0 $! 2>/dev/null || die "the LAN impairer for $m stopped: $(tail -1 "$state/impair-lan-$m.log")"
                waited=$((waited + 1)); [ "$waited" -lt 100 ] || die "the LAN impairer for $m did not start in 5 s"
                sleep 0.05
            done
            ip netns exec "$r" iptables -A FORWARD -m physdev --physdev-in "p$j" --physdev-is-bridged -j NFQUEUE --queue-num $((10 + j))
        done
    fi
    if [ -n "$rate" ]; then
        ip netns exec "$r" tc qdisc add dev wan root tbf rate "$rate" burst 32kb latency 400ms
        ip netns exec "$r" tc qdisc add dev lan root tbf rate "$rate" burst 32kb latency 400ms
    fi
}

up() {
    local name="$1"; shift
    [ $# -gt 0 ] || die "up $name: name at least one listener, as LISTENER:PROFILE (e.g. a:wifi)"
    [[ "$name" =~ ^[a-z0-9]{1,12}$ ]] || die "bed name '$name': 1–12 lowercase letters or digits"
    ip netns list | awk '{print $1}' | grep -qE "^${name}-" && die "a bed named $name is already up: bed.sh down $name"
    local state; state="$(state_of "$name")"
    mkdir -p "$state"
    # Any failure from here on (a command, or die) takes down what was made so far.
    trap 'down "$name"' EXIT
    ns "$name-wan"
    ip netns exec "$name-wan" sysctl -qw net.ipv4.ip_forward=1
    local spec i=0 host_spec=""
    for spec in "$@"; do [[ "$spec" == host:* ]] && host_spec="$spec"; done
    if [ -n "$host_spec" ]; then
        # The host at home too (home 0): 192.168.0.2 behind a router whose outside is 10.77.0.2.
        home "$name" 0 "$host_spec"
    else
        ns "$name-host"
        link "$name-host" eth0 10.77.0.2/24 "$name-wan" home0 10.77.0.1/24
        ip -n "$name-host" route add default via 10.77.0.1
    fi
    for spec in "$@"; do
        [[ "$spec" == host:* ]] && continue
        i=$((i + 1))
        home "$name" "$i" "$spec"
    done
    trap - EXIT
}

# The router of LISTENER's home (its state line: name, LAN address, router, public address, profile).
router() {
    local r
    r="$(awk -v who="$2" '$1 == who {print $3}' "$(state_of "$1")/listeners" 2>/dev/null)"
    [ -n "$r" ] || die "no listener '$2' in bed $1"
    printf '%s' "$r"
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
    # The uplink only: a home's LAN stays up (its listeners still reach each other).
    cut) [ $# -eq 2 ] || die "usage: bed.sh cut NAME LISTENER"; r="$(router "$1" "$2")"
        ip netns exec "$r" iptables -I FORWARD 1 -o wan -j DROP; ip netns exec "$r" iptables -I FORWARD 1 -i wan -j DROP ;;
    mend) [ $# -eq 2 ] || die "usage: bed.sh mend NAME LISTENER"; r="$(router "$1" "$2")"
        ip netns exec "$r" iptables -D FORWARD -i wan -j DROP; ip netns exec "$r" iptables -D FORWARD -o wan -j DROP ;;
    *) die "usage: bed.sh check | up NAME LISTENER:PROFILE[@RATE]... | exec NAME ROLE COMMAND... | cut|mend NAME LISTENER | down NAME" ;;
esac

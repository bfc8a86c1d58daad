//! A tunnel on this machine, through a relay server of our own: a TCP echo and a UDP echo behind
//! a host's endpoint, reached from a listener's local port, byte for byte and datagram for
//! datagram; and a host that is not there is reported in one line that says what was tried.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use whatssound_tunnel::dial::HostAddr;
use whatssound_tunnel::relay_server::RelayServer;
use whatssound_tunnel::{HostTunnel, NodeKey, PathKind, RelayChoice, Tunnel};

async fn tcp_echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    at
}

async fn udp_echo() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let at = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let _ = socket.send_to(&buf[..n], from).await;
        }
    });
    at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_and_datagrams_reach_the_hosts_ports_through_the_tunnel() {
    let relay = RelayServer::spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let choice: RelayChoice = relay.url().parse().unwrap();
    let dir = std::env::temp_dir().join(format!("wst-loop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = NodeKey::load_or_create(&dir.join("node.key")).unwrap();
    let host = HostTunnel::bind(key, &choice).await.unwrap();
    assert_eq!(host.relay(), Some(relay.url().as_str()));
    let (tcp, udp) = (tcp_echo().await, udp_echo().await);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let addr = HostAddr::parse(host.node_id(), host.relay().unwrap()).unwrap();
    let serving = tokio::spawn(host.run(tcp, Some(udp), async move {
        let _ = stopped.await;
    }));

    let tunnel = Tunnel::open(addr).await.unwrap();
    assert_eq!(tunnel.local_addr().ip(), std::net::Ipv4Addr::LOCALHOST, "the tunnel's end is on this machine only");
    // Two TCP connections at once, each its own stream, each its own bytes back.
    let mut a = TcpStream::connect(tunnel.local_addr()).await.unwrap();
    let mut b = TcpStream::connect(tunnel.local_addr()).await.unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    a.write_all(&big).await.unwrap();
    b.write_all(b"hello").await.unwrap();
    let mut back = vec![0u8; big.len()];
    a.read_exact(&mut back).await.unwrap();
    assert!(back == big, "300 kB came back as sent");
    let mut hello = [0u8; 5];
    b.read_exact(&mut hello).await.unwrap();
    assert_eq!(&hello, b"hello");

    // Datagrams: a few may be lost before the path settles; most come back.
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.connect(tunnel.local_addr()).await.unwrap();
    let mut answered = 0;
    for i in 0..20u8 {
        socket.send(&[i; 32]).await.unwrap();
        let mut buf = [0u8; 64];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(500), socket.recv(&mut buf)).await {
            assert_eq!(&buf[..n], &[i; 32]);
            answered += 1;
        }
    }
    assert!(answered >= 15, "{answered} of 20 datagrams came back");
    assert_ne!(*tunnel.path().borrow(), PathKind::None, "a connected tunnel has a path");

    tunnel.close().await;
    let _ = stop.send(());
    serving.await.unwrap();
    relay.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_is_not_there_is_named_with_what_was_tried() {
    let relay = RelayServer::spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let nobody = NodeKey::ephemeral().node_id();
    let addr = HostAddr::parse(&nobody, &relay.url()).unwrap();
    let e = Tunnel::open(addr).await.expect_err("nobody answers").to_string();
    assert!(e.contains("could not reach host") && e.contains(&relay.url()) && !e.contains('\n'), "{e}");
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_is_not_ours_is_dropped_and_the_connection_serves_on() {
    let relay = RelayServer::spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let choice: RelayChoice = relay.url().parse().unwrap();
    let host = HostTunnel::bind(NodeKey::ephemeral(), &choice).await.unwrap();
    let host_id: iroh::EndpointId = host.node_id().parse().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(host.run(tcp_echo().await, None, async move {
        let _ = stopped.await;
    }));
    let url: iroh::RelayUrl = relay.url().parse().unwrap();
    let client = whatssound_tunnel::endpoint::bind(NodeKey::ephemeral(), &choice, false).await.unwrap();
    let addr = iroh::EndpointAddr::new(host_id).with_relay_url(url);

    // Another protocol's name is refused at the handshake.
    assert!(client.connect(addr.clone(), b"not/ours").await.is_err(), "a foreign ALPN is refused");

    let connection = client.connect(addr, whatssound_tunnel::endpoint::ALPN).await.unwrap();
    // A stream that does not start with the tunnel's header reaches nothing and is closed.
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    send.write_all(&[9, b'h', b'i']).await.unwrap();
    send.finish().unwrap();
    let read = tokio::time::timeout(Duration::from_secs(5), recv.read_to_end(1024)).await.expect("closed, not left hanging");
    assert!(read.as_ref().is_ok_and(Vec::is_empty) || read.is_err(), "garbage was echoed: {read:?}");
    // The connection itself serves on.
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    send.write_all(&[whatssound_tunnel::pipe::TCP_STREAM, b'o', b'k']).await.unwrap();
    send.finish().unwrap();
    let mut ok = [0u8; 2];
    recv.read_exact(&mut ok).await.unwrap();
    assert_eq!(&ok, b"ok");

    connection.close(0u32.into(), b"done");
    client.close().await;
    let _ = stop.send(());
    serving.await.unwrap();
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_hosts_own_addresses_a_listener_connects_with_the_relay_gone() {
    let relay = RelayServer::spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let choice: RelayChoice = relay.url().parse().unwrap();
    let host = HostTunnel::bind(NodeKey::ephemeral(), &choice).await.unwrap();
    let addrs = host.direct_addrs();
    assert!(!addrs.is_empty(), "the host knows its own addresses");
    let addr = HostAddr::parse(host.node_id(), host.relay().unwrap()).unwrap().with_addrs(&addrs);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(host.run(tcp_echo().await, None, async move {
        let _ = stopped.await;
    }));
    // The relay goes away (a LAN party whose internet is down): the addresses still lead there.
    relay.stop().await;
    let tunnel = Tunnel::open(addr).await.unwrap();
    let mut s = TcpStream::connect(tunnel.local_addr()).await.unwrap();
    s.write_all(b"lan").await.unwrap();
    let mut back = [0u8; 3];
    s.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"lan");
    assert_eq!(*tunnel.path().borrow(), PathKind::Direct);
    tunnel.close().await;
    let _ = stop.send(());
    serving.await.unwrap();
}

#[test]
fn a_bad_node_id_says_so() {
    let e = HostAddr::parse("zz", "http://127.0.0.1:1").expect_err("bad id").to_string();
    assert!(e.contains("node id"), "{e}");
}

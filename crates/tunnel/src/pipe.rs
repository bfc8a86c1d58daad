//! One TCP connection carried over one QUIC stream, both ways, each direction closed as the
//! other end closes it (a half-close reaches the other side as one).

use iroh::endpoint::{RecvStream, SendStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The first byte of every stream: what it carries. A stream is only seen by the other side
/// once something is written on it, and this says it is ours before a byte of the client's.
pub const TCP_STREAM: u8 = 1;

/// Opens the stream on the dialling side: its header, then the bytes.
pub async fn write_header(send: &mut SendStream) -> std::io::Result<()> {
    send.write_all(&[TCP_STREAM]).await.map_err(std::io::Error::other)
}

/// Reads the accepting side's header; `false` for a stream that is not ours to serve.
pub async fn read_header(recv: &mut RecvStream) -> std::io::Result<bool> {
    let mut header = [0u8; 1];
    AsyncReadExt::read_exact(recv, &mut header).await?;
    Ok(header[0] == TCP_STREAM)
}

/// Carries `tcp` over `(send, recv)` until both directions have ended.
pub async fn carry(mut send: SendStream, mut recv: RecvStream, tcp: TcpStream) -> std::io::Result<()> {
    let _ = tcp.set_nodelay(true);
    let (mut from_tcp, mut to_tcp) = tcp.into_split();
    let up = async {
        tokio::io::copy(&mut from_tcp, &mut send).await?;
        send.finish().map_err(std::io::Error::other)
    };
    let down = async {
        tokio::io::copy(&mut recv, &mut to_tcp).await?;
        to_tcp.shutdown().await
    };
    tokio::try_join!(up, down)?;
    Ok(())
}

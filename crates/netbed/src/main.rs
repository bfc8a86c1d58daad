//! `whatssound-netbed`: the bed's own programs. `tests/net/bed.sh` starts `impair` in each home
//! router; tests run `echo` and `probe` on either side to measure the path.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use whatssound_netbed::impairer::{self, Queues};
use whatssound_netbed::{Profile, probe};

#[derive(Debug, Parser)]
#[command(name = "whatssound-netbed", about = "The network test bed's impairer and probes")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Delay, jitter, drop and stall the packets queued to UP_QUEUE (outbound) and DOWN_QUEUE.
    Impair {
        /// lan, wifi, internet, bad, or pairs such as delay=20,jitter=5,loss=0.01,up=30,down=10
        #[arg(long)]
        profile: String,
        #[arg(long, default_value_t = 1)]
        up_queue: u16,
        #[arg(long, default_value_t = 2)]
        down_queue: u16,
        /// The dice: the same seed draws the same delays and losses.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Answer UDP datagrams with the address they came from.
    Echo {
        #[arg(long)]
        listen: SocketAddr,
    },
    /// Measure round trips and loss to an echo; prints one JSON line.
    Probe {
        to: SocketAddr,
        #[arg(long, default_value_t = 100)]
        count: u32,
        #[arg(long, default_value_t = 10)]
        interval_ms: u64,
        /// How long to wait for the last replies.
        #[arg(long, default_value_t = 1_000)]
        linger_ms: u64,
        /// The local port to send from (0: any).
        #[arg(long, default_value_t = 0)]
        from_port: u16,
    },
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("whatssound-netbed: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Impair { profile, up_queue, down_queue, seed } => {
            let profile: Profile = profile.parse()?;
            let ready = || println!("{}", serde_json::json!({"event": "ready", "profile": profile.to_string()}));
            match impairer::run(&profile, Queues { up: up_queue, down: down_queue }, seed, ready)? {}
        }
        Command::Echo { listen } => {
            let socket = UdpSocket::bind(listen).with_context(|| format!("binding {listen}"))?;
            println!("{}", serde_json::json!({"event": "ready", "addr": socket.local_addr()?.to_string()}));
            probe::echo(&socket)?;
            Ok(())
        }
        Command::Probe { to, count, interval_ms, linger_ms, from_port } => {
            let report = probe::probe(to, from_port, count, Duration::from_millis(interval_ms), Duration::from_millis(linger_ms))?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
    }
}

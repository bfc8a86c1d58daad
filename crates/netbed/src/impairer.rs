//! The one place that owns the NFQUEUE socket: packets the bed's rules queue come here, are given
//! their [`Fate`] by a [`Path`], and are let through when it says.
//!
//! This kernel has no netem, so delay and loss are done in userspace: the kernel hands over each
//! packet's id (not its bytes: the copy range is 0), we hold the id, and an `accept` verdict later
//! sends the packet on unchanged. The kernel keeps the packets meanwhile, up to the queue's
//! length; past it, new packets are dropped, as a full router buffer would.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::{Duration, Instant};

use nfq::{Message, Queue, Verdict};
use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::NetbedError;
use crate::link::{Fate, Nanos, Path};
use crate::profile::{Direction, Profile};

/// The queue numbers the bed's rules send each direction to.
#[derive(Debug, Clone, Copy)]
pub struct Queues {
    pub up: u16,
    pub down: u16,
}

/// Packets the kernel may hold for us per queue. At 120 ms of delay a fast download keeps
/// several thousand packets in flight; 1,024 (the default) would drop most of them.
const QUEUE_LEN: u32 = 32_768;

const NAP: Duration = Duration::from_micros(250);

/// Binds both queues, calls `ready` once packets can flow, then impairs until an error (the bed
/// stops it with a signal).
pub fn run(profile: &Profile, queues: Queues, seed: u64, ready: impl FnOnce()) -> Result<Infallible, NetbedError> {
    let mut queue = Queue::open().map_err(|e| NetbedError::Queue(format!("opening the netfilter socket: {e}")))?;
    for num in [queues.up, queues.down] {
        let setup = |q: &mut Queue| -> std::io::Result<()> {
            q.bind(num)?;
            q.set_copy_range(num, 0)?;
            q.set_queue_max_len(num, QUEUE_LEN)
        };
        setup(&mut queue).map_err(|e| NetbedError::Queue(format!("binding queue {num}: {e}")))?;
    }
    queue.set_nonblocking(true);
    let origin = Instant::now();
    let now = || i64::try_from(origin.elapsed().as_nanos()).unwrap_or(i64::MAX);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut path = Path::new(profile, now(), &mut rng);
    // Each link releases in order (see `link`), so one FIFO per direction (up, down) is already sorted.
    let mut held: [VecDeque<(Nanos, Message)>; 2] = [VecDeque::new(), VecDeque::new()];
    ready();
    loop {
        let t = now();
        for fifo in &mut held {
            while fifo.front().is_some_and(|(at, _)| *at <= t) {
                if let Some((_, mut msg)) = fifo.pop_front() {
                    msg.set_verdict(Verdict::Accept);
                    verdict(&mut queue, msg)?;
                }
            }
        }
        // nfq 0.2.5 gives no access to its socket to poll on, so the loop naps instead: a quarter
        // millisecond at most, which is also the finest delay this impairer can add (≈4,000
        // wake-ups a second, under 1 % of a core).
        let next = held.iter().filter_map(|f| f.front().map(|(at, _)| *at)).min();
        let nap = next.map_or(NAP, |at| NAP.min(Duration::from_nanos(u64::try_from(at - t).unwrap_or(0))));
        if !nap.is_zero() {
            std::thread::sleep(nap);
        }
        // Drain everything queued (nfq may hold several messages from one read).
        loop {
            let mut msg = match queue.recv() {
                Ok(msg) => msg,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(NetbedError::Queue(format!("reading a packet: {e}"))),
            };
            let direction = if msg.get_queue_num() == queues.up { Direction::Up } else { Direction::Down };
            match path.admit(direction, now(), &mut rng) {
                Fate::Drop => {
                    msg.set_verdict(Verdict::Drop);
                    verdict(&mut queue, msg)?;
                }
                Fate::ReleaseAt(at) => held[usize::from(direction == Direction::Down)].push_back((at, msg)),
            }
        }
    }
}

fn verdict(queue: &mut Queue, msg: Message) -> Result<(), NetbedError> {
    queue.verdict(msg).map_err(|e| NetbedError::Queue(format!("releasing a packet: {e}")))
}

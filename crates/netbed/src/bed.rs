//! The bed from a Rust test: [`Bed::up`] runs `tests/net/bed.sh up`, and dropping the [`Bed`]
//! runs `down`, which kills whatever still runs in its namespaces and deletes them — also when
//! the test panics, since a panic unwinds through the drop.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The bed's script, in this repository.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/net/bed.sh")
}

/// The host's address inside the bed (see the picture in `bed.sh`); with the host at home
/// (`("host", "PROFILE")` among the homes) its router's outside address.
pub const HOST_IP: &str = "10.77.0.2";

/// The wan's own address, reachable from every home: where a rendezvous (relay server) runs.
pub const WAN_IP: &str = "10.77.0.1";

/// Why a bed could not be made. [`BedUnavailable::Unsupported`] means this machine cannot (no
/// root, no nft, no NFQUEUE): tests skip with its one line. Anything else is a failure.
#[derive(Debug, thiserror::Error)]
pub enum BedUnavailable {
    #[error("{0}")]
    Unsupported(String),
    #[error("the network test bed failed to come up: {0}")]
    Failed(String),
}

/// A bed that is up; down when dropped.
#[derive(Debug)]
pub struct Bed {
    name: String,
    impairer: PathBuf,
}

impl Bed {
    /// Brings up a bed with one home per `(listener, profile)`; `profile` as `bed.sh` takes it
    /// (`wifi`, `internet@10mbit`, `delay=20,jitter=5`, with a NAT kind `%restricted`, `%cone` or
    /// `%symmetric` after it), and `listener` one name or several joined by `+` for listeners that
    /// share one home (`a+b`: one LAN behind one NAT), or `host` to put the host at home too.
    /// `impairer` is the `whatssound-netbed` binary.
    pub fn up(impairer: &Path, listeners: &[(&str, &str)]) -> Result<Bed, BedUnavailable> {
        let run = |args: &[&str]| {
            Command::new("bash")
                .arg(script())
                .args(args)
                .env("WHATSSOUND_NETBED", impairer)
                .output()
                .map_err(|e| BedUnavailable::Unsupported(format!("cannot run bash for the network test bed: {e}; skipped")))
        };
        let check = run(&["check"])?;
        if !check.status.success() {
            return Err(BedUnavailable::Unsupported(String::from_utf8_lossy(&check.stdout).trim().to_owned()));
        }
        // Unique per process and bed, short enough for bed.sh's 12 characters.
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("wsb{}x{}", std::process::id() % 100_000, NEXT.fetch_add(1, Ordering::Relaxed));
        let specs: Vec<String> = listeners.iter().map(|(who, profile)| format!("{who}:{profile}")).collect();
        let mut args = vec!["up".to_owned(), name.clone()];
        args.extend(specs);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let bed = Bed { name, impairer: impairer.to_owned() };
        let out = run(&args)?;
        if !out.status.success() {
            return Err(BedUnavailable::Failed(String::from_utf8_lossy(&out.stderr).trim().to_owned()));
        }
        Ok(bed)
    }

    /// The namespace of `role`: `host`, `wan`, or a listener's name.
    pub fn namespace(&self, role: &str) -> String {
        format!("{}-{role}", self.name)
    }

    /// A command that runs `program` inside `role`'s namespace.
    pub fn command(&self, role: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec"]).arg(self.namespace(role)).arg(program);
        c
    }

    /// Cuts listener `who`'s home off (an outage: everything dropped both ways) or mends it.
    pub fn cut(&self, who: &str, cut: bool) -> Result<(), BedUnavailable> {
        let out = Command::new("bash")
            .arg(script())
            .args([if cut { "cut" } else { "mend" }, &self.name, who])
            .output()
            .map_err(|e| BedUnavailable::Failed(format!("cannot run the bed's script: {e}")))?;
        if out.status.success() { Ok(()) } else { Err(BedUnavailable::Failed(String::from_utf8_lossy(&out.stderr).trim().to_owned())) }
    }

    /// The address listener `who` has inside its home, and the one its NAT shows the world (from
    /// the line `bed.sh` wrote for it: name, LAN address, router, public address, profile).
    pub fn listener_addrs(&self, who: &str) -> Option<(String, String)> {
        let dir = std::env::var_os("TMPDIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
        let listeners = std::fs::read_to_string(dir.join(format!("whatssound-netbed-{}", self.name)).join("listeners")).ok()?;
        listeners.lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields[..] {
                [name, inside, _, outside, ..] if name == who => Some((inside.to_owned(), outside.to_owned())),
                _ => None,
            }
        })
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script()).args(["down", &self.name]).env("WHATSSOUND_NETBED", &self.impairer).status();
    }
}

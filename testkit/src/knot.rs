//! [`Knot`]: an authoritative DNS server serving zones a test writes.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::process::{self, ProcessGroup};

/// How long knotd may take to answer before the start counts as failed.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How many ports to try when the one picked is taken meanwhile.
const START_ATTEMPTS: u32 = 5;

/// A running Knot DNS server (`knotd`) on 127.0.0.1, serving the zones
/// given at start over UDP and TCP on the same free port. Dropping it kills
/// the server and removes its temp dir, also when the test panics.
///
/// ```
/// let zone = "$TTL 300\n@ SOA ns.example.test. admin.example.test. 1 3600 600 86400 300\n\
///             @ NS ns.example.test.\nns A 127.0.0.1\n@ MX 10 mx.example.test.\n";
/// // `None` only when Knot is not installed and CI is not "true".
/// let Some(dns) = testkit::Knot::start(&[("example.test", zone)]) else { return };
/// assert!(dns.addr().ip().is_loopback());
/// ```
#[derive(Debug)]
pub struct Knot {
    // Field order matters: the process group is killed before the dir goes.
    process: ProcessGroup,
    dir: tempfile::TempDir,
    addr: SocketAddr,
}

impl Knot {
    /// Starts `knotd` serving each `(origin, zone text)` pair (zone files
    /// in the usual master-file format; relative names are relative to the
    /// origin) and waits until it answers a SOA query for every zone.
    ///
    /// Returns `None` only when `knotd` is not installed and `CI` is not
    /// `true`, after printing how to install it; under `CI=true` it panics.
    ///
    /// # Panics
    /// When knotd cannot start or does not load a zone (the panic shows
    /// its log, which names the error in the zone text).
    pub fn start(zones: &[(&str, &str)]) -> Option<Knot> {
        let binaries = process::require("Knot DNS", &["knotd"], "knot")?;
        let knotd = binaries.into_iter().next()?;
        let origins: Vec<String> = zones
            .iter()
            .map(|(origin, _)| origin.trim_end_matches('.').to_owned())
            .collect();
        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            let dir = process::temp_dir("testkit-knot-");
            let port = process::free_port();
            let config = write_config(dir.path(), port, &origins, zones);
            let log = dir.path().join("knotd.log");
            let mut command = Command::new(&knotd);
            command.arg("-c").arg(&config);
            let mut process = ProcessGroup::spawn(command, &log)
                .unwrap_or_else(|e| panic!("testkit: cannot run {}: {e}", knotd.display()));
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            match wait_for_zones(&mut process, addr, &origins) {
                Ready::Yes => return Some(Knot { process, dir, addr }),
                Ready::ZoneFailed(origin) => {
                    process.kill();
                    let log = fs::read_to_string(&log).unwrap_or_default();
                    panic!("testkit: knotd does not serve zone {origin}; its log:\n{log}");
                }
                Ready::No => {
                    process.kill();
                    last_log = fs::read_to_string(&log).unwrap_or_default();
                }
            }
        }
        panic!("testkit: knotd did not start in {START_ATTEMPTS} attempts; last log:\n{last_log}");
    }

    /// Where the server listens, for UDP and TCP alike.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The process id of knotd (its process group id too).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The temp dir holding config, zones and log (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn write_config(
    dir: &Path,
    port: u16,
    origins: &[String],
    zones: &[(&str, &str)],
) -> std::path::PathBuf {
    let d = dir.display();
    process::mkdir(&dir.join("run"));
    process::mkdir(&dir.join("db"));
    let mut zone_list = String::new();
    for (origin, (_, text)) in origins.iter().zip(zones) {
        let mut text = (*text).to_owned();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        process::write(
            &dir.join("zones").join(format!("{origin}.zone")),
            format!("$ORIGIN {origin}.\n{text}"),
        );
        zone_list.push_str(&format!("  - domain: {origin}\n"));
    }
    process::mkdir(&dir.join("zones"));
    let zone_section = if zone_list.is_empty() {
        String::new()
    } else {
        format!("zone:\n{zone_list}")
    };
    let config = format!(
        "server:
  rundir: {d}/run
  listen: 127.0.0.1@{port}
  udp-workers: 1
  tcp-workers: 1
  background-workers: 1
log:
  - target: stderr
    any: info
database:
  storage: {d}/db
template:
  - id: default
    storage: {d}/zones
    file: \"%s.zone\"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
{zone_section}"
    );
    let path = dir.join("knot.conf");
    process::write(&path, config);
    path
}

enum Ready {
    Yes,
    No,
    ZoneFailed(String),
}

/// Waits until knotd answers a SOA query for every origin (or, with no
/// zones, any query).
fn wait_for_zones(process: &mut ProcessGroup, addr: SocketAddr, origins: &[String]) -> Ready {
    let Ok(socket) = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)) else {
        return Ready::No;
    };
    let _ = socket.set_read_timeout(Some(Duration::from_millis(50)));
    let deadline = Instant::now() + START_TIMEOUT;
    let probes: Vec<&str> = if origins.is_empty() {
        vec!["."]
    } else {
        origins.iter().map(String::as_str).collect()
    };
    let mut pending: Vec<&str> = probes.clone();
    let mut id: u16 = 1;
    while Instant::now() < deadline {
        if process.has_exited() {
            return Ready::No;
        }
        let Some(&origin) = pending.first() else {
            return Ready::Yes;
        };
        id = id.wrapping_add(1);
        if socket.send_to(&soa_query(id, origin), addr).is_ok() {
            let mut buf = [0u8; 4096];
            if let Ok((n, from)) = socket.recv_from(&mut buf)
                && from == addr
                && n >= 12
                && buf[..2] == id.to_be_bytes()
            {
                let rcode = buf[3] & 0x0f;
                // With no zones any answer (REFUSED) proves it serves.
                if rcode == 0 || origins.is_empty() {
                    pending.remove(0);
                    continue;
                }
                // SERVFAIL: the zone did not load.
                return Ready::ZoneFailed(origin.to_owned());
            }
        }
        thread::sleep(Duration::from_millis(5));
    }
    Ready::No
}

/// A DNS query (RFC 1035 section 4.1) for the SOA of `name`, recursion off.
fn soa_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(u8::try_from(label.len()).unwrap_or(63).min(63));
        q.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    q.push(0);
    q.extend_from_slice(&[0, 6, 0, 1]);
    q
}

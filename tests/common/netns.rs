//! Network namespaces for live tests: two namespaces joined by a veth pair, `hellowatch live`
//! started in the client's, signals, and the skip rule (root and tools, or a failure under
//! `HELLOWATCH_REQUIRE_NETNS=1`, which `.ci/run` sets so CI cannot skip silently).

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The server's address (the client end has .2 and .10–.13).
pub const SERVER: &str = "10.199.1.1";

/// Whether `tool` is on PATH.
pub fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

/// `None` when the test can run; otherwise why not (or a panic when CI requires it).
pub fn skip_reason(tools: &[&str]) -> Option<String> {
    let reason = if !nix::unistd::geteuid().is_root() {
        Some("needs root (network namespaces)".to_string())
    } else {
        tools
            .iter()
            .find(|t| !on_path(t))
            .map(|t| format!("needs `{t}` on PATH"))
    };
    let reason = reason?;
    if std::env::var_os("HELLOWATCH_REQUIRE_NETNS").is_some_and(|v| v == "1") {
        panic!("HELLOWATCH_REQUIRE_NETNS=1 but the test cannot run: {reason}");
    }
    eprintln!("skipping live namespace test: {reason}");
    Some(reason)
}

/// Runs a command that must succeed; its standard output.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two namespaces `hw-<tag><pid>-c` / `-s` joined by veth `hw<tag><pid>c` / `s`: client end
/// 10.199.1.2 (and .10–.13 for separate clients), server end 10.199.1.1. Everything it
/// started is killed and both namespaces are deleted on drop, also when a test fails.
pub struct Net {
    pub ns_c: String,
    pub ns_s: String,
    pub if_c: String,
    pub if_s: String,
    pub dir: PathBuf,
    pub children: Vec<Child>,
}

impl Net {
    pub fn new(tag: &str) -> Net {
        let pid = std::process::id();
        let net = Net {
            ns_c: format!("hw-{tag}{pid}-c"),
            ns_s: format!("hw-{tag}{pid}-s"),
            if_c: format!("hw{tag}{pid}c"),
            if_s: format!("hw{tag}{pid}s"),
            dir: std::env::temp_dir().join(format!("hellowatch-netns-{tag}{pid}")),
            children: Vec::new(),
        };
        net.delete_namespaces();
        std::fs::create_dir_all(&net.dir).unwrap();
        run_ok(Command::new("ip").args(["netns", "add", &net.ns_c]));
        run_ok(Command::new("ip").args(["netns", "add", &net.ns_s]));
        run_ok(Command::new("ip").args([
            "link", "add", &net.if_c, "netns", &net.ns_c, "type", "veth", "peer", "name",
            &net.if_s, "netns", &net.ns_s,
        ]));
        for a in ["2", "10", "11", "12", "13"] {
            let addr = format!("10.199.1.{a}/24");
            run_ok(
                Command::new("ip").args(["-n", &net.ns_c, "addr", "add", &addr, "dev", &net.if_c]),
            );
        }
        let addr = format!("{SERVER}/24");
        run_ok(Command::new("ip").args(["-n", &net.ns_s, "addr", "add", &addr, "dev", &net.if_s]));
        for (ns, dev) in [(&net.ns_c, &net.if_c), (&net.ns_s, &net.if_s)] {
            run_ok(Command::new("ip").args(["-n", ns, "link", "set", "lo", "up"]));
            run_ok(Command::new("ip").args(["-n", ns, "link", "set", dev, "up"]));
        }
        net
    }

    fn delete_namespaces(&self) {
        for ns in [&self.ns_c, &self.ns_s] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }

    /// `ip netns exec NS PROGRAM`.
    pub fn exec(&self, ns: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).arg(program);
        c
    }

    /// A file in the test's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Sends a pcap from the server's end with tcpreplay (as fast as it can).
    pub fn send(&self, pcap: &std::path::Path) {
        let out = self
            .exec(&self.ns_s, "tcpreplay")
            .args(["-q", "--topspeed", "-i", &self.if_s])
            .arg(pcap)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tcpreplay: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// [`Net::send`] without waiting: the test acts while the packets are on their way.
    pub fn send_in_background(&self, pcap: &std::path::Path) -> Sending {
        let child = self
            .exec(&self.ns_s, "tcpreplay")
            .args(["-q", "--topspeed", "-i", &self.if_s])
            .arg(pcap)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Sending(child)
    }

    /// A management link from the root namespace into the client namespace (a sensor's
    /// management port beside its capture port): veth `hw<tag><pid>m` in the root namespace
    /// with 10.198.`n`.1/30, its peer in the client namespace with 10.198.`n`.2/30, which it
    /// returns. Deleting the namespace on drop deletes the pair.
    pub fn management_link(&self, n: u8) -> String {
        let root_end = format!("{}m", self.if_c.trim_end_matches('c'));
        let ns_end = format!("{}n", self.if_c.trim_end_matches('c'));
        let _ = Command::new("ip")
            .args(["link", "del", &root_end])
            .stderr(Stdio::null())
            .status();
        run_ok(Command::new("ip").args([
            "link", "add", &root_end, "type", "veth", "peer", "name", &ns_end, "netns", &self.ns_c,
        ]));
        let (root_ip, ns_ip) = (format!("10.198.{n}.1"), format!("10.198.{n}.2"));
        run_ok(Command::new("ip").args([
            "addr",
            "add",
            &format!("{root_ip}/30"),
            "dev",
            &root_end,
        ]));
        run_ok(Command::new("ip").args(["link", "set", &root_end, "up"]));
        run_ok(Command::new("ip").args([
            "-n",
            &self.ns_c,
            "addr",
            "add",
            &format!("{ns_ip}/30"),
            "dev",
            &ns_end,
        ]));
        run_ok(Command::new("ip").args(["-n", &self.ns_c, "link", "set", &ns_end, "up"]));
        ns_ip
    }

    /// Raises the MTU of both ends of the link to 9,000 (the test kit's workload has IPv6
    /// segments of 1,508 bytes, which a 1,500-byte veth would drop before any capture).
    pub fn jumbo(&self) {
        for (ns, dev) in [(&self.ns_c, &self.if_c), (&self.ns_s, &self.if_s)] {
            run_ok(Command::new("ip").args(["-n", ns, "link", "set", dev, "mtu", "9000"]));
        }
    }
}

/// A tcpreplay started by [`Net::send_in_background`].
pub struct Sending(Child);

impl Sending {
    /// Waits until everything was sent; asserts tcpreplay succeeded.
    pub fn wait(self) {
        let out = self.0.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "tcpreplay: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.delete_namespaces();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running `hellowatch live` in the client namespace; its stderr lines arrive on `lines`.
pub struct Live {
    pub pid: u32,
    pub index: usize,
    pub lines: mpsc::Receiver<String>,
    pub output: PathBuf,
    /// The line saying it is capturing (interface, workers, the metrics address).
    pub banner: String,
}

impl Live {
    /// The address of its metrics server, from the banner (`--listen`).
    pub fn metrics_addr(&self) -> std::net::SocketAddr {
        let rest = self
            .banner
            .split("metrics on http://")
            .nth(1)
            .unwrap_or_else(|| panic!("no metrics address in: {}", self.banner));
        rest.split('/').next().unwrap().parse().unwrap()
    }
}

/// `hellowatch live -i <client end> --format json --output <dir>/<output> ARGS…`, once it
/// says it is capturing.
pub fn start_live_to(net: &mut Net, output: &str, args: &[&str]) -> Live {
    start_live_env(net, output, args, &[])
}

/// [`start_live_to`] with more environment variables.
pub fn start_live_env(
    net: &mut Net,
    output: &str,
    args: &[&str],
    env: &[(&str, &std::ffi::OsStr)],
) -> Live {
    let output = net.path(output);
    let mut child = net
        .exec(&net.ns_c, super::bin())
        .args(["live", "-i", &net.if_c, "--format", "json", "--output"])
        .arg(&output)
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let pid = child.id();
    net.children.push(child);
    let mut live = Live {
        pid,
        index: net.children.len() - 1,
        lines,
        output,
        banner: String::new(),
    };
    // `ip netns exec` execs hellowatch, so the pid is hellowatch's.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = String::new();
    while Instant::now() < deadline {
        match live.lines.recv_timeout(Duration::from_millis(100)) {
            Ok(l) if l.contains("capturing on") => {
                live.banner = l;
                return live;
            }
            Ok(l) => {
                seen.push_str(&l);
                seen.push('\n');
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    panic!("hellowatch live did not start capturing: {seen}");
}

/// [`start_live_to`] with the report in `report.json`.
pub fn start_live(net: &mut Net, args: &[&str]) -> Live {
    start_live_to(net, "report.json", args)
}

/// Sends a signal.
pub fn signal(pid: u32, sig: Signal) {
    let pid = Pid::from_raw(i32::try_from(pid).unwrap());
    nix::sys::signal::kill(pid, sig).unwrap_or_else(|e| panic!("kill {pid} {sig}: {e}"));
}

/// Waits for a live run to exit (a hang guard of 30 s, not a speed limit).
pub fn wait_exit(net: &mut Net, live: &Live) -> ExitStatus {
    let t0 = Instant::now();
    let child = &mut net.children[live.index];
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "hellowatch did not exit within 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM, then wait for the exit; returns the status, the JSON report and stderr.
pub fn stop_live(net: &mut Net, live: Live) -> (ExitStatus, Value, String) {
    signal(live.pid, Signal::SIGTERM);
    let status = wait_exit(net, &live);
    // The reader thread ends when hellowatch's stderr closes.
    let mut stderr = Vec::new();
    while let Ok(l) = live.lines.recv_timeout(Duration::from_secs(5)) {
        stderr.push(l);
    }
    let report = std::fs::read(&live.output).unwrap();
    let report: Value = serde_json::from_slice(&report)
        .unwrap_or_else(|e| panic!("no JSON report ({e}): {}", String::from_utf8_lossy(&report)));
    (status, report, stderr.join("\n"))
}

//! What the benchmark and the load command share: the sandbox in a child process, free ports,
//! percentiles, and a process's memory figures from `/proc`.

use std::{net::SocketAddr, process::Stdio, time::Duration};

use anyhow::Context as _;

/// Starts `partner-portal sandbox` (control API on, approving user 1001 at once) with
/// `activations` on `addr`, registered for `portal`'s callback, and waits until it answers.
pub async fn spawn_sandbox(
    addr: SocketAddr,
    portal: &str,
    activations: usize,
) -> anyhow::Result<tokio::process::Child> {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_partner-portal"))
        .arg("sandbox")
        .env("PORTAL_SANDBOX_LISTEN", addr.to_string())
        .env("SANDBOX_REDIRECT_URI", format!("{portal}/auth/callback"))
        .env("SANDBOX_ACTIVATIONS", activations.to_string())
        .env("SANDBOX_AUTO_APPROVE_USER", "1001")
        .env("SANDBOX_CONTROL", "true")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting the sandbox")?;
    let http = reqwest::Client::new();
    for _ in 0..600 {
        if http
            .get(format!("http://{addr}/__sandbox/state"))
            .send()
            .await
            .is_ok()
        {
            return Ok(child);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the sandbox did not start")
}

/// A free loopback port.
pub fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// The `p` percentile (0–1) of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

/// A `/proc/<pid>/status` figure in KiB (`VmRSS:`, `VmHWM:`); `pid` `None` is this process.
pub fn kib(pid: Option<u32>, field: &str) -> Option<u64> {
    let path = pid.map_or_else(
        || "/proc/self/status".to_owned(),
        |p| format!("/proc/{p}/status"),
    );
    let status = std::fs::read_to_string(path).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

//! Build-time facts the binary reports: the commit it was built from (`--version`).

use std::process::Command;

fn main() {
    // Rebuild when a migration changes: `sqlx::migrate!` embeds them at compile time.
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-env-changed=PORTAL_COMMIT");
    // An image build has no `.git`: its builder passes the commit in PORTAL_COMMIT.
    let commit = std::env::var("PORTAL_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=PORTAL_COMMIT={}", commit.trim());
}

/// The checked-out commit, short, when this is a git checkout.
fn git_commit() -> Option<String> {
    let head = std::fs::read_to_string(".git/HEAD").ok()?;
    println!("cargo:rerun-if-changed=.git/HEAD");
    if let Some(branch) = head.strip_prefix("ref: ") {
        println!("cargo:rerun-if-changed=.git/{}", branch.trim());
        println!("cargo:rerun-if-changed=.git/packed-refs");
    }
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|c| !c.is_empty())
}

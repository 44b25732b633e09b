//! The `partner-portal` binary itself: start-up errors and the README's demo command.

use std::{process::Stdio, time::Duration};

use reqwest::StatusCode;
use tokio::io::{AsyncBufReadExt as _, BufReader};

use crate::helpers::*;

async fn startup_error(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = portal_command();
    cmd.args(args)
        .envs(env.iter().copied())
        .env("PORTAL_DATABASE_URL", "sqlite::memory:");
    let out = tokio::time::timeout(Duration::from_secs(20), cmd.output())
        .await
        .unwrap()
        .unwrap();
    assert!(!out.status.success(), "{args:?} should fail");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[tokio::test]
async fn a_missing_or_invalid_setting_stops_start_up_with_one_line_naming_it() {
    let e = startup_error(&["serve"], &[]).await;
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(e.contains("PORTAL_WPCOM_CLIENT_ID"), "{e}");
    let e = startup_error(&["serve"], &[("PORTAL_WPCOM_CLIENT_ID", "1")]).await;
    assert!(e.contains("PORTAL_WPCOM_CLIENT_SECRET"), "{e}");
    let e = startup_error(
        &["serve"],
        &[
            ("PORTAL_WPCOM_CLIENT_ID", "1"),
            ("PORTAL_WPCOM_CLIENT_SECRET_FILE", "/nonexistent/secret"),
        ],
    )
    .await;
    assert!(e.contains("PORTAL_WPCOM_CLIENT_SECRET_FILE"), "{e}");
    let e = startup_error(
        &["serve"],
        &[
            ("PORTAL_WPCOM_CLIENT_ID", "1"),
            ("PORTAL_WPCOM_CLIENT_SECRET", "s"),
        ],
    )
    .await;
    assert!(
        e.contains("PORTAL_SESSION_KEY") && e.contains("head -c 32 /dev/urandom"),
        "{e}"
    );
    let e = startup_error(
        &["serve"],
        &[
            ("PORTAL_WPCOM_CLIENT_ID", "1"),
            ("PORTAL_WPCOM_CLIENT_SECRET", "s"),
            ("PORTAL_SESSION_KEY", "short"),
        ],
    )
    .await;
    assert!(e.contains("PORTAL_SESSION_KEY"), "{e}");
    let e = startup_error(&["serve"], &[("PORTAL_LISTEN", "not-an-address")]).await;
    assert!(e.contains("PORTAL_LISTEN"), "{e}");
    let e = startup_error(&["serve"], &[("PORTAL_SESSION_IDLE_TIMEOUT", "soon")]).await;
    assert!(e.contains("PORTAL_SESSION_IDLE_TIMEOUT"), "{e}");
    let e = startup_error(
        &["serve"],
        &[
            ("PORTAL_WPCOM_CLIENT_ID", "1"),
            ("PORTAL_WPCOM_CLIENT_SECRET", "s"),
            ("PORTAL_SESSION_ABSOLUTE_TIMEOUT", "0s"),
        ],
    )
    .await;
    assert!(
        e.contains("PORTAL_SESSION_ABSOLUTE_TIMEOUT") && !e.contains("IDLE"),
        "{e}"
    );
    let e = startup_error(
        &["serve"],
        &[
            ("PORTAL_WPCOM_CLIENT_ID", "1"),
            ("PORTAL_WPCOM_CLIENT_SECRET", "s"),
            ("PORTAL_PUBLIC_URL", "ftp://x"),
        ],
    )
    .await;
    assert!(e.contains("PORTAL_PUBLIC_URL"), "{e}");
}

#[tokio::test]
async fn the_demo_command_prints_its_url_and_serves_a_login_page() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = portal_command();
    cmd.arg("demo")
        .current_dir(dir.path())
        .env("PORTAL_LISTEN", "127.0.0.1:0")
        .env("PORTAL_SANDBOX_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.trim().strip_prefix("Open ") {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("demo printed no URL");
    })
    .await
    .unwrap();
    let client = new_client();
    let r = client.get(format!("{url}login")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(texts(&doc, "#demo-banner strong"), vec!["Sandbox data."]);
    assert!(
        dir.path().join("data/partner-portal.db").exists(),
        "SQLite store under ./data/"
    );
    child.kill().await.unwrap();
}

#[tokio::test]
async fn the_version_names_the_release_and_its_commit_as_the_changelog_and_image_do() {
    let out = portal_command().arg("--version").output().await.unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    let version = env!("CARGO_PKG_VERSION");
    let prefix = format!("partner-portal {version} (commit ");
    assert!(printed.starts_with(&prefix), "{printed}");
    let commit = printed[prefix.len()..].trim_end().trim_end_matches(')');
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{commit}"
    );
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let changelog = std::fs::read_to_string(root.join("CHANGELOG.md")).unwrap();
    assert!(
        changelog.contains(&format!("## [{version}] - ")),
        "CHANGELOG.md has no entry for {version}"
    );
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains(&format!("org.opencontainers.image.version=\"{version}\"")),
        "the image's label is not {version}"
    );
}

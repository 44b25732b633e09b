//! The `partner-portal` binary: `serve`, `demo`, `sandbox`, `check-config`, `healthcheck` and
//! `token`.

use std::process::ExitCode;

use clap::Parser as _;
use partner_portal::{
    app::Application,
    cli::{Cli, Command, DemoArgs, HealthcheckArgs, PortalArgs, SandboxArgs, TokenCommand},
    config::derived_public_url,
    sandbox::Sandbox,
    server::shutdown_signal,
    telemetry,
};
use tokio::net::TcpListener;

/// jemalloc instead of glibc's allocator: under load `perf` showed a quarter of the portal's
/// time in glibc's malloc and free and their arena locks (one request allocates its page, its
/// rows and its compressed body on one thread and frees them on another), and glibc's
/// per-thread arenas kept the freed memory. Built unprefixed, it is also the `malloc` of the C
/// code linked in: SQLite's page caches and statements had been spread over nine glibc arenas,
/// one per worker thread, 9 MB of the peak under `scripts/load` (86 MB, 77 with jemalloc
/// serving them). Two arenas: `.cargo/config.toml`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line naming the flag and its variable (value names are the variables).
            let text = e.to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ");
            eprintln!("partner-portal: {first}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Serve(args) => {
            telemetry::init(args.log_format);
            serve(args).await
        }
        Command::Demo(args) => {
            telemetry::init(args.portal.log_format);
            demo(args).await
        }
        Command::Sandbox(args) => {
            telemetry::init(args.log_format);
            sandbox(args).await
        }
        Command::Healthcheck(args) => healthcheck(args).await,
        Command::CheckConfig(args) => {
            telemetry::init_with_default(args.log_format, "warn");
            check_config(args).await
        }
        Command::Token(command) => token(command).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One clear line, never a panic trace.
            eprintln!("partner-portal: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Connections the kernel holds for the portal before it accepts them. Tokio's default of 1,024
/// overflowed when a thousand idle clients reconnected at once (each closed at the header-read
/// timeout together): the kernel dropped the SYNs of others arriving then, which connected
/// only at their third retransmission, 7 s later. The kernel caps this at
/// `net.core.somaxconn` (4,096 on current kernels).
const BACKLOG: u32 = 4096;

async fn bind(addr: std::net::SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    };
    socket
        .and_then(|s| {
            // As `TcpListener::bind` does: a restarted portal may listen at once.
            s.set_reuseaddr(true)?;
            s.bind(addr)?;
            s.listen(BACKLOG)
        })
        .map_err(|e| anyhow::anyhow!("{what}: cannot listen on {addr}: {e}"))
}

async fn serve(args: PortalArgs) -> anyhow::Result<()> {
    let config = args.config(false)?;
    let listener = bind(config.listen, "PORTAL_LISTEN").await?;
    let app = Application::build(config, listener).await?;
    tracing::info!(addr = %app.local_addr()?, "partner-portal listening");
    app.run_until_stopped().await?;
    Ok(())
}

async fn healthcheck(args: HealthcheckArgs) -> anyhow::Result<()> {
    let url = format!("{}healthz", derived_public_url(args.listen)?);
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()?;
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{url}: {}", e.without_url()))?;
    if !response.status().is_success() {
        anyhow::bail!("{url} answered {}", response.status());
    }
    Ok(())
}

async fn check_config(args: PortalArgs) -> anyhow::Result<()> {
    let config = args.config(false)?;
    partner_portal::db::Db::check(&config.database_url)
        .await
        .map_err(|e| anyhow::anyhow!("PORTAL_DATABASE_URL: {e}"))?;
    #[allow(clippy::print_stdout, reason = "the command's answer")]
    {
        println!(
            "configuration OK: public URL {}, WordPress.com {}, database reachable",
            config.public_url, config.wpcom_url
        );
    }
    Ok(())
}

/// `token create|revoke|list`: the database as `serve` configures it (the demo's settings fill in
/// the WordPress.com app, which a token command never calls).
async fn token(command: TokenCommand) -> anyhow::Result<()> {
    use partner_portal::tokens::cli;
    let portal = match &command {
        TokenCommand::Create(a) => &a.portal,
        TokenCommand::Revoke(a) => &a.portal,
        TokenCommand::List(a) => &a.portal,
    };
    telemetry::init_with_default(portal.log_format, "warn");
    let config = portal.config(true)?;
    let (tokens, team) = cli::open(&config.database_url, &config).await?;
    let now = chrono::Utc::now().timestamp();
    let when = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default()
    };
    #[allow(clippy::print_stdout, reason = "the command's answer")]
    match command {
        TokenCommand::Create(a) => {
            let request = cli::CreateRequest {
                user: a.user,
                partner: a.partner,
                name: a.name,
                scopes: a.scope,
                days: a.expires,
            };
            let (token, secret) = cli::create(&tokens, &team, &request, now).await?;
            eprintln!(
                "token “{}” ({}) for {} of partner {}: {}, expires {}. The secret is shown once:",
                token.name,
                token.id,
                token.user_name,
                token.partner_id,
                token.scopes.to_text(),
                when(token.expires_at)
            );
            println!("{}", secret.expose());
        }
        TokenCommand::Revoke(a) => {
            let token = cli::revoke(&tokens, &team, &a.token, now).await?;
            eprintln!(
                "revoked “{}” ({}…) of {}",
                token.name, token.prefix, token.user_name
            );
        }
        TokenCommand::List(_) => {
            for t in cli::all_tokens(&tokens).await? {
                println!(
                    "{}\t{}…\tpartner {}\t{}\t{}\t{}\texpires {}\t{}",
                    t.id,
                    t.prefix,
                    t.partner_id,
                    t.user_name,
                    t.name,
                    t.scopes.to_text(),
                    when(t.expires_at),
                    t.status(now).label()
                );
            }
        }
    }
    Ok(())
}

async fn demo(mut args: DemoArgs) -> anyhow::Result<()> {
    let sandbox_listener = bind(args.sandbox_listen, "PORTAL_SANDBOX_LISTEN").await?;
    let portal_listener = bind(args.portal.listen, "PORTAL_LISTEN").await?;
    let sandbox_url = derived_public_url(sandbox_listener.local_addr()?)?;
    args.portal.listen = portal_listener.local_addr()?;
    args.portal.wpcom_url = sandbox_url.clone();
    let config = args.portal.config(true)?;
    let sandbox = Sandbox::new(
        args.sandbox.clone(),
        config.redirect_uri(),
        sandbox_url.to_string(),
    );
    tokio::spawn(async move {
        if let Err(e) = sandbox.serve(sandbox_listener).await {
            tracing::error!(error = %e, "sandbox stopped");
        }
    });
    let public = config.public_url.clone();
    let mail = match &config.smtp {
        Some(smtp) => format!("to the SMTP server at {}", smtp.url),
        None => format!("to the demo's mailbox at {public}demo/mail"),
    };
    let app = Application::build(config, portal_listener).await?;
    #[allow(
        clippy::print_stdout,
        reason = "the demo's one job is to tell the user where to go"
    )]
    {
        println!("partner-portal demo is running.");
        println!("  Open {public} and log in (the WordPress.com sandbox is at {sandbox_url}).");
        println!("  Notification mail goes {mail}.");
        println!("  All data is generated sandbox data. Stop with Ctrl-C.");
    }
    app.run_until_stopped().await?;
    Ok(())
}

async fn sandbox(args: SandboxArgs) -> anyhow::Result<()> {
    let listener = bind(args.listen, "PORTAL_SANDBOX_LISTEN").await?;
    let url = derived_public_url(listener.local_addr()?)?;
    let sandbox = Sandbox::new(args.sandbox, args.redirect_uri, url.to_string());
    tracing::info!(addr = %listener.local_addr()?, "WordPress.com sandbox listening");
    tokio::select! {
        r = sandbox.serve(listener) => r?,
        () = shutdown_signal() => {}
    }
    Ok(())
}

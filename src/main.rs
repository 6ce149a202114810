//! The `alfa-cloud` command: subcommands that wire the library together.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use alfa_cloud::config::Settings;
use alfa_cloud::startup::{self, Application};
use alfa_cloud::{accounts, telemetry};

/// Fleet orchestration for the Alfa LIMS clouds. Configuration comes from ALFA_* environment
/// variables (see README), optionally on top of a TOML file named by ALFA_CONFIG.
#[derive(Parser)]
#[command(name = "alfa-cloud", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API.
    Serve,
    /// Run a worker: carry out queued operations on the servers.
    Worker,
    /// Run everything one machine needs in one process (the embedded default: SQLite).
    Up,
    /// Apply database migrations and exit.
    Migrate,
    /// Administer the API account.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Set the API admin password (for a lost password). Reads it from standard input, or from
    /// --password-file; it never appears on the command line.
    SetPassword {
        /// A file holding the new password (a trailing newline is ignored).
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(async_main()),
        Err(err) => {
            eprintln!("alfa-cloud: cannot start the async runtime: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// glibc gives each thread that allocates its own arena (up to 8 per core), and each arena
/// keeps freed memory: with sqlx's per-connection SQLite threads that is most of the
/// process's resident memory under load. Two arenas cost no measurable throughput here.
/// `MALLOC_ARENA_MAX` in the environment still wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; called before any other thread.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

async fn async_main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("alfa-cloud: configuration error: {err:#}");
            return std::process::ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log_filter, settings.log_format);
    match run(cli.command, settings).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "alfa-cloud failed");
            eprintln!("alfa-cloud: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve(settings, false).await,
        Command::Up => serve(settings, true).await,
        Command::Worker => startup::run_worker(settings, startup::shutdown_signal()).await,
        Command::Migrate => {
            let db = startup::open_database(&settings).await?;
            db.close().await;
            println!("migrations applied");
            Ok(())
        }
        Command::Admin {
            command: AdminCommand::SetPassword { password_file },
        } => set_password(settings, password_file).await,
    }
}

async fn serve(settings: Settings, with_worker: bool) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    if let Some(password) = &app.generated_admin_password {
        // Shown once, on the terminal only: it is not logged.
        eprintln!(
            "\n  Created the API admin account '{}' with the generated password:\n\n      {password}\n\n  \
             Store it now; change it with POST /cloud_admin_password or `alfa-cloud admin set-password`.\n",
            app.state().settings.admin_user
        );
    }
    if with_worker {
        app.run_with_worker(startup::shutdown_signal()).await
    } else {
        app.run_until(startup::shutdown_signal()).await
    }
}

async fn set_password(settings: Settings, password_file: Option<PathBuf>) -> anyhow::Result<()> {
    let raw = match password_file {
        Some(path) => std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the password from standard input")?;
            text
        }
    };
    let password = raw.strip_suffix('\n').unwrap_or(&raw);
    let password = password.strip_suffix('\r').unwrap_or(password);
    let db = startup::open_database(&settings).await?;
    let problems = accounts::validate_new_password(&db, password, None).await?;
    if !problems.is_empty() {
        let text = serde_json::to_string(&problems)?;
        anyhow::bail!("the new password is not accepted: {text}");
    }
    accounts::set_password(&db, password).await?;
    db.close().await;
    println!("the API admin password was changed");
    Ok(())
}

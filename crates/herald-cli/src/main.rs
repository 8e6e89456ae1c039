//! The `herald` binary: `serve` (API + workers), `worker` (workers only),
//! `migrate`, `apps create`, `keys create|add-rsa`, `app-token`. Logs go to stderr so that stdout
//! carries only what a command prints for scripts (`--json`).

mod config;
mod runtime;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use config::Config;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "herald",
    version,
    about = "Herald: a multi-network share gateway"
)]
struct Cli {
    /// A TOML file overriding the built-in defaults (HERALD_* variables override both).
    #[arg(long, global = true, env = "HERALD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API and the delivery workers.
    Serve,
    /// Run delivery workers only (for nodes that share the database).
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage apps (sites).
    Apps {
        #[command(subcommand)]
        command: AppsCommand,
    },
    /// Admin API helpers.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Manage app keys (Gigya userKeys).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Print a bearer JWT for an app, valid for 5 minutes (for curl and docs).
    AppToken {
        #[arg(long)]
        api_key: String,
        /// The app secret as printed by `apps create` (base64).
        #[arg(long, env = "HERALD_APP_SECRET")]
        secret: String,
        /// Lifetime in seconds (at most 300).
        #[arg(long, default_value_t = 300)]
        ttl: i64,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Print an admin API token (alone on the last line).
    Token {
        /// Who the token is for (recorded in the audit log).
        #[arg(long)]
        sub: String,
        /// admin (everything) or app-admin (only --apps).
        #[arg(long, default_value = "admin")]
        role: String,
        /// App ids an app-admin manages, comma-separated.
        #[arg(long, value_delimiter = ',')]
        apps: Vec<String>,
        /// Lifetime: 1h, 30m, 90s, or seconds.
        #[arg(long, default_value = "1h")]
        ttl: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create an HMAC userKey with every permission; prints its secret once.
    Create {
        /// The app's id or api key.
        #[arg(long)]
        app: String,
        #[arg(long)]
        json: bool,
    },
    /// Register an RSA public key (PEM) for RS256 bearer JWTs (kid = the printed userKey).
    AddRsa {
        #[arg(long)]
        app: String,
        #[arg(long)]
        public_key: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Re-encrypt every stored secret under the current master key (values
    /// under keys in `readable_master_keys` are decrypted and rewritten).
    /// Prints a JSON report. See docs/operations.md for the rolling procedure.
    RotateMaster {
        /// First generate a new master key into `<data_dir>/master.key`,
        /// keeping the old one readable in `<data_dir>/master.key.readable`
        /// (only when the key is not set in configuration).
        #[arg(long)]
        generate: bool,
    },
    /// Print a new random master key (base64 of 32 bytes).
    GenerateMaster,
}

#[derive(Subcommand)]
enum AppsCommand {
    /// Create an app and print its id, api key and secret (the secret is shown once).
    Create {
        #[arg(long)]
        name: String,
        /// The site's URL, used as the application link on networks.
        #[arg(long)]
        site_url: Option<String>,
        /// Print `{"id","api_key","secret"}` as the only thing on stdout.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    herald_core::tls::init();
    if let Command::AppToken {
        api_key,
        secret,
        ttl,
    } = &cli.command
    {
        // Offline: needs neither configuration nor database.
        println!("{}", runtime::app_token(api_key, secret, *ttl)?);
        return Ok(());
    }
    let cfg = Config::load(cli.config.as_deref()).map_err(anyhow::Error::msg)?;
    runtime::init_logging(&cfg);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        match cli.command {
            Command::Serve => runtime::serve(cfg, true).await,
            Command::Worker => runtime::serve(cfg, false).await,
            Command::Migrate => {
                runtime::open_store(&cfg).await?;
                tracing::info!("migrations applied");
                Ok(())
            }
            Command::Apps {
                command:
                    AppsCommand::Create {
                        name,
                        site_url,
                        json,
                    },
            } => runtime::create_app(&cfg, name, site_url, json).await,
            Command::Keys {
                command: KeysCommand::Create { app, json },
            } => runtime::create_hmac_key(&cfg, &app, json).await,
            Command::Keys {
                command:
                    KeysCommand::AddRsa {
                        app,
                        public_key,
                        json,
                    },
            } => runtime::add_rsa_key(&cfg, &app, &public_key, json).await,
            Command::Keys {
                command: KeysCommand::RotateMaster { generate },
            } => runtime::rotate_master(&cfg, generate).await,
            Command::Keys {
                command: KeysCommand::GenerateMaster,
            } => {
                println!("{}", herald_store::generate_master_key());
                Ok(())
            }
            Command::Admin {
                command:
                    AdminCommand::Token {
                        sub,
                        role,
                        apps,
                        ttl,
                    },
            } => runtime::admin_token(&cfg, &sub, &role, &apps, &ttl),
            Command::AppToken { .. } => unreachable!("handled above"),
        }
    })
}

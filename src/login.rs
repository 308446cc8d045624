//! `aegis login`: logs the sessions' CC config dir in by running CC's own `/login` flow in this
//! terminal, with the CLAUDE_CONFIG_DIR the sessions use (`aegis serve` resolves it the same way:
//! `--claude-config-dir`, else `$CLAUDE_CONFIG_DIR`, else `~/.claude`). Aegis never sees the
//! credentials: CC writes them into that dir itself.
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct LoginArgs {
    /// Claude Code binary (as `aegis serve --claude-bin`).
    #[arg(long, env = "AEGIS_CLAUDE_BIN", default_value = "claude")]
    pub claude_bin: PathBuf,
    /// The sessions' CC config dir (as `aegis serve --claude-config-dir`). Default: CC's own.
    #[arg(long, env = "AEGIS_CLAUDE_CONFIG_DIR")]
    pub claude_config_dir: Option<PathBuf>,
}

/// The command `aegis login` runs: `claude /login` with CLAUDE_CONFIG_DIR set, no `AEGIS_*`.
pub fn command(args: &LoginArgs) -> (std::process::Command, PathBuf) {
    let dir = crate::session_env::config_dir(args.claude_config_dir.as_deref());
    let mut cmd = std::process::Command::new(crate::server::which(&args.claude_bin));
    cmd.arg("/login").env("CLAUDE_CONFIG_DIR", &dir);
    for name in crate::tmux::service_env_names() {
        cmd.env_remove(name);
    }
    (cmd, dir)
}

/// Runs CC's `/login` in this terminal and returns its exit code.
pub fn run(args: &LoginArgs) -> anyhow::Result<i32> {
    let (mut cmd, dir) = command(args);
    eprintln!(
        "Running Claude Code's /login for the sessions' config dir {} (then /exit). Sessions started \
         afterwards use this login; `aegis doctor` checks it.",
        dir.display()
    );
    let status = cmd.status().map_err(|e| anyhow::anyhow!("cannot run {}: {e}", args.claude_bin.display()))?;
    if crate::cc::auth::check(&dir, []) == crate::cc::auth::Auth::None {
        eprintln!("No login found in {} yet (CC wrote no credentials there).", dir.display());
    }
    Ok(status.code().unwrap_or(1))
}

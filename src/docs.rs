//! Shell completions and the man page, generated from the binary's clap definition (so they always
//! list every command and flag): `aegis completions bash|zsh|fish|elvish|powershell`, `aegis man`.
use std::io::Write;

pub fn completions(mut cmd: clap::Command, shell: clap_complete::Shell, out: &mut dyn Write) -> anyhow::Result<()> {
    let name = cmd.get_name().to_string();
    clap_complete::generate(shell, &mut cmd, name, out);
    Ok(())
}

/// One roff page: the top-level synopsis and options with the SUBCOMMANDS list, then one section per
/// subcommand with its own options (clap_mangen renders a page per command; these are concatenated
/// as sections so `man aegis` covers everything).
pub fn man(cmd: clap::Command, out: &mut dyn Write) -> anyhow::Result<()> {
    let cmd = cmd.version(env!("CARGO_PKG_VERSION"));
    clap_mangen::Man::new(cmd.clone()).render(out)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("{} {}", cmd.get_name(), sub.get_name());
        writeln!(out, ".SH \"{}\"", name.to_uppercase())?;
        if let Some(about) = sub.get_long_about().or(sub.get_about()) {
            writeln!(out, "{}", roff_escape(&about.to_string()))?;
        }
        let page = clap_mangen::Man::new(sub.clone().name(name));
        page.render_options_section(out)?;
    }
    Ok(())
}

/// Escapes a paragraph for roff: a leading `.` or `'` would be read as a request; `\` is the escape.
fn roff_escape(s: &str) -> String {
    s.lines()
        .map(|l| {
            let l = l.replace('\\', "\\\\");
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n.br\n")
}

//! The Claude Code versions Aegis is tested against. The list lives in one place, `cc-versions` at the
//! repository root, read by the install script, the test rig, `aegis doctor` and GetServerInfo.

/// `cc-versions`, compiled in.
const LIST: &str = include_str!("../../cc-versions");

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestedVersion {
    pub version: &'static str,
    /// The renderers this version has; the first is its default.
    pub renderers: Vec<&'static str>,
}

/// Every tested version, oldest first.
pub fn tested() -> Vec<TestedVersion> {
    LIST.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let version = words.next()?;
            Some(TestedVersion { version, renderers: words.collect() })
        })
        .collect()
}

/// The bare version number of `claude --version` output ("2.1.330 (Claude Code)" -> "2.1.330").
pub fn version_number(cc_version_output: &str) -> &str {
    cc_version_output.split_whitespace().next().unwrap_or("")
}

/// Whether `claude --version` output names a tested version.
pub fn is_tested(cc_version_output: &str) -> bool {
    let v = version_number(cc_version_output);
    !v.is_empty() && tested().iter().any(|t| t.version == v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_parses_and_names_renderers() {
        let all = tested();
        assert!(all.len() >= 3, "{all:?}");
        assert!(all.iter().all(|t| !t.renderers.is_empty()));
        assert!(all.iter().any(|t| t.version == "2.1.332" && t.renderers == ["fullscreen", "classic"]));
        assert!(is_tested("2.1.330 (Claude Code)"));
        assert!(!is_tested("2.1.331 (Claude Code)"));
        assert!(!is_tested(""));
    }
}

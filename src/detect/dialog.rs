//! Structured content of the blocking dialogs: what exactly CC is asking.
//!
//! Parsers key on the BOTTOM of a dialog (question line, option rows, footer)
//! because long dialogs scroll their header off the top and wrap at 80 columns.
//! Texts are kept verbatim (curly quotes included); only layout indentation is
//! trimmed and wrapped lines are joined with one space.

use serde::Serialize;

use super::text::{indent, is_any_rule, is_dashed, is_rule, join_wrapped, re};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MenuOption {
    pub number: Option<u32>,
    pub label: String,
    pub description: Option<String>,
    /// The menu cursor `❯` is on this row.
    pub selected: bool,
    /// Multi-select checkbox: `[ ]` = false, `[✔]` = true.
    pub checked: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PermissionKind {
    Bash,
    Write,
    Edit,
    WebFetch,
    Mcp,
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PermissionDialog {
    pub kind: PermissionKind,
    /// ` Bash command`, ` Create file`, ` Edit file`, ` Fetch`, ` Tool use` (None when scrolled off).
    pub title: Option<String>,
    pub command: Option<String>,
    pub description: Option<String>,
    pub file_path: Option<String>,
    pub url: Option<String>,
    /// Visible content: the dashed box (file content, diff, command, url) or the lines under the title.
    pub body: Vec<String>,
    pub question: String,
    pub options: Vec<MenuOption>,
    pub header_visible: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuestionTab {
    pub header: String,
    pub answered: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuestionDialog {
    pub tabs: Vec<QuestionTab>,
    /// Index of the shown question; only knowable from plain text when there is one question.
    pub current: Option<usize>,
    pub question: String,
    pub options: Vec<MenuOption>,
    pub multi_select: bool,
    pub has_type_something: bool,
    pub preview: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewAnswer {
    pub question: String,
    pub answer: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewDialog {
    pub tabs: Vec<QuestionTab>,
    pub answers: Vec<ReviewAnswer>,
    pub all_answered: bool,
    pub options: Vec<MenuOption>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanDialog {
    pub plan_text: String,
    pub header_visible: bool,
    pub question: String,
    pub options: Vec<MenuOption>,
    pub plan_file: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrustDialog {
    pub directory: Option<String>,
    pub options: Vec<MenuOption>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimpleDialog {
    pub title: Option<String>,
    pub body: Vec<String>,
    pub options: Vec<MenuOption>,
    pub footer: Option<String>,
}

/// The startup dialog "Detected a custom API key in your environment … Do you want to use this API key?".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiKeyDialog {
    /// The variable CC found (`ANTHROPIC_API_KEY`).
    pub env_var: Option<String>,
    /// The key as CC shows it (`sk-ant-...<tail>`), verbatim.
    pub key_shown: Option<String>,
    /// The part shown after `...` (CC remembers the answer by the key's last 20 characters).
    pub key_suffix: Option<String>,
    pub question: String,
    /// `Yes` / `No (recommended)`: numbered on 2.1.197, unnumbered (cursor only) on 2.1.330+.
    pub options: Vec<MenuOption>,
}

/// 2.1.330+ auto mode behind a gateway: "Auto mode can't check actions in this session" (Enter = stay
/// in auto mode, Esc = cancel the call). No menu: it is answered by those keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AutoModeDialog {
    pub title: Option<String>,
    pub body: Vec<String>,
    pub footer: Option<String>,
    /// The tool call it holds, from the tool row drawn just above it (None when scrolled off).
    pub tool: Option<String>,
    pub command: Option<String>,
    /// The fullscreen renderer's tool description (`● Removing a file`).
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Dialog {
    Permission(PermissionDialog),
    Question(QuestionDialog),
    QuestionReview(ReviewDialog),
    Plan(PlanDialog),
    ExitPlan(SimpleDialog),
    Trust(TrustDialog),
    ApiKey(ApiKeyDialog),
    AutoMode(AutoModeDialog),
    Generic(SimpleDialog),
}

impl Dialog {
    /// The menu of the dialog (what an answer picks from); empty when none is shown.
    pub fn options(&self) -> &[MenuOption] {
        match self {
            Dialog::Permission(p) => &p.options,
            Dialog::Question(q) => &q.options,
            Dialog::QuestionReview(r) => &r.options,
            Dialog::Plan(p) => &p.options,
            Dialog::Trust(t) => &t.options,
            Dialog::ApiKey(k) => &k.options,
            Dialog::ExitPlan(s) | Dialog::Generic(s) => &s.options,
            Dialog::AutoMode(_) => &[],
        }
    }
}

// ---------------------------------------------------------------------------
// Menus

/// How a non-option line under an option row is read.
#[derive(Clone, Copy, PartialEq)]
enum Continuation {
    /// The option label wrapped (permission prompts).
    Label,
    /// A description / hint under the label (questions, plan approval).
    Description,
}

fn numbered_row(line: &str) -> Option<(bool, u32, String)> {
    let c = re!(r"^\s*(❯\s+)?(\d+)\.\s+(.*)$").captures(line)?;
    let n = c[2].parse().ok()?;
    Some((c.get(1).is_some(), n, c[3].to_string()))
}

fn cursor_row(line: &str) -> Option<(usize, String)> {
    let c = re!(r"^(\s*)❯\s+(.*)$").captures(line)?;
    Some((c[1].len(), c[2].to_string()))
}

fn is_option_row(line: &str) -> bool {
    numbered_row(line).is_some() || cursor_row(line).is_some()
}

/// First row of the menu containing the first option row at or after `from`.
/// Unnumbered menus (2.1.330 trust / API key) may have rows ABOVE the cursor
/// row: the lines right above it indented like an option label (cursor + 2).
fn menu_start(lines: &[String], from: usize) -> Option<usize> {
    let first = first_index(lines, from, is_option_row)?;
    let Some((ci, _)) = cursor_row(&lines[first]).filter(|_| numbered_row(&lines[first]).is_none()) else {
        return Some(first);
    };
    let mut start = first;
    while start > from && indent(&lines[start - 1]) == ci + 2 && !lines[start - 1].trim().is_empty() {
        start -= 1;
    }
    Some(start)
}

/// Lines that sit between options but belong to none (scroll hints, preview boxes).
fn is_menu_noise(line: &str) -> bool {
    let t = line.trim();
    re!(r"^[↑↓] \d+ more").is_match(t) || t.starts_with(['│', '┌', '└']) || t.starts_with("Notes: press n")
}

fn new_option(number: Option<u32>, label: &str, selected: bool) -> MenuOption {
    // The preview box of AskUserQuestion sits to the right of the labels.
    let label = re!(r"\s{3,}[┌│└].*$").replace(label, "");
    let label = label.trim();
    let (checked, label) = match re!(r"^\[( |✔)\] (.*)$").captures(label) {
        Some(c) => (Some(&c[1] == "✔"), c[2].to_string()),
        None => (None, label.to_string()),
    };
    MenuOption { number, label, description: None, selected, checked }
}

/// Parses the option rows of a menu block. Numbered rows (`❯ 1. Yes`, `  2. No`)
/// and unnumbered ones (` ❯ No` / `   Yes`, recognised by the cursor's column)
/// are both accepted; deeper-indented lines continue the previous option.
fn parse_menu(lines: &[String], cont: Continuation) -> Vec<MenuOption> {
    let numbered = lines.iter().any(|l| numbered_row(l).is_some());
    let cursor_indent = lines.iter().find_map(|l| cursor_row(l).map(|(i, _)| i));
    let mut opts: Vec<MenuOption> = Vec::new();
    for line in lines {
        let t = line.trim();
        if t.is_empty() || is_menu_noise(line) {
            continue;
        }
        if let Some((sel, n, label)) = numbered_row(line) {
            opts.push(new_option(Some(n), &label, sel));
        } else if let Some((_, label)) = cursor_row(line) {
            opts.push(new_option(None, &label, true));
        } else if t == "Submit" && opts.iter().any(|o| o.checked.is_some()) {
            // The multi-select "Submit" row carries no number.
            opts.push(new_option(None, t, false));
        } else if !numbered && cursor_indent.is_some_and(|ci| indent(line) <= ci + 2) {
            opts.push(new_option(None, t, false));
        } else if let Some(last) = opts.last_mut() {
            match cont {
                Continuation::Label => last.label = join_wrapped([last.label.as_str(), t]),
                Continuation::Description => {
                    let d = last.description.take().unwrap_or_default();
                    last.description = Some(join_wrapped([d.as_str(), t]));
                }
            }
        }
    }
    opts
}

// ---------------------------------------------------------------------------
// Helpers

/// Trims the common layout indentation and trailing scroll indicators.
fn dedent(lines: &[String]) -> Vec<String> {
    let min = lines.iter().filter(|l| !l.trim().is_empty()).map(|l| indent(l)).min().unwrap_or(0);
    lines
        .iter()
        .map(|l| {
            let l = l.get(min..).unwrap_or("").trim_end();
            re!(r"\s{2,}[↑↓]$").replace(l, "").into_owned()
        })
        .collect()
}

/// Joins `lines[i]` with the following lines until the sentence ends with `?`.
fn wrapped_question(lines: &[String], i: usize) -> (String, usize) {
    let mut parts = vec![lines[i].as_str()];
    let mut j = i + 1;
    while !parts.last().is_some_and(|p| p.trim_end().ends_with('?'))
        && j < lines.len()
        && j <= i + 2
        && !is_option_row(&lines[j])
        && !lines[j].trim().is_empty()
    {
        parts.push(&lines[j]);
        j += 1;
    }
    (join_wrapped(parts), j)
}

fn first_index(lines: &[String], from: usize, f: impl Fn(&str) -> bool) -> Option<usize> {
    (from..lines.len()).find(|&i| f(&lines[i]))
}

fn last_index(lines: &[String], until: usize, f: impl Fn(&str) -> bool) -> Option<usize> {
    (0..until.min(lines.len())).rev().find(|&i| f(&lines[i]))
}

fn non_empty_trimmed(lines: &[String]) -> Vec<String> {
    lines.iter().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect()
}

// ---------------------------------------------------------------------------
// Permission prompts

/// `region_start` is the first line after the dialog's top rule (0 when the
/// rule scrolled off, which also means the header is not visible).
pub fn parse_permission(lines: &[String], region_start: usize) -> Option<Dialog> {
    let header_visible = region_start > 0;
    // The question must be inside the region (a region that starts at or after the last line has none).
    let q =
        last_index(lines, lines.len(), |l| re!(r"^ *Do you want to ").is_match(l)).filter(|&q| q >= region_start)?;
    let (question, after_q) = wrapped_question(lines, q);
    let footer = first_index(lines, after_q, |l| l.trim_start().starts_with("Esc to cancel")).unwrap_or(lines.len());
    let options = parse_menu(&lines[after_q..footer], Continuation::Label);

    let title_idx = if header_visible {
        first_index(lines, region_start, |l| !l.trim().is_empty()).filter(|&i| i < q)
    } else {
        None
    };
    let title = title_idx.map(|i| lines[i].trim().to_string());
    let head_start = title_idx.map_or(region_start, |i| i + 1);
    let dashed: Vec<usize> = (head_start..q).filter(|&i| is_dashed(&lines[i])).collect();
    let (pre, boxed): (&[String], Option<&[String]>) = match dashed.as_slice() {
        [a, b, ..] => (&lines[head_start..*a], Some(&lines[a + 1..*b])),
        [a] if !header_visible => (&[], Some(&lines[head_start..*a])),
        [a] => (&lines[head_start..*a], Some(&lines[a + 1..q])),
        [] => (&lines[head_start..q], None),
    };
    let pre = strip_tip(&non_empty_trimmed(pre));
    let body = match boxed {
        Some(b) => dedent(b),
        None => dedent(&lines[head_start..q]),
    };
    let body: Vec<String> = body.into_iter().filter(|l| !l.is_empty()).collect();
    let all_text = lines[head_start..q].join("\n");
    let kind = permission_kind(title.as_deref(), &all_text, &question);

    let mut d = PermissionDialog {
        kind,
        title,
        command: None,
        description: None,
        file_path: None,
        url: None,
        body,
        question,
        options,
        header_visible,
    };
    match kind {
        PermissionKind::Bash => match boxed {
            // 2.1.330: description above, command inside the dashed box.
            Some(b) => {
                d.command = Some(join_lines(&dedent(b)));
                d.description = pre.first().cloned();
            }
            // 2.1.197: `   <command>` / `   <description>`.
            None => {
                d.command = pre.first().cloned();
                d.description = pre.get(1).cloned();
            }
        },
        PermissionKind::Write | PermissionKind::Edit => {
            d.file_path = pre.first().cloned().or_else(|| file_from_question(&d.question))
        }
        PermissionKind::WebFetch => {
            d.url = re!(r#"url: "?([^",\s]+)"#).captures(&all_text).map(|c| c[1].to_string());
            d.description = pre.iter().find(|l| l.starts_with("Claude wants to fetch")).cloned();
        }
        PermissionKind::Mcp | PermissionKind::Other => d.description = pre.last().cloned(),
    }
    Some(Dialog::Permission(d))
}

fn join_lines(lines: &[String]) -> String {
    lines.iter().filter(|l| !l.trim().is_empty()).cloned().collect::<Vec<_>>().join("\n")
}

/// Drops the 2.1.330 `Tip: auto mode handles these prompts …` line and its wrap.
fn strip_tip(lines: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_tip = false;
    for l in lines {
        if l.starts_with("Tip:") {
            in_tip = !l.ends_with("below");
            continue;
        }
        if in_tip {
            in_tip = !l.ends_with("below");
            continue;
        }
        out.push(l.clone());
    }
    out
}

/// From the title; when it scrolled off, from the question (which stays).
fn permission_kind(title: Option<&str>, body: &str, question: &str) -> PermissionKind {
    match title {
        Some("Bash command") => PermissionKind::Bash,
        Some("Create file") => PermissionKind::Write,
        Some("Edit file") => PermissionKind::Edit,
        Some("Fetch") => PermissionKind::WebFetch,
        _ if body.contains("(MCP)") => PermissionKind::Mcp,
        _ if question.starts_with("Do you want to create ") => PermissionKind::Write,
        _ if question.starts_with("Do you want to make this edit to ") => PermissionKind::Edit,
        _ if question.contains("fetch this content") => PermissionKind::WebFetch,
        _ => PermissionKind::Other,
    }
}

/// `Do you want to create long.txt?` -> `long.txt`.
fn file_from_question(question: &str) -> Option<String> {
    let c = re!(r"^Do you want to (?:create|make this edit to) (.+)\?$").captures(question)?;
    Some(c[1].to_string())
}

// ---------------------------------------------------------------------------
// AskUserQuestion

fn parse_tabs(line: &str) -> (Vec<QuestionTab>, bool) {
    let t = line.trim().trim_start_matches('←').trim_end_matches('→');
    let mut tabs = Vec::new();
    let mut submit = false;
    for item in re!(r"\s{2,}").split(t.trim()) {
        let mut chars = item.chars();
        let glyph = chars.next();
        let header = chars.as_str().trim().to_string();
        match glyph {
            Some('✔') => submit = true,
            Some('☐') => tabs.push(QuestionTab { header, answered: false }),
            Some('☒') => tabs.push(QuestionTab { header, answered: true }),
            _ => {}
        }
    }
    (tabs, submit)
}

fn is_tab_line(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with('←') || t.starts_with('☐') || t.starts_with('☒')
}

pub fn parse_question(lines: &[String]) -> Option<Dialog> {
    let footer = last_index(lines, lines.len(), |l| l.starts_with("Enter to select · "))?;
    let lower = last_index(lines, footer, is_rule);
    let top = lower.and_then(|r| last_index(lines, r, is_rule)).map_or(0, |r| r + 1);
    let body_end = lower.unwrap_or(footer);
    let tab_idx = first_index(lines, top, is_tab_line).filter(|&i| i < body_end);
    let tabs = tab_idx.map(|i| parse_tabs(&lines[i]).0).unwrap_or_default();
    let q_start = tab_idx.map_or(top, |i| i + 1);
    let opt_start = first_index(lines, q_start, is_option_row).filter(|&i| i < body_end).unwrap_or(body_end);
    let question = join_wrapped(lines[q_start..opt_start].iter().map(String::as_str));
    let mut options = parse_menu(&lines[opt_start..body_end], Continuation::Description);
    if let Some(r) = lower {
        let chat = parse_menu(&lines[r + 1..footer], Continuation::Description);
        options.extend(chat.into_iter().chain(unnumbered_chat(&lines[r + 1..footer])));
    }
    let preview = lines[top..=footer].iter().any(|l| l.contains("n to add notes"));
    Some(Dialog::Question(QuestionDialog {
        current: (tabs.len() == 1).then_some(0),
        tabs,
        question,
        multi_select: options.iter().any(|o| o.checked.is_some()),
        has_type_something: options.iter().any(|o| o.label.starts_with("Type something")),
        options,
        preview,
    }))
}

/// The preview form shows an unnumbered `  Chat about this` row that the
/// generic menu parser (which needs a number or a cursor) does not see.
fn unnumbered_chat(lines: &[String]) -> Option<MenuOption> {
    let l = lines.iter().find(|l| l.trim() == "Chat about this")?;
    (!is_option_row(l)).then(|| new_option(None, "Chat about this", false))
}

pub fn parse_review(lines: &[String]) -> Option<Dialog> {
    let start = last_index(lines, lines.len(), |l| l.starts_with("Review your answers"))
        .or_else(|| last_index(lines, lines.len(), |l| l.contains("Ready to submit your answers?")))?;
    let tabs = last_index(lines, start, is_tab_line).map(|i| parse_tabs(&lines[i]).0).unwrap_or_default();
    let mut answers: Vec<ReviewAnswer> = Vec::new();
    let mut all_answered = true;
    let mut opt_start = lines.len();
    for (i, l) in lines.iter().enumerate().skip(start + 1) {
        let t = l.trim();
        if let Some(q) = t.strip_prefix("● ") {
            answers.push(ReviewAnswer { question: q.to_string(), answer: String::new() });
        } else if let Some(a) = t.strip_prefix("→ ") {
            if let Some(last) = answers.last_mut() {
                last.answer = a.to_string();
            }
        } else if t.starts_with('⚠') {
            all_answered = false;
        } else if is_option_row(l) {
            opt_start = i;
            break;
        }
    }
    let options = parse_menu(&lines[opt_start..], Continuation::Description);
    Some(Dialog::QuestionReview(ReviewDialog { tabs, answers, all_answered, options }))
}

// ---------------------------------------------------------------------------
// Plan approval / exit plan

pub fn parse_plan(lines: &[String]) -> Option<Dialog> {
    let m = last_index(lines, lines.len(), |l| l.contains("Claude has written up a plan"))?;
    let (question, after_q) = wrapped_question(lines, m);
    let footer = first_index(lines, after_q, |l| l.contains("ctrl+g to edit")).unwrap_or(lines.len());
    let options = parse_menu(&lines[after_q..footer], Continuation::Description);
    let header_visible = lines[..m].iter().any(|l| l.trim() == "Ready to code?");
    Some(Dialog::Plan(PlanDialog {
        plan_text: plan_text(lines, m),
        header_visible,
        question,
        options,
        plan_file: plan_file(&lines[footer.min(lines.len())..]),
    }))
}

/// The visible part of the plan: the lines above the approval question, up to
/// the dashed box top / `Here is Claude's plan:` / the screen top.
fn plan_text(lines: &[String], marker: usize) -> String {
    let is_frame = |l: &str| is_any_rule(l) || is_dashed(l) || l.starts_with("▔▔▔");
    let mut end = marker;
    while end > 0 && (lines[end - 1].trim().is_empty() || is_frame(&lines[end - 1])) {
        end -= 1;
    }
    let mut start = end;
    while start > 0 {
        let l = &lines[start - 1];
        let t = l.trim();
        if is_frame(l) || t == "Here is Claude's plan:" || t == "Ready to code?" {
            break;
        }
        start -= 1;
    }
    dedent(&lines[start..end]).join("\n").trim_matches('\n').to_string()
}

/// `ctrl+g to edit in Vim · ~/.claude/plans/<slug>.md`; the path may wrap.
fn plan_file(footer: &[String]) -> Option<String> {
    let first = footer.first()?;
    let mut path = first.split_once('·').map(|(_, p)| p.trim().to_string())?;
    for l in &footer[1..] {
        if path.ends_with(".md") {
            break;
        }
        path.push_str(l.split_whitespace().last().unwrap_or(""));
    }
    (!path.is_empty()).then_some(path)
}

pub fn parse_exit_plan(lines: &[String]) -> Option<Dialog> {
    let t = last_index(lines, lines.len(), |l| l.trim() == "Exit plan mode?")?;
    let opt = first_index(lines, t + 1, is_option_row).unwrap_or(lines.len());
    Some(Dialog::ExitPlan(SimpleDialog {
        title: Some("Exit plan mode?".into()),
        body: non_empty_trimmed(&lines[t + 1..opt]),
        options: parse_menu(&lines[opt..], Continuation::Description),
        footer: None,
    }))
}

// ---------------------------------------------------------------------------
// Trust and the generic startup / local dialogs

fn is_footer(l: &str) -> bool {
    re!(r"^\s*(Enter to (confirm|continue|stay)|Esc to cancel|←/→ to switch)").is_match(l)
}

pub fn parse_trust(lines: &[String], region_start: usize) -> Option<Dialog> {
    let region = lines.get(region_start..)?;
    let directory = first_index(region, 0, |l| l.trim() == "Accessing workspace:")
        .and_then(|i| first_index(region, i + 1, |l| !l.trim().is_empty()))
        .map(|i| region[i].trim().to_string());
    let opt = menu_start(region, 0).unwrap_or(region.len());
    let end = first_index(region, opt, is_footer).unwrap_or(region.len());
    Some(Dialog::Trust(TrustDialog { directory, options: parse_menu(&region[opt..end], Continuation::Label) }))
}

/// Title + body + options + footer for the remaining dialogs (API key, bypass,
/// settings error, upsell, /help, /usage, rewind…; the auto-mode dialog builds on it).
/// `with_options` is false for local dialogs, whose lists are not menus.
pub fn parse_generic(lines: &[String], region_start: usize, with_options: bool) -> Option<Dialog> {
    let region = lines.get(region_start..)?;
    let title_idx = first_index(region, 0, |l| !l.trim().is_empty())?;
    let footer_idx = last_index(region, region.len(), is_footer).filter(|&i| i > title_idx);
    let end = footer_idx.unwrap_or(region.len());
    let opt = if with_options { menu_start(region, title_idx + 1).filter(|&i| i < end) } else { None };
    let body_end = opt.unwrap_or(end);
    let footer = footer_idx.map(|i| join_wrapped(region[i..].iter().map(String::as_str)));
    Some(Dialog::Generic(SimpleDialog {
        title: Some(region[title_idx].trim().trim_start_matches('▔').trim().to_string()),
        body: non_empty_trimmed(&region[title_idx + 1..body_end]),
        options: opt.map_or_else(Vec::new, |o| parse_menu(&region[o..end], Continuation::Label)),
        footer,
    }))
}

/// The auto-mode dialog, and the tool call it holds from the tool row right above its rule: classic
/// `● Bash(<cmd>)`, fullscreen `● <description>` / `  ⎿  $ <cmd>` (first line of a wrapped command).
/// The row's `●` blinks, so it is not required.
pub fn parse_auto_mode(lines: &[String], region_start: usize) -> Option<Dialog> {
    let Some(Dialog::Generic(g)) = parse_generic(lines, region_start, false) else { return None };
    let above = &lines[..region_start.saturating_sub(1).min(lines.len())];
    // The last few non-empty lines above the rule, top to bottom.
    let mut near: Vec<&str> = above.iter().rev().filter(|l| !l.trim().is_empty()).take(4).map(String::as_str).collect();
    near.reverse();
    let (mut tool, mut command, mut description) = (None, None, None);
    let head = |l: &str| l.trim_start_matches('●').trim().to_string();
    if let Some(k) = near.iter().position(|l| re!(r"^\s*⎿\s+\$ ").is_match(l)) {
        tool = Some("Bash".to_string());
        command = Some(near[k].trim().trim_start_matches('⎿').trim().trim_start_matches("$ ").to_string());
        description = k.checked_sub(1).map(|p| head(near[p])).filter(|d| !d.is_empty());
    } else if let Some(c) = near.iter().rev().find_map(|l| re!(r"^(?:● |  )?([A-Za-z][\w.-]*)\((.*)\)$").captures(l))
    {
        tool = Some(c[1].to_string());
        command = (&c[1] == "Bash").then(|| c[2].to_string());
    }
    Some(Dialog::AutoMode(AutoModeDialog {
        title: g.title,
        body: g.body,
        footer: g.footer,
        tool,
        command,
        description,
    }))
}

/// The custom API key dialog: the key line, the question, the (numbered or cursor-only) menu.
pub fn parse_api_key(lines: &[String], region_start: usize) -> Option<Dialog> {
    let region = lines.get(region_start..)?;
    let q = last_index(region, region.len(), |l| l.contains("Do you want to use this API key?"))?;
    let key = last_index(region, q, |l| re!(r"^\s*[A-Z][A-Z0-9_]*: \S+$").is_match(l)).map(|i| region[i].trim());
    let (env_var, key_shown) = key.and_then(|k| k.split_once(": ")).map_or((None, None), |(v, k)| (Some(v), Some(k)));
    let opt = menu_start(region, q + 1).unwrap_or(region.len());
    let end = first_index(region, opt, is_footer).unwrap_or(region.len());
    Some(Dialog::ApiKey(ApiKeyDialog {
        env_var: env_var.map(str::to_string),
        key_suffix: key_shown.and_then(|k| k.rsplit_once("...")).map(|(_, s)| s.to_string()),
        key_shown: key_shown.map(str::to_string),
        question: region[q].trim().to_string(),
        options: parse_menu(&region[opt..end], Continuation::Label),
    }))
}
